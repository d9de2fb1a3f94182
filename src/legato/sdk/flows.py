"""``@flow``: a function whose every call is a recorded flow run.

A flow call validates its parameters, runs the body with a run context so that
task calls inside it are tracked, and returns the body's value (or, with
``return_state=True``, its final state, which carries the flow run's id). A
flow called inside a flow is a subflow: a child flow run linked to its parent.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from legato.engine.context import FlowRunContext, flow_run_context
from legato.engine.flow_engine import FlowCall, run_flow_async, run_flow_sync
from legato.engine.hooks import StateHook, StateHooks
from legato.engine.results import ResultStore
from legato.engine.retries import RetryDelay, validate_retry_settings
from legato.errors import StoreError, Terminated
from legato.orchestrator import get_orchestrator
from legato.sdk.loaded_flows import remember_flow
from legato.sdk.logging import flow_run_logger, install_print_capture
from legato.sdk.options import (
    HOOK_OPTIONS,
    changed,
    check_timeout,
    hook_list,
    option_attributes,
    tag_set,
)
from legato.sdk.parameters import ParameterModel, jsonable
from legato.sdk.runners import ThreadPoolTaskRunner
from legato.sdk.termination import exit_terminated
from legato.states import State
from legato.tracebacks import install_excepthook

if TYPE_CHECKING:
    from legato.schemas.deployments import DeploymentRecord

P = ParamSpec("P")
R = TypeVar("R")
Hook = TypeVar("Hook", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowOptions:
    """How a flow runs: the options of ``@flow(...)``, checked when the record is made.

    A :class:`Flow` holds the options it runs with: ``name`` (the function's, with
    ``-`` for ``_``), ``description`` and ``task_runner`` get their defaults there, and
    ``tags`` are kept each once, sorted.
    """

    name: str | None = None
    description: str | None = None
    version: str | None = None
    flow_run_name: str | Callable[..., str] | None = None
    tags: tuple[str, ...] = ()
    retries: int = 0
    retry_delay_seconds: RetryDelay = None
    retry_jitter_factor: float | None = None
    timeout_seconds: float | None = None
    validate_parameters: bool = True
    task_runner: Any = None
    """A template: each flow run works on its ``duplicate()`` (None: a thread pool)."""
    log_prints: bool = False
    persist_result: bool | None = None
    result_storage: str | None = None
    on_completion: tuple[StateHook, ...] = ()
    """State hooks (see :mod:`legato.engine.hooks`), each called as
    ``hook(flow, flow_run, state)``: a list of them, or one alone."""
    on_failure: tuple[StateHook, ...] = ()
    on_crashed: tuple[StateHook, ...] = ()
    on_cancellation: tuple[StateHook, ...] = ()
    on_running: tuple[StateHook, ...] = ()

    def __post_init__(self) -> None:
        validate_retry_settings(self.retries, self.retry_delay_seconds, self.retry_jitter_factor)
        check_timeout(self.timeout_seconds)
        object.__setattr__(self, "tags", tag_set(self.tags))
        for option in HOOK_OPTIONS:
            object.__setattr__(self, option, hook_list(option, getattr(self, option)))


class Flow(Generic[P, R]):
    """A flow definition: a function and its :class:`FlowOptions` (``flow.options``),
    fixed at decoration; ``with_options`` makes a copy. Each option also reads as an
    attribute (``flow.retries``)."""

    # The options also read as attributes, set from ``options`` when the flow is made.
    # ``tags`` is a list here.
    name: str
    description: str | None
    version: str | None
    flow_run_name: str | Callable[..., str] | None
    tags: list[str]
    retries: int
    retry_delay_seconds: RetryDelay
    retry_jitter_factor: float | None
    timeout_seconds: float | None
    validate_parameters: bool
    task_runner: Any
    log_prints: bool
    persist_result: bool | None
    result_storage: str | None
    on_completion_hooks: list[StateHook]
    on_failure_hooks: list[StateHook]
    on_crashed_hooks: list[StateHook]
    on_cancellation_hooks: list[StateHook]
    on_running_hooks: list[StateHook]

    def __init__(
        self, fn: Callable[P, R], /, options: FlowOptions | None = None, **changes: Any
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow needs a function, got {fn!r}")
        options = changed(options or FlowOptions(), changes, "flow")
        if options.name is None or options.description is None or options.task_runner is None:
            options = replace(
                options,
                name=options.name or fn.__name__.replace("_", "-"),
                description=options.description or inspect.getdoc(fn),
                task_runner=(
                    ThreadPoolTaskRunner() if options.task_runner is None else options.task_runner
                ),
            )
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.options = options
        vars(self).update(option_attributes(options))
        self.state_hooks: StateHooks | None = StateHooks.of(options)
        self.is_async = inspect.iscoroutinefunction(fn)
        self._parameter_model: ParameterModel | None = None
        self._result_store: ResultStore | None = None
        remember_flow(self)  # what a retry in this process runs again

    def with_options(self, **changes: Any) -> Flow[P, R]:
        """A copy of this flow with some options changed (checked as at decoration).

        Raises TypeError for a name that is no flow option.
        """
        return Flow(self.fn, changed(self.options, changes, "flow"))

    # -- state hooks added by decorator, as in Prefect: ``@my_flow.on_failure`` --

    def on_completion(self, hook: Hook) -> Hook:
        """Add ``hook(flow, flow_run, state)`` to this flow's ``on_completion`` hooks."""
        return self._add_hook("on_completion", hook)

    def on_failure(self, hook: Hook) -> Hook:
        """Add ``hook(flow, flow_run, state)`` to this flow's ``on_failure`` hooks."""
        return self._add_hook("on_failure", hook)

    def on_crashed(self, hook: Hook) -> Hook:
        """Add ``hook(flow, flow_run, state)`` to this flow's ``on_crashed`` hooks."""
        return self._add_hook("on_crashed", hook)

    def on_cancellation(self, hook: Hook) -> Hook:
        """Add ``hook(flow, flow_run, state)`` to this flow's ``on_cancellation`` hooks."""
        return self._add_hook("on_cancellation", hook)

    def on_running(self, hook: Hook) -> Hook:
        """Add ``hook(flow, flow_run, state)`` to this flow's ``on_running`` hooks."""
        return self._add_hook("on_running", hook)

    def _add_hook(self, option: str, hook: Hook) -> Hook:
        """The one change a definition takes after it is made: a hook appended to its
        options (copies made from it afterwards have it too; earlier ones do not)."""
        hooks = (*getattr(self.options, option), hook)
        self.options = changed(self.options, {option: hooks}, "flow")
        vars(self).update(option_attributes(self.options))
        self.state_hooks = StateHooks.of(self.options)
        return hook

    def deploy(self, name: str, **options: Any) -> DeploymentRecord | None:
        """Create or update the deployment ``<flow>/<name>``: see
        :func:`legato.workers.deploy.deploy_flow` for the options (work_pool, cron,
        interval, rrule, timezone, parameters, tags, concurrency_limit, retries, ...).

        Returns its stored record; None, doing nothing, while legato imports this
        flow's file to check or run it (a call at the top level of the file)."""
        from legato.sdk.deploying import deployer

        return deployer().deploy(self, name, **options)

    def serve(self, name: str, **options: Any) -> None:
        """Deploy this flow as ``<flow>/<name>`` on a pool of its own and run its runs in
        this process until Ctrl-C: see :func:`legato.workers.serving.serve_flow` for the
        options (cron, interval, rrule, timezone, parameters, tags, limit, ...).

        Returns at once, doing nothing, while legato imports this flow's file to check
        or run it: a call at the top level of the file serves only when the file is run."""
        from legato.sdk.deploying import deployer

        deployer().serve(self, name, **options)

    @property
    def entrypoint(self) -> str | None:
        """``/path/to/file.py:function``, which ``legato runs retry`` imports to rerun it."""
        try:
            path = inspect.getsourcefile(self.fn)
        except TypeError:
            return None
        if path is None or "<" in path:
            return None
        return f"{os.path.abspath(path)}:{self.fn.__qualname__}"

    @property
    def parameter_model(self) -> ParameterModel:
        """Built on first use: a pydantic model per flow costs milliseconds at import."""
        if self._parameter_model is None:
            self._parameter_model = ParameterModel(self.fn, self.name)
        return self._parameter_model

    # -- used by the engine --

    def validate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.validate_parameters:
            return self.parameter_model.validate(args, kwargs)
        return self.parameter_model.bind(args, kwargs)

    def describe_raw_parameters(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            return dict(self.parameter_model.signature.bind_partial(*args, **kwargs).arguments)
        except TypeError:
            raw = dict(kwargs)
            raw.update({f"args[{i}]": value for i, value in enumerate(args)})
            return raw

    def split_parameters(
        self, parameters: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return self.parameter_model.to_call(parameters)

    jsonable = staticmethod(jsonable)

    def run_name(self, parameters: dict[str, Any]) -> str | None:
        template = self.flow_run_name
        if template is None:
            return None
        if callable(template):
            return str(template())
        try:
            return template.format(**parameters)
        except (KeyError, IndexError, ValueError):
            return template

    def result_store_for(self, ctx: FlowRunContext | None) -> ResultStore:
        if self.result_storage is not None:
            if self._result_store is None:
                self._result_store = ResultStore(self.result_storage)
            return self._result_store
        if ctx is not None:
            return ctx.result_store
        from legato.settings import get_settings

        return default_result_store(get_settings().effective_results_url)

    def logger_for(self, ctx: FlowRunContext) -> logging.LoggerAdapter[Any]:
        return flow_run_logger(ctx.orchestrator.enqueue, ctx.flow_run_id, ctx.flow_run_name)

    def logger_for_ids(
        self, orchestrator: Any, flow_run_id: str, name: str
    ) -> logging.LoggerAdapter[Any]:
        return flow_run_logger(orchestrator.enqueue, flow_run_id, name)

    # -- calling --

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    @overload
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return_state = kwargs.pop("return_state", False)
        if self.log_prints:
            install_print_capture()
        if self.is_async:
            return self._run_async(args, kwargs, return_state)
        try:
            call = _flow_call(self, args, kwargs)  # opens the store: its errors too
            state = run_flow_sync(call)
        except StoreError as exc:
            # One clear message, not a traceback through legato's store internals.
            raise StoreError(str(exc)) from None
        except Terminated:
            exit_terminated()
        report_ended(call, state)
        return _outcome(state, return_state)

    async def _run_async(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
    ) -> Any:
        try:
            call = _flow_call(self, args, kwargs)
            state = await run_flow_async(call)
        except StoreError as exc:
            raise StoreError(str(exc)) from None
        except Terminated:
            exit_terminated()
        report_ended(call, state)
        return _outcome(state, return_state)

    def __repr__(self) -> str:
        return f"Flow({self.name!r})"


def _flow_call(flow: Flow[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> FlowCall:
    """A subflow runs on its parent's orchestrator; a top-level call on the process's."""
    remember_flow(flow)
    if flow_run_context.get() is not None:
        return FlowCall(flow, args, kwargs)
    return FlowCall(flow, args, kwargs, orchestrator=get_orchestrator())


def report_ended(call: FlowCall, state: State) -> None:
    """One line on stderr when a flow called at the top level ends: which run it was and
    how to see it (``python my_flow.py`` then tells the user where to look). A failure
    about to end the script is shown without legato's frames (legato.tracebacks)."""
    if call.parent is not None or call.flow_run_id is None:
        return
    if state.exception is not None:
        install_excepthook()
    name = call.flow_run_name
    shown = f"{name!r} ({call.flow_run_id})" if name else call.flow_run_id
    # The id, not the name: a name given by flow_run_name may be shared by many runs.
    with contextlib.suppress(OSError, ValueError):  # a closed or broken stderr
        sys.stderr.write(
            f"legato: flow run {shown} ended {state.name}; "
            f"see it with: legato runs show {call.flow_run_id}\n"
        )


def _outcome(state: State, return_state: bool) -> Any:
    return state if return_state else state.result()


_default_result_stores: dict[str, ResultStore] = {}


def default_result_store(url: str) -> ResultStore:
    store = _default_result_stores.get(url)
    if store is None:
        store = _default_result_stores[url] = ResultStore(url)
    return store


def run_flow_call(call: FlowCall) -> State:
    """Run a prepared flow call to its final state, sync or async alike."""
    try:
        if call.flow.is_async:
            import asyncio

            return asyncio.run(run_flow_async(call))
        return run_flow_sync(call)
    except Terminated:
        exit_terminated()


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...
@overload
def flow(
    *,
    name: str | None = ...,
    description: str | None = ...,
    version: str | None = ...,
    flow_run_name: str | Callable[..., str] | None = ...,
    tags: Iterable[str] | None = ...,
    retries: int = ...,
    retry_delay_seconds: RetryDelay = ...,
    retry_jitter_factor: float | None = ...,
    timeout_seconds: float | None = ...,
    validate_parameters: bool = ...,
    task_runner: Any = ...,
    log_prints: bool = ...,
    persist_result: bool | None = ...,
    result_storage: str | None = ...,
    on_completion: Iterable[StateHook] | StateHook | None = ...,
    on_failure: Iterable[StateHook] | StateHook | None = ...,
    on_crashed: Iterable[StateHook] | StateHook | None = ...,
    on_cancellation: Iterable[StateHook] | StateHook | None = ...,
    on_running: Iterable[StateHook] | StateHook | None = ...,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Mark a function as a flow: ``@flow`` or ``@flow(retries=2, ...)``.

    The options are checked here, once: an unknown name is a TypeError, and so is a
    bad value (a ValueError where the type is right but the value is not).
    """
    record = changed(FlowOptions(), options, "flow")
    if fn is None:
        return lambda f: Flow(f, record)
    return Flow(fn, record)
