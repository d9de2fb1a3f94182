"""Run loggers and log_prints: lines stored against the right flow run and task run."""

from __future__ import annotations

import pytest

import legato
from legato import flow, get_run_logger, task
from legato.errors import LegatoError
from legato.schemas import LogRecord


def _logs(flow_run_id: str) -> list[LogRecord]:
    return legato.get_client().read_logs(flow_run_id)


def _one(logs: list[LogRecord], message: str) -> LogRecord:
    found = [line for line in logs if line.message == message]
    assert len(found) == 1, [line.message for line in logs]
    return found[0]


def test_logger_lines_are_stored_with_run_ids_and_level_when_logged_in_flow_and_task() -> None:
    @task
    def noisy() -> None:
        get_run_logger().warning("from the task")

    @flow
    def logging_flow() -> None:
        get_run_logger().info("from the flow")
        noisy()
        get_run_logger().error("flow error line")

    state = logging_flow(return_state=True)
    (task_run,) = legato.get_client().read_task_runs(state.run_id)
    logs = _logs(state.run_id)

    flow_line = _one(logs, "from the flow")
    task_line = _one(logs, "from the task")
    error_line = _one(logs, "flow error line")
    assert (flow_line.flow_run_id, flow_line.task_run_id, flow_line.level) == (
        state.run_id,
        None,
        "INFO",
    )
    assert (task_line.flow_run_id, task_line.task_run_id, task_line.level) == (
        state.run_id,
        task_run.id,
        "WARNING",
    )
    assert error_line.level == "ERROR"
    assert [line.message for line in logs].index("from the flow") < [
        line.message for line in logs
    ].index("from the task")


def test_logs_are_filtered_by_task_run_when_task_run_id_is_given() -> None:
    @task
    def speak(word: str) -> None:
        get_run_logger().info(word)

    @flow
    def speaking() -> None:
        speak("one")
        speak("two")

    state = speaking(return_state=True)
    client = legato.get_client()
    runs = {t.name: t.id for t in client.read_task_runs(state.run_id)}

    lines = client.read_logs(state.run_id, task_run_id=runs["speak-1"])
    assert [line.message for line in lines] == ["two"]


def test_submitted_task_logs_are_stored_with_its_task_run_id_when_run_on_threads() -> None:
    @task
    def threaded(i: int) -> None:
        get_run_logger().info("line %d", i)

    @flow
    def fanning() -> None:
        threaded.map([0, 1, 2]).wait()

    state = fanning(return_state=True)
    runs = {t.name: t.id for t in legato.get_client().read_task_runs(state.run_id)}
    logs = _logs(state.run_id)

    for i in range(3):
        assert _one(logs, f"line {i}").task_run_id == runs[f"threaded-{i}"]


def test_prints_are_stored_as_log_lines_when_log_prints_is_true(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @task
    def chatty() -> None:
        print("printed in task")

    @flow(log_prints=True)
    def printing() -> None:
        print("printed in flow", 42)
        chatty()

    state = printing(return_state=True)
    (task_run,) = legato.get_client().read_task_runs(state.run_id)
    logs = _logs(state.run_id)

    flow_line = _one(logs, "printed in flow 42")
    task_line = _one(logs, "printed in task")
    assert flow_line.task_run_id is None and flow_line.level == "INFO"
    assert task_line.task_run_id == task_run.id and task_line.level == "INFO"
    assert "printed in flow" not in capsys.readouterr().out


def test_print_is_stored_when_only_the_task_has_log_prints() -> None:
    @task(log_prints=True)
    def chatty() -> None:
        print("task opted in")

    @flow
    def plain() -> None:
        print("flow did not opt in")
        chatty()

    state = plain(return_state=True)
    messages = [line.message for line in _logs(state.run_id)]

    assert "task opted in" in messages
    assert "flow did not opt in" not in messages


def test_print_is_not_captured_when_flow_does_not_log_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @flow(log_prints=True)
    def capturing() -> None:
        print("captured")

    @flow
    def not_capturing() -> None:
        print("left alone")

    capturing()  # installs the print capture in this process, if it was not already
    state = not_capturing(return_state=True)
    print("outside any flow")
    out = capsys.readouterr().out
    messages = [line.message for line in _logs(state.run_id)]

    assert "left alone" not in messages
    assert "left alone" in out
    assert "outside any flow" in out


def test_get_run_logger_raises_when_called_outside_a_run() -> None:
    with pytest.raises(LegatoError, match="outside a flow or task"):
        get_run_logger()


def test_failed_task_traceback_is_stored_when_task_fails() -> None:
    @task
    def broken() -> None:
        raise ValueError("traceback please")

    @flow
    def failing() -> None:
        broken()

    state = failing(return_state=True)
    (task_run,) = legato.get_client().read_task_runs(state.run_id)
    errors = [line for line in _logs(state.run_id) if line.level == "ERROR"]

    task_errors = [line for line in errors if line.task_run_id == task_run.id]
    assert len(task_errors) == 1
    assert "Traceback" in task_errors[0].message
    assert "ValueError: traceback please" in task_errors[0].message
    assert any("Finished in state Failed" in line.message for line in errors)
