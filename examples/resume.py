"""A five-step pipeline that fails at its last step, then resumes from there.

Step 5 fails until the environment variable ``RESUME_DEMO_FIXED`` is set to ``1``
(standing in for a missing credential or a bug you fix). Try it::

    python examples/resume.py                  # steps 1-5 run; step 5 fails
    export RESUME_DEMO_FIXED=1                 # "fix" the problem
    legato runs retry <flow run id>            # only step 5 runs again

or, from Python, ``legato.retry_flow_run("<flow run id>")``. The retry runs the
same flow run again, with the same parameters, as attempt 2: steps 1-4 are not
run again because their results were written to the result store when the flow
run failed; they are reused, and the flow run ends Completed.

Each step prints a line when it runs. When ``RESUME_DEMO_LOG`` names a file,
each step also appends its name to it (the tests use this to see what ran).
"""

from __future__ import annotations

import os
import sys
import time

from legato import flow, get_run_logger, task


def _mark(step: str) -> None:
    """Say that a step ran: on stdout, and in RESUME_DEMO_LOG when it is set."""
    print(f"  ran {step}", flush=True)
    log_path = os.environ.get("RESUME_DEMO_LOG")
    if log_path:
        with open(log_path, "a") as handle:
            handle.write(f"{step}\n")


@task
def step_1_download() -> list[int]:
    _mark("step_1")
    time.sleep(0.2)  # pretend this is slow: the reason not to run it twice
    return list(range(1, 101))


@task
def step_2_clean(numbers: list[int]) -> list[int]:
    _mark("step_2")
    return [n for n in numbers if n % 7 != 0]


@task
def step_3_enrich(numbers: list[int]) -> list[tuple[int, int]]:
    _mark("step_3")
    return [(n, n * n) for n in numbers]


@task
def step_4_aggregate(pairs: list[tuple[int, int]]) -> int:
    _mark("step_4")
    return sum(square for _, square in pairs)


@task
def step_5_publish(total: int) -> str:
    _mark("step_5")
    if os.environ.get("RESUME_DEMO_FIXED") != "1":
        raise RuntimeError("cannot publish: RESUME_DEMO_FIXED is not set to 1")
    get_run_logger().info("Published total %d", total)
    return f"published {total}"


@flow
def resume_pipeline() -> str:
    """Five steps in a row; the last one fails until RESUME_DEMO_FIXED=1."""
    numbers = step_1_download()
    cleaned = step_2_clean(numbers)
    pairs = step_3_enrich(cleaned)
    total = step_4_aggregate(pairs)
    return step_5_publish(total)


if __name__ == "__main__":
    state = resume_pipeline(return_state=True)
    print(f"flow run id: {state.run_id}")
    print(f"final state: {state.name}")
    if not state.is_completed():
        print(f"the flow run failed: {state.message}")
        print("fix it, then resume it (only the failed step runs again):")
        print("  export RESUME_DEMO_FIXED=1")
        print(f"  legato runs retry {state.run_id}")
        sys.exit(1)
    print(f"result: {state.result()}")
