"""How fast a worker starts runs: trigger-to-first-line latency and dispatch throughput.

    python bench/workers.py [--triggers 20] [--runs 100] [--limit 8]
                            [--launchers fork,process] [--out results.json]

A real ``legato server start`` (SQLite, no in-server worker) and, per launcher, one
``legato worker start --pool bench --launcher L`` talking to it with the default poll
interval (2 s: the worker is woken by the server, not by its poll).

- latency: ``--triggers`` times, on an idle worker, ``POST /api/deployments/{id}/runs``
  and then read the run's logs until the flow body's first line is there; median and p95
  of trigger -> visible, and of trigger -> the line's own timestamp (without the reader's
  polling). Target: median <= 500 ms.
- throughput: ``--runs`` trivial runs all due at the same moment (made a few seconds
  ahead, so the queue is full before the worker may take any) and one worker with
  ``--limit``; runs per second from that moment to the last run's end. Target: >= 20/s.
- floor: what one bare ``python -c "import legato"`` and one ``python -m legato flow-run
  execute ID`` of a trivial run cost (wall and CPU): with one process per run, 2 cores
  cannot go faster than 2 / its CPU seconds.

Prints JSON on stdout (a summary on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from support import legato, legato_server, say

LATENCY_TARGET = 0.5
THROUGHPUT_TARGET = 20.0
FLOWS = textwrap.dedent(
    """
    from legato import flow, get_run_logger


    @flow
    def trivial(n: int = 0) -> int:
        get_run_logger().info("first line %s", n)
        return n
    """
)
FIRST_LINE = "first line"


@contextmanager
def worker(env: dict[str, str], cwd: Path, launcher: str, limit: int, log: Path) -> Any:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "legato", "worker", "start", "--pool", "bench"),
                *("--name", f"bench-{launcher}", "--limit", str(limit), "--launcher", launcher),
            ],
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "started: pool" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{log.read_text()}")
            time.sleep(0.05)
        time.sleep(0.5)  # its first claim is waiting on the server
        yield process
    finally:
        process.terminate()
        process.wait(timeout=120)


def wait_ended(http: httpx.Client, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = http.get(f"/api/flow_runs/{run_id}").json()
        if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(0.02)
    raise RuntimeError(f"flow run {run_id} did not end")


def stamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure_latency(http: httpx.Client, deployment_id: str, triggers: int) -> dict[str, Any]:
    visible: list[float] = []
    logged: list[float] = []
    for n in range(triggers):
        began = time.time()
        run = http.post(f"/api/deployments/{deployment_id}/runs", json={"parameters": {"n": n}})
        run.raise_for_status()
        run_id = run.json()["id"]
        deadline = time.monotonic() + 60
        while True:
            lines = http.get(f"/api/flow_runs/{run_id}/logs").json()
            first = [line for line in lines if line["message"].startswith(FIRST_LINE)]
            if first:
                visible.append(time.time() - began)
                logged.append(stamp(first[0]["timestamp"]) - began)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no first line from flow run {run_id}")
            time.sleep(0.005)
        wait_ended(http, run_id)
        time.sleep(0.3)  # the worker is idle again before the next trigger
    return {
        "triggers": triggers,
        "visible_median_ms": round(statistics.median(visible) * 1000, 1),
        "visible_p95_ms": round(percentile(visible, 0.95) * 1000, 1),
        "logged_median_ms": round(statistics.median(logged) * 1000, 1),
        "logged_p95_ms": round(percentile(logged, 0.95) * 1000, 1),
        "target_median_ms": LATENCY_TARGET * 1000,
        "meets_target": statistics.median(visible) <= LATENCY_TARGET,
    }


def measure_throughput(http: httpx.Client, deployment_id: str, runs: int) -> dict[str, Any]:
    due = datetime.now(UTC) + timedelta(seconds=3 + runs * 0.02)
    ids = []
    for n in range(runs):
        answer = http.post(
            f"/api/deployments/{deployment_id}/runs",
            json={"parameters": {"n": n}, "scheduled_time": due.isoformat()},
        )
        answer.raise_for_status()
        ids.append(answer.json()["id"])
    if datetime.now(UTC) >= due:
        raise RuntimeError("making the runs took longer than the head start; lower --runs")
    ended = [wait_ended(http, run_id, timeout=600) for run_id in ids]
    finished = max(stamp(run["end_time"]) for run in ended)
    elapsed = finished - due.timestamp()
    states = sorted({run["state"]["name"] for run in ended})
    return {
        "runs": runs,
        "states": states,
        "seconds": round(elapsed, 3),
        "runs_per_second": round(runs / elapsed, 1),
        "target_runs_per_second": THROUGHPUT_TARGET,
        "meets_target": runs / elapsed >= THROUGHPUT_TARGET and states == ["Completed"],
    }


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True, timeout=120)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure_floor(
    http: httpx.Client, deployment_id: str, env: dict[str, str], cwd: Path, samples: int = 5
) -> dict[str, Any]:
    imports = [timed([sys.executable, "-c", "import legato"], env, cwd) for _ in range(samples)]
    executes = []
    for n in range(samples):
        run_id = http.post(
            f"/api/deployments/{deployment_id}/runs", json={"parameters": {"n": n}}
        ).json()["id"]
        command = [sys.executable, "-m", "legato", "flow-run", "execute", run_id]
        executes.append(timed(command, env, cwd))
    execute_cpu = statistics.median(cpu for _, cpu in executes)
    cpus = os.cpu_count() or 1
    return {
        "import_legato_wall_ms": round(statistics.median(w for w, _ in imports) * 1000, 1),
        "import_legato_cpu_ms": round(statistics.median(c for _, c in imports) * 1000, 1),
        "flow_run_process_wall_ms": round(statistics.median(w for w, _ in executes) * 1000, 1),
        "flow_run_process_cpu_ms": round(execute_cpu * 1000, 1),
        "process_per_run_ceiling_runs_per_second": round(cpus / execute_cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--triggers", type=int, default=20)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--launchers", default="fork,process")
    parser.add_argument("--out")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "limit": args.limit,
    }
    failed = False
    with tempfile.TemporaryDirectory(prefix="legato-bench-workers-") as root:
        folder = Path(root)
        (folder / "flows.py").write_text(FLOWS)
        base = {k: v for k, v in os.environ.items() if not k.startswith("LEGATO_")}
        server_env = {**base, "LEGATO_HOME": str(folder / "server-home")}
        with legato_server(server_env, folder / "server.log", "--no-worker") as url:
            env = {**base, "LEGATO_HOME": str(folder / "client-home"), "LEGATO_API_URL": url}
            legato(env, folder, "deploy", "flows.py:trivial", "--name", "d", "--pool", "bench")
            legato(env, folder, "deploy", "flows.py:trivial", "--name", "floor", "--pool", "none")
            with httpx.Client(base_url=url, timeout=30) as http:
                deployment = http.get("/api/deployments/lookup", params={"ref": "trivial/d"})
                floor_deployment = http.get(
                    "/api/deployments/lookup", params={"ref": "trivial/floor"}
                ).json()["id"]
                deployment_id = deployment.json()["id"]
                say("floor: import legato, one flow-run process ...")
                report["floor"] = measure_floor(http, floor_deployment, env, folder)
                for launcher in args.launchers.split(","):
                    result: dict[str, Any] = {}
                    try:
                        log = folder / f"worker-{launcher}.log"
                        with worker(env, folder, launcher, args.limit, log):
                            say(f"{launcher}: latency over {args.triggers} triggers ...")
                            result["latency"] = measure_latency(http, deployment_id, args.triggers)
                            say(f"{launcher}: throughput of {args.runs} runs ...")
                            result["throughput"] = measure_throughput(
                                http, deployment_id, args.runs
                            )
                    except Exception as exc:  # keep the other launcher's numbers
                        failed = True
                        result["error"] = f"{type(exc).__name__}: {exc}"
                    report[launcher] = result
    floor = report.get("floor", {})
    for launcher in args.launchers.split(","):
        rate = report.get(launcher, {}).get("throughput", {}).get("runs_per_second")
        ceiling = floor.get("process_per_run_ceiling_runs_per_second")
        if rate and ceiling:
            report[launcher]["throughput"]["times_the_process_per_run_ceiling"] = round(
                rate / ceiling, 2
            )
    text = json.dumps(report, indent=2)
    print(text)
    say(summary(report, args.launchers.split(",")))
    if args.out:
        Path(args.out).write_text(text + "\n")
    if failed:
        sys.exit(1)


def summary(report: dict[str, Any], launchers: list[str]) -> str:
    floor = report.get("floor", {})
    lines = [
        f"floor: import legato {floor.get('import_legato_cpu_ms')} ms CPU, one flow-run "
        f"process {floor.get('flow_run_process_cpu_ms')} ms CPU "
        f"({floor.get('flow_run_process_wall_ms')} ms wall) -> at most "
        f"{floor.get('process_per_run_ceiling_runs_per_second')} runs/s with a process per run"
    ]
    for launcher in launchers:
        result = report.get(launcher, {})
        if "error" in result:
            lines.append(f"{launcher}: {result['error']}")
            continue
        latency, throughput = result.get("latency", {}), result.get("throughput", {})
        lines.append(
            f"{launcher}: trigger->first line median {latency.get('visible_median_ms')} ms, "
            f"p95 {latency.get('visible_p95_ms')} ms; {throughput.get('runs_per_second')} runs/s"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
