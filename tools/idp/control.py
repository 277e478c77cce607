"""The control API: JSON over HTTPS, for scripts that play the user, the tenant admin or the
test engineer breaking things on purpose.

Every command is a thin wrapper over the bench's model (`IdpState`, the `FaultBoard`, the
`BenchStats`, the policy), so the in-process calls (``idp.approve(...)``) and these HTTP calls
have the same effect and the same errors. Errors are ``{"error": ..., "message": ...}`` with 400
(bad input), 404 (unknown user, code, fault or command) or 405 (wrong method); the message always
says what is allowed. The routes are one table, `ROUTES` (docs/testbed.md mirrors it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from .errors import BadControlRequest, ControlError
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

    def config(self) -> dict[str, Any]: ...

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]: ...


Handler = Callable[[ControlTarget, dict[str, Any]], dict[str, Any]]


def _field(body: dict[str, Any], name: str, example: str) -> Any:
    if name not in body:
        raise BadControlRequest(f"missing field {name!r}; expected a JSON object like {example}")
    return body[name]


def _approve(bench: ControlTarget, body: dict[str, Any]) -> dict[str, Any]:
    example = '{"user_code": "BCDF-GHJK", "username": "alice@example.test"}'
    code = bench.state.approve(_field(body, "user_code", example),
                               _field(body, "username", example))
    return {"approved": code}


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
            result = ROUTES[(path, request.method)](bench, body)
        except ControlError as err:
            log.info("control %s %s refused: %s", request.method, path, err.message)
            return _error(err)
        if request.method != "GET":
            log.info("control %s %s: %s", request.method, path, result)
        return web.json_response(result)

    route: Callable[[web.Request], Awaitable[web.Response]] = dispatch
    app.router.add_route("*", prefix + "/{path:.*}", route)
    app.router.add_route("*", prefix, route)
