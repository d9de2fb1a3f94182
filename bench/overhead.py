"""What tracking costs: legato against bare Python on the same work, in one run.

    python bench/overhead.py [--repeat 3] [--only a,b,...] [--out results.json]

Prints one JSON document. Each scenario runs in a fresh subprocess with its own
LEGATO_HOME, so memory figures are per scenario and nothing is shared:

  a  10,000 sequential task calls in one flow
  b  10,000 mapped tasks on the thread runner (``.map`` then ``.result()``)
  c  a chain of 1,000 submits, each taking the previous future
  d  cold start: a whole ``python`` process running a one-task flow
  e  peak memory (max RSS) of b

Timings of legato include making every task state durable: the flow call only
returns after its task runs are committed. The targets (issue 2) on a 2-core
machine: a <= 100 us and b <= 150 us overhead per task, d <= 1.0 s, e <= 300 MB.
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
import time
from pathlib import Path
from typing import Any

N_TASKS = 10_000
N_CHAIN = 1_000
TARGETS = {"a": 100.0, "b": 150.0, "d": 1.0, "e": 300.0}


# -- scenario bodies (run inside a subprocess) --------------------------------------


def _work(x: int) -> int:
    return x + 1


def scenario_a_bare() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(N_TASKS):
        total += _work(i)
    return time.perf_counter() - start


def _open_store() -> None:
    """Create the store before timing: its one-time creation is part of d, not a-c."""
    from legato.orchestrator import get_orchestrator

    get_orchestrator()


def scenario_a_legato() -> float:
    from legato import flow, task

    _open_store()
    inc = task(_work)

    @flow
    def sequential() -> int:
        total = 0
        for i in range(N_TASKS):
            total += inc(i)
        return total

    start = time.perf_counter()
    assert sequential() == sum(range(1, N_TASKS + 1))
    return time.perf_counter() - start


def scenario_b_bare() -> float:
    from concurrent.futures import ThreadPoolExecutor

    from legato.sdk.runners import default_thread_count

    start = time.perf_counter()
    with ThreadPoolExecutor(default_thread_count()) as pool:
        futures = [pool.submit(_work, i) for i in range(N_TASKS)]
        results = [f.result() for f in futures]
    assert len(results) == N_TASKS
    return time.perf_counter() - start


def scenario_b_legato() -> float:
    from legato import flow, task

    _open_store()
    inc = task(_work)

    @flow
    def mapped() -> int:
        return sum(inc.map(range(N_TASKS)).result())

    start = time.perf_counter()
    assert mapped() == sum(range(1, N_TASKS + 1))
    return time.perf_counter() - start


def scenario_c_bare() -> float:
    start = time.perf_counter()
    value = 0
    for _ in range(N_CHAIN):
        value = _work(value)
    assert value == N_CHAIN
    return time.perf_counter() - start


def scenario_c_legato() -> float:
    from legato import flow, task

    _open_store()
    inc = task(_work)

    @flow
    def chain() -> int:
        future = inc.submit(0)
        for _ in range(N_CHAIN - 1):
            future = inc.submit(future)
        return future.result()

    start = time.perf_counter()
    assert chain() == N_CHAIN
    return time.perf_counter() - start


SCENARIOS = {
    ("a", "bare"): scenario_a_bare,
    ("a", "legato"): scenario_a_legato,
    ("b", "bare"): scenario_b_bare,
    ("b", "legato"): scenario_b_legato,
    ("c", "bare"): scenario_c_bare,
    ("c", "legato"): scenario_c_legato,
}

COLD_START_FLOW = """
from legato import flow, task

@task
def one() -> int:
    return 1

@flow
def cold() -> int:
    return one()

