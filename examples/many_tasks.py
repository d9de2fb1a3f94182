"""10,000 mapped tasks in one flow: each one a tracked task run with its own states.

``square.map(range(10_000))`` submits one task run per number to the flow's thread
pool; the flow waits for all of them and sums the results. Every task run, with
its Pending -> Running -> Completed history, is in the store afterwards:
``legato runs show <flow run id>`` lists them.

Run it with ``python examples/many_tasks.py [COUNT]``; it prints the flow run id,
the number of task runs, the sum and the elapsed time.
"""

from __future__ import annotations

import sys
import time

from legato import flow, get_run_logger, task


@task
def square(n: int) -> int:
    return n * n


@flow
def many_tasks(count: int = 10_000) -> int:
    """Square every number below ``count`` in its own task run; return the sum."""
    futures = square.map(range(count))
    total = sum(futures.result())
    get_run_logger().info("%d task runs finished; sum of squares = %d", len(futures), total)
    return total


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    started = time.perf_counter()
    state = many_tasks(count, return_state=True)
    elapsed = time.perf_counter() - started
    print(f"flow run id: {state.run_id}")
    print(f"final state: {state.name}")
    if not state.is_completed():
        sys.exit(1)
    print(f"task runs: {count:,}  sum of squares: {state.result():,}")
    print(f"elapsed: {elapsed:.2f} s ({elapsed / count * 1e6:.0f} us per task run, recorded)")
