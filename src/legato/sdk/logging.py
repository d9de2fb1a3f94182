"""Run loggers: lines go to stderr and are stored against their flow run and task run.

``get_run_logger()`` returns a ``logging.LoggerAdapter`` that labels each record
with the current run's ids and with the function that stores it (the
orchestrator's batched writer), so a line costs an enqueue, not a database
round-trip. ``log_prints=True`` sends ``print`` calls of a flow or task to the
same place.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from legato.engine.context import current_flow_run, current_task_run
from legato.errors import LegatoError
from legato.ops import RecordLog
from legato.text import clean_text

Sink = Callable[[RecordLog], None]

FLOW_LOGGER = "legato.flow_runs"
TASK_LOGGER = "legato.task_runs"

_child_capture: ContextVar[tuple[dict[str, Any], list[dict[str, Any]]] | None] = ContextVar(
    "legato_child_capture", default=None
)
_setup_lock = threading.Lock()
_configured = False


class RunLogHandler(logging.Handler):
    """Stores records that carry a ``legato_sink`` (records of run loggers)."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = getattr(record, "legato_sink", None)
        if sink is None:
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            # A file name that is not UTF-8 must not cost the line (or its batch).
            message = clean_text(message)
            sink(
                RecordLog(
                    {
                        "flow_run_id": getattr(record, "legato_flow_run_id", None),
                        "task_run_id": getattr(record, "legato_task_run_id", None),
                        "timestamp": record.created,
                        "level": record.levelname,
                        "logger": record.name,
                        "message": message,
                    }
                )
            )
        except Exception:
            self.handleError(record)


class _LabelFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "legato_label"):
            record.legato_label = record.name
        return True


def _configured_again() -> bool:
    return _configured


def configure_run_logging() -> None:
    """Attach the store and stderr handlers to legato's run loggers (once per process)."""
    global _configured
    if _configured:
        return
    with _setup_lock:
        if _configured_again():  # another thread got here first
            return
        from legato.settings import get_settings

        level = get_settings().log_level.upper()
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(
            logging.Formatter(
                "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(legato_label)s - %(message)s",
                datefmt="%H:%M:%S",
            )
        )
        console.addFilter(_LabelFilter())
        for name in (FLOW_LOGGER, TASK_LOGGER):
            run_logger = logging.getLogger(name)
            run_logger.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
            run_logger.addHandler(RunLogHandler())
            run_logger.addHandler(console)
            run_logger.propagate = False
        _configured = True


def flow_run_logger(
    sink: Sink, flow_run_id: str | None, flow_run_name: str
) -> logging.LoggerAdapter[Any]:
    configure_run_logging()
    return logging.LoggerAdapter(
        logging.getLogger(FLOW_LOGGER),
        {
            "legato_sink": sink,
            "legato_flow_run_id": flow_run_id,
            "legato_task_run_id": None,
            "legato_label": f"Flow run {flow_run_name!r}",
        },
    )


def task_run_logger(
    sink: Sink, flow_run_id: str | None, task_run_id: str, task_run_name: str
) -> logging.LoggerAdapter[Any]:
    configure_run_logging()
    return logging.LoggerAdapter(
        logging.getLogger(TASK_LOGGER),
        {
            "legato_sink": sink,
            "legato_flow_run_id": flow_run_id,
            "legato_task_run_id": task_run_id,
            "legato_label": f"Task run {task_run_name!r}",
        },
    )


def get_run_logger() -> logging.LoggerAdapter[Any]:
    """The logger of the task run or flow run executing here.

    Raises LegatoError outside a flow or task: there is no run to store lines against.
    """
    task_ctx = current_task_run()
    if task_ctx is not None:
        return task_run_logger(
            task_ctx.flow_run.orchestrator.enqueue,
            task_ctx.flow_run.flow_run_id,
            task_ctx.task_run.id,
            task_ctx.task_run.name,
        )
    flow_ctx = current_flow_run()
    if flow_ctx is not None:
        return flow_run_logger(
            flow_ctx.orchestrator.enqueue, flow_ctx.flow_run_id, flow_ctx.flow_run_name
        )
    capture = _child_capture.get()
    if capture is not None:
        info, rows = capture
        return task_run_logger(
            lambda op: rows.append(op.row),
            info["flow_run_id"],
            info["task_run_id"],
            info["task_run_name"],
        )
    raise LegatoError(
        "get_run_logger() was called outside a flow or task run; call it inside a function "
        "decorated with @flow or @task, or use the logging module directly"
    )


@contextlib.contextmanager
def child_log_capture(info: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """In a task-runner child process: collect run log lines to send back to the parent."""
    rows: list[dict[str, Any]] = []
    token = _child_capture.set((info, rows))
    if info.get("log_prints"):
        install_print_capture()
    try:
        yield rows
    finally:
        _child_capture.reset(token)


# -- log_prints ---------------------------------------------------------------------

_original_print = builtins.print
_print_installed = False


def _prints_are_logged() -> bool:
    task_ctx = current_task_run()
    if task_ctx is not None:
        return bool(task_ctx.log_prints)
    flow_ctx = current_flow_run()
    if flow_ctx is not None:
        return bool(flow_ctx.log_prints)
    capture = _child_capture.get()
    return bool(capture and capture[0].get("log_prints"))


def _logging_print(
    *args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False
) -> None:
    if (file is None or file is sys.stdout) and _prints_are_logged():
        get_run_logger().info((sep if sep is not None else " ").join(str(a) for a in args))
        return
    _original_print(*args, sep=sep, end=end, file=file, flush=flush)


def install_print_capture() -> None:
    """Route ``print`` of runs with ``log_prints=True`` to their run logger.

    Installed once, on first use; it checks the current run on every call, so
    code outside such runs prints as usual.
    """
    global _print_installed
    if not _print_installed:
        builtins.print = _logging_print
        _print_installed = True
