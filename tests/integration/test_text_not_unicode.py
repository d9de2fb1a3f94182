"""Text that is not valid Unicode (a file name that is not UTF-8) in an embedded flow.

Python makes lone surrogates of such names (``os.fsdecode(b"caf\\xe9.csv")``). They
must cost nothing: log lines and state messages are stored with each bad character
replaced by U+FFFD; parameters the store cannot hold are refused before anything is
stored. On the SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import legato
from fixtures.postgres import BACKENDS, backend_database
from fixtures.singletons import reset_singletons
from legato import flow, get_run_logger, task
from legato.errors import ParameterValidationError

BAD = os.fsdecode(b"caf\xe9.csv")
SHOWN = "caf\ufffd.csv"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The embedded store: the SQLite file under LEGATO_HOME, or a new PostgreSQL database."""
    with backend_database(request) as database_url:
        if database_url is None:
            yield "sqlite"
            return
        monkeypatch.setenv("LEGATO_DATABASE_URL", database_url)
        reset_singletons()
        try:
            yield "postgres"
        finally:
            reset_singletons()


@task
def read_file(name: str) -> str:
    get_run_logger().info("reading %s", name)
    raise ValueError(f"cannot read {name}")


@task
def count(i: int) -> int:
    get_run_logger().info("counted %d", i)
    return i


@flow(log_prints=True)
def files_flow() -> int:
    names = [BAD]  # as os.listdir would hand it out
    print(f"found {names[0]}")
    get_run_logger().warning("odd name: %s", BAD)
    total = sum(f.result() for f in count.map(range(50)))
    failed = read_file(names[0], return_state=True)
    assert failed.is_failed()
    return total


def test_a_flow_logging_a_name_that_is_not_utf8_is_stored_whole(backend: str) -> None:
    state = files_flow(return_state=True)
    assert state.is_completed(), state.message
    assert state.result() == sum(range(50))

    client = legato.get_client()
    run = client.read_flow_run(state.run_id)
    assert run.state.name == "Completed"
    task_runs = client.read_task_runs(state.run_id)
    assert len(task_runs) == 51  # nothing of the batches was lost
    failed = next(t for t in task_runs if t.name.startswith("read_file"))
    assert failed.state.name == "Failed"
    assert SHOWN in (failed.state.message or "")
    messages = [line.message for line in client.read_logs(state.run_id)]
    assert f"found {SHOWN}" in messages
    assert f"odd name: {SHOWN}" in messages
    assert f"reading {SHOWN}" in messages
    assert sum(1 for m in messages if m.startswith("counted ")) == 50


@flow
def takes_a_path(path: str) -> str:
    return path


def test_a_parameter_that_is_not_utf8_is_refused_before_anything_is_stored(
    backend: str,
) -> None:
    with pytest.raises(ParameterValidationError) as info:
        takes_a_path(BAD)
    assert "parameters.path" in str(info.value)
    assert "caf\\udce9.csv" in str(info.value)
    assert legato.get_client().read_flow_runs(flow_name="takes-a-path") == []
    assert takes_a_path("cafe.csv") == "cafe.csv"  # the flow itself still runs


@task(name="n" * 300)
def long_named(i: int) -> int:
    return i


@flow
def refused_record_flow() -> int:
    return sum(count(i) for i in range(5)) + long_named(10)


def test_a_record_the_database_refuses_costs_only_that_record(backend: str) -> None:
    """A task run whose name is longer than the column (PostgreSQL enforces it): the
    run completes, everything else of its batches is stored, the loss is noted."""
    if backend == "sqlite":
        pytest.skip("SQLite does not enforce the length of a name")
    state = refused_record_flow(return_state=True)
    assert state.is_completed(), state.message
    assert state.result() == sum(range(5)) + 10
    client = legato.get_client()
    assert sorted(t.name for t in client.read_task_runs(state.run_id)) == [
        f"count-{i}" for i in range(5)
    ]
    lines = client.read_logs(state.run_id)
    assert sum(1 for line in lines if line.message.startswith("counted ")) == 5
    (note,) = [line for line in lines if line.logger == "legato.store"]
    assert note.level == "ERROR"
    assert note.message.startswith("legato could not store task run ")
    assert "and dropped it" in note.message


@flow(tags=[BAD], flow_run_name=lambda: f"run of {BAD}")
def tagged() -> int:
    return count(1)


def test_a_flow_tagged_and_named_with_text_not_utf8_is_stored_cleaned(backend: str) -> None:
    state = tagged(return_state=True)
    assert state.is_completed(), state.message
    run = legato.get_client().read_flow_run(state.run_id)
    assert run.tags == [SHOWN]
    assert run.name == f"run of {SHOWN}"
    assert [r.id for r in legato.get_client().read_flow_runs(tags=[SHOWN])] == [run.id]
