"""``legato deploy`` and ``legato deployment ...`` against the embedded store."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import legato
from fixtures.cli import cli
from legato.schedules.planning import PlanLimits
from legato.services.scheduler import SchedulerConfig, schedule_once

FLOW_FILE = textwrap.dedent(
    """
    from legato import flow


    @flow
    def etl(n: int, label: str = "x") -> int:
        return n


    def not_a_flow():
        pass
    """
)


@pytest.fixture
def flow_file(tmp_path: Path, isolated_home: Path) -> Path:
    path = tmp_path / "etl.py"
    path.write_text(FLOW_FILE)
    return path


def _deploy(flow_file: Path, *extra: str) -> dict[str, object]:
    result = cli("deploy", f"{flow_file}:etl", "--name", "nightly", *extra, "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_deploy_stores_the_deployment_and_redeploy_updates_it(flow_file: Path) -> None:
    first = _deploy(
        flow_file,
        "--pool",
        "local",
        "--cron",
        "0 2 * * *",
        "--timezone",
        "Europe/London",
        "--param",
        "label=nightly",
        "--tag",
        "prod",
    )
    assert first["entrypoint"] == f"{flow_file}:etl"
    assert first["parameters"] == {"label": "nightly"}
    assert first["schedules"][0]["schedule"] == {  # type: ignore[index]
        "kind": "cron",
        "expr": "0 2 * * *",
        "timezone": "Europe/London",
        "day_or": True,
    }
    second = _deploy(flow_file, "--pool", "gpu", "--interval", "3600")
    assert second["id"] == first["id"]
    assert second["work_pool"] == "gpu"
    assert second["schedules"][0]["schedule"]["kind"] == "interval"  # type: ignore[index]
    listed = cli("deployment", "ls")
    assert "etl/nightly" in listed.stdout and "gpu" in listed.stdout


def test_deployment_run_creates_a_scheduled_run_and_refuses_bad_parameters(
    flow_file: Path,
) -> None:
    _deploy(flow_file, "--param", "label=nightly")
    bad = cli("deployment", "run", "etl/nightly", "--param", "n=abc")
    assert bad.exit_code == 1
    assert "parameter 'n': 'abc' is not of type 'integer'" in bad.stderr
    missing = cli("deployment", "run", "nightly")
    assert missing.exit_code == 1 and "'n' is required" in missing.stderr
    unknown = cli("deployment", "run", "nightly", "--param", "n=1", "--param", "colour=red")
    assert unknown.exit_code == 1 and "unknown parameter(s) 'colour'" in unknown.stderr
    assert legato.get_client().read_flow_runs() == []

    made = cli("deployment", "run", "nightly", "--param", "n=3", "--json")
    assert made.exit_code == 0, made.output
    run = json.loads(made.stdout)
    assert run["state"]["name"] == "Scheduled"
    assert run["parameters"] == {"label": "nightly", "n": 3}
    assert run["work_pool"] == "default"
    stored = legato.get_client().read_flow_run(run["id"])
    assert stored.deployment_id == legato.get_client().read_deployment("etl/nightly").id


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--cron", "0 25 * * *"], "hour field '25' is out of range 0-23"),
        (["--cron", "0 2 * * *", "--timezone", "Europe/Lodnon"], "Europe/London"),
        (["--rrule", "FREQ=SOMETIMES"], "RRULE"),
        (["--param", "n=abc"], "parameter 'n'"),
        (["--param", "oops"], "--param 'oops' is not KEY=VALUE"),
    ],
)
def test_deploy_refuses_bad_input_by_name(flow_file: Path, args: list[str], says: str) -> None:
    result = cli("deploy", f"{flow_file}:etl", "--name", "nightly", *args)
    assert result.exit_code == 1
    assert says in result.stderr
    assert legato.get_client().read_deployments() == []


def test_deploy_of_something_that_is_not_a_flow(flow_file: Path) -> None:
    result = cli("deploy", f"{flow_file}:not_a_flow", "--name", "x")
    assert result.exit_code == 1
    assert "not a @flow" in result.stderr


def test_pause_resume_show_delete(flow_file: Path) -> None:
    _deploy(flow_file, "--cron", "0 2 * * *")
    assert cli("deployment", "pause", "nightly").stdout.strip() == "paused etl/nightly"
    shown = json.loads(cli("deployment", "show", "etl/nightly", "--json").stdout)
    assert shown["paused"] is True
    assert "status      paused" in cli("deployment", "show", "nightly").stdout
    assert cli("deployment", "resume", "nightly").stdout.strip() == "resumed etl/nightly"
    cli("deployment", "run", "nightly", "--param", "n=1")
    deleted = cli("deployment", "delete", "nightly")
    assert deleted.stdout.strip() == "deleted etl/nightly and 1 unstarted run(s)"
    gone = cli("deployment", "show", "nightly")
    assert gone.exit_code == 1 and "no deployment 'nightly'" in gone.stderr


def test_flow_deploy_from_python(flow_file: Path) -> None:
    from legato.workers.entrypoints import load_flow

    etl = load_flow(f"{flow_file}:etl")
    record = etl.deploy("hourly", work_pool="local", cron="0 * * * *", parameters={"n": 1})
    assert record.full_name == "etl/hourly"
    assert record.parameter_schema is not None
    assert record.parameter_schema["required"] == ["n"]
    assert record.entrypoint == f"{flow_file}:etl"


def test_pause_one_schedule(flow_file: Path) -> None:
    from legato.schedules import Cron, Interval
    from legato.workers.entrypoints import load_flow

    load_flow(f"{flow_file}:etl").deploy(
        "twice", schedules=[Cron("0 2 * * *"), Interval(3600)], parameters={"n": 1}
    )
    done = cli("deployment", "pause", "twice", "--schedule", "2")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "paused schedule 2 of etl/twice"
    shown = cli("deployment", "show", "twice").stdout
    assert "1. At 02:00 (UTC) - cron '0 2 * * *'" in shown
    assert "2. Every hour (UTC) - interval 3600.0 (paused)" in shown
    bad = cli("deployment", "resume", "twice", "--schedule", "5")
    assert bad.exit_code == 1 and "has no schedule '5'; it has 2" in bad.stderr


def test_deploy_takes_an_rrule_set_and_the_scheduler_follows_it(flow_file: Path) -> None:
    day = datetime.now(UTC).date() + timedelta(days=2)  # the schedule is planned from now on

    def at(days: int, clock: str) -> str:
        return (day + timedelta(days=days)).strftime("%Y%m%d") + clock

    rule = (
        f"DTSTART:{at(0, 'T090000')}\nRRULE:FREQ=DAILY\n"
        f"EXDATE;TZID=Asia/Tokyo:{at(1, 'T180000')}\nRDATE:{at(1, 'T150000')}"
    )  # the EXDATE is 09:00 UTC in Tokyo's zone (no DST there)
    deployed = _deploy(flow_file, "--rrule", rule, "--param", "n=1")
    stored = deployed["schedules"][0]["schedule"]  # type: ignore[index]
    assert stored == {"kind": "rrule", "rule": rule, "timezone": "UTC"}

    store = legato.get_client().store  # type: ignore[attr-defined]
    now = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=10)
    config = SchedulerConfig(limits=PlanLimits(max_runs=3, min_runs=3, horizon=timedelta(days=3)))
    schedule_once(store, config, now, deployment_id=str(deployed["id"]))

    runs = legato.get_client().read_flow_runs(flow_name="etl")
    starts = sorted(run.expected_start_time for run in runs)
    assert [start.strftime("%Y%m%dT%H%M%S") for start in starts] == [
        at(1, "T150000"),
        at(2, "T090000"),
        at(3, "T090000"),
    ]
