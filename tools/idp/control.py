"""The control API: JSON over HTTPS, for scripts that play the user, the tenant admin or the
test engineer breaking things on purpose.

Every command is a thin wrapper over the bench's model (`IdpState`, the `FaultBoard`, the
`BenchStats`, the policy), so the in-process calls (``idp.approve(...)``) and these HTTP calls
have the same effect and the same errors. Errors are ``{"error": ..., "message": ...}`` with 400
(bad input), 404 (unknown user, code, fault or command) or 405 (wrong method); the message always
says what is allowed. The routes are one table, `ROUTES` (docs/testbed.md mirrors it).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from mfp_sim.hwsim.clock import Clock, VirtualClock
from mfp_sim.tools.bench_users import BENCH_USERS, AccountFamily

from .errors import BadControlRequest, ControlError, UnknownUserCode
from .faultboard import FaultBoard
from .state import IdpState
from .stats import BenchStats

__all__ = ["ROUTES", "ControlTarget", "add_routes"]

log = logging.getLogger(__name__)


class ControlTarget(Protocol):
    """What the control API drives (`IdentityProvider` fits)."""

    state: IdpState
    faults: FaultBoard
    stats: BenchStats
    clock: Clock

    def config(self) -> dict[str, Any]: ...

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]: ...


Handler = Callable[[ControlTarget, dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]

#: The most approvals one ``approve_all`` request may carry.
MAX_APPROVALS = 10_000
#: The longest one ``POST /control/clock`` may move a virtual clock (ten years).
MAX_ADVANCE = 10 * 365 * 86400


def _field(body: dict[str, Any], name: str, example: str) -> Any:
    if name not in body:
        raise BadControlRequest(f"missing field {name!r}; expected a JSON object like {example}")
    return body[name]


def _approve(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    example = '{"user_code": "BCDF-GHJK", "username": "alice@example.test"}'
    code = bench.state.approve(_field(body, "user_code", example),
                               _field(body, "username", example))
    return {"approved": code}


def _approve_all(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    """Many approvals in one request, each for its own account (a fleet's approver).

    Each is decided on its own: an expired or unknown code is listed under ``refused`` with
    the same error and message a single ``approve`` would give, and the others go through.
    """
    example = ('{"approvals": [{"user_code": "GH5LFQ7WZ", "username": "mfp1@example.test"}, '
               '...]}')
    approvals = _field(body, "approvals", example)
    if not isinstance(approvals, list) or not 1 <= len(approvals) <= MAX_APPROVALS:
        raise BadControlRequest(f"approvals must be a list of 1 to {MAX_APPROVALS} objects, "
                                f"e.g. {example}")
    approved: list[str] = []
    refused: list[dict[str, str]] = []
    for item in approvals:
        if not isinstance(item, dict):
            raise BadControlRequest(f"each approval is an object with user_code and username, "
                                    f"e.g. {example}")
        try:
            approved.append(bench.state.approve(_field(item, "user_code", example),
                                                _field(item, "username", example)))
        except UnknownUserCode as err:  # no list of waiting codes: it could be thousands long
            refused.append({"user_code": str(item.get("user_code")), "error": err.error,
                            "message": f"no device authorization has user code "
                                       f"{item.get('user_code')!r}"})
        except ControlError as err:
            refused.append({"user_code": str(item.get("user_code")), "error": err.error,
                            "message": err.message})
    return {"approved": approved, "refused": refused}


def _accounts(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    families = bench.state.users.families()
    return {"named": [u.username for u in BENCH_USERS],
            "families": [{"pattern": f.pattern, "count": f.count} for f in families]}


def _add_accounts(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    example = '{"pattern": "mfp{n}@example.test", "count": 2000}'
    try:
        family = AccountFamily.parse(_field(body, "pattern", example),
                                     _field(body, "count", example))
        bench.state.users.add_family(family)
    except ValueError as exc:
        raise BadControlRequest(str(exc)) from None
    return {"added": {"pattern": family.pattern, "count": family.count}}


def _clock(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    return {"now": bench.clock.now(), "virtual": bool(bench.clock.virtual)}


async def _advance(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    clock = bench.clock
    if not isinstance(clock, VirtualClock):
        raise BadControlRequest("the bench runs on the real clock; only a bench started with "
                                "--clock virtual can be advanced")
    seconds = _field(body, "advance", '{"advance": 60}')
    if (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
            or not math.isfinite(seconds) or not 0 <= seconds <= MAX_ADVANCE):
        raise BadControlRequest(f"advance must be a number of seconds from 0 to {MAX_ADVANCE} "
                                "(ten years)")
    return {"now": await clock.advance(float(seconds)), "virtual": True}


def _deny(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    return {"declined": bench.state.deny(_field(body, "user_code", '{"user_code": "BCDF-GHJK"}'))}


def _revoke(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    name = _field(body, "username", '{"username": "alice@example.test"}')
    return {"revoked": bench.state.user(name).username, "grants": bench.state.revoke(name)}


def _disable(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    name = _field(body, "username", '{"username": "bob@example.test"}')
    return {"disabled": bench.state.disable(name)}


def _enable(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    name = _field(body, "username", '{"username": "bob@example.test"}')
    return {"enabled": bench.state.enable(name)}


def _slow_down(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    return {"slow_down_left": bench.state.slow_down(_field(body, "count", '{"count": 2}'))}


def _pending(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    return {"pending": bench.state.pending_codes()}


def _get_config(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    return bench.config()


def _set_config(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    if not body:
        raise BadControlRequest('send the knobs to change, e.g. {"access_token_lifetime": 30} '
                                'or {"profile": "keycloak"}; GET /control/config lists them')
    return bench.configure(body)


def _arm(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    return {"armed": bench.faults.arm_request(body).as_json()}


def _disarm(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("name")
    if name is not None:
        bench.faults.entry(name)  # an unknown name is a 404, not a silent 0
    return {"disarmed": bench.faults.disarm(name)}


def _faults(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    return {"faults": bench.faults.listing()}


def _stats(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    return bench.stats.snapshot()


def _stats_reset(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    bench.stats.reset()
    return bench.stats.snapshot()


#: (path under /control, HTTP method) → handler. One table: the routes and the help text.
ROUTES: dict[tuple[str, str], Handler] = {
    ("pending", "GET"): _pending,
    ("approve", "POST"): _approve,
    ("approve_all", "POST"): _approve_all,
    ("deny", "POST"): _deny,
    ("revoke", "POST"): _revoke,
    ("disable", "POST"): _disable,
    ("enable", "POST"): _enable,
    ("slow_down", "POST"): _slow_down,
    ("config", "GET"): _get_config,
    ("config", "POST"): _set_config,
    ("faults", "GET"): _faults,
    ("fault", "POST"): _arm,
    ("fault", "DELETE"): _disarm,
    ("stats", "GET"): _stats,
    ("stats/reset", "POST"): _stats_reset,
    ("accounts", "GET"): _accounts,
    ("accounts", "POST"): _add_accounts,
    ("clock", "GET"): _clock,
    ("clock", "POST"): _advance,
}


def _usage() -> str:
    return ", ".join(f"{method} /control/{path}" for path, method in ROUTES)


def _error(err: ControlError) -> web.Response:
    return web.json_response(err.as_json(), status=err.status)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadControlRequest("the body is not valid JSON; send a JSON object with "
                                "Content-Type: application/json") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadControlRequest('the body must be a JSON object, e.g. '
                                '{"username": "alice@example.test"}')
    return body


def add_routes(app: web.Application, prefix: str, bench: ControlTarget) -> None:
    async def dispatch(request: web.Request) -> web.Response:
        path = request.match_info.get("path", "").strip("/")
        methods = [m for p, m in ROUTES if p == path]
        if not methods:
            return web.json_response(
                {"error": "unknown_command", "message": f"no command {path!r}; use {_usage()}"},
                status=404)
        if request.method not in methods:
            allowed = ", ".join(methods)
            return web.json_response(
                {"error": "method_not_allowed",
                 "message": f"/control/{path} takes {allowed}; commands: {_usage()}"},
                status=405, headers={"Allow": allowed})
        try:
            body = await _body(request)
            answer = ROUTES[(path, request.method)](bench, body)
            result = await answer if inspect.isawaitable(answer) else answer
        except ControlError as err:
            log.info("control %s %s refused: %s", request.method, path, err.message)
            return _error(err)
        if request.method != "GET":
            log.info("control %s %s: %s", request.method, path, result)
        return web.json_response(result)

    route: Callable[[web.Request], Awaitable[web.Response]] = dispatch
    app.router.add_route("*", prefix + "/{path:.*}", route)
    app.router.add_route("*", prefix, route)
