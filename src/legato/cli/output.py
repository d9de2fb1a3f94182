"""What the CLI prints: JSON for scripts, rich text for people, one line for errors.

Every command goes through :func:`reports_errors`, so a problem legato knows
about (an unknown id, a damaged store, a bad ``--state``) becomes the single line
``error: ...`` on stderr and exit code 1, never a traceback. Usage errors keep
typer's exit code 2.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

if TYPE_CHECKING:
    from rich.table import Table

    from legato.schemas import LogRecord, StateRecord

P = ParamSpec("P")
R = TypeVar("R")

PIPE_WIDTH = 200
"""Width of rich output when stdout is not a terminal: wide enough that tables of
ids are not cut short when piped to ``grep`` or a file."""

STATE_STYLES: dict[str, str] = {
    "COMPLETED": "green",
    "FAILED": "red",
    "CRASHED": "bold red",
    "RUNNING": "blue",
    "PENDING": "bright_black",
    "SCHEDULED": "yellow",
    "PAUSED": "yellow",
    "CANCELLING": "magenta",
    "CANCELLED": "magenta",
}
"""Style of each state type; names of one type (Cached, TimedOut, ...) share its color."""

LEVEL_STYLES: dict[str, str] = {
    "DEBUG": "bright_black",
    "INFO": "cyan",
    "WARNING": "yellow",
    "ERROR": "red",
    "CRITICAL": "bold red",
}


# -- errors --------------------------------------------------------------------------


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` as one line on stderr; return the Exit to raise."""
    one_line = " ".join(message.split())
    typer.echo(f"error: {one_line}", err=True)
    return typer.Exit(code)


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn legato's own errors into one line and exit code 1.

    ``ValueError`` is included because the store rejects a bad filter value (an
    unknown ``--state``) with one, before any SQL runs. An interrupt exits 130
    without a traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from legato.errors import LegatoError

        try:
            return fn(*args, **kwargs)
        except (LegatoError, ValueError) as exc:
            raise fail(str(exc) or type(exc).__name__) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


# -- JSON ----------------------------------------------------------------------------

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document instead of text.")
]
"""The ``--json`` flag every listing and show command takes."""


def print_json(data: Any) -> None:
    """Write one JSON document to stdout.

    Keys keep the order of the records' fields (see the shapes documented in
    :mod:`legato.cli.runs`); pass records through ``model_dump(mode="json")`` first.
    """
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


# -- rich ----------------------------------------------------------------------------


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 and C1 control characters but tab and newline: what makes a terminal act."""


def terminal_safe(text: str) -> str:
    """``text`` without control characters. Names, state messages and log lines come
    from whoever can write to the store or run a flow; printed as they are, an escape
    sequence in one would clear the operator's screen, rewrite lines above it or set the
    window title. ``--json`` keeps them (escaped by JSON)."""
    return CONTROL_CHARACTERS.sub("", text)


class _SafeConsole(Console):
    """Drops control characters from the text it renders (never from its own styling,
    which is added after rendering, nor its control segments). rich measures them as
    zero cells wide, so tables keep their layout."""

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and CONTROL_CHARACTERS.search(segment.text):
                yield Segment(terminal_safe(segment.text), segment.style)
            else:
                yield segment


def stdout_console() -> Console:
    """A console on the current stdout (made per call, so test runners that swap
    ``sys.stdout`` are honoured); wide and colorless when stdout is not a terminal.
    Strings print literally, without control characters; style through
    :class:`rich.text.Text`."""
    # Names and messages come from user code: print them as they are, never as rich
    # markup ("[bold]") or emoji codes (":x:"), nor as terminal escape sequences.
    console = _SafeConsole(highlight=False, markup=False, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = _SafeConsole(highlight=False, markup=False, emoji=False, width=PIPE_WIDTH)
    return console


def state_text(state: StateRecord, *, with_message: bool = False) -> Text:
    text = Text(state.name, style=STATE_STYLES.get(state.type.value, ""))
    if with_message and state.message:
        text.append(f"  {state.message}", style="dim")
    return text


def level_text(level: str) -> Text:
    return Text(f"{level:<8}", style=LEVEL_STYLES.get(level.upper(), ""))


def format_duration(seconds: float | None) -> str:
    """``-`` when unknown, then ``<1ms``, ``250ms``, ``4.20s``, ``3m 07s``, ``2h 05m 00s``."""
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return "<1ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s"


def format_time(value: datetime | None, *, precise: bool = False) -> str:
    """Local time, to the second (or the millisecond with ``precise``); ``-`` when unset."""
    if value is None:
        return "-"
    local = value.astimezone()
    if precise:
        return local.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return local.strftime("%Y-%m-%d %H:%M:%S")


def log_line_writer() -> Callable[[LogRecord | None], None]:
    """Print one line per log line (None: the end). Plain text straight to stdout when it
    is not a terminal (rich costs more per line than a million lines can pay)."""
    console = stdout_console()
    if console.is_terminal:

        def show(line: LogRecord | None) -> None:
            if line is not None:
                console.print(
                    Text.assemble(
                        format_time(line.timestamp, precise=True),
                        " | ",
                        level_text(line.level),
                        " | ",
                        (_source(line), "bold"),
                        " | ",
                        line.message,
                    ),
                    soft_wrap=True,
                )

        return show
    out = sys.stdout

    def write(line: LogRecord | None) -> None:
        if line is None:
            out.flush()
            return
        stamp = format_time(line.timestamp, precise=True)
        text = f"{stamp} | {line.level:<8} | {_source(line)} | {line.message}"
        out.write(f"{terminal_safe(text)}\n")

    return write


def _source(line: LogRecord) -> str:
    if line.task_run_id is None:
        return "flow"
    return line.task_run_name or line.task_run_id


def state_history_table(history: list[StateRecord]) -> Table:
    """A run's states, oldest first: time, state, message (with when a waiting state is
    due), as ``runs show`` and ``task-runs show`` print them."""
    from rich.table import Table

    states = Table(box=None, header_style="bold", pad_edge=False)
    states.add_column("TIME", no_wrap=True)
    states.add_column("STATE", no_wrap=True)
    states.add_column("MESSAGE")
    for state in history:
        message = state.message or ""
        if state.scheduled_time is not None:
            message = f"{message} (until {format_time(state.scheduled_time)})".strip()
        states.add_row(format_time(state.timestamp, precise=True), state_text(state), message)
    return states
