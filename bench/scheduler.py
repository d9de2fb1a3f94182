"""What catching up after downtime costs: one scheduler pass making 10,000 due runs.

    python bench/scheduler.py [--missed 10000] [--only sqlite,postgresql] [--out results.json]

For SQLite (a file in a temporary folder) and PostgreSQL (a fresh database on
127.0.0.1:5432, dropped afterwards; skipped when none answers): deploys a flow with an
every-minute interval schedule and ``catchup=True``, then dates the schedule back
``--missed`` minutes (as if the server had been down since it was stored, ~7 days for
10,000), and times one pass of the scheduler service (:func:`schedule_once`, as the
server runs it), which plans the missed slots plus the upcoming ones and inserts them with
their history and tag rows. A second pass, with nothing left to make, is timed too.

Prints JSON on stdout (a summary on stderr): per backend, seconds for the pass, runs made,
runs per second, and whether it meets the issue's target (10,000 due runs in <= 10 s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from support import postgres_database, postgres_url, say

from legato.schedules import Interval, schedule_from_dict
from legato.schedules.planning import PlanLimits, ScheduleState, plan_slots
from legato.schemas.deployments import DeploymentSchedule, DeploymentSpec
from legato.services.scheduler import SchedulerConfig, schedule_once
from legato.store import Store
from legato.store.tables import deployment_schedules, flow_runs

TARGET_SECONDS = 10.0


def measure(backend: str, missed: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="legato-bench-scheduler-") as root,
        postgres_database("legato_bench_scheduler") as database,
    ):
        if backend == "sqlite":
            return _measure(f"sqlite:///{Path(root) / 'store.db'}", missed)
        if database is None:
            return {"skipped": "no PostgreSQL server answered on 127.0.0.1:5432"}
        return _measure(postgres_url(database), missed)


def _measure(url: str, missed: int) -> dict[str, Any]:
    store = Store(url)
    try:
        spec = DeploymentSpec(
            flow_name="etl",
            name="every-minute",
            entrypoint="flows.py:etl",
            parameters={"n": 3},
            tags=["bench"],
            catchup=True,
            schedules=[DeploymentSchedule(schedule=Interval(60).to_dict())],
        )
        deployment = store.deploy(spec)
        now = time.time()
        # The schedule was stored `missed` minutes (and a half) ago; nothing ran since.
        with store.engine.begin() as conn:
            conn.execute(
                deployment_schedules.update()
                .where(deployment_schedules.c.deployment_id == deployment.id)
                .values(created=(now // 60 - missed) * 60 + 30)
            )
        config = SchedulerConfig(limits=PlanLimits(max_catchup=max(missed, 10_000)))
        item = store.read_schedulable()[0]
        started = time.perf_counter()
        plan_slots(
            [
                ScheduleState(s.id, schedule_from_dict(s.schedule), s.created, s.last_slot)
                for s in item.schedules
            ],
            now=datetime.now(UTC),
            catchup=True,
            limits=config.limits,
        )
        planning = time.perf_counter() - started
        started = time.perf_counter()
        first = schedule_once(store, config)
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        second = schedule_once(store, config)
        second_seconds = time.perf_counter() - started
        with store.engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(flow_runs)).scalar_one()
            due = conn.execute(
                sa.select(sa.func.count())
                .select_from(flow_runs)
                .where(flow_runs.c.expected_start_time <= time.time())
            ).scalar_one()
    finally:
        store.close()
    return {
        "pass_seconds": round(first_seconds, 3),
        "runs_made": first.created,
        "due_runs_made": due,
        "upcoming_runs_made": stored - due,
        "runs_per_second": round(first.created / first_seconds),
        "planning_seconds": round(planning, 3),
        "second_pass_seconds": round(second_seconds, 3),
        "second_pass_runs_made": second.created,
        "meets_target": due >= missed and first_seconds <= TARGET_SECONDS,
    }


def summary(report: dict[str, Any]) -> str:
    lines = []
    for backend in ("sqlite", "postgresql"):
        result = report.get(backend, {})
        if "pass_seconds" in result:
            lines.append(
                f"{backend}: {result['due_runs_made']:,} due + {result['upcoming_runs_made']} "
                f"upcoming runs in {result['pass_seconds']} s "
                f"({result['runs_per_second']:,}/s; target <= {TARGET_SECONDS} s: "
                f"{'met' if result['meets_target'] else 'MISSED'}); "
                f"next pass {result['second_pass_seconds']} s"
            )
        else:
            lines.append(f"{backend}: {result}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--missed", type=int, default=10_000)
    parser.add_argument("--only", default="sqlite,postgresql")
    parser.add_argument("--out")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "missed_slots": args.missed,
        "target_seconds": TARGET_SECONDS,
    }
    failed = False
    for backend in ("sqlite", "postgresql"):
        if backend not in args.only.split(","):
            report[backend] = {"skipped": "not asked for (--only)"}
            continue
        say(f"{backend}: one scheduler pass over {args.missed:,} missed slots ...")
        try:
            report[backend] = measure(backend, args.missed)
        except Exception as exc:  # keep the other backend's numbers; exit non-zero below
            failed = True
            report[backend] = {"error": f"{type(exc).__name__}: {exc}"}
    text = json.dumps(report, indent=2)
    print(text)
    say(summary(report))
    if args.out:
        Path(args.out).write_text(text + "\n")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
