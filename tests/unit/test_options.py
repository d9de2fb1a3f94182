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
        assert set(definition.__annotations__) == {f.name for f in dataclasses.fields(record)}


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
