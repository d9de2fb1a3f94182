"""``@task``: a function whose calls inside a flow are tracked, retried and cached.

Called inside a flow, a task runs at once and returns its value (raising its
exception if it finally fails). ``.submit`` runs it on the flow's task runner and
returns a future; ``.map`` submits one run per item. Called outside any flow, a
task is recorded as a task run of its own, with no flow run, and is retried and
cached all the same (:mod:`legato.engine.standalone`).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Generic, ParamSpec, TypeVar, overload

from legato.engine.caching import task_input_hash
from legato.engine.context import FlowRunContext, current_flow_run
from legato.engine.futures import FutureList, LegatoFuture, unmapped
from legato.engine.hooks import StateHook, StateHooks
from legato.engine.results import ResultStore
from legato.engine.retries import RetryDelay, validate_retry_settings
from legato.engine.standalone import (
    run_standalone_async,
    run_standalone_sync,
    standalone_context,
)
from legato.engine.task_engine import (
    prepare_task_run,
    run_task_async,
    run_task_sync,
    submit_task,
)
from legato.engine.task_run import TaskRun
from legato.errors import LegatoError
from legato.sdk.logging import install_print_capture, task_run_logger
from legato.sdk.options import changed, check_timeout, hook_list, option_attributes, tag_set
from legato.states import State

P = ParamSpec("P")
R = TypeVar("R")
Hook = TypeVar("Hook", bound=Callable[..., Any])

CacheKeyFn = Callable[[Any, dict[str, Any]], "str | None"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOptions:
    """How a task runs: the options of ``@task(...)``, checked when the record is made.

    A :class:`Task` holds the options it runs with: ``name`` and ``description``
    default to the function's there, and ``tags`` are kept each once, sorted.
    """

    name: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    retries: int = 0
    retry_delay_seconds: RetryDelay = None
    retry_jitter_factor: float | None = None
    retry_condition_fn: Callable[..., bool] | None = None
    timeout_seconds: float | None = None
    cache_key_fn: CacheKeyFn | None = None
    cache_expiration: timedelta | None = None
    refresh_cache: bool = False
    persist_result: bool | None = None
    result_storage: str | None = None
    log_prints: bool | None = None
    task_run_name: str | Callable[..., str] | None = None
    on_completion: tuple[StateHook, ...] = ()
    """State hooks (see :mod:`legato.engine.hooks`), each called as
    ``hook(task, task_run, state)``: a list of them, or one alone."""
    on_failure: tuple[StateHook, ...] = ()
    on_running: tuple[StateHook, ...] = ()

    def __post_init__(self) -> None:
        validate_retry_settings(self.retries, self.retry_delay_seconds, self.retry_jitter_factor)
        check_timeout(self.timeout_seconds)
        if self.cache_expiration is not None and not isinstance(self.cache_expiration, timedelta):
            raise TypeError("cache_expiration must be a datetime.timedelta")
        if self.task_run_name is not None and not (
            isinstance(self.task_run_name, str) or callable(self.task_run_name)
        ):
            raise TypeError(
                "task_run_name must be a template such as 'load-{table}' or a function "
                f"returning a name, not {type(self.task_run_name).__name__}"
            )
        object.__setattr__(self, "tags", tag_set(self.tags))
        for option in TASK_HOOK_OPTIONS:
            object.__setattr__(self, option, hook_list(option, getattr(self, option)))


TASK_HOOK_OPTIONS = ("on_completion", "on_failure", "on_running")
"""Prefect's task hooks: a task run is not Crashed or Cancelled on its own."""


