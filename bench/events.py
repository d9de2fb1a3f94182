"""What events cost the core, and how soon a run's states reach a live stream.

    python bench/events.py [--repeat 3] [--out results.json]

Starts ``legato server start`` on 127.0.0.1 (a fresh SQLite home). A flow of 5,000
sequential task calls runs in client mode (the flow returns once the server has made
every record durable), in fresh processes, alternately with nobody following the
server's events and with a client following every event on the live stream
(``GET /api/events/stream``: each of the 15,002 state changes is sent to it as it
happens); bare Python is measured in the same run. A run's state changes are events
without a row more being written (:mod:`legato.store.events`), so the flow's own cost is
the same with events as it was before them; what a follower adds is the server reading
and sending them.

Prints JSON: per-task overhead unwatched and watched, their ratio (target <= 1.10),
and how long after the flow returned its ``legato.flow-run.Completed`` reached the
follower.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from support import clean_env, legato_server

N_TASKS = 5_000
TARGET_RATIO = 1.10

CHILD = """
import json, sys, time
N = int(sys.argv[1])

def work(x):
    return x + 1

if sys.argv[2] == "bare":
    start = time.perf_counter()
    for i in range(N):
        work(i)
    print(json.dumps({"seconds": time.perf_counter() - start}))
else:
    from legato import flow, task
    from legato.orchestrator import get_orchestrator

    get_orchestrator()
    inc = task(work)

    @flow
    def sequential():
        for i in range(N):
            inc(i)
        from legato import get_run_context
        return get_run_context().flow_run_id

    start = time.perf_counter()
    run_id = sequential()
    print(json.dumps({"seconds": time.perf_counter() - start, "run_id": run_id,
                      "ended": time.time()}))
"""


def _child(mode: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(N_TASKS), mode],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


class Follower(threading.Thread):
    """Follows the server's live stream (every event, or only ``name``) until it sees a
    ``legato.flow-run.Completed``; counts what it got and when that came."""

    def __init__(self, url: str, name: str | None = None):
        super().__init__(daemon=True)
        query = urllib.parse.urlencode({"name": name} if name else {})
        self.answer = urllib.request.urlopen(f"{url}/api/events/stream?{query}", timeout=120)
        self.seen: float | None = None
        self.count = 0

    def run(self) -> None:
        for raw in self.answer:
            if raw.startswith(b"data: "):
                self.count += 1
                if b'"legato.flow-run.Completed"' in raw:
                    self.seen = time.time()
                    break
        self.answer.close()


def _watched(url: str, env: dict[str, str], name: str | None) -> tuple[dict[str, Any], Follower]:
    follower = Follower(url, name)
    follower.start()
    run = _child("legato", env)
    follower.join(120)
    if follower.seen is None:
        raise RuntimeError("the flow run's Completed event did not reach the stream in 120 s")
    return run, follower


def measure(repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="legato-bench-events-") as root:
        base = clean_env(LEGATO_LOG_LEVEL="WARNING")
        server_env = dict(base, LEGATO_HOME=str(Path(root) / "server"))
        args = ("--no-scheduler", "--no-worker")
        with legato_server(server_env, Path(root) / "server.log", *args) as url:
            client = dict(base, LEGATO_HOME=str(Path(root) / "client"), LEGATO_API_URL=url)
            bare = statistics.median(_child("bare", client)["seconds"] for _ in range(repeat))
            alone: list[float] = []
            watched: list[float] = []
            lags: list[float] = []
            sent: list[int] = []
            for _ in range(repeat):
                alone.append(_child("legato", client)["seconds"])
                run, follower = _watched(url, client, None)
                watched.append(run["seconds"])
                sent.append(follower.count)
                run, follower = _watched(url, client, "legato.flow-run.Completed")
                assert follower.seen is not None
                lags.append(max(0.0, follower.seen - run["ended"]))
    alone_s, watched_s = statistics.median(alone), statistics.median(watched)
    alone_us = (alone_s - bare) / N_TASKS * 1e6
    watched_us = (watched_s - bare) / N_TASKS * 1e6
    ratio = watched_us / alone_us if alone_us > 0 else float("inf")
    return {
        "tasks": N_TASKS,
        "bare_python_s": round(bare, 4),
        "unwatched_s": [round(r, 4) for r in alone],
        "watched_s": [round(r, 4) for r in watched],
        "overhead_per_task_us_unwatched": round(alone_us, 1),
        "overhead_per_task_us_watched": round(watched_us, 1),
        "ratio_watched_to_unwatched": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
        "events_streamed_per_flow": statistics.median(sent),
        "completed_event_after_flow_end_s": round(statistics.median(lags), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()
    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "repeat": args.repeat,
        "statistic": "median of repeats",
        "client_mode_sqlite": measure(args.repeat),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
