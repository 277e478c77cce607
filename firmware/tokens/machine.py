"""The token state machine, as data.

Every transition a token store can make is in `TRANSITIONS`; `transitions` applies them to a
plain model and raises on any trigger the table does not allow, which `TokenMachine` turns into
a `TokenStateError` a person can read. `mermaid()` draws the same table for the docs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from transitions import Machine, MachineError

from ..errors import TokenStateError

__all__ = ["TokenState", "STATES", "TRANSITIONS", "LABELS", "TokenMachine", "mermaid"]


class TokenState(StrEnum):
    NOT_RETRIEVED = "not_retrieved"
    WAITING = "waiting"
    RETRIEVED = "retrieved"
    INVALID = "invalid"


STATES: list[str] = [s.value for s in TokenState]

#: The whole behaviour, one row per transition: (trigger, sources, destination).
TRANSITIONS: list[dict[str, Any]] = [
    # [Get Token] → [OK]: the device flow starts with the provider.
    {"trigger": "start", "source": ["not_retrieved", "invalid"], "dest": "waiting"},
    # The user approved; the poll returned a token for the configured account.
    {"trigger": "authorized", "source": "waiting", "dest": "retrieved"},
    # Declined, code expired, provider error, account changed while waiting.
    {"trigger": "flow_failed", "source": "waiting", "dest": "not_retrieved"},
    # Refresh refused (invalid_grant, revoked, disabled account) or account name changed.
    {"trigger": "invalidate", "source": "retrieved", "dest": "invalid"},
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
    "authorized": "finish authorization",
    "flow_failed": "end authorization",
    "invalidate": "mark the token invalid",
    "clear": "Clear",
}

_ADVICE = {
    ("start", "retrieved"): "a token is already retrieved; Clear it first to obtain a new one",
    ("start", "waiting"): "authorization is already under way; Clear it to start again",
}


class _Model:
    state: str


class TokenMachine:
    """A token store's state, moved only through the table above."""

    def __init__(self, initial: TokenState = TokenState.NOT_RETRIEVED) -> None:
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
    def state(self) -> TokenState:
        return TokenState(self._model.state)

    def can(self, trigger: str) -> bool:
        return bool(self._machine.get_transitions(trigger=trigger, source=self._model.state)) or any(
            t["trigger"] == trigger and t["source"] == "*" for t in TRANSITIONS
        )

    def fire(self, trigger: str) -> TokenState:
        try:
            getattr(self._model, trigger)()
        except MachineError:
            state = self.state
            advice = _ADVICE.get((trigger, state.value))
            if advice is None:
                advice = f"not possible while the token is {LABELS[state]!r}"
            raise TokenStateError(f"{_ACTIONS.get(trigger, trigger)}: {advice}") from None
        return self.state


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
