"""What a body's return value says about how its run ends, as in Prefect.

A task or flow body that returns a :class:`~legato.states.State` ends in that state
(``return Failed(message="bad rows")``, ``return Completed(name="Skipped")``), and one
that returns a future ends as its task run did; one that returns a non-empty list, tuple, set or dict whose items (a dict's values) are all
states or futures ends Completed only if every one of them completed, else Failed
(Cancelled if any was cancelled), saying how many did not. Anything else is an
ordinary value and the run completes with it.

Pure: :func:`returned_state` reads states and the final states of done futures, and
decides; the machines record what it says (and retry a Failed one as they would a
raised error).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from legato.engine.futures import LegatoFuture, resolve
from legato.states import TERMINAL_TYPES, State, StateType

_COLLECTIONS = (list, tuple, set, frozenset)
MAY_CARRY_STATES = (State, LegatoFuture, dict, *_COLLECTIONS)
"""The kinds of returned value worth a closer look (a quick test on every body's return)."""


def returned_state(value: Any) -> State | None:
    """The state a body that returned ``value`` ends in; None for an ordinary value.

    A single state (or a done future's final state) is taken as it is: its name,
    message, data and exception; except a state that does not end a run (Pending, Running, Scheduled, Paused...): the run
    ends Failed, saying so. A collection of states and futures (futures must be done:
    the machines wait for them before judging) is summed up; its data is the
    collection with each future replaced by its value.
    """
    if isinstance(value, LegatoFuture):
        value.observed = True
        value = value.state
    if isinstance(value, State):
        return value if value.type in TERMINAL_TYPES else _not_an_end(value)
    members = _state_members(value)
    if members is None:
        return None
    for member in members:
        if isinstance(member, LegatoFuture):
            member.observed = True  # returned: the caller sees its failure through this run
    ends = [m if isinstance(m, State) else m.state for m in members]
    total = len(ends)
    cancelled = sum(s.type is StateType.CANCELLED for s in ends)
    unfinished = sum(s.type not in TERMINAL_TYPES for s in ends)
    failed = sum(s.type is not StateType.COMPLETED for s in ends) - cancelled - unfinished
    data = resolve(value)
    if cancelled:
        return State(StateType.CANCELLED, "Cancelled", f"{cancelled}/{total} states cancelled")
    if failed or unfinished:
        parts = [f"{failed}/{total} states failed"] if failed else []
        if unfinished:
            parts.append(f"{unfinished}/{total} states not final")
        message = ", ".join(parts)
        return State(StateType.FAILED, "Failed", message)
    return State(StateType.COMPLETED, "Completed", f"all {total} states completed", data=data)


def _state_members(value: Any) -> list[Any] | None:
    """The items of a non-empty collection made only of states and futures; else None."""
    items: Iterable[Any]
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, _COLLECTIONS):
        items = value
    else:
        return None
    members = list(items)
    if not members or not all(isinstance(m, State | LegatoFuture) for m in members):
        return None
    return members


def _not_an_end(state: State) -> State:
    message = (
        f"the body returned a {state.name} state, which does not end a run: return "
        "Completed, Failed, Cancelled or Crashed (from legato.states), or a value"
    )
    return State(StateType.FAILED, "Failed", message)


def returned_futures(value: Any) -> list[LegatoFuture[Any]]:
    """The futures among what a body returned that :func:`returned_state` reads (the
    value itself, or the members of a collection): to wait for before judging."""
    if isinstance(value, LegatoFuture):
        return [value]
    members = _state_members(value)
    return [m for m in members or () if isinstance(m, LegatoFuture)]
