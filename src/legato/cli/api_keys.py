"""``legato api-key``: the keys a legato server asks clients for.

These act on the store of this machine's settings (``LEGATO_DATABASE_URL``, default
the SQLite file under ``LEGATO_HOME``): the store ``legato server start`` serves.
Once any key exists, the server answers only requests that carry one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from legato.cli.output import print_json, reports_errors, stdout_console

if TYPE_CHECKING:
    from legato.store import Store

app = typer.Typer(
    rich_markup_mode=None,
    name="api-key",
    help="Create, list and delete the server's API keys.",
    no_args_is_help=True,
)


def _open_store() -> Store:
    from legato.settings import get_settings
    from legato.store import Store

    settings = get_settings()
    return Store(
        settings.effective_database_url,
        lock_timeout=settings.store_lock_timeout,
        writer_linger=settings.writer_linger,
    )


@app.command("create")
@reports_errors
def create(
    name: Annotated[str, typer.Argument(help="A unique name for the key (who or what uses it).")],
    read_only: Annotated[
        bool, typer.Option("--read-only", help="The key can read runs but not change anything.")
    ] = False,
) -> None:
    """Make a key and print it (once: only its hash is stored)."""
    store = _open_store()
    try:
        record, key = store.create_api_key(name, read_only=read_only)
    finally:
        store.close()
    kind = "read-only API key" if record.read_only else "API key"
    typer.echo(f"Created {kind} {record.name!r}:")
    typer.echo(key)
    typer.echo("Copy it now: it will not be shown again. Clients send it as LEGATO_API_KEY.")


@app.command("ls")
@reports_errors
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the keys (names and access; never the keys themselves)."""
    from rich.table import Table

    from legato.cli.output import format_time

    store = _open_store()
    try:
        records = store.list_api_keys()
    finally:
        store.close()
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    if not records:
        typer.echo("No API keys: the server accepts requests without one.")
        return
    table = Table("NAME", "ACCESS", "CREATED", "LAST USED", box=None)
    for record in records:
        table.add_row(
            record.name,
            _access(record.read_only, record.internal),
            format_time(record.created),
            format_time(record.last_used) if record.last_used else "never",
        )
    stdout_console().print(table)
    if all(record.internal for record in records):
        typer.echo(
            "Only a running server's own key: a server on loopback accepts requests "
            "without one (one bound to the network refuses them)."
        )


LAST_KEY_WARNING = (
    "{name!r} is the last API key. Without any key, a server on this store bound to "
    "loopback accepts every request from this machine without a key, and one bound to "
    "the network refuses everything but /api/health until a key is created. Pass --force "
    "to delete it anyway."
)


def _access(read_only: bool, internal: bool) -> str:
    if internal:
        return "internal: a server's worker"
    return "read-only" if read_only else "read-write"


@app.command("delete")
@reports_errors
def delete(
    name: Annotated[str, typer.Argument(help="The name of the key.")],
    force: Annotated[
        bool, typer.Option("--force", help="Delete it even if it is the last key.")
    ] = False,
) -> None:
    """Delete a key: requests carrying it are refused from then on.

    The last key is deleted only with --force: a server left with no key is open on
    loopback, and refuses everything but health when bound to the network.
    """
    from legato.cli.output import fail

    store = _open_store()
    try:
        if not force:
            names = [
                record.name
                for record in store.list_api_keys()
                if not record.internal  # a running server's own keys
            ]
            if names == [name]:
                raise fail(LAST_KEY_WARNING.format(name=name))
        store.delete_api_key(name)
    finally:
        store.close()
    typer.echo(f"Deleted API key {name!r}.")
