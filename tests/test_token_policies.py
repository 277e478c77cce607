"""The token store's pure parts, driven by tables: answers in, actions out. No network, no sleeps.

Each row is what a provider (or the wire) said and what the device must do next; the over-HTTPS
behaviour of the whole store is in test_tokens*.py.
"""

from __future__ import annotations

import itertools
import json
import random

import pytest
import requests

from mfp_sim.firmware.deadlines import IdpDeadlines
from mfp_sim.firmware.errors import RecordError
from mfp_sim.firmware.tokens.answers import (
    Exchange,
    Garbled,
    Granted,
    Issued,
    Refused,
    Unanswered,
    parse_issued,
    parse_token,
)
from mfp_sim.firmware.tokens.device_flow import (
    Authorized,
    DeviceFlowPoller,
    Ended,
    PollAgain,
)
from mfp_sim.firmware.tokens.http import AnswerTooLarge, SlowAnswer
from mfp_sim.firmware.tokens.machine import LABELS, SHOWN_AS, Phase, TokenMachine, TokenState
from mfp_sim.firmware.tokens.provider_client import classify
from mfp_sim.firmware.tokens.reasons import invalid_reason, provider_words, shorten
from mfp_sim.firmware.tokens.record import TokenRecord
from mfp_sim.firmware.tokens.refresh import (
    GrantGone,
    RefreshPolicy,
    Renewed,
    RetryLater,
    Urgency,
)
from mfp_sim.firmware.tokens.timing import Instant

T0 = Instant(1_800_000_000.0, 1000.0)
OK = Exchange(status=200, shape="a JSON object")
ISSUED = Issued(flow={"device_code": "d"}, user_code="ABCD-EFGH",
                verification_uri="https://idp/device", expires_in=900, interval=5)
GRANT = Granted("at-1", 3600, "alice@example.test")
PENDING = Refused("authorization_pending", status=400)
SLOW_DOWN = Refused("slow_down", status=400)
HTTP_500 = Garbled("HTTP 500")
REVOKED = Refused("invalid_grant", "AADSTS50173: The provided grant has expired due to it being "
                  "revoked.\r\nTrace ID: 0\r\nCorrelation ID: 1", (50173,), 400)


# ----------------------------------------------------------------- device-code polling
@pytest.mark.parametrize("answer, delay, note", [
    (PENDING, 5, ""),
    (SLOW_DOWN, 10, ""),
    (HTTP_500, 5, "not a token answer (HTTP 500); still polling"),
    (Refused("temporarily_unavailable", status=503, retry_after=120), 120, "not answering properly"),
    (Garbled("HTTP 429", retry_after=30), 30, "(HTTP 429); still polling"),
    (Unanswered("provider_timeout", "the identity provider did not answer within 15 s"), 5,
     "The identity provider did not answer within 15 s; still polling"),
])
def test_poll_answers_that_keep_polling(answer, delay, note):
    poller = DeviceFlowPoller.begin(ISSUED, T0)
    assert poller.wait(T0) == 5
    action = poller.on_answer(answer, T0.later(5))
    assert isinstance(action, PollAgain) and action.delay == delay
    assert note in action.note if note else action.note == ""
    assert poller.wait(T0.later(5)) == delay


@pytest.mark.parametrize("answer, words", [
    (Refused("authorization_declined", status=400), "declined at the sign-in page (authorization_declined)"),
    (Refused("access_denied", status=400), "declined at the sign-in page (access_denied)"),
    (Refused("expired_token", status=400), "expired before it was approved; press Get Token to start again (expired_token)"),
    (Refused("bad_verification_code", status=400), "does not know this code; press Get Token to start again (bad_verification_code)"),
    (Refused("invalid_client", "AADSTS7000218: The request body must contain client_assertion.",
             (7000218,), 401), "AADSTS7000218: The request body must contain client_assertion. (invalid_client)"),
    (Refused("weird_error", status=400), "The provider ended the authorization (weird_error)"),
])
def test_poll_answers_that_end_the_flow(answer, words):
    action = DeviceFlowPoller.begin(ISSUED, T0).on_answer(answer, T0.later(5))
    assert isinstance(action, Ended) and words in action.reason


def test_a_grant_is_authorized():
    assert DeviceFlowPoller.begin(ISSUED, T0).on_answer(GRANT, T0.later(5)) == Authorized(GRANT)


