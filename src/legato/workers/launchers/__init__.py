"""Where a claimed flow run is started: one module per kind of infrastructure.

``process`` starts ``python -m legato flow-run execute ID`` per run; ``forkserver``
forks each run from a process that has imported legato already (Linux), which
saves the interpreter start and the imports of every run.
"""

from __future__ import annotations

from typing import Protocol


class RunHandle(Protocol):
    """One launched flow run, as the worker sees it."""

    flow_run_id: str
    signalled: str | None

    def exit_code(self) -> int | None: ...

    def wait_for_output(self, timeout: float = 10.0) -> None: ...

    def terminate(self, reason: str) -> None: ...

    def kill(self, reason: str) -> None: ...


class Launcher(Protocol):
    def launch(self, flow_run_id: str, token: str | None = None) -> RunHandle:
        """Start the run's process, handing it ``token`` (the attempt token of the claim)."""
        ...

    def close(self) -> None: ...