class Task(Generic[P, R]):
    """A task definition: a function and its :class:`TaskOptions` (``task.options``),
    fixed at decoration; ``with_options`` makes a copy. Each option also reads as an
    attribute (``task.retries``)."""

    # The options also read as attributes, set from ``options`` when the task is made
    # (the engine reads some on every task run: a plain attribute costs a fifth of what
    # a property does). ``tags`` is a list here.
    name: str
    description: str | None
    tags: list[str]
    retries: int
    retry_delay_seconds: RetryDelay
    retry_jitter_factor: float | None
    retry_condition_fn: Callable[..., bool] | None
    timeout_seconds: float | None
    cache_key_fn: CacheKeyFn | None
    cache_expiration: timedelta | None
    refresh_cache: bool
    persist_result: bool | None
    result_storage: str | None
    log_prints: bool | None
    task_run_name: str | Callable[..., str] | None
    on_completion_hooks: list[StateHook]
    on_failure_hooks: list[StateHook]
    on_running_hooks: list[StateHook]

    def __init__(
        self, fn: Callable[P, R], /, options: TaskOptions | None = None, **changes: Any
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {fn!r}")
        options = changed(options or TaskOptions(), changes, "task")
        if options.name is None or options.description is None:
            options = replace(
                options,
                name=options.name or fn.__name__,
                description=options.description or inspect.getdoc(fn),
            )
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.options = options
        vars(self).update(option_attributes(options))
        # None without hooks: the engine checks this once per task run, and no more.
        self.state_hooks: StateHooks | None = StateHooks.of(options)
        self.is_async = inspect.iscoroutinefunction(fn)
        self.task_key = task_key_of(fn)
        self._signature = inspect.signature(fn)
        self.parameter_names = tuple(
            name
            for name, param in self._signature.parameters.items()
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
        )
        self._result_store: ResultStore | None = None

    def run_name(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """The name of the run of ``self(*args, **kwargs)`` from ``task_run_name``: a
        template formatted with the call's parameters by name (``"load-{table}"``), or a
        callable's return value. A template naming no parameter of the call, or a
        callable that fails, is an error that says so (Prefect fails the same way)."""
        template = self.task_run_name
        if template is None:
            return None
        if callable(template):
            name = template()
            if not isinstance(name, str) or not name:
                raise TypeError(
                    f"task_run_name of task {self.name!r} returned {name!r}, not a name"
                )
            return name
        try:
            bound = self._signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            parameters = dict(bound.arguments)
        except TypeError:  # the call itself is wrong: the body's call will say how
            parameters = dict(kwargs)
        try:
            return template.format(**parameters)
        except (KeyError, IndexError) as exc:
            raise ValueError(
                f"task_run_name {template!r} of task {self.name!r} names {exc}, which is not "
                f"a parameter of this call (its parameters: {', '.join(parameters) or 'none'})"
            ) from None

    def with_options(self, **changes: Any) -> Task[P, R]:
        """A copy of this task with some options changed (checked as at decoration).

        Raises TypeError for a name that is no task option.
        """
        return Task(self.fn, changed(self.options, changes, "task"))

    # -- state hooks added by decorator, as in Prefect: ``@my_task.on_failure`` --

    def on_completion(self, hook: Hook) -> Hook:
        """Add ``hook(task, task_run, state)`` to this task's ``on_completion`` hooks."""
        return self._add_hook("on_completion", hook)

    def on_failure(self, hook: Hook) -> Hook:
        """Add ``hook(task, task_run, state)`` to this task's ``on_failure`` hooks."""
        return self._add_hook("on_failure", hook)

    def on_running(self, hook: Hook) -> Hook:
        """Add ``hook(task, task_run, state)`` to this task's ``on_running`` hooks."""
        return self._add_hook("on_running", hook)

    def _add_hook(self, option: str, hook: Hook) -> Hook:
        """The one change a definition takes after it is made: a hook appended to its
        options (copies made from it afterwards have it too; earlier ones do not)."""
        hooks = (*getattr(self.options, option), hook)
        self.options = changed(self.options, {option: hooks}, "task")
        vars(self).update(option_attributes(self.options))
        self.state_hooks = StateHooks.of(self.options)
        return hook

    # -- used by the engine --

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def result_store_for(self, ctx: FlowRunContext) -> ResultStore:
        if self.result_storage is None:
            return ctx.result_store
        if self._result_store is None:
            self._result_store = ResultStore(self.result_storage)
        return self._result_store

    def logger_for(self, ctx: FlowRunContext, task_run: TaskRun) -> logging.LoggerAdapter[Any]:
        return task_run_logger(
            ctx.orchestrator.enqueue, ctx.flow_run_id, task_run.id, task_run.name
        )

    # -- calling --

    def _context(self, what: str) -> FlowRunContext | None:
        ctx = current_flow_run()
        if ctx is None and what != "call":
            raise LegatoError(
                f"{self.name}.{what}() needs a running flow: call it inside a @flow function"
            )
        if ctx is not None and (self.log_prints or (self.log_prints is None and ctx.log_prints)):
            install_print_capture()
        return ctx

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    @overload
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        ctx = self._context("call")
        if ctx is None:
            return self._call_standalone(args, kwargs, return_state)
        prepared = prepare_task_run(ctx, self, args, kwargs, wait_for)
        if self.is_async:
            return self._call_async(ctx, prepared, return_state)
        if prepared.reused is not None:
            state = prepared.reused
        else:
            state = run_task_sync(ctx, self, prepared)
        return state if return_state else state.result()

    def _call_standalone(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
    ) -> Any:
        """A call outside any flow: a task run of its own (see the module)."""
        from legato.orchestrator import get_orchestrator
        from legato.sdk.flows import default_result_store
        from legato.sdk.runners import ThreadPoolTaskRunner
        from legato.settings import get_settings

        if self.log_prints:
            install_print_capture()
        ctx = standalone_context(
            get_orchestrator(),
            ThreadPoolTaskRunner(1),
            default_result_store(get_settings().effective_results_url),
            bool(self.log_prints),
        )
        if self.is_async:
            return self._standalone_async(ctx, args, kwargs, return_state)
        state = run_standalone_sync(ctx, self, args, kwargs)
        return state if return_state else state.result()

    async def _standalone_async(
        self,
        ctx: FlowRunContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        return_state: bool,
    ) -> Any:
        state = await run_standalone_async(ctx, self, args, kwargs)
        return state if return_state else state.result()

    async def _call_async(self, ctx: FlowRunContext, prepared: Any, return_state: bool) -> Any:
        if prepared.reused is not None:
            state: State = prepared.reused
        else:
            state = await run_task_async(ctx, self, prepared)
        return state if return_state else state.result()

    def submit(
        self, *args: Any, wait_for: Iterable[Any] | None = None, **kwargs: Any
    ) -> LegatoFuture[R]:
        """Run on the flow's task runner; return a future at once.

        Futures among the arguments (also inside lists, tuples, dicts, sets) are waited
        for and replaced by their values; ``wait_for`` adds order without passing data.
        """
        ctx = self._context("submit")
        assert ctx is not None
        prepared = prepare_task_run(ctx, self, args, kwargs, list(wait_for) if wait_for else None)
        return submit_task(ctx, self, prepared)

    def map(
        self, *args: Any, wait_for: Iterable[Any] | None = None, **kwargs: Any
    ) -> FutureList[R]:
        """Submit one task run per item of the iterable arguments.

        Iterables are zipped (all must have the same length); ``unmapped(x)``,
        strings, bytes and non-iterables are passed whole to every run. A future is
        waited for and its result iterated.
        """
        ctx = self._context("map")
        assert ctx is not None
        wait_list = list(wait_for) if wait_for else None
        positional = [_map_argument(value) for value in args]
        named = {key: _map_argument(value) for key, value in kwargs.items()}
        lengths = {
            label: len(value)
            for label, (is_iter, value) in [
                *((f"argument {i + 1}", item) for i, item in enumerate(positional)),
                *((f"parameter {k!r}", item) for k, item in named.items()),
            ]
            if is_iter
        }
        if not lengths:
            raise ValueError(
                f"{self.name}.map() needs at least one iterable argument; wrap constants in "
                "unmapped() and pass the values to map over as a list"
            )
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{label} has {n}" for label, n in lengths.items())
            raise ValueError(f"{self.name}.map() got iterables of different lengths: {detail}")
        count = next(iter(lengths.values()))
        futures: FutureList[R] = FutureList()
        for index in range(count):
            call_args = tuple(v[index] if it else v for it, v in positional)
            call_kwargs = {k: (v[index] if it else v) for k, (it, v) in named.items()}
            prepared = prepare_task_run(ctx, self, call_args, call_kwargs, wait_list)
            futures.append(submit_task(ctx, self, prepared))
        return futures

    def __repr__(self) -> str:
        return f"Task({self.name!r})"


def task_key_of(fn: Callable[..., Any]) -> str:
    """What identifies a task across processes: its qualified name and its file.

    Not the module name: a file run as ``python flow.py`` is ``__main__``, but the
    same file imported by ``legato runs retry`` is not, and a retry must recognise
    the task runs of the first attempt.
    """
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "task")
    code = getattr(fn, "__code__", None)
    where = os.path.abspath(code.co_filename) if code is not None else repr(fn)
    return f"{qualname}-{hashlib.sha1(where.encode()).hexdigest()[:10]}"


def _map_argument(value: Any) -> tuple[bool, Any]:
    if isinstance(value, unmapped):
        return False, value.value
    if isinstance(value, LegatoFuture):
        value = value.result()
    if isinstance(value, str | bytes | bytearray | dict) or not isinstance(value, Iterable):
        return False, value
    return True, list(value)


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...
@overload
def task(
    *,
    name: str | None = ...,
    description: str | None = ...,
    tags: Iterable[str] | None = ...,
    retries: int = ...,
    retry_delay_seconds: RetryDelay = ...,
    retry_jitter_factor: float | None = ...,
    retry_condition_fn: Callable[..., bool] | None = ...,
    timeout_seconds: float | None = ...,
    cache_key_fn: CacheKeyFn | None = ...,
    cache_expiration: timedelta | None = ...,
    refresh_cache: bool = ...,
    persist_result: bool | None = ...,
    result_storage: str | None = ...,
    log_prints: bool | None = ...,
    task_run_name: str | Callable[..., str] | None = ...,
    on_completion: Iterable[StateHook] | StateHook | None = ...,
    on_failure: Iterable[StateHook] | StateHook | None = ...,
    on_running: Iterable[StateHook] | StateHook | None = ...,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Mark a function as a task: ``@task`` or ``@task(retries=3, ...)``.

    The options are checked here, once: an unknown name is a TypeError, and so is a
    bad value (a ValueError where the type is right but the value is not).
    """
    record = changed(TaskOptions(), options, "task")
    if fn is None:
        return lambda f: Task(f, record)
    return Task(fn, record)


__all__ = ["Task", "TaskOptions", "task", "task_input_hash"]
