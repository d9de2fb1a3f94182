"""What the engine reads of a task and of a flow: attributes and a few methods, no classes.

``legato.sdk``'s ``Task`` and ``Flow`` satisfy these structurally; so does the stand-in
that records a subflow call as a task run of its parent (:class:`RecordedTask` only).
Every attribute is a read-only property here, so a definition may hold its options in
plain attributes or behind properties alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from legato.engine.retries import RetryDelay

if TYPE_CHECKING:
    from legato.engine.context import FlowRunContext
    from legato.engine.hooks import StateHooks
    from legato.engine.results import ResultStore
    from legato.engine.runner import TaskRunner
    from legato.engine.task_run import TaskRun


class RecordedTask(Protocol):
    """What making (or finding) a task run of a call needs: how it is named and kept."""

    @property
    def name(self) -> str: ...

    @property
    def task_key(self) -> str:
        """Identifies the task across processes (a rerun recognises its task runs by it)."""
        ...

    @property
    def tags(self) -> Sequence[str]: ...

    @property
    def parameter_names(self) -> Sequence[str]:
        """Positional parameter names, to label the edges of positional arguments."""
        ...

    @property
    def persist_result(self) -> bool | None: ...

    @property
    def task_run_name(self) -> str | Callable[..., str] | None:
        """Names its runs (a template of the parameters, or a callable); None: ``task-N``."""
        ...

    def run_name(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """The name of the run of a call, from ``task_run_name`` (None without one)."""
        ...

    def result_store_for(self, ctx: FlowRunContext) -> ResultStore: ...


class TaskLike(RecordedTask, Protocol):
    """A task the engine runs: its function and the options that govern each run."""

    @property
    def fn(self) -> Callable[..., Any]: ...

    @property
    def is_async(self) -> bool: ...

    @property
    def retries(self) -> int: ...

    @property
    def retry_delay_seconds(self) -> RetryDelay: ...

    @property
    def retry_jitter_factor(self) -> float | None: ...

    @property
    def retry_condition_fn(self) -> Callable[..., bool] | None: ...

    @property
    def timeout_seconds(self) -> float | None: ...

    @property
    def cache_key_fn(self) -> Callable[[Any, dict[str, Any]], str | None] | None: ...

    @property
    def cache_expiration(self) -> timedelta | None: ...

    @property
    def refresh_cache(self) -> bool: ...

    @property
    def log_prints(self) -> bool | None: ...

    @property
    def state_hooks(self) -> StateHooks | None:
        """Its state hooks; None when it has none (the engine then checks nothing more)."""
        ...

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name, defaults applied (for cache keys)."""
        ...

    def logger_for(self, ctx: FlowRunContext, task_run: TaskRun) -> logging.LoggerAdapter[Any]: ...


class FlowLike(Protocol):
    """A flow the engine runs: its function, its options, and how its parameters are read."""

    @property
    def name(self) -> str: ...

    @property
    def fn(self) -> Callable[..., Any]: ...

    @property
    def is_async(self) -> bool: ...

    @property
    def tags(self) -> Sequence[str]: ...

    @property
    def entrypoint(self) -> str | None: ...

    @property
    def retries(self) -> int: ...

    @property
    def retry_delay_seconds(self) -> RetryDelay: ...

    @property
    def retry_jitter_factor(self) -> float | None: ...

    @property
    def timeout_seconds(self) -> float | None: ...

    @property
    def task_runner(self) -> TaskRunner:
        """A template: each attempt runs its task runs on a fresh ``duplicate()``."""
        ...

    @property
    def log_prints(self) -> bool: ...

    @property
    def persist_result(self) -> bool | None: ...

    @property
    def state_hooks(self) -> StateHooks | None:
        """Its state hooks; None when it has none."""
        ...

    def describe_raw_parameters(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The call's arguments by name as given, before validation."""
        ...

    def validate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The parameters, checked; raises ParameterValidationError."""
        ...

    def split_parameters(
        self, parameters: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]: ...

    def jsonable(self, value: Any) -> Any: ...

    def run_name(self, parameters: dict[str, Any]) -> str | None: ...

    def result_store_for(self, ctx: FlowRunContext | None) -> ResultStore: ...

    def logger_for(self, ctx: FlowRunContext) -> logging.LoggerAdapter[Any]: ...

    def logger_for_ids(
        self, orchestrator: Any, flow_run_id: str, name: str
    ) -> logging.LoggerAdapter[Any]: ...
