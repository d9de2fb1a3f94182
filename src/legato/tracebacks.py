"""Tracebacks that show the user's code: legato's own frames (the engine, the task runner,
``State.result``) are left out of what a failed run prints, unless
``LEGATO_LOG_LEVEL=DEBUG`` asks for everything.

A task's failure is printed once: its run's log line carries the traceback, and when
that same exception then ends the script, the last lines say what it was and where its
traceback is rather than printing it again.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

LEGATO_DIR = str(Path(__file__).resolve().parent) + os.sep

LOGGED = "_legato_traceback_logged"
"""Set on an exception whose traceback a task run's log line has printed (its name)."""


def showing_legato_frames() -> bool:
    """Whether legato's frames are shown (``LEGATO_LOG_LEVEL=DEBUG``)."""
    return os.environ.get("LEGATO_LOG_LEVEL", "").strip().upper() == "DEBUG"


def is_legato_frame(filename: str) -> bool:
    return os.path.abspath(filename).startswith(LEGATO_DIR)


def without_legato_frames(tb: TracebackType | None) -> TracebackType | None:
    """``tb`` less legato's frames (all of it when every frame is legato's: an error
    legato raised itself is shown where it was raised)."""
    kept: list[TracebackType] = []
    entry = tb
    while entry is not None:
        if not is_legato_frame(entry.tb_frame.f_code.co_filename):
            kept.append(entry)
        entry = entry.tb_next
    if not kept:
        return tb
    rebuilt: TracebackType | None = None
    for entry in reversed(kept):
        rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt


def user_exc_info(error: BaseException) -> tuple[type[BaseException], BaseException, Any]:
    """The ``exc_info`` to log ``error`` with: its traceback less legato's frames."""
    tb = error.__traceback__
    return type(error), error, tb if showing_legato_frames() else without_legato_frames(tb)


def mark_logged(error: BaseException, task_run_name: str) -> None:
    """Remember that ``error``'s traceback was printed in task run ``task_run_name``'s log."""
    with contextlib.suppress(AttributeError, TypeError):  # a type that takes none
        setattr(error, LOGGED, task_run_name)


def format_uncaught(kind: type[BaseException], error: BaseException, tb: Any) -> str:
    """What the end of a script prints for an exception a flow call raised."""
    logged = getattr(error, LOGGED, None)
    if logged is not None and not showing_legato_frames():
        last = "".join(traceback.format_exception_only(kind, error)).rstrip("\n")
        return (
            f"{last}\n(raised in task run {logged!r}: its traceback is in that run's log "
            "above; LEGATO_LOG_LEVEL=DEBUG shows legato's frames too)\n"
        )
    shown = traceback.TracebackException(kind, error, tb, compact=True)
    if not showing_legato_frames():
        _drop_legato_frames(shown, set())
    return "".join(shown.format())


def _drop_legato_frames(shown: traceback.TracebackException, seen: set[int]) -> None:
    if id(shown) in seen:
        return
    seen.add(id(shown))
    frames = [frame for frame in shown.stack if not is_legato_frame(frame.filename)]
    if frames:
        shown.stack = traceback.StackSummary.from_list(frames)
    for linked in (shown.__cause__, shown.__context__):
        if linked is not None:
            _drop_legato_frames(linked, seen)


def _excepthook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
    if showing_legato_frames() or not issubclass(kind, Exception):
        sys.__excepthook__(kind, error, tb)
        return
    try:
        sys.stderr.write(format_uncaught(kind, error, tb))
    except Exception:  # never lose the error over how it is shown
        sys.__excepthook__(kind, error, tb)


def install_excepthook() -> None:
    """Show a script's uncaught exception without legato's frames (see the module); left
    alone when something else (IPython, rich, the user) set its own hook."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _excepthook
