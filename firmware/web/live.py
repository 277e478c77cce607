"""The page's live line to the device: server-sent events fed by the device's event bus.

`GET /events` is an `EventSource` stream. Each device event the pages show becomes one SSE
message: its kind as the SSE event name, its sequence number as the id, and a small JSON body
naming what changed (`{"store": "smtp", "state": "retrieved"}`), never a secret or a value a
page would have to trust: the page's script fetches the part of the page that changed from
the device (`/part/...`), drawn by the same templates as the page itself.

Each stream has its own bounded subscription (`EventBus.subscribe`), so a stalled browser
never holds the device up. The stream ends when the session ends (checked at every message
and every few seconds: the script then shows the login), when the browser goes away, or when
the server stops.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from ..events import (
    Alert,
    Event,
    JobChanged,
    Printed,
    Received,
    Refused,
    SettingsChanged,
    Subscription,
    TokenChanged,
)
from .state import WebState, state

__all__ = ["routes", "LIVE_EVENTS", "CHECK_EVERY"]

routes = web.RouteTableDef()

#: The events pages react to.
LIVE_EVENTS: tuple[type[Event], ...] = (TokenChanged, SettingsChanged, JobChanged, Received,
                                        Printed, Refused, Alert)
#: How often (real seconds) a quiet stream checks that its session and browser are still there.
CHECK_EVERY = 5.0
#: Events a stream may hold for a slow browser before it drops the oldest.
QUEUE = 100


def payload(event: Event) -> dict[str, Any]:
    """What a page needs to know to fetch the changed part: which store, section or job."""
    if isinstance(event, TokenChanged):
        return {"store": event.store, "state": event.state.value}
    if isinstance(event, SettingsChanged):
        return {"section": event.section}
    if isinstance(event, JobChanged):
        return {"id": event.id, "state": event.state.value}
    if isinstance(event, (Received, Printed, Refused, Alert)):
        return {"source": event.source}
    return {}


async def _relay(st: WebState, sid: str, subscription: Subscription,
                 stream: EventSourceResponse) -> None:
    await stream.send(json.dumps({}), event="hello")
    while stream.is_connected():
        try:
            event = await subscription.get(timeout=CHECK_EVERY)
        except TimeoutError:
            event = None
        if st.sessions.get(sid, touch=False) is None:
            await stream.send(json.dumps({}), event="ended")
            return
        if event is not None:
            body = {"kind": event.kind, "seq": event.seq, **payload(event)}
            await stream.send(json.dumps(body), event=event.kind, id=str(event.seq))


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    st = state(request)
    sid = request.cookies.get(st.cookie, "")
    subscription = st.api.events.subscribe(*LIVE_EVENTS, maxsize=QUEUE)
    task = asyncio.current_task()
    if task is not None:
        st.streams.add(task)
    try:
        async with sse_response(request, ping_interval=15.0, headers={
                "Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'",
                "X-Content-Type-Options": "nosniff"}) as stream:
            try:
                await _relay(st, sid, subscription, stream)
            except ConnectionResetError:  # the browser left (a page closed or navigated away)
                pass
        return stream
    finally:
        subscription.close()
        if task is not None:
            st.streams.discard(task)