def test_slow_down_adds_five_seconds_for_good():
    poller = DeviceFlowPoller.begin(ISSUED, T0)
    now = T0.later(5)
    assert poller.on_answer(SLOW_DOWN, now) == PollAgain(10, interval_changed=True)
    assert poller.on_answer(SLOW_DOWN, now.later(10)) == PollAgain(15, interval_changed=True)
    assert poller.on_answer(PENDING, now.later(25)) == PollAgain(15)


def test_an_outage_backs_off_up_to_a_minute_then_pending_resets_it():
    poller = DeviceFlowPoller.begin(ISSUED, T0)
    now = T0
    delays = []
    for _ in range(7):
        now = now.later(poller.wait(now))
        action = poller.on_answer(HTTP_500, now)
        assert isinstance(action, PollAgain)
        delays.append(action.delay)
    assert delays == [5, 10, 20, 40, 60, 60, 60]
    assert poller.on_answer(PENDING, now.later(60)).delay == 5


def test_the_code_expires_on_the_monotonic_clock_whatever_the_date_says():
    poller = DeviceFlowPoller.begin(ISSUED, T0)
    back = Instant(T0.wall - 86400, T0.mono + 899)  # date set back a day, 899 s really passed
    assert not poller.expired(back) and poller.expires_in(back) == 1 and poller.wait(back) == 0
    forward = Instant(T0.wall + 86400, T0.mono + 10)  # date set forward a day, 10 s passed
    assert not poller.expired(forward) and poller.expires_in(forward) == 890
    assert poller.expired(T0.later(900)) and poller.wait(T0.later(900)) == 0


def test_a_stored_flow_resumes_only_while_its_code_is_valid():
    again = DeviceFlowPoller.resume(interval=10, expires_at=T0.wall + 100, now=T0)
    assert again is not None and again.wait(T0) == 10 and again.expires_in(T0) == 100
    assert DeviceFlowPoller.resume(interval=10, expires_at=T0.wall - 1, now=T0) is None


# ------------------------------------------------------------------------- refresh
@pytest.mark.parametrize("lifetime, first_refresh_at", [
    (7200, 6900), (3600, 3300), (600, 300), (300, 150), (30, 15), (1, 0.5),
])
def test_the_schedule_comes_from_the_token(lifetime, first_refresh_at):
    policy = RefreshPolicy.issued(Granted("t", lifetime, ""), T0)
    assert policy.wait_before(T0, Urgency.SCHEDULED) == first_refresh_at


def test_a_short_token_is_renewed_every_half_life_and_never_faster_than_the_floor():
    for lifetime, period in [(30, 15), (12, 10), (1, 10)]:
        policy = RefreshPolicy.issued(Granted("t", lifetime, ""), T0)
        now = T0.later(policy.wait_before(T0, Urgency.SCHEDULED))
        starts = []
        for _ in range(5):
            policy.on_attempt(now)
            starts.append(now.mono)
            assert isinstance(policy.on_answer(Granted("t", lifetime, ""), now), Renewed)
            now = now.later(policy.wait_before(now, Urgency.SCHEDULED))
        gaps = {round(b - a, 6) for a, b in itertools.pairwise(starts)}
        assert gaps == {period}, (lifetime, gaps)


@pytest.mark.parametrize("answer, outcome, words", [
    (GRANT, Renewed, ""),
    (REVOKED, GrantGone, "AADSTS50173: The provided grant has expired due to it being revoked. (invalid_grant)"),
    (Refused("interaction_required", "AADSTS50076: MFA required.", (50076,), 400), GrantGone, "AADSTS50076"),
    (Refused("no_refresh_token", "the device holds no refresh token"), GrantGone, "no_refresh_token"),
    (Refused("invalid_grant", status=503), RetryLater, "invalid_grant"),  # 5xx: not an answer to trust
    (Refused("temporarily_unavailable", status=503), RetryLater, "did not renew the token"),
    (Refused("slow_down", status=400), RetryLater, "slow_down"),
    (HTTP_500, RetryLater, "not a token answer (HTTP 500)"),
    (Garbled("HTTP 200, a JSON list"), RetryLater, "a JSON list"),
    (Unanswered("provider_unreachable", "the identity provider cannot be reached"), RetryLater, "cannot be reached"),
    (ISSUED, RetryLater, "a device-code answer"),
])
def test_refresh_answers(answer, outcome, words):
    policy = RefreshPolicy.issued(GRANT, T0, random.Random(1))
    result = policy.on_answer(answer, T0.later(3300))
    assert isinstance(result, outcome)
    if isinstance(result, GrantGone | RetryLater):
        assert words in result.cause
        assert result.cause.count(words) == 1