assert cold() == 1
"""


def _max_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(scenario: str, variant: str) -> None:
    seconds = SCENARIOS[(scenario, variant)]()
    print(json.dumps({"seconds": seconds, "max_rss_mb": _max_rss_mb()}))


# -- the parent: runs each scenario in fresh processes, reports -----------------------


def _spawn(args: list[str], home: str) -> dict[str, Any]:
    env = dict(os.environ, LEGATO_HOME=home, LEGATO_LOG_LEVEL="WARNING")
    env.pop("LEGATO_DATABASE_URL", None)
    env.pop("LEGATO_API_URL", None)
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(scenario: str, variant: str, repeat: int) -> list[dict[str, Any]]:
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="legato-bench-") as home:
            runs.append(
                _spawn([sys.executable, __file__, "--child", scenario, "--variant", variant], home)
            )
    return runs


def cold_start(repeat: int) -> dict[str, Any]:
    def timed(code: str) -> float:
        with tempfile.TemporaryDirectory(prefix="legato-bench-") as home:
            env = dict(os.environ, LEGATO_HOME=home, LEGATO_LOG_LEVEL="WARNING")
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True)
            return time.perf_counter() - start

    # The first run of a fresh home also creates the database (migrations): measure
    # both that and the usual case of an existing store.
    bare = statistics.median(timed("pass") for _ in range(repeat))
    fresh = statistics.median(timed(COLD_START_FLOW) for _ in range(repeat))
    with tempfile.TemporaryDirectory(prefix="legato-bench-") as home:
        env = dict(os.environ, LEGATO_HOME=home, LEGATO_LOG_LEVEL="WARNING")
        subprocess.run([sys.executable, "-c", COLD_START_FLOW], env=env, check=True)
        warm_runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", COLD_START_FLOW], env=env, check=True)
            warm_runs.append(time.perf_counter() - start)
    warm = statistics.median(warm_runs)
    return {
        "bare_python_process_s": round(bare, 4),
        "legato_first_run_new_store_s": round(fresh, 4),
        "legato_existing_store_s": round(warm, 4),
        "target_s": TARGETS["d"],
        "meets_target": max(fresh, warm) <= TARGETS["d"],
    }


def per_task(scenario: str, count: int, repeat: int) -> dict[str, Any]:
    bare = measure(scenario, "bare", repeat)
    tracked = measure(scenario, "legato", repeat)
    bare_s = statistics.median(r["seconds"] for r in bare)
    legato_s = statistics.median(r["seconds"] for r in tracked)
    overhead_us = (legato_s - bare_s) / count * 1e6
    result = {
        "tasks": count,
        "bare_python_s": round(bare_s, 4),
        "legato_s": round(legato_s, 4),
        "ratio": round(legato_s / bare_s, 1) if bare_s else None,
        "overhead_per_task_us": round(overhead_us, 1),
        "legato_runs_s": [round(r["seconds"], 4) for r in tracked],
        "bare_max_rss_mb": round(statistics.median(r["max_rss_mb"] for r in bare), 1),
        "legato_max_rss_mb": round(statistics.median(r["max_rss_mb"] for r in tracked), 1),
    }
    if scenario in TARGETS:
        result["target_us"] = TARGETS[scenario]
        result["meets_target"] = overhead_us <= TARGETS[scenario]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="a,b,c,d,e")
    parser.add_argument("--out")
    parser.add_argument("--child")
    parser.add_argument("--variant")
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.variant)
        return

    wanted = set(args.only.split(","))
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "repeat": args.repeat,
        "statistic": "median of repeats",
    }
    if "a" in wanted:
        report["a_sequential_tasks"] = per_task("a", N_TASKS, args.repeat)
    if wanted & {"b", "e"}:
        mapped = per_task("b", N_TASKS, args.repeat)
        if "b" in wanted:
            report["b_mapped_tasks"] = mapped
        if "e" in wanted:
            report["e_peak_memory_of_b"] = {
                "bare_python_max_rss_mb": mapped["bare_max_rss_mb"],
                "legato_max_rss_mb": mapped["legato_max_rss_mb"],
                "target_mb": TARGETS["e"],
                "meets_target": mapped["legato_max_rss_mb"] <= TARGETS["e"],
            }
    if "c" in wanted:
        report["c_submit_chain"] = per_task("c", N_CHAIN, args.repeat)
    if "d" in wanted:
        report["d_cold_start"] = cold_start(args.repeat)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
