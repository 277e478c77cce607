"""How long the device waits for an identity provider, in one place, with the reason for each.

Every request to an identity provider (OIDC discovery, device authorization, token polling,
refresh) goes through one HTTP session whose adapter enforces these, and every msal call runs
under a per-call deadline on the event loop, so a provider that accepts a connection and
never answers fails the step with "the identity provider did not answer within N s" instead
of holding a token store (and the console waiting on it) for minutes.

These are real seconds on the event loop's clock, not device time: they guard sockets, and a
stalled socket is stalled in real time whatever the device clock says. Mail sessions have
their own per-setting timeout (`smtp.timeout`, `pop.*.timeout`), as on the real device's
SMTP and POP3 screens.

A test passes smaller values (`IdpDeadlines(connect=0.5, …)`) so that a hung provider is
noticed in a fraction of a second; the defaults are what a device in a building uses.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IdpDeadlines", "IDP_DEADLINES", "IDP_WORKERS", "MAX_ANSWER_BYTES"]


@dataclass(frozen=True)
class IdpDeadlines:
    #: TCP connect and TLS handshake. A provider in the same country answers a SYN in well
    #: under a second; 5 s covers a slow proxy and one lost SYN (retransmitted after 1 s, 3 s).
    connect: float = 5.0
    #: Between two reads of the answer (headers, then each chunk of the body). Entra answers a
    #: token request in 0.1–1 s; 15 s leaves room for a provider under load without letting a
    #: silent one hold the request for minutes.
    read: float = 15.0
    #: The whole answer body, however it trickles in: a server that drips one byte every few
    #: seconds satisfies `read` forever, so the body as a whole has its own bound.
    body: float = 20.0
    #: One msal call as the device sees it (it may make two requests: discovery and the token
    #: request). Past this the caller is told the provider did not answer and the store moves
    #: on; the worker thread is freed when the socket read above gives up.
    call: float = 30.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "body", "call"):
            value = getattr(self, name)
            if not 0 < value <= 600:
                raise ValueError(f"IdpDeadlines.{name} must be > 0 and <= 600 seconds, not {value!r}")


#: What a device uses unless told otherwise.
IDP_DEADLINES = IdpDeadlines()
#: Worker threads per device for msal (blocking) calls: one per token store, so that a hung
#: provider for one store never delays the others, and no more, so that a fleet of devices in
#: one process does not start hundreds of threads.
IDP_WORKERS = 3
#: The largest answer the device reads from an identity provider. Real token answers are a few
#: kilobytes (a JWT access token of Entra is 1.5–3 KB); a provider sending more is broken or
#: hostile and must not fill the device's memory.
MAX_ANSWER_BYTES = 256 * 1024