def test_failures_back_off_with_jitter_up_to_fifteen_minutes():
    policy = RefreshPolicy.issued(GRANT, T0, random.Random(7))
    now = T0.later(3300)
    delays = []
    for _ in range(9):
        policy.on_attempt(now)
        result = policy.on_answer(HTTP_500, now)
        assert isinstance(result, RetryLater)
        delays.append(result.delay)
        assert policy.wait_before(now, Urgency.SCHEDULED) == pytest.approx(result.delay)
        assert policy.wait_before(now, Urgency.NEEDED) == pytest.approx(result.delay)
        now = now.later(result.delay)
    for n, delay in enumerate(delays, start=1):
        full = min(900, 30 * 2 ** (n - 1))
        assert full / 2 <= delay <= full, (n, delay)
    assert isinstance(policy.on_answer(GRANT, now), Renewed) and policy.failures == 0


def test_retry_after_holds_every_kind_of_request_even_the_admins():
    policy = RefreshPolicy.issued(GRANT, T0)
    now = T0.later(3300)
    result = policy.on_answer(Garbled("HTTP 429", retry_after=600), now)
    assert isinstance(result, RetryLater) and result.delay >= 600
    for urgency in Urgency:
        assert policy.wait_before(now, urgency) >= 600 - 1e-9
    assert policy.wait_before(now.later(600), Urgency.ASKED) == 0


def test_a_refusal_skips_the_back_off_but_not_the_floor():
    policy = RefreshPolicy.issued(GRANT, T0, random.Random(3))
    now = T0.later(100)
    assert policy.wait_before(now, Urgency.REFUSED) == 0  # a brand-new token refused: ask at once
    policy.on_attempt(now)
    policy.on_answer(HTTP_500, now)
    assert policy.wait_before(now.later(1), Urgency.REFUSED) == 9  # the floor after an attempt
    assert policy.wait_before(now.later(10), Urgency.REFUSED) == 0
    assert policy.wait_before(now.later(10), Urgency.NEEDED) > 0  # back-off still runs


def test_setting_the_clock_back_never_makes_a_token_look_fresh():
    policy = RefreshPolicy.issued(GRANT, T0)
    back = Instant(T0.wall + 3000 - 86400, T0.mono + 3000)  # 3000 s on, date set back a day
    assert policy.remaining(back) == 600
    assert policy.expires_at(back) == back.wall + 600
    assert policy.wait_before(back, Urgency.SCHEDULED) == 300


def test_setting_the_clock_forward_past_expiry_makes_the_token_due_once():
    policy = RefreshPolicy.issued(GRANT, T0)
    jumped = Instant(T0.wall + 7200, T0.mono + 60)
    assert policy.remaining(jumped) < 0 and policy.wait_before(jumped, Urgency.SCHEDULED) == 0
    policy.on_attempt(jumped)
    policy.on_answer(GRANT, jumped)  # the renewed token is dated after the jump
    assert policy.wait_before(jumped, Urgency.SCHEDULED) == 3300


def test_after_power_on_a_date_before_the_issue_means_due():
    assert RefreshPolicy.restore(lifetime=3600, issued_at=T0.wall - 100, now=T0).remaining(T0) == 3500
    earlier = RefreshPolicy.restore(lifetime=3600, issued_at=T0.wall + 500, now=T0)
    assert earlier.remaining(T0) <= 0 and earlier.wait_before(T0, Urgency.SCHEDULED) == 0


# ------------------------------------------------------------------------- answers
@pytest.mark.parametrize("body, kind, words", [
    ([1, 2, 3], Garbled, "HTTP 200, a JSON list"),
    ("str", Garbled, "HTTP 200, a JSON string"),
    (None, Garbled, "HTTP 200, JSON null"),
    ({"access_token": 5, "expires_in": 3600}, Garbled, "access_token is not a string"),
    ({"access_token": "t", "expires_in": "soon"}, Garbled, "expires_in is not a number"),
    ({"access_token": "t", "expires_in": -5}, Garbled, "expires_in is not a number"),
    ({"access_token": "t", "expires_in": True}, Garbled, "expires_in is not a number"),
    ({"error": 5}, Garbled, "error that is not a string"),
    ({"token_type": "Bearer"}, Garbled, "neither access_token nor error"),
    ({"access_token": "secret-token-value", "expires_in": "3600",
      "id_token_claims": {"preferred_username": "a@b"}}, Granted, ""),
    ({"error": "invalid_grant", "error_description": 7, "error_codes": ["x", 50173]}, Refused, ""),
])
def test_token_answers_are_checked_field_by_field(body, kind, words):
    answer = parse_token(body, OK)
    assert isinstance(answer, kind)
    if isinstance(answer, Garbled):
        assert words in answer.words()
        assert answer.words().startswith("the identity provider answered something that is not a token answer")
    if isinstance(answer, Granted):
        assert (answer.expires_in, answer.user) == (3600, "a@b")
        assert "secret-token-value" not in repr(answer)
    if isinstance(answer, Refused):
        assert answer.codes == (50173,) and answer.description == ""


