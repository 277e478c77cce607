"""What the device says about an outcome, as data: a sentence code, its fields, and the one
table that words every code (English message ids; the Italian is in the catalog).

The console and the logs speak English; the panel and the web page speak the device's
language (`device.language`). A reason is composed once, deep in the firmware (a token store,
an SMTP session, a POP sign-in, the send queue around a job's attempt), and travels up through
events, job records and statuses to whichever face shows it. So a reason is a `Reason`: a `str` whose value is the English
sentence, which every layer can log, print, compare and store as before, and which also
keeps its sentence code and fields, so a face can say it again in another language
(`say(text, gettext)`). Like markupsafe's `Markup`, it is a string that knows one more thing
about itself; anything that rebuilds it with an f-string gets plain English, never a wrong
translation.

Fields are kept as given: the provider's or server's own words (`AADSTS65001: …`,
`535 5.7.139 …`), addresses and durations are never translated; a field that is itself a
`Reason` (a clause: "the identity provider did not answer within 15 s", a piece of advice)
is said in the same language as the sentence around it.

    SENTENCES   code → English message id, the whole vocabulary of outcome sentences
    Reason      a sentence: `Reason("token.invalid", cause=…, advice=Reason("advice.mfa"))`
    say         what a face shows: the translation of a `Reason`, any other text as it is
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .i18n import N_

__all__ = ["SENTENCES", "Reason", "say"]

Gettext = Callable[[str], str]

#: Every sentence the device composes about an outcome, by code. A code names a situation;
#: its message id is the English text with `{fields}`. The catalogue's outcomes
#: (docs/faults.md) are all here.
SENTENCES: dict[str, str] = {
    # ---- a token store's status (token area, status page, `token <store> status`) --------
    "token.invalid": N_("Token update failed: {cause}. {advice}"),
    "token.renewal_failed": N_("Renewal failed: {cause}; retrying in {wait} (the token is still valid)"),
    "token.expired_unrenewed": N_("The access token expired and could not be renewed: {cause}; "
                                  "retrying in {wait}"),
    "token.held_back": N_("Not renewed now: the identity provider asked the device to wait; "
                          "next attempt in {wait}"),
    "token.get_failed": N_("Get Token failed: {cause}"),
    "token.get_refused": N_("Get Token failed: {cause}. {advice}"),
    "token.scope_refused": N_("{provider} refused the device-code flow for the mail scope ({cause}). "
                              "This provider does not grant mail access to devices through the "
                              "device-code flow"),
    "token.start_later": N_("{provider} could not start authorization now ({cause}); press Get "
                            "Token again in {wait}"),
    "token.start_refused": N_("{provider} refused to start authorization ({cause}). {advice}"),
    "token.code_expired_offline": N_("The code expired while the device was off; press Get Token "
                                     "to start again"),
    "token.target_changed": N_("The account or provider changed during authorization; press Get "
                               "Token again"),
    "token.account_changed": N_("The account name changed from {old} to {new}: clear the token and "
                                "obtain it again"),
    "token.provider_changed": N_("The provider changed from {old} to {new}: clear the token and "
                                 "obtain it again"),
    "token.wrong_account": N_("Signed in as {user}, but the account name is {account}; press Get "
                              "Token and sign in as {account}"),
    "token.flow_stopped": N_("Authorization stopped: {cause}"),
    "token.unreadable": N_("The stored token could not be read ({cause}); obtain it again"),
    # ---- while a device code is polled ------------------------------------------------------
    "flow.polling": N_("{trouble}; still polling, next poll in {wait}"),
    "flow.not_answering": N_("The identity provider is not answering properly ({cause})"),
    "flow.declined": N_("Authorization was declined at the sign-in page ({error})"),
    "flow.expired": N_("The code expired before it was approved; press Get Token to start again "
                       "({error})"),
    "flow.unknown_code": N_("The provider does not know this code; press Get Token to start again "
                            "({error})"),
    "flow.ended": N_("The provider ended the authorization ({error})"),
    # ---- causes: what went wrong with a request, as a clause -------------------------------
    "cause.not_renewed": N_("the identity provider did not renew the token ({words})"),
    "cause.garbled": N_("the identity provider answered something that is not a {what} ({detail})"),
    "cause.no_answer": N_("the identity provider did not answer within {seconds} s"),
    "cause.no_connection": N_("the identity provider did not accept a connection within {seconds} s"),
    "cause.slow_answer": N_("the identity provider did not finish its answer within {seconds} s"),
    "cause.unreachable": N_("the identity provider cannot be reached (connection refused or host "
                            "unreachable)"),
    "cause.dropped": N_("the identity provider closed the connection without answering"),
    "cause.untrusted": N_("the identity provider's certificate is not trusted by this device "
                          "(TLS failure)"),
    "cause.previous_pending": N_("the identity provider has not answered the previous request after "
                                 "{seconds} s"),
    "cause.workers_busy": N_("the device's identity-provider workers are all busy with other "
                             "requests; it will try again"),
    "cause.shutting_down": N_("the device is shutting down"),
    "cause.wrong_issuer": N_("the ID token was issued by {issuer}, not by the provider's authority "
                             "{authority} (wrong_issuer)"),
    "what.token_answer": N_("token answer"),
    "what.device_code_answer": N_("device-code answer"),
    "what.discovery": N_("discovery document"),
    "what.discovery_authority": N_("discovery document for this authority"),
    "wait.a_minute": N_("a minute"),
    # ---- advice: who must act, after a refusal that a retry cannot cure ----------------------
    "advice.sign_in_again": N_("Please delete the token and obtain it again"),
    "advice.get_again": N_("Press Get Token to start again"),
    "advice.revoked": N_("The user must sign in again. Please delete the token and obtain it again"),
    "advice.inactive": N_("The token was not used for too long; the user must sign in again. Please "
                          "delete the token and obtain it again"),
    "advice.sign_in_frequency": N_("A Conditional Access policy (sign-in frequency) requires the user "
                                   "to sign in again. Please delete the token and obtain it again"),
    "advice.mfa": N_("A Conditional Access policy now requires multi-factor authentication: obtain "
                     "the token again, and the user completes it at sign-in"),
    "advice.consent": N_("Nobody has consented to the app's mail permissions: an administrator must "
                         "grant consent (or allow users to consent), then obtain the token again"),
    "advice.admin_consent": N_("Only an administrator may consent to the app's permissions in this "
                               "tenant: an administrator must grant admin consent, then obtain the "
                               "token again"),
    "advice.conditional_access": N_("A Conditional Access policy blocks this sign-in: an "
                                    "administrator must change the policy for this account or "
                                    "device, then obtain the token again"),
    "advice.security_defaults": N_("The tenant's security defaults block this sign-in: an "
                                   "administrator must allow it (security defaults or Conditional "
                                   "Access), then obtain the token again"),
    "advice.public_client": N_("This is a configuration problem, not the token's: in the app "
                               "registration an administrator must turn on “Allow public client "
                               "flows” (the device has no client secret), then obtain the token again"),
    "advice.app_not_found": N_("This is a configuration problem, not the token's: check the client "
                               "id and the tenant (authority) in the providers file, or have an "
                               "administrator register the app in this tenant, then obtain the "
                               "token again"),
    "advice.client_config": N_("This is a configuration problem, not the token's: check the "
                               "provider's client id in the providers file and the app "
                               "registration, then obtain the token again"),
    "advice.scope": N_("The provider refused the mail permission: check the provider's scopes in "
                       "the providers file and that consent was granted, then obtain the token again"),
    "advice.wrong_issuer": N_("The device uses no token from another issuer: check the provider's "
                              "authority (tenant) in the providers file, then obtain the token again"),
    "advice.check_provider": N_("Check the provider's settings in the providers file"),
    # ---- mail sessions: SMTP sending, POP3 receiving, connection tests ----------------------
    "mail.token_update_failed": N_("Token update failed. Please delete the token and obtain it again."),
    "mail.token_invalid": N_("Token update failed. Please delete the token and obtain it again. "
                             "({store}: {cause})"),
    "mail.token_invalid_refused": N_("Token update failed. Please delete the token and obtain it "
                                     "again. (the server refused the token ({refusal}); {store}: "
                                     "{cause})"),
    "mail.token_not_renewed_now": N_("the server refused the token ({refusal}) and it could not be "
                                     "renewed now ({why}); will try again"),
    "smtp.auth_disabled_tenant": N_("The server refused SMTP AUTH ({reply}): SMTP AUTH is turned off "
                                    "for the whole organisation in Exchange Online, a setting of the "
                                    "tenant, not of the device or its token. An Exchange "
                                    "administrator must turn it on (Set-TransportConfig "
                                    "-SmtpClientAuthenticationDisabled $false, or for this mailbox "
                                    "only: Set-CASMailbox)"),
    "smtp.auth_disabled_mailbox": N_("The server refused SMTP AUTH ({reply}): SMTP AUTH is turned off "
                                     "for this mailbox in Exchange Online, a setting of the mailbox, "
                                     "not of the device or its token. An Exchange administrator must "
                                     "turn it on (Set-CASMailbox -SmtpClientAuthenticationDisabled "
                                     "$false)"),
    "smtp.auth_disabled": N_("The server refused SMTP AUTH ({reply}): this is a setting of the "
                             "mail service, not of the device or its token. An Exchange "
                             "administrator must allow SMTP AUTH for this mailbox"),
    "smtp.basic_retired": N_("The server no longer accepts a user name and password ({reply}): set "
                             "the SMTP Authentication Method to OAuth 2.0 and obtain a token"),
    "smtp.send_as_denied": N_("The server refused the sender address {sender} ({reply}): {account} "
                              "may not send as that address. Set the Sender Address to {account}, "
                              "or have an Exchange administrator give {account} the Send As "
                              "permission for {sender}"),
    "smtp.token_refused_renewed": N_("The server refused the token even after it was renewed "
                                     "({reply}): the identity provider issues tokens for {account}, "
                                     "but the mail server does not accept them. Check that "
                                     "{account} has a licensed mailbox that allows SMTP AUTH, and "
                                     "that the app has the mail permission (SMTP.Send)"),
    "pop.token_refused_renewed": N_("The server refused the token even after it was renewed "
                                    "({reply}): the identity provider issues tokens for {account}, "
                                    "but the mail server does not accept them. Check that {account} "
                                    "has a licensed mailbox that allows POP3, and that the app has "
                                    "the mail permission (POP.AccessAsUser.All)"),
    "mail.token_refused_for_now": N_("the server refused the token ({refusal}); {why}"),
    "mail.token_missing": N_("{why}. Obtain the {store} token first (token {store} get)"),
    "mail.renewed_moments_ago": N_("it was renewed moments ago"),
    # ---- a token store asked for its token by a mail session ----------------------------------
    "token.not_renewed_yet": N_("{store}: the access token expired and could not be renewed yet "
                                "({cause}); retrying in {wait}"),
    "token.not_renewed_in_time": N_("it was not renewed in time"),
    "token.is_invalid": N_("{store}: token is Invalid: {reason}"),
    "token.is_not_retrieved": N_("{store}: token is Not retrieved: press Get Token first"),
    "token.is_waiting": N_("{store}: token is Waiting for authorization: authorization is not "
                           "finished yet"),
    # ---- the SMTP client: a session's stages (firmware/mail/smtp_sender.py) ---------------
    # `{where}` is host:port, `{reply}` the server's reply line, `{error}` the words of the
    # operating system or a library: fields, never translated.
    "smtp.no_recipient": N_("no recipient given"),
    "smtp.no_server": N_("smtp.server is not set: enter the SMTP server first"),
    "smtp.no_user": N_("smtp.user is not set: enter the user name for SMTP AUTH"),
    "smtp.cannot_connect": N_("cannot connect to {where}: {error}"),
    "smtp.cannot_reach": N_("cannot reach {where}: {error}"),
    "smtp.port_refused": N_("connection to {where} refused: nothing listens on that port, or a "
                            "firewall blocks it"),
    "smtp.no_greeting": N_("no answer from {where} within {seconds} s"),
    "smtp.greeting_refused": N_("{where} refused the connection: {reply}"),
    "smtp.closed_at_once": N_("{where} closed the connection at once"),
    "smtp.not_smtp": N_("{where} answered {during} with {what}: is it an SMTP server? Check "
                        "smtp.server and smtp.port"),
    "smtp.during_greeting": N_("the greeting"),
    "smtp.during_command": N_("a command"),
    "smtp.during_transaction": N_("the mail transaction"),
    "smtp.line_too_long": N_("a line longer than SMTP allows"),
    "smtp.not_a_reply": N_("something that is not an SMTP reply (\"{shown}\")"),
    "smtp.ehlo_refused": N_("EHLO refused: {reply}"),
    "smtp.ehlo_after_tls_refused": N_("EHLO after STARTTLS refused: {reply}"),
    "smtp.no_starttls": N_("{where} does not offer STARTTLS, and smtp.security is starttls: "
                           "nothing was sent in clear. Check the server and port (587 offers "
                           "STARTTLS; 465 needs security ssl)"),
    "smtp.starttls_refused": N_("STARTTLS refused by {where}: {reply}"),
    "smtp.tls_negotiation_failed": N_("TLS negotiation with {where} failed: {error}"),
    "smtp.handshake_failed": N_("TLS handshake with {where} failed: {error}{hint}"),
    "smtp.hint_not_tls": N_(" (the server did not answer in TLS: this port may be plain or "
                            "STARTTLS, e.g. 587 needs security starttls, 465 security ssl)"),
    "smtp.implicit_tls_closed": N_("TLS handshake with {where} failed: connection closed (is the "
                                   "port really implicit TLS?)"),
    "smtp.untrusted": N_("the certificate of {where} is not trusted: {error} (import the server's "
                         "CA, and use the name the certificate was issued for)"),
    "smtp.mechanism_missing": N_("the server does not offer AUTH {mechanism} (it offers: "
                                 "{offered}){hint}"),
    "smtp.no_auth_at_all": N_("no AUTH at all"),
    "smtp.hint_auth_after_tls": N_(" - it may allow AUTH only after TLS"),
    "smtp.sign_in_refused": N_("the server refused the sign-in: {reply}"),
    "smtp.sign_in_refused_renewed": N_("the server refused the sign-in even with a freshly "
                                       "renewed token: {reply}"),
    "smtp.closed_after_refusal": N_("the server closed the connection after refusing the token "
                                    "({reply}); the token was renewed and the next attempt will "
                                    "use it"),
    "smtp.message_refused": N_("the server refused the message: {reply}"),
    "smtp.address_refused": N_("address refused before sending: {error}"),
    "smtp.transaction_failed": N_("the mail transaction failed: {error}"),
    "smtp.silent_during": N_("no answer during {during} within {seconds} s"),
    "smtp.closed_during": N_("the server closed the connection during {during}"),
    # ---- the send queue: a job's reason (firmware/mail/jobs.py) -----------------------------
    # `{why}` is the session's reason (itself a sentence, or the server's words); `{reply}`
    # the server's answer to DATA, as it said it.
    "job.retrying": N_("{why} (attempt {attempt} of {attempts}; next in {delay} s)"),
    "job.gave_up": N_("{why} (gave up after {attempts} attempts)"),
    "job.power_lost_before_data": N_("Power was lost before the message was sent; sending it "
                                     "again"),
    "job.power_lost_after_data": N_("Power was lost after the message was handed to the server; "
                                    "sending it again with the same Message-ID {message_id} (the "
                                    "recipient may receive it twice)"),
    "job.sent_again": N_("{reply} (sent again after a power cut during the first send: the "
                         "recipient may have two copies, both with Message-ID {message_id})"),
    "job.unreadable": N_("The stored message could not be read back from memory; scan again"),
    "job.internal_error": N_("Internal error: {error}"),
}


def _same(text: str) -> str:
    return text


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


class Reason(str):
    """A sentence: its English text (the string itself), its code and its fields.

    `Reason("token.invalid", cause=words, advice=Reason("advice.mfa"))`; `capital=True` for a
    sentence that starts with a field ("{trouble}; still polling"), so that it starts with a
    capital letter in every language. An unknown code or a missing field is a bug, and raises
    here, where it is made.
    """

    code: str
    params: tuple[tuple[str, str], ...]
    capital: bool

    def __new__(cls, code: str, /, *, capital: bool = False, **params: str) -> Reason:
        english = SENTENCES[code].format(**params)
        self = super().__new__(cls, _capital(english) if capital else english)
        self.code = code
        self.params = tuple(params.items())
        self.capital = capital
        return self

    def text(self, gettext: Gettext = _same) -> str:
        """The sentence in the language of `gettext`; English if the translation is unusable."""
        fields = {name: say(value, gettext) for name, value in self.params}
        try:
            said = gettext(SENTENCES[self.code]).format(**fields)
        except (KeyError, IndexError, ValueError):  # a translation naming a field it lacks
            said = SENTENCES[self.code].format(**fields)
        return _capital(said) if self.capital else said

    # A Reason is immutable, like the str it is: copies are itself (dataclasses.asdict
    # deep-copies fields, and str's own pickling would lose the code).
    def __copy__(self) -> Reason:
        return self

    def __deepcopy__(self, memo: Any) -> Reason:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.to_json(),))

    # ------------------------------------------------------------------ storage
    def to_json(self) -> dict[str, Any]:
        """The sentence as JSON, for a record that must survive a power cut."""
        return {"code": self.code, "capital": self.capital,
                "params": {k: v.to_json() if isinstance(v, Reason) else str(v)
                           for k, v in self.params}}

    @classmethod
    def from_json(cls, data: Any, english: str = "") -> str:
        """A stored sentence again; `english` (the stored text) when it cannot be rebuilt,
        e.g. a code that newer firmware wrote and this one does not know."""
        try:
            return _rebuild(data)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            return english


def _rebuild(data: Mapping[str, Any]) -> Reason:
    params = data["params"]
    if not isinstance(params, Mapping):
        raise TypeError("params is not an object")
    fields = {str(k): (_rebuild(v) if isinstance(v, Mapping) else str(v))
              for k, v in params.items()}
    return Reason(str(data["code"]), capital=bool(data.get("capital", False)), **fields)


def say(text: str, gettext: Gettext) -> str:
    """What a face shows for a reason: a `Reason` in the face's language, any text as it is."""
    return text.text(gettext) if isinstance(text, Reason) else text
