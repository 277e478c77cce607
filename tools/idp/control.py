"""The control API: JSON over HTTPS, for scripts that play the user or the tenant admin.

Every command is a thin wrapper over an `IdpState` method, so the in-process calls
(``idp.approve(...)``) and these HTTP calls have the same effect and the same errors.
Errors are ``{"error": ..., "message": ...}`` with 400 (bad input) or 404 (unknown user, code
or command); the message always says what is allowed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .errors import BadControlRequest, ControlError
from .state import IdpState

__all__ = ["COMMANDS", "add_routes"]

log = logging.getLogger(__name__)

Command = Callable[[IdpState, dict[str, Any]], dict[str, Any]]


def _field(body: dict[str, Any], name: str, example: str) -> Any:
    if name not in body:
        raise BadControlRequest(f"missing field {name!r}; expected a JSON object like {example}")
    return body[name]


def _approve(state: IdpState, body: dict[str, Any]) -> dict[str, Any]:
    example = '{"user_code": "BCDF-GHJK", "username": "alice@example.test"}'
    code = state.approve(_field(body, "user_code", example), _field(body, "username", example))
    return {"approved": code}


def _deny(state: IdpState, body: dict[str, Any]) -> dict[str, Any]:
    return {"declined": state.deny(_field(body, "user_code", '{"user_code": "BCDF-GHJK"}'))}


def _revoke(state: IdpState, body: dict[str, Any]) -> dict[str, Any]:
    name = _field(body, "username", '{"username": "alice@example.test"}')
    return {"revoked": state.user(name).username, "grants": state.revoke(name)}


def _disable(state: IdpState, body: dict[str, Any]) -> dict[str, Any]:
    return {"disabled": state.disable(_field(body, "username", '{"username": "bob@example.test"}'))}


def _enable(state: IdpState, body: dict[str, Any]) -> dict[str, Any]:
    return {"enabled": state.enable(_field(body, "username", '{"username": "bob@example.test"}'))}


def _slow_down(state: IdpState, body: dict[str, Any]) -> dict[str, Any]:
    return {"slow_down_left": state.slow_down(_field(body, "count", '{"count": 2}'))}


#: command name → (HTTP method, handler). One table: the route list and the help text.
COMMANDS: dict[str, tuple[str, Command | None]] = {
    "approve": ("POST", _approve),
    "deny": ("POST", _deny),
    "revoke": ("POST", _revoke),
    "disable": ("POST", _disable),
    "enable": ("POST", _enable),
    "slow_down": ("POST", _slow_down),
    "pending": ("GET", None),
}


def _usage() -> str:
    return ", ".join(f"{method} /control/{name}" for name, (method, _) in COMMANDS.items())


def _error(err: ControlError) -> web.Response:
    return web.json_response(err.as_json(), status=err.status)


def add_routes(app: web.Application, prefix: str, state: IdpState) -> None:
    async def dispatch(request: web.Request) -> web.Response:
        name = request.match_info.get("command", "")
        if name not in COMMANDS:
            return web.json_response(
                {"error": "unknown_command", "message": f"no command {name!r}; use {_usage()}"},
                status=404)
        method, handler = COMMANDS[name]
        if request.method != method:
            return web.json_response(
                {"error": "method_not_allowed",
                 "message": f"/control/{name} takes {method}; commands: {_usage()}"},
                status=405, headers={"Allow": method})
        if handler is None:
            return web.json_response({"pending": state.pending_codes()})
        try:
            body = json.loads(await request.read() or b"null")
        except (ValueError, UnicodeDecodeError):
            return _error(BadControlRequest("the body is not valid JSON; send a JSON object "
                                            "with Content-Type: application/json"))
        if not isinstance(body, dict):
            return _error(BadControlRequest("the body must be a JSON object, e.g. "
                                            '{"username": "alice@example.test"}'))
        try:
            result = handler(state, body)
        except ControlError as err:
            log.info("control %s refused: %s", name, err.message)
            return _error(err)
        log.info("control %s: %s", name, result)
        return web.json_response(result)

    route: Callable[[web.Request], Awaitable[web.Response]] = dispatch
    app.router.add_route("*", prefix + "/{command}", route)
    app.router.add_route("*", prefix, route)
    app.router.add_route("*", prefix + "/", route)
