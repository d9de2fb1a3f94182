"""How soon a cancel takes effect on an idle worker: request -> run stopped, stored.

    python bench/cancel_latency.py [--cancels 5] [--out results.json]

A real ``legato server start`` (SQLite, no in-server worker) and one ``legato worker
start`` with the default settings (heartbeat every 10 s). ``--cancels`` times: run a
deployment whose task sleeps for ten minutes, wait until the task has started, then
``cancel_flow_run`` (what ``legato runs cancel`` calls) and read the run until it ends.
Reported, median and max over the cancels, from the request:

- ``to_cancelled``: until the stored Cancelled state's own timestamp (the process
  recorded it on its way out);
- ``visible``: until a reader of the API sees the run Cancelled.

Target: cancelled within 1 s. Prints JSON on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
from support import clean_env, legato, legato_server, say

from workers import worker

TARGET_SECONDS = 1.0
FLOWS = textwrap.dedent(
    """
    import time
    from pathlib import Path

    from legato import flow, task


    @task
    def long_sleep(marker: str) -> None:
        Path(marker).write_text("started")
        time.sleep(600)


    @flow
    def sleeper(marker: str) -> None:
        long_sleep(marker)
    """
)


def cancel_once(http: httpx.Client, deployment_id: str, folder: Path, n: int) -> dict[str, Any]:
    from legato.orchestrator.client import ClientOrchestrator
    from legato.workers.cancel import cancel_flow_run

    marker = folder / f"started-{n}"
    run = http.post(
        f"/api/deployments/{deployment_id}/runs", json={"parameters": {"marker": str(marker)}}
    )
    run.raise_for_status()
    run_id = run.json()["id"]
    deadline = time.monotonic() + 60
    while not marker.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the task of flow run {run_id} did not start")
        time.sleep(0.01)
    time.sleep(1.0)  # idle: the worker is between heartbeats, its run asleep
    client = ClientOrchestrator(str(http.base_url))
    try:
        asked = time.time()
        cancel_flow_run(client, run_id, "bench")
        while True:
            record = client.read_flow_run(run_id)
            if record.state.type in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            if time.time() - asked > 120:
                raise RuntimeError(f"flow run {run_id} did not end")
            time.sleep(0.01)
        visible = time.time() - asked
    finally:
        client.close()
    tasks = http.get(f"/api/flow_runs/{run_id}/task_runs").json()
    return {
        "flow_run": record.state.name,
        "task_runs": sorted({t["state"]["name"] for t in tasks}),
        "to_cancelled": record.state.timestamp.timestamp() - asked,
        "visible": visible,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cancels", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="legato-cancel-") as scratch:
        folder = Path(scratch)
        (folder / "flows.py").write_text(FLOWS)
        server_env = clean_env(LEGATO_HOME=str(folder / "server-home"))
        with legato_server(server_env, folder / "server.log") as url:
            env = clean_env(LEGATO_HOME=str(folder / "client-home"), LEGATO_API_URL=url)
            legato(env, folder, "deploy", "flows.py:sleeper", "--name", "d", "--pool", "bench")
            with httpx.Client(base_url=url, timeout=30) as http:
                deployment_id = http.get(
                    "/api/deployments/lookup", params={"ref": "sleeper/d"}
                ).json()["id"]
                with worker(env, folder, "process", 4, folder / "worker.log"):
                    samples = []
                    for n in range(args.cancels):
                        sample = cancel_once(http, deployment_id, folder, n)
                        say(f"cancel {n + 1}: {json.dumps(sample)}")
                        samples.append(sample)
    to_cancelled = [s["to_cancelled"] for s in samples]
    visible = [s["visible"] for s in samples]
    result = {
        "benchmark": "cancel_latency",
        "python": platform.python_version(),
        "cancels": args.cancels,
        "to_cancelled_median_ms": round(statistics.median(to_cancelled) * 1000, 1),
        "to_cancelled_max_ms": round(max(to_cancelled) * 1000, 1),
        "visible_median_ms": round(statistics.median(visible) * 1000, 1),
        "visible_max_ms": round(max(visible) * 1000, 1),
        "states": sorted({(s["flow_run"], *s["task_runs"]) for s in samples}),
        "target_ms": TARGET_SECONDS * 1000,
        "meets_target": max(visible) <= TARGET_SECONDS,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
