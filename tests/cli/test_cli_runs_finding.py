"""Finding runs as people name them: by name, by a task's name, by when they started or
are due; what ``python my_flow.py`` prints at its end; wide fan-ins kept short."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import legato
from fixtures.cli import cli, run_file
from fixtures.commands import run_legato
from legato.schedules.planning import PlanLimits
from legato.schemas import FlowRunFilter
from legato.services.scheduler import SchedulerConfig, schedule_once

FLOWS = textwrap.dedent(
    """
    import sys

    from legato import flow, get_run_logger, task


    @task
    def extract(i):
        get_run_logger().info("extracting %d", i)
        return i


    @task
    def combine(values):
        return sum(values)


    @flow
    def fan_in(n: int = 40):
        return combine(extract.map(range(n)))


    @flow(flow_run_name="nightly")
    def named():
        return 1


    if __name__ == "__main__":
        {"fan_in": fan_in, "named": named}[sys.argv[1]]()
    """
)


@pytest.fixture
def flow_file(tmp_path: Path, isolated_home: Path) -> Path:
    path = tmp_path / "flows.py"
    path.write_text(FLOWS)
    return path


def _run(flow_file: Path, which: str) -> tuple[str, str]:
    """Run one flow of the file as a script; its (id, stderr)."""
    done = run_file(flow_file, which)
    assert done.returncode == 0, done.stderr
    found = re.search(r"legato: flow run '.*' \(([0-9a-f-]{36})\) ended Completed", done.stderr)
    assert found, done.stderr
    return found.group(1), done.stderr


def test_a_script_ends_with_one_line_naming_its_run_and_how_to_see_it(flow_file: Path) -> None:
    run_id, stderr = _run(flow_file, "named")

    last = stderr.strip().splitlines()[-1]
    assert last == (
        f"legato: flow run 'nightly' ({run_id}) ended Completed; "
        f"see it with: legato runs show {run_id}"
    )
    shown = run_legato("runs", "show", run_id)
    assert shown.returncode == 0 and "nightly" in shown.stdout


def test_a_run_is_found_by_its_name(flow_file: Path) -> None:
    run_id, _ = _run(flow_file, "fan_in")
    name = legato.get_client().read_flow_run(run_id).name

    shown = cli("runs", "show", name, "--json", "--tasks", "0")

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["id"] == run_id
    logs = cli("runs", "logs", name, "--json")
    assert logs.exit_code == 0 and len(json.loads(logs.stdout)) >= 40


def test_a_name_several_runs_share_lists_them(flow_file: Path) -> None:
    first, _ = _run(flow_file, "named")
    second, _ = _run(flow_file, "named")

    done = run_legato("runs", "show", "nightly")

    assert done.returncode == 1 and done.stdout == ""
    message = done.stderr.strip()
    assert message.startswith("error: 2 flow runs are named 'nightly': ")
    assert first in message and second in message and "give the id" in message


def test_an_unknown_id_or_name_says_how_to_list_runs(flow_file: Path) -> None:
    _run(flow_file, "named")

    done = run_legato("runs", "show", "spry-jaguar")

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: no flow run with id or name 'spry-jaguar'; `legato runs ls` lists runs"
    ]


def test_logs_task_takes_a_task_name_for_all_its_runs(flow_file: Path) -> None:
    run_id, _ = _run(flow_file, "fan_in")

    result = cli("runs", "logs", run_id, "--task", "extract", "--json")

    assert result.exit_code == 0, result.output
    lines = json.loads(result.stdout)
    assert sorted(line["message"] for line in lines) == sorted(f"extracting {i}" for i in range(40))
    assert {line["task_run_name"] for line in lines} == {f"extract-{i}" for i in range(40)}
    one = json.loads(cli("runs", "logs", run_id, "--task", "extract-7", "--json").stdout)
    assert [line["message"] for line in one] == ["extracting 7"]


def test_logs_unknown_task_suggests_the_names_there_are(flow_file: Path) -> None:
    run_id, _ = _run(flow_file, "fan_in")

    result = cli("runs", "logs", run_id, "--task", "extrat")

    assert result.exit_code == 1
    assert "has no task or task run named 'extrat'; did you mean 'extract'?" in result.stderr
    assert "(its tasks: extract, combine)" in result.stderr


def test_show_abbreviates_a_wide_fan_in_and_json_keeps_it_whole(flow_file: Path) -> None:
    run_id, _ = _run(flow_file, "fan_in")

    shown = run_legato("runs", "show", run_id)

    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if line.startswith("combine-0"))
    assert "extract-0, extract-1 ... +38" in row
    assert max(len(line) for line in shown.stdout.splitlines()) <= 120
    document = json.loads(cli("runs", "show", run_id, "--json").stdout)
    combine = next(t for t in document["task_runs"] if t["name"] == "combine-0")
    assert len(combine["upstream_ids"]) == 40


def test_ls_lists_started_and_due_runs_and_scheduled_lists_the_planned(flow_file: Path) -> None:
    done_id, _ = _run(flow_file, "named")
    deployed = cli(
        "deploy", f"{flow_file}:named", "--name", "every-2m", "--cron", "*/2 * * * *", "--json"
    )
    assert deployed.exit_code == 0, deployed.output
    deployment_id = json.loads(deployed.stdout)["id"]
    store = legato.get_client().store  # type: ignore[attr-defined]
    limits = PlanLimits(max_runs=5, min_runs=5, horizon=timedelta(hours=1))
    schedule_once(store, SchedulerConfig(limits=limits), deployment_id=deployment_id)

    listed = run_legato("runs", "ls")
    assert listed.returncode == 0, listed.stderr
    assert "STARTED (OR DUE)" in listed.stdout
    assert done_id in listed.stdout
    assert listed.stdout.count("Scheduled") == 0
    assert "runs planned for later are not listed: see them with --scheduled" in listed.stdout

    planned = json.loads(cli("runs", "ls", "--scheduled", "--json").stdout)
    assert len(planned) == 5
    due = [run["expected_start_time"] for run in planned]
    assert due == sorted(due)  # soonest first
    assert all(run["state"]["name"] == "Scheduled" for run in planned)
    assert min(due) > datetime.now(UTC).isoformat().replace("+00:00", "Z")

    everything = json.loads(cli("runs", "ls", "--json").stdout)
    assert [run["id"] for run in everything] == [done_id]


def test_ls_orders_by_when_runs_started_not_when_they_were_made(flow_file: Path) -> None:
    """A run the scheduler made ahead of time, started later, comes before one made later
    but started earlier."""
    client = legato.get_client()
    deployed = cli("deploy", f"{flow_file}:named", "--name", "manual", "--json")
    assert deployed.exit_code == 0, deployed.output
    early = json.loads(cli("deployment", "run", "manual", "--json").stdout)["id"]
    later_id, _ = _run(flow_file, "named")
    ran = run_legato("flow-run", "execute", early)  # made first, started last
    assert ran.returncode == 0, ran.stderr

    listed = json.loads(cli("runs", "ls", "--json").stdout)

    assert [run["id"] for run in listed] == [early, later_id]
    made = {run.id: run.created for run in client.read_flow_runs()}
    assert made[early] < made[later_id]
    assert listed[0]["start_time"] > listed[1]["start_time"]


def test_ls_pages_by_start_time_through_the_api_cursor(flow_file: Path) -> None:
    ids = [_run(flow_file, "named")[0] for _ in range(3)]
    client = legato.get_client()
    start = datetime.now(UTC) + timedelta(minutes=1)

    first = client.read_flow_run_page(_filter(start), limit=2)
    second = client.read_flow_run_page(_filter(start), limit=2, cursor=first.next_cursor)

    assert [run.id for run in first.flow_runs + second.flow_runs] == ids[::-1]
    assert second.next_cursor is None


def _filter(due_before: datetime) -> FlowRunFilter:
    return FlowRunFilter(due_before=due_before, order="start")
