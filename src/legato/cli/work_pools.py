"""``legato work-pool``: the pools workers claim runs from, their limits and pauses."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from legato.cli.concurrency import check_limit
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
    name="work-pool",
    help=(
        "Create, list, limit, pause and resume work pools. A pool's limit is the most of "
        "its runs Pending, Running or Cancelling at once; the others wait Scheduled."
    ),
    no_args_is_help=True,
)

PoolArgument = Annotated[str, typer.Argument(metavar="POOL", help="A work pool name.")]
LimitOption = Annotated[
    int | None,
    typer.Option("--limit", metavar="N", help="Most active runs of the pool (>= 1)."),
]


INSTEAD = "to stop a pool's runs, `legato work-pool pause POOL`; for no limit, --none"


def _client() -> Any:
    from legato import get_client

    return get_client()


def _limit_text(limit: int | None) -> str:
    return "no limit" if limit is None else f"limit {limit}"


@app.command("create")
@reports_errors
def create_pool(pool: PoolArgument, limit: LimitOption = None, as_json: JsonOption = False) -> None:
    """Create POOL (a deployment naming a new pool also creates it, with no limit)."""
    if limit is not None:
        check_limit(limit, "a work pool's concurrency limit", INSTEAD)
    record = _client().create_work_pool(pool, limit)
    if as_json:
        print_json(record.model_dump(mode="json"))
        return
    stdout_console().print(f"created work pool {record.name!r} ({_limit_text(limit)})")


@app.command("set-limit")
@reports_errors
def set_limit(
    pool: PoolArgument,
    limit: Annotated[
        int | None, typer.Argument(metavar="N", help="Most active runs (>= 1); omit with --none.")
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="Remove the limit.")] = False,
) -> None:
    """Set the most runs of POOL active at once (runs over it wait, Scheduled)."""
    if none == (limit is not None):
        raise fail("give either a limit N (at least 1) or --none to remove the limit")
    if limit is not None:
        check_limit(limit, "a work pool's concurrency limit", INSTEAD)
    record = _client().set_work_pool_limit(pool, limit)
    stdout_console().print(f"work pool {record.name!r}: {_limit_text(record.concurrency_limit)}")


@app.command("ls")
@reports_errors
def list_pools(as_json: JsonOption = False) -> None:
    """List work pools with their limits and active runs."""
    records = _client().read_work_pools()
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    console = stdout_console()
    if not records:
        console.print("No work pools yet (legato work-pool create POOL, or legato deploy).")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("POOL", overflow="fold")
    table.add_column("STATUS")
    table.add_column("LIMIT", justify="right")
    table.add_column("ACTIVE", justify="right")
    table.add_column("CREATED")
    for record in records:
        table.add_row(
            record.name,
            "paused" if record.paused else "active",
            "-" if record.concurrency_limit is None else str(record.concurrency_limit),
            str(record.active_runs),
            format_time(record.created),
        )
    console.print(table)


@app.command("pause")
@reports_errors
def pause_pool(pool: PoolArgument) -> None:
    """Stop workers claiming POOL's runs (they wait, Scheduled or Late)."""
    record = _client().set_work_pool_paused(pool, True)
    stdout_console().print(f"paused work pool {record.name!r}")


@app.command("resume")
@reports_errors
def resume_pool(pool: PoolArgument) -> None:
    """Let workers claim POOL's runs again."""
    record = _client().set_work_pool_paused(pool, False)
    stdout_console().print(f"resumed work pool {record.name!r}")
