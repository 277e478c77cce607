"""The token state machine, as data.

Every transition a token store can make is in `TRANSITIONS`; `transitions` applies them to a
plain model and raises on any trigger the table does not allow, which `TokenMachine` turns into
a `TokenStateError` a person can read. `mermaid()` draws the same table for the docs.

The machine has one state more than a person sees. `refresh_failing` is "a token is held, but
the last refresh did not go through (provider unreachable, throttled, answering nonsense);
retrying with back-off". Every face shows it as **Retrieved** (the status table of the manual
has four states, and the grant is still good), with the reason saying what is failing; the
machine keeps it apart so that the retry is a state a reader can see in the table, not a flag.

    Phase (the machine's states)      TokenState (what every face shows)
    not_retrieved                     not_retrieved   "Not retrieved"
    waiting                           waiting         "Waiting for authorization"
    retrieved                         retrieved       "Retrieved"
    refresh_failing                   retrieved       "Retrieved"  (+ the reason)
    invalid                           invalid         "Invalid"
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from transitions import Machine, MachineError

from ..errors import TokenStateError

__all__ = ["Phase", "TokenState", "STATES", "TRANSITIONS", "LABELS", "SHOWN_AS", "TokenMachine",
           "mermaid"]


class TokenState(StrEnum):
    """The four token states of the manual, as every face shows them."""

    NOT_RETRIEVED = "not_retrieved"
    WAITING = "waiting"
    RETRIEVED = "retrieved"
    INVALID = "invalid"


class Phase(StrEnum):
    """The machine's own states (see the module docstring)."""

    NOT_RETRIEVED = "not_retrieved"
    WAITING = "waiting"
    RETRIEVED = "retrieved"
    REFRESH_FAILING = "refresh_failing"
    INVALID = "invalid"


#: What each machine state is shown as.
SHOWN_AS: dict[Phase, TokenState] = {
    Phase.NOT_RETRIEVED: TokenState.NOT_RETRIEVED,
    Phase.WAITING: TokenState.WAITING,
    Phase.RETRIEVED: TokenState.RETRIEVED,
    Phase.REFRESH_FAILING: TokenState.RETRIEVED,
    Phase.INVALID: TokenState.INVALID,
}

STATES: list[str] = [p.value for p in Phase]

_HELD = ["retrieved", "refresh_failing"]

#: The whole behaviour, one row per transition: (trigger, sources, destination).
TRANSITIONS: list[dict[str, Any]] = [
    # [Get Token] → [OK]: the device flow starts with the provider.
    {"trigger": "start", "source": ["not_retrieved", "invalid"], "dest": "waiting"},
    # Sign-in through the web page (authorization code with PKCE, auth_code.py) gave a token.
    {"trigger": "signed_in", "source": ["not_retrieved", "invalid"], "dest": "retrieved"},
    # The user approved; the poll returned a token for the configured account.
    {"trigger": "authorized", "source": "waiting", "dest": "retrieved"},
    # Declined, code expired, provider error, account changed while waiting.
    {"trigger": "flow_failed", "source": "waiting", "dest": "not_retrieved"},
    # A refresh gave a new access token.
    {"trigger": "refreshed", "source": _HELD, "dest": "retrieved"},
    # A refresh did not go through for a passing reason: retry with back-off, still Retrieved.
    {"trigger": "refresh_failed", "source": _HELD, "dest": "refresh_failing"},
    # Refresh refused (invalid_grant, revoked, disabled account) or account name changed.
    {"trigger": "invalidate", "source": _HELD, "dest": "invalid"},
    # [Clear] → [OK], from the panel, the console or the web page.
    {"trigger": "clear", "source": "*", "dest": "not_retrieved"},
]

LABELS: dict[TokenState, str] = {
    TokenState.NOT_RETRIEVED: "Not retrieved",
    TokenState.WAITING: "Waiting for authorization",
    TokenState.RETRIEVED: "Retrieved",
    TokenState.INVALID: "Invalid",
}

#: What each trigger means to a person, for error messages.
_ACTIONS = {
    "start": "Get Token",
    "signed_in": "Sign in",
    "authorized": "finish authorization",
    "flow_failed": "end authorization",
    "refreshed": "renew the token",
    "refresh_failed": "note a failed renewal",
    "invalidate": "mark the token invalid",
    "clear": "Clear",
}

_ADVICE = {
    ("start", TokenState.RETRIEVED): "a token is already retrieved; Clear it first to obtain a new one",
    ("start", TokenState.WAITING): "authorization is already under way; Clear it to start again",
    ("signed_in", TokenState.RETRIEVED): "a token is already retrieved; Clear it first to sign "
                                         "in again",
    ("signed_in", TokenState.WAITING): "authorization is already under way; Clear it to start "
                                       "again",
}


class _Model:
    state: str


class TokenMachine:
    """A token store's state, moved only through the table above."""

    def __init__(self, initial: Phase = Phase.NOT_RETRIEVED) -> None:
        self._model = _Model()
        self._machine = Machine(
            model=self._model,
            states=STATES,
            transitions=TRANSITIONS,
            initial=initial.value,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )

    @property
    def phase(self) -> Phase:
        return Phase(self._model.state)

    @property
    def state(self) -> TokenState:
        return SHOWN_AS[self.phase]

    def can(self, trigger: str) -> bool:
        return bool(self._machine.get_transitions(trigger=trigger, source=self._model.state)) or any(
            t["trigger"] == trigger and t["source"] == "*" for t in TRANSITIONS
        )

    def fire(self, trigger: str) -> Phase:
        try:
            getattr(self._model, trigger)()
        except MachineError:
            state = self.state
            advice = _ADVICE.get((trigger, state))
            if advice is None:
                advice = f"not possible while the token is {LABELS[state]!r}"
            raise TokenStateError(f"{_ACTIONS.get(trigger, trigger)}: {advice}") from None
        return self.phase


def mermaid() -> str:
    """The machine drawn as a Mermaid state diagram, generated from `TRANSITIONS`."""
    from transitions.extensions import GraphMachine

    model = _Model()
    GraphMachine(
        model=model, states=STATES, transitions=TRANSITIONS, initial="not_retrieved",
        auto_transitions=False, graph_engine="mermaid", title="Token store",
    )
    graph: Any = model.get_graph()  # type: ignore[attr-defined]
    return str(graph.draw(None))
