"""Task and flow options: one frozen record per definition, copied with ``with_options``."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from legato import Flow, FlowOptions, Task, TaskOptions, ThreadPoolTaskRunner, flow, task


def key(context: Any, parameters: dict[str, Any]) -> str:
    return "same"


@task(
    name="extract",
    tags=["b", "a", "b"],
    retries=2,
    retry_delay_seconds=[1, 2],
    retry_jitter_factor=0.5,
    timeout_seconds=10,
    cache_key_fn=key,
    cache_expiration=timedelta(hours=1),
    persist_result=True,
    log_prints=True,
)
def extract(x: int) -> int:
    """Read the rows."""
    return x


@flow(name="etl", version="7", tags=["nightly"], retries=1, timeout_seconds=60, log_prints=True)
def etl(n: int = 1) -> int:
    """Move the rows."""
    return n


def test_options_are_one_frozen_record_per_definition() -> None:
    assert isinstance(extract.options, TaskOptions)
    assert isinstance(etl.options, FlowOptions)
    with pytest.raises(dataclasses.FrozenInstanceError):
        extract.options.retries = 5  # type: ignore[misc]


def test_every_option_reads_as_an_attribute_of_its_definition() -> None:
    for definition, record in ((Task, TaskOptions), (Flow, FlowOptions)):
        names = {f.name for f in dataclasses.fields(record)}
        # State hooks read as ``<name>_hooks``: ``flow.on_failure`` is the decorator.
        hooks = {name for name in names if name.startswith("on_")}
        assert hooks
        assert set(definition.__annotations__) == (names - hooks) | {f"{h}_hooks" for h in hooks}


def test_options_read_as_attributes_when_the_engine_asks() -> None:
    assert extract.name == "extract"
    assert extract.description == "Read the rows."
    assert extract.tags == ["a", "b"]
    assert extract.retries == 2
    assert extract.retry_delay_seconds == [1, 2]
    assert extract.retry_jitter_factor == 0.5
    assert extract.timeout_seconds == 10
    assert extract.cache_key_fn is key
    assert extract.cache_expiration == timedelta(hours=1)
    assert extract.refresh_cache is False
    assert extract.persist_result is True
    assert extract.result_storage is None
    assert extract.log_prints is True
    assert (etl.name, etl.version, etl.tags, etl.retries) == ("etl", "7", ["nightly"], 1)
    assert (etl.timeout_seconds, etl.log_prints, etl.validate_parameters) == (60, True, True)
    assert isinstance(etl.task_runner, ThreadPoolTaskRunner)


def test_defaults_come_from_the_function_when_not_given() -> None:
    @task
    def load_rows() -> None:
        """Write the rows."""

    @flow
    def nightly_load() -> None:
        pass

    assert (load_rows.name, load_rows.description) == ("load_rows", "Write the rows.")
    assert load_rows.options.name == "load_rows"
    assert nightly_load.name == "nightly-load"
    assert nightly_load.description is None


def test_task_with_options_keeps_every_other_option() -> None:
    changed = extract.with_options(retries=5)
    assert isinstance(changed, Task)
    assert changed.options == dataclasses.replace(extract.options, retries=5)
    assert changed.fn is extract.fn
    assert changed.task_key == extract.task_key
    assert extract.retries == 2  # the original is untouched


def test_flow_with_options_keeps_every_other_option() -> None:
    changed = etl.with_options(name="etl-again", tags=["x"])
    assert isinstance(changed, Flow)
    assert changed.options == dataclasses.replace(etl.options, name="etl-again", tags=("x",))
    assert changed(3) == 3
    assert etl.name == "etl"


def test_with_options_when_nothing_changes_gives_an_equal_copy() -> None:
    assert extract.with_options().options == extract.options
    assert etl.with_options().options == etl.options


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: extract.with_options(retry=3), "task"),
        (lambda: task(retry=3), "task"),  # type: ignore[call-overload]
        (lambda: Task(extract.fn, retry=3), "task"),
        (lambda: etl.with_options(retry=3), "flow"),
        (lambda: flow(retry=3), "flow"),  # type: ignore[call-overload]
    ],
)
def test_unknown_option_is_refused_naming_it_and_the_valid_ones(make: Any, kind: str) -> None:
    with pytest.raises(TypeError, match=f"unknown {kind} option\\(s\\): retry; ") as refused:
        make()
    assert "retries" in str(refused.value) and "timeout_seconds" in str(refused.value)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"retries": -1}, ValueError, "retries must be a whole number >= 0, got -1"),
        ({"retry_delay_seconds": -2}, ValueError, "retry_delay_seconds must be a number >= 0"),
        ({"retry_jitter_factor": -1}, ValueError, "retry_jitter_factor must be a number >= 0"),
        ({"timeout_seconds": 0}, ValueError, "timeout_seconds must be > 0, got 0"),
    ],
)
def test_bad_values_are_refused_by_decorator_and_with_options(
    changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    for make in (
        lambda: task(**changes)(lambda: None),
        lambda: extract.with_options(**changes),
        lambda: flow(**changes)(lambda: None),
        lambda: etl.with_options(**changes),
    ):
        with pytest.raises(error, match=message):
            make()


def test_cache_expiration_must_be_a_timedelta() -> None:
    with pytest.raises(TypeError, match=r"cache_expiration must be a datetime\.timedelta"):
        extract.with_options(cache_expiration=60)


def test_a_definition_needs_a_function() -> None:
    with pytest.raises(TypeError, match="@task needs a function"):
        task(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="@flow needs a function"):
        flow(42)  # type: ignore[call-overload]


def _hook(definition: Any, run: Any, state: Any) -> None:
    return None


def _other_hook(definition: Any, run: Any, state: Any) -> None:
    return None


@pytest.mark.parametrize("option", ["on_completion", "on_failure", "on_running"])
def test_hooks_are_kept_as_a_tuple_whether_given_as_a_list_or_alone(option: str) -> None:
    for given in ([_hook, _other_hook], (_hook, _other_hook)):
        assert getattr(task(**{option: given})(lambda: None).options, option) == (
            _hook,
            _other_hook,
        )
        assert getattr(flow(**{option: given})(lambda: None).options, option) == (
            _hook,
            _other_hook,
        )
    alone = extract.with_options(**{option: _hook})
    assert getattr(alone.options, option) == (_hook,)
    assert getattr(alone, f"{option}_hooks") == [_hook]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (42, r"on_failure must be a list of functions .*, got int 42"),
        ("notify", r"on_failure must be a list of functions .*, got str 'notify'"),
        ([_hook, "notify"], r"on_failure: hook 2 is not callable \(str 'notify'\)"),
        ([None], r"on_failure: hook 1 is not callable \(NoneType None\)"),
    ],
)
def test_a_hook_that_is_not_callable_is_refused_naming_the_option(given: Any, message: str) -> None:
    for make in (
        lambda: task(on_failure=given)(lambda: None),
        lambda: extract.with_options(on_failure=given),
        lambda: flow(on_failure=given)(lambda: None),
        lambda: etl.with_options(on_failure=given),
    ):
        with pytest.raises(TypeError, match=message):
            make()


def test_flow_only_hooks_are_unknown_task_options() -> None:
    with pytest.raises(TypeError, match=r"unknown task option\(s\): on_cancellation, on_crashed"):
        task(on_crashed=[_hook], on_cancellation=[_hook])(lambda: None)
    assert flow(on_crashed=[_hook], on_cancellation=[_hook])(lambda: None).on_crashed_hooks == [
        _hook
    ]


def test_with_options_replaces_hooks_and_leaves_the_original_alone() -> None:
    first = flow(on_failure=[_hook])(lambda: None)
    second = first.with_options(on_failure=[_other_hook])
    assert first.options.on_failure == (_hook,)
    assert second.options.on_failure == (_other_hook,)
    assert first.with_options(on_failure=[]).state_hooks is None


def test_a_definition_without_hooks_has_no_state_hooks() -> None:
    assert extract.state_hooks is None
    assert etl.state_hooks is None
    assert extract.with_options(on_running=[_hook]).state_hooks is not None


def test_decorator_form_adds_a_hook_to_the_definition_and_returns_the_function() -> None:
    @flow
    def nightly() -> None:
        return None

    @task
    def load() -> None:
        return None

    assert nightly.on_failure(_hook) is _hook
    nightly.on_failure(_other_hook)
    nightly.on_cancellation(_hook)
    assert load.on_completion(_hook) is _hook
    load.on_running(_other_hook)

    assert nightly.options.on_failure == (_hook, _other_hook)
    assert nightly.on_failure_hooks == [_hook, _other_hook]
    assert nightly.options.on_cancellation == (_hook,)
    assert load.options.on_completion == (_hook,)
    assert load.on_running_hooks == [_other_hook]
    assert nightly.with_options(retries=1).options.on_failure == (_hook, _other_hook)
    with pytest.raises(TypeError, match=r"on_failure: hook 3 is not callable"):
        nightly.on_failure("notify")  # type: ignore[type-var]
