"""What ``@task`` and ``@flow`` options share: checks made once, when a definition is made.

Each kind of definition keeps its options in one frozen record (``TaskOptions``,
``FlowOptions``); a changed copy is ``dataclasses.replace`` of it, so a copy is
checked exactly as the original was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    Options = TypeVar("Options", bound=DataclassInstance)
else:
    Options = TypeVar("Options")


def changed(options: Options, changes: Mapping[str, Any], kind: str) -> Options:
    """``options`` with ``changes`` made (and checked again).

    Raises TypeError for a name that is no ``kind`` option, naming it and the valid ones.
    """
    if not changes:
        return options
    names = [option.name for option in dataclasses.fields(options)]
    unknown = sorted(set(changes) - set(names))
    if unknown:
        raise TypeError(
            f"unknown {kind} option(s): {', '.join(unknown)}; "
            f"the {kind} options are {', '.join(names)}"
        )
    return dataclasses.replace(options, **changes)


def check_timeout(timeout_seconds: float | None) -> None:
    """Refuse a timeout that could never let a run start."""
    if timeout_seconds is not None and timeout_seconds <= 0:
        raise ValueError(f"timeout_seconds must be > 0, got {timeout_seconds!r}")


def tag_set(tags: Iterable[str] | None) -> tuple[str, ...]:
    """Tags as a definition keeps them: each once, sorted."""
    return tuple(sorted(set(tags or ())))


HOOK_OPTIONS = ("on_completion", "on_failure", "on_crashed", "on_cancellation", "on_running")
"""State-hook options: each reads as ``<name>_hooks`` on a definition, as in Prefect,
where ``flow.on_failure`` is the decorator that adds one."""


def hook_list(option: str, value: Any) -> tuple[Callable[..., Any], ...]:
    """The hooks of a state-hook option as a definition keeps them: a tuple of callables.

    A list (or other iterable) of callables is what Prefect takes; one callable alone is
    taken too. Raises TypeError naming the option for anything else.
    """
    if value is None:
        return ()
    if callable(value):
        return (value,)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(
            f"{option} must be a list of functions called as hook(flow_or_task, run, state), "
            f"got {type(value).__name__} {value!r}"
        )
    hooks = tuple(value)
    for position, hook in enumerate(hooks, start=1):
        if not callable(hook):
            raise TypeError(
                f"{option}: hook {position} is not callable ({type(hook).__name__} {hook!r}); "
                "give functions called as hook(flow_or_task, run, state)"
            )
    return hooks


def option_attributes(options: DataclassInstance) -> dict[str, Any]:
    """Each option by name, as a definition's attributes show them (``tags`` as a list,
    state hooks as ``<name>_hooks`` lists)."""
    attributes = {
        option.name: getattr(options, option.name) for option in dataclasses.fields(options)
    }
    attributes["tags"] = list(attributes["tags"])
    for name in HOOK_OPTIONS:
        if name in attributes:
            attributes[f"{name}_hooks"] = list(attributes.pop(name))
    return attributes
