"""What runs inside a ProcessPoolTaskRunner worker process: one user function call.

Logs written with ``get_run_logger()`` in the child are collected and sent back
with the result, so the parent records them against the right task run.
"""

from __future__ import annotations

import traceback
from typing import Any


def run_payload(payload: bytes) -> tuple[bool, bytes, list[dict[str, Any]]]:
    import cloudpickle

    from legato.engine.runner import call_function
    from legato.sdk.logging import child_log_capture

    fn, args, kwargs, is_async, log_info = cloudpickle.loads(payload)
    with child_log_capture(log_info) as rows:
        try:
            value = call_function(fn, args, kwargs, is_async)
        except BaseException as exc:
            exc.add_note("".join(traceback.format_exception(exc)).rstrip())
            try:
                return False, cloudpickle.dumps(exc), rows
            except Exception:
                return False, cloudpickle.dumps(RuntimeError(repr(exc))), rows
    return True, cloudpickle.dumps(value), rows