@pytest.mark.parametrize("body, words", [
    ([1], "a JSON list"),
    ({"device_code": "d", "verification_uri": "https://x"}, "no user_code"),
    ({"device_code": "d", "user_code": "U", "verification_uri": 5}, "no verification_uri"),
    ({"device_code": "d", "user_code": "U", "verification_uri": "https://x", "interval": "fast"},
     "not a number of seconds"),
])
def test_device_code_answers_are_checked(body, words):
    answer = parse_issued(body, OK)
    assert isinstance(answer, Garbled) and words in answer.words() and "device-code answer" in answer.words()


def test_a_device_code_answer_keeps_sane_bounds():
    answer = parse_issued({"device_code": "d", "user_code": "U", "verification_uri": "https://x",
                           "interval": 100000, "expires_in": "900"}, OK)
    assert isinstance(answer, Issued) and answer.interval == 300 and answer.expires_in == 900


D = IdpDeadlines(connect=2, read=3, body=4, call=5)


@pytest.mark.parametrize("exc, seen, kind, words", [
    (requests.exceptions.SSLError("x"), Exchange(), Unanswered, "not trusted by this device (TLS"),
    (requests.exceptions.ConnectTimeout("x"), Exchange(), Unanswered, "accept a connection within 2 s"),
    (requests.exceptions.ReadTimeout("x"), Exchange(), Unanswered, "did not answer within 3 s"),
    (SlowAnswer("x"), Exchange(status=200), Unanswered, "finish its answer within 4 s"),
    (requests.exceptions.ConnectionError("x"), Exchange(), Unanswered, "connection refused"),
    (AnswerTooLarge("an answer larger than 256 KB"), Exchange(status=200), Garbled, "larger than 256 KB"),
    (RuntimeError("HTTP Error: 500"), Exchange(500, 30, "a JSON object", "token answer"), Garbled,
     "not a token answer (HTTP 500)"),
    (ValueError("Unable to get OIDC authority configuration"),
     Exchange(500, None, "not JSON", "discovery document"), Garbled, "not a discovery document (HTTP 500)"),
    (json.JSONDecodeError("x", "doc", 0), Exchange(200, None, "not JSON", "token answer"), Garbled,
     "(HTTP 200, not JSON)"),
    (AttributeError("'list' object has no attribute 'get'"),
     Exchange(200, None, "a JSON list", "device-code answer"), Garbled, "not a device-code answer (HTTP 200, a JSON list)"),
    (KeyError("interval"), Exchange(200, None, "a JSON object", "token answer"), Garbled,
     "fields of the wrong type"),
])
def test_whatever_happened_on_the_wire_becomes_an_answer(exc, seen, kind, words):
    answer = classify(exc, seen, D)
    assert isinstance(answer, kind) and words in answer.words(), answer.words()
    if isinstance(answer, Garbled) and seen.retry_after:
        assert answer.retry_after == seen.retry_after


# ------------------------------------------------------------------------- reasons
def test_provider_words_keep_each_code_once_and_drop_the_trace():
    assert REVOKED.words() == ("AADSTS50173: The provided grant has expired due to it being "
                               "revoked. (invalid_grant)")
    assert provider_words("invalid_grant", "Token is not active", (50173,)) == \
        "AADSTS50173: Token is not active (invalid_grant)"
    assert provider_words("invalid_grant", "invalid_grant: token revoked") == "invalid_grant: token revoked"
    assert provider_words("invalid_grant") == "invalid_grant"


def test_long_descriptions_are_cut_at_a_word_boundary():
    text = "AADSTS50173: " + " ".join(["revoked"] * 60)
    cut = shorten(text, 100)
    assert len(cut) <= 100 and cut.endswith("revoked…") and "revoke…" not in cut
    assert shorten("short enough", 100) == "short enough"
    assert shorten("x" * 300, 50) == "x" * 49 + "…"


def test_an_invalid_reason_is_one_sentence_with_the_advice_once():
    reason = invalid_reason(REVOKED.words())
    assert reason.count("Token update failed") == 1 and reason.count("invalid_grant") == 1
    assert reason.count("AADSTS50173") == 1 and reason.endswith("Please delete the token and obtain it again")


