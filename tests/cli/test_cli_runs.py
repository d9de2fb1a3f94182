"""``legato runs ...`` read back runs of real flow files from a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import legato
from fixtures.cli import Recorded, cli, run_file
from fixtures.commands import run_legato

# -- ls ------------------------------------------------------------------------------


def test_ls_lists_runs_newest_first_with_states(recorded: Recorded) -> None:
    done = run_legato("runs", "ls")

    assert done.returncode == 0, done.stderr
    ids = [recorded.last_pipeline_id, recorded.broken_id, recorded.first_pipeline_id]
    rows = [line for line in done.stdout.splitlines() if any(i in line for i in ids)]
    assert len(rows) == 3
    for row, run_id, state in zip(rows, ids, ["Completed", "Failed", "Completed"], strict=True):
        assert run_id in row
        assert state in row
    assert "pipeline" in rows[0] and "broken" in rows[1]


def test_ls_json_is_one_document_newest_first(recorded: Recorded) -> None:
    result = cli("runs", "ls", "--json")

    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [run["id"] for run in runs] == [
        recorded.last_pipeline_id,
        recorded.broken_id,
        recorded.first_pipeline_id,
    ]
    assert runs[1]["state"]["type"] == "FAILED"
    assert runs[1]["state"]["name"] == "Failed"
    assert "boom" in runs[1]["state"]["message"]
    assert runs[0]["parameters"] == {"label": "last"}
    assert runs[0]["flow_name"] == "pipeline"
    assert runs[0]["start_time"].endswith("Z")
    assert list(runs[0])[:4] == ["id", "name", "flow_name", "state"]


@pytest.mark.parametrize(
    ("state", "expected"),
    [("failed", ["broken_id"]), ("Completed", ["last_pipeline_id", "first_pipeline_id"])],
)
def test_ls_state_filters_by_type_or_name(
    recorded: Recorded, state: str, expected: list[str]
) -> None:
    result = cli("runs", "ls", "--state", state, "--json")

    assert result.exit_code == 0, result.output
    assert [run["id"] for run in json.loads(result.stdout)] == [
        getattr(recorded, name) for name in expected
    ]


def test_ls_flow_and_limit_narrow_the_list(recorded: Recorded) -> None:
    result = cli("runs", "ls", "--flow", "pipeline", "--limit", "1", "--json")

    assert result.exit_code == 0, result.output
    assert [run["id"] for run in json.loads(result.stdout)] == [recorded.last_pipeline_id]


def test_ls_reports_no_runs_when_nothing_matches(recorded: Recorded) -> None:
    result = cli("runs", "ls", "--flow", "no-such-flow")

    assert result.exit_code == 0
    assert "No flow runs found" in result.stdout


def test_ls_unknown_state_exits_1_with_one_line(recorded: Recorded) -> None:
    result = cli("runs", "ls", "--state", "sleepy")

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ") and "'sleepy'" in lines[0]


def test_ls_limit_below_one_is_a_usage_error(recorded: Recorded) -> None:
    assert cli("runs", "ls", "--limit", "0").exit_code == 2


def test_ls_tag_and_since_filter(isolated_home: Path) -> None:
    @legato.flow(tags=["nightly", "etl"])
    def tagged() -> None:
        pass

    @legato.flow(tags=["nightly"])
    def half_tagged() -> None:
        pass

    tagged()
    half_tagged()
    listed = cli("runs", "ls", "--tag", "nightly", "--tag", "etl", "--json")
    assert listed.exit_code == 0, listed.output
    assert [run["flow_name"] for run in json.loads(listed.stdout)] == ["tagged"]
    both = json.loads(cli("runs", "ls", "--tag", "nightly", "--json").stdout)
    assert [run["flow_name"] for run in both] == ["half-tagged", "tagged"]
    recent = json.loads(cli("runs", "ls", "--since", "5m", "--json").stdout)
    assert len(recent) == 2
    assert json.loads(cli("runs", "ls", "--since", "2999-01-01", "--json").stdout) == []
    old = json.loads(cli("runs", "ls", "--since", "2000-01-01T00:00+02:00", "--json").stdout)
    assert len(old) == 2


@pytest.mark.parametrize("since", ["yesterday", "5 parsecs", "-3h"])
def test_ls_bad_since_names_the_option(isolated_home: Path, since: str) -> None:
    result = cli("runs", "ls", "--since", since)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --since")
    assert "30m" in result.stderr


# -- show ----------------------------------------------------------------------------


def _show_json(run_id: str) -> dict[str, Any]:
    result = cli("runs", "show", run_id, "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_show_json_has_task_runs_with_upstream_ids_of_the_real_edges(recorded: Recorded) -> None:
    done = run_legato("runs", "show", recorded.last_pipeline_id, "--json")

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    by_name = {task_run["name"]: task_run for task_run in document["task_runs"]}
    assert set(by_name) == {"extract-0", "double-0", "double-1", "flaky-0", "load-0"}
    ids = {name: task_run["id"] for name, task_run in by_name.items()}
    assert by_name["extract-0"]["upstream_ids"] == []
    assert by_name["flaky-0"]["upstream_ids"] == []
    for name in ("double-0", "double-1"):
        assert by_name[name]["upstream_ids"] == [ids["extract-0"]]
        assert by_name[name]["inputs"] == [
            {"parameter": "wait_for", "upstream_id": ids["extract-0"]}
        ]
    assert sorted(by_name["load-0"]["upstream_ids"]) == sorted(
        [ids["double-0"], ids["double-1"], ids["flaky-0"]]
    )
    assert {(edge["parameter"], edge["upstream_id"]) for edge in by_name["load-0"]["inputs"]} == {
        ("values", ids["double-0"]),
        ("values", ids["double-1"]),
        ("extra", ids["flaky-0"]),
    }
    assert all(task_run["flow_run_id"] == document["id"] for task_run in document["task_runs"])


def test_show_json_holds_the_run_and_every_state_history(recorded: Recorded) -> None:
    document = _show_json(recorded.last_pipeline_id)

    stored = legato.get_client().read_flow_run(recorded.last_pipeline_id)
    assert document["id"] == stored.id
    assert document["name"] == stored.name
    assert document["state"] == {
        "type": "COMPLETED",
        "name": "Completed",
        "message": None,
        "timestamp": stored.state.model_dump(mode="json")["timestamp"],
        "scheduled_time": None,
    }
    assert document["parameters"] == {"label": "last"}
    assert document["run_count"] == 1
    assert [state["name"] for state in document["state_history"]] == [
        "Pending",
        "Running",
        "Completed",
    ]
    flaky = next(t for t in document["task_runs"] if t["name"] == "flaky-0")
    assert flaky["run_count"] == 2
    assert [state["name"] for state in flaky["state_history"]] == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    retry_wait = flaky["state_history"][2]
    assert retry_wait["type"] == "SCHEDULED"
    assert retry_wait["scheduled_time"] is not None


def test_show_json_of_failed_run_has_its_message(recorded: Recorded) -> None:
    document = _show_json(recorded.broken_id)

    assert document["state"]["type"] == "FAILED"
    assert "ValueError: boom" in document["state"]["message"]
    assert document["task_runs"] == []
    assert document["state_history"][-1]["name"] == "Failed"


def test_show_lists_task_runs_with_states_retries_and_upstream_names(recorded: Recorded) -> None:
    result = cli("runs", "show", recorded.last_pipeline_id)

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert recorded.last_pipeline_id in out
    assert "pipeline" in out and '{"label": "last"}' in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "Completed" in rows["extract-0"]
    assert "extract-0" in rows["double-1"]
    assert "double-0, double-1, flaky-0" in rows["load-0"]
    # columns: name, state, duration, retries used (blank when none)
    assert rows["flaky-0"].split()[3] == "1"
    assert rows["load-0"].split()[3] == "double-0,"
    assert "state history" in out


def test_show_failed_run_prints_its_message_literally(recorded: Recorded) -> None:
    result = cli("runs", "show", recorded.broken_id)

    assert result.exit_code == 0, result.output
    assert "Failed" in result.stdout
    # the message is printed as it is, not read as rich markup or emoji codes
    history = result.stdout.split("state history")[1]
    assert "ValueError: boom [/x] :x:" in history


def test_show_accepts_a_unique_prefix_of_the_id(recorded: Recorded) -> None:
    prefix = recorded.broken_id[:-6]

    assert _show_json(prefix)["id"] == recorded.broken_id


def test_show_ambiguous_prefix_exits_1(recorded: Recorded) -> None:
    result = cli("runs", "show", recorded.broken_id[:2])

    assert result.exit_code == 1
    assert "is the start of the ids of several flow runs" in result.stderr
    assert "give more of the id, or the run's name" in result.stderr


@pytest.mark.parametrize("command", ["show", "logs", "retry"])
def test_unknown_id_exits_1_with_a_one_line_message(recorded: Recorded, command: str) -> None:
    done = run_legato("runs", command, "deadbeef-nope")

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: no flow run with id or name 'deadbeef-nope'; `legato runs ls` lists runs"
    ]


# -- logs ----------------------------------------------------------------------------


def test_logs_show_the_logged_lines_with_their_run(recorded: Recorded) -> None:
    done = run_legato("runs", "logs", recorded.last_pipeline_id)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    loaded = [line for line in lines if "loaded 6 rows" in line]
    assert len(loaded) == 1
    assert "| INFO" in loaded[0] and "| load-0 |" in loaded[0]
    starting = [line for line in lines if "pipeline last starting" in line]
    assert len(starting) == 1 and "| flow |" in starting[0]
    assert any("flaky-0" in line and "WARNING" in line for line in lines)


def test_logs_task_option_keeps_one_task_runs_lines(recorded: Recorded) -> None:
    result = cli("runs", "logs", recorded.last_pipeline_id, "--task", "load-0", "--json")

    assert result.exit_code == 0, result.output
    lines = json.loads(result.stdout)
    assert [line["message"] for line in lines] == ["loaded 6 rows"]
    assert lines[0]["task_run_name"] == "load-0"
    assert lines[0]["level"] == "INFO"
    assert lines[0]["flow_run_id"] == recorded.last_pipeline_id


def test_logs_json_names_flow_lines_and_respects_limit(recorded: Recorded) -> None:
    result = cli("runs", "logs", recorded.last_pipeline_id, "--json", "--limit", "2")

    assert result.exit_code == 0, result.output
    lines = json.loads(result.stdout)
    assert len(lines) == 2
    assert lines[0]["task_run_id"] is None and lines[0]["task_run_name"] is None
    stored = legato.get_client().read_logs(recorded.last_pipeline_id, limit=2)
    assert [line["message"] for line in lines] == [line.message for line in stored]


def test_logs_unknown_task_exits_1(recorded: Recorded) -> None:
    result = cli("runs", "logs", recorded.last_pipeline_id, "--task", "nothing-9")

    assert result.exit_code == 1
    assert "'nothing-9'" in result.stderr


# -- retry ---------------------------------------------------------------------------


def _failed_resumable_run(resumable_file: Path) -> str:
    done = run_file(resumable_file)
    assert done.returncode != 0
    (run,) = legato.get_client().read_flow_runs()
    assert run.state.name == "Failed"
    return run.id


def test_retry_of_a_fixed_failure_completes_and_reruns_only_the_failed_task(
    resumable_file: Path,
) -> None:
    run_id = _failed_resumable_run(resumable_file)
    before = {t.name: t.id for t in legato.get_client().read_task_runs(run_id)}
    (resumable_file.parent / "fixed").touch()

    done = run_legato("runs", "retry", run_id[:-4])

    assert done.returncode == 0, done.stderr
    assert "Completed" in done.stdout
    assert "1 reused, 1 ran again" in done.stdout
    folder = resumable_file.parent
    assert (folder / "extract.count").read_text() == "1"
    assert (folder / "load.count").read_text() == "2"
    client = legato.get_client()
    stored = client.read_flow_run(run_id)
    assert stored.state.name == "Completed"
    assert stored.run_count == 2
    task_runs = client.read_task_runs(run_id)
    assert {t.name: t.id for t in task_runs} == before
    assert all(t.state.name == "Completed" for t in task_runs)


def test_retry_json_names_reused_and_rerun_task_runs(resumable_file: Path) -> None:
    from legato.workers.entrypoints import load_flow

    flow = load_flow(f"{resumable_file}:resumable")
    state = flow(return_state=True)
    assert state.is_failed()
    run_id = state.run_id
    assert run_id is not None
    ids = {t.name: t.id for t in legato.get_client().read_task_runs(run_id)}
    (resumable_file.parent / "fixed").touch()

    result = cli("runs", "retry", run_id, "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["flow_run_id"] == run_id
    assert report["attempt"] == 2
    assert report["state"]["name"] == "Completed"
    assert report["task_runs_reused"] == [ids["extract-0"]]
    assert report["task_runs_run"] == [ids["load-0"]]
    assert (resumable_file.parent / "extract.count").read_text() == "1"


def test_retry_that_fails_again_exits_1(resumable_file: Path) -> None:
    run_id = _failed_resumable_run(resumable_file)

    result = cli("runs", "retry", run_id)

    assert result.exit_code == 1
    assert "Failed" in result.stdout
    stored = legato.get_client().read_flow_run(run_id)
    assert stored.state.name == "Failed"
    assert stored.run_count == 2


def test_retry_of_a_completed_run_exits_1_with_the_reason(recorded: Recorded) -> None:
    result = cli("runs", "retry", recorded.last_pipeline_id)

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: flow run {recorded.last_pipeline_id} is Completed; there is nothing to retry"
    ]


# -- a store that cannot be read ----------------------------------------------------


def test_corrupt_database_exits_1_with_one_line_naming_the_file(isolated_home: Path) -> None:
    isolated_home.mkdir(parents=True, exist_ok=True)
    database = isolated_home / "legato.db"
    garbage = b"this is not a database\n" * 200
    database.write_bytes(garbage)
    database.chmod(0o600)  # as legato makes it (a looser file adds a warning line)

    done = run_legato("runs", "ls")

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert str(database) in lines[0]
    assert database.read_bytes() == garbage
