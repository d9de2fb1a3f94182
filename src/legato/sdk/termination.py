"""How a process ends once SIGTERM stopped the top-level flow run it was running.

The engine records such a run Crashed, makes its records durable, and raises
:class:`legato.errors.Terminated`; it never ends the process itself. The entry points
that run a top-level flow (a flow call in ``python my_flow.py``, a worker's run,
``legato runs retry``) call :func:`exit_terminated` then: the process leaves at once
with SIGTERM's exit code, as the signal's default action would have ended it, rather
than waiting at exit for task threads that are still inside user code.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

EXIT_TERMINATED = 143  # 128 + SIGTERM


def exit_terminated() -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_TERMINATED)