# ---------------------------------------------------------------- machine and record
def test_refresh_failing_is_a_machine_state_shown_as_retrieved():
    machine = TokenMachine()
    for trigger in ("start", "authorized", "refresh_failed", "refresh_failed"):
        machine.fire(trigger)
    assert machine.phase is Phase.REFRESH_FAILING and machine.state is TokenState.RETRIEVED
    assert LABELS[machine.state] == "Retrieved"
    assert machine.fire("refreshed") is Phase.RETRIEVED
    assert set(SHOWN_AS.values()) == set(TokenState) and len(LABELS) == 4


def test_a_version_1_record_still_loads():
    v1 = {"state": "retrieved", "reason": "", "account": "a@b", "provider": "local",
          "token_user": "a@b", "access_token": "tok", "access_expires_at": 5000.0,
          "next_refresh_at": 4700.0, "flow": None, "cache": "{}"}
    rec = TokenRecord.from_json(v1)
    assert (rec.phase, rec.account, rec.issued_at, rec.lifetime) == (Phase.RETRIEVED, "a@b", 1400.0, 3600.0)
    assert TokenRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec


@pytest.mark.parametrize("data, words", [
    ([], "not a JSON object"),
    ({"version": 9, "phase": "retrieved"}, "version 9"),
    ({"version": 2, "phase": "gone"}, "unknown token state"),
    ({"version": 2, "phase": "retrieved", "account": 5}, "account is not text"),
    ({"version": 2, "phase": "retrieved", "lifetime": "long"}, "lifetime is not a number"),
    ({"version": 2, "phase": "waiting", "flow": {"msal": {}, "interval": 5}}, "no expiry"),
])
def test_a_damaged_record_says_what_is_wrong(data, words):
    with pytest.raises(RecordError, match=words):
        TokenRecord.from_json(data)


# ------------------------------------------------- the refresh token's own expiry (Keycloak)
def later(seconds: float) -> Instant:
    return Instant(T0.wall + seconds, T0.mono + seconds)


@pytest.mark.parametrize("refresh_lifetime, plan", [
    (600.0, 300.0),  # a short SSO Session Idle: 300 s before the refresh token dies
    (1800.0, 1500.0),  # Keycloak's default idle with 3600 s access tokens
    (60.0, 30.0),  # half its life when that is shorter than REFRESH_MARGIN
    (20000.0, 3300.0),  # a refresh token outliving the access token: the access token's plan
    (None, 3300.0),  # not said (Entra, Google, Keycloak's offline tokens): today's plan
])
def test_the_plan_is_the_earlier_of_the_two_expiries(refresh_lifetime, plan):
    policy = RefreshPolicy.issued(Granted("at", 3600, "a@b", refresh_expires_in=refresh_lifetime),
                                  T0)
    assert policy.wait_before(T0, Urgency.SCHEDULED) == plan
    assert not policy.due(later(plan - 1)) and policy.due(later(plan))
    renewed = policy.on_answer(Granted("at-2", 3600, "a@b"), later(plan))  # no longer said
    assert isinstance(renewed, Renewed) and policy.refresh_lifetime is None
    assert policy.wait_before(later(plan), Urgency.SCHEDULED) == 3300


@pytest.mark.parametrize("value, read", [
    (1800, 1800.0), ("600", 600.0), (0, None), (None, None), (-5, None), ("soon", None),
    (True, None), (10**12, 365 * 86400.0),
])
def test_refresh_expires_in_is_read_when_it_is_a_positive_number(value, read):
    body = {"access_token": "at", "expires_in": 300, "refresh_expires_in": value}
    granted = parse_token(body, OK)
    assert isinstance(granted, Granted) and granted.refresh_expires_in == read


def test_a_version_2_record_still_loads_and_version_3_keeps_the_refresh_lifetime():
    v3 = TokenRecord(phase=Phase.RETRIEVED, account="a@b", access_token="tok",
                     issued_at=T0.wall, lifetime=3600.0, refresh_lifetime=1800.0)
    data = json.loads(json.dumps(v3.to_json()))
    assert data["version"] == 3 and TokenRecord.from_json(data) == v3
    v2 = {k: v for k, v in data.items() if k != "refresh_lifetime"} | {"version": 2}
    old = TokenRecord.from_json(v2)
    assert old.refresh_lifetime is None and old.lifetime == 3600.0 and old.access_token == "tok"
    with pytest.raises(RecordError, match="refresh_lifetime is not a number"):
        TokenRecord.from_json(data | {"refresh_lifetime": "long"})
