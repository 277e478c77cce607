"""Console commands about the token stores: status, Get Token, Clear, refresh, check, wait."""

from __future__ import annotations

import asyncio
import math

from ..errors import CommandError
from ..events import TokenChanged
from ..tokens.machine import TokenState
from ..tokens.store import TokenStatus
from .command import Command, Reply, Session, need

__all__ = ["TOKEN_COMMANDS", "MAX_WAIT"]

#: The longest `token <store> wait` waits (real seconds).
MAX_WAIT = 3600.0
TOKEN_USAGE = "token <store> status|get|clear|refresh|check|wait <state> [seconds]"


def _status_lines(st: TokenStatus, now: float) -> Reply:
    lines = [f"store={st.store}", f"state={st.state.value}", f"label={st.label}",
             f"account={st.account}", f"provider={st.provider}", f"reason={st.reason}"]
    if st.access_expires_at is not None:
        lines.append(f"access_expires_in={max(0, int(st.access_expires_at - now))}")
    if st.prompt is not None:
        lines += [f"verification_uri={st.prompt.verification_uri}", f"user_code={st.prompt.user_code}",
                  f"expires_in={max(0, int(st.prompt.expires_at - now))}"]
    if st.poll_interval is not None:
        lines.append(f"poll_interval={st.poll_interval:g}")
    if st.next_request_at is not None:
        lines.append(f"next_request_in={max(0, math.ceil(st.next_request_at - now))}")
    return lines


async def _token(session: Session, args: list[str], rest: str) -> Reply:
    need(args, 2, TOKEN_USAGE)
    api, store, action = session.api, args[0], args[1].lower()
    if action == "status":
        return _status_lines(api.token_status(store), api.now()) + ["OK"]
    if action == "get":
        prompt = await api.get_token(store)
        return [f"verification_uri={prompt.verification_uri}", f"user_code={prompt.user_code}",
                f"expires_in={max(0, int(prompt.expires_at - api.now()))}",
                f"verification_uri_complete={prompt.verification_uri_complete}", "OK"]
    if action == "clear":
        await api.clear_token(store)
        return _status_lines(api.token_status(store), api.now())[:3] + ["OK"]
    if action == "refresh":
        await api.refresh_token(store)
        return _status_lines(api.token_status(store), api.now()) + ["OK"]
    if action == "check":
        result = await api.check_token(store)
        lines = _status_lines(result.status, api.now())
        lines.append(f"refreshed={'yes' if result.refreshed else 'no'}")
        if result.refreshed:
            return [*lines, "OK"]
        return [*lines, f"ERR the token was not renewed: {result.status.reason or 'no reason given'}"]
    if action == "wait":
        need(args, 3, "token <store> wait <state> [seconds]")
        return await _wait(session, store, args[2], args[3] if len(args) > 3 else "30")
    raise CommandError(f"unknown action {action!r}: {TOKEN_USAGE}")


async def _wait(session: Session, store: str, state_text: str, seconds_text: str) -> Reply:
    """Wait (real time, bounded) until a store reaches a state: for scripts on a real clock."""
    try:
        wanted = TokenState(state_text)
    except ValueError:
        raise CommandError(f"unknown state {state_text!r}: one of "
                           + "|".join(s.value for s in TokenState)) from None
    try:
        seconds = float(seconds_text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_WAIT:
        raise CommandError(f"seconds must be a number from 0 to {int(MAX_WAIT)}")
    api = session.api
    name = api.context(store).name
    sub = api.subscribe(TokenChanged)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while api.token_status(name).state is not wanted:
            left = deadline - loop.time()
            if left <= 0:
                st = api.token_status(name)
                return [f"state={st.state.value}", f"reason={st.reason}",
                        f"ERR timeout: {name} is still {st.state.value} after {seconds_text} s"]
            try:
                await sub.get(timeout=left)
            except TimeoutError:
                continue
    finally:
        sub.close()
    return _status_lines(api.token_status(name), api.now()) + ["OK"]


async def _stores(session: Session, args: list[str], rest: str) -> Reply:
    api = session.api
    return [f"{n}={api.token_status(n).state.value}" for n in api.store_names()] + ["OK"]


TOKEN_COMMANDS: tuple[Command, ...] = (
    Command("token", TOKEN_USAGE,
            "token stores: {stores} (an SMTP function name means the shared smtp token)", _token),
    Command("stores", "stores", "every token store and its state", _stores),
)
