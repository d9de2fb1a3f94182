"""``legato concurrency-limit``: how many task runs carrying a tag may run at once."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from legato.cli.output import (
    JsonOption,
    fail,
    format_time,
    print_json,
    reports_errors,
    stdout_console,
)

app = typer.Typer(
    rich_markup_mode=None,
    name="concurrency-limit",
    help=(
        "Limit how many task runs carrying a tag run their bodies at once, across every "
        "flow run. A task run waits Pending for a free slot; slots of a process that "
        "dies free themselves after LEGATO_CONCURRENCY_LEASE_SECONDS."
    ),
    no_args_is_help=True,
)

TagArgument = Annotated[
    str, typer.Argument(metavar="TAG", help="A task tag, as in @task(tags=...).")
]


def _client() -> Any:
    from legato import get_client

    return get_client()


def check_limit(limit: int, what: str, instead: str) -> None:
    """Refuse a limit below 1 before anything is asked of the store: a limit of 0 would
    hold every run back forever."""
    if limit < 1:
        raise fail(f"{what} must be at least 1, not {limit}; {instead}")


@app.command("create")
@reports_errors
def create_limit(
    tag: TagArgument,
    limit: Annotated[int, typer.Argument(metavar="N", help="Most task runs at once (>= 1).")],
    as_json: JsonOption = False,
) -> None:
    """Create the limit of TAG, or change it (slots held now are kept)."""
    check_limit(
        limit,
        "a concurrency limit",
        "to lift the limit of a tag, `legato concurrency-limit delete TAG`",
    )
    if not tag.strip():
        raise fail("the tag is empty; name the tag your tasks carry")
    record = _client().set_concurrency_limit(tag, limit)
    if as_json:
        print_json(record.model_dump(mode="json"))
        return
    stdout_console().print(f"tag {record.tag!r}: at most {record.limit} task run(s) at once")


@app.command("ls")
@reports_errors
def list_limits(as_json: JsonOption = False) -> None:
    """List tag limits with the slots held now."""
    records = _client().read_concurrency_limits()
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    console = stdout_console()
    if not records:
        console.print("No concurrency limits (legato concurrency-limit create TAG N).")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("TAG", overflow="fold")
    table.add_column("LIMIT", justify="right")
    table.add_column("ACTIVE", justify="right")
    table.add_column("CREATED")
    for record in records:
        table.add_row(
            record.tag, str(record.limit), str(record.active_slots), format_time(record.created)
        )
    console.print(table)


@app.command("delete")
@reports_errors
def delete_limit(tag: TagArgument) -> None:
    """Remove the limit of TAG: its task runs no longer wait for slots."""
    _client().delete_concurrency_limit(tag)
    stdout_console().print(f"deleted the concurrency limit of tag {tag!r}")
