"""``legato config``: see every setting and where it comes from; edit config.toml.

Settings come from the environment (``LEGATO_*``), then ``$LEGATO_HOME/config.toml``,
then defaults. ``set`` and ``unset`` edit only the file, validating through the
same :class:`legato.settings.Settings` model the rest of legato reads, and warn
when an environment variable hides what was written.

``view --json`` prints one object::

    {
      "config_file": "/home/me/.legato/config.toml",
      "settings": {
        "api_url": {"value": "http://...", "source": "file", "env_var": "LEGATO_API_URL"},
        ...
      }
    }

with ``source`` one of ``env``, ``file``, ``default``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from legato.cli.output import print_json, reports_errors, stdout_console

if TYPE_CHECKING:
    from pathlib import Path

app = typer.Typer(
    rich_markup_mode=None,
    name="config",
    help="View and change settings (stored in $LEGATO_HOME/config.toml; LEGATO_* "
    "environment variables win over the file).",
    no_args_is_help=True,
)

SECRET_KEYS = frozenset({"api_key", "encryption_key"})
MASK = "********"


@app.command("view")
@reports_errors
def view(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    show_secrets: Annotated[
        bool,
        typer.Option(
            "--show-secrets", help="Show the API key and encryption key instead of ********."
        ),
    ] = False,
) -> None:
    """Every setting, its value and where it comes from (env, file or default)."""
    from rich.table import Table
    from rich.text import Text

    from legato.settings import (
        Settings,
        config_file_path,
        env_value,
        env_var_name,
        load_settings,
        read_config_file,
    )

    path = config_file_path()
    settings = load_settings()
    in_file = read_config_file(path)
    rows: dict[str, dict[str, Any]] = {}
    for key in Settings.model_fields:
        value = getattr(settings, key)
        if value is not None and key in SECRET_KEYS and not show_secrets:
            value = MASK
        if env_value(key):
            source = "env"
        elif key in in_file:
            source = "file"
        else:
            source = "default"
        rows[key] = {
            "value": str(value) if key == "home" else value,
            "source": source,
            "env_var": env_var_name(key),
        }
    if as_json:
        print_json({"config_file": str(path), "settings": rows})
        return
    console = stdout_console()
    exists = "" if path.exists() else " (not created yet)"
    console.print(f"config file: {path}{exists}")
    table = Table(box=None, pad_edge=False)
    for column in ("setting", "value", "source", "env var"):
        table.add_column(column)
    for key, row in rows.items():
        shown = Text("unset", style="dim") if row["value"] is None else Text(str(row["value"]))
        source_style = {"env": "yellow", "file": "cyan"}.get(row["source"], "dim")
        table.add_row(key, shown, Text(row["source"], style=source_style), row["env_var"])
    console.print(table)


# A value may start with "-" (a negative number is refused by validation, not by
# option parsing, so the message names the setting).
@app.command("set", context_settings={"ignore_unknown_options": True})
@reports_errors
def set_(
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="Setting name: api_url, api-url or LEGATO_API_URL.")
    ],
    value: Annotated[
        str, typer.Argument(metavar="VALUE", help="New value, checked before it is written.")
    ],
) -> None:
    """Write KEY = VALUE to the config file, after checking it is a valid value."""
    from legato.settings import config_file_path, set_config_value, settable_key

    path = config_file_path()
    name = settable_key(key)
    stored = set_config_value(path, name, value)
    shown = MASK if name in SECRET_KEYS else repr(stored)
    typer.echo(f"set {name} = {shown} in {path}")
    _warn_if_env_overrides(name, path)


@app.command("unset")
@reports_errors
def unset(
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="Setting name: api_url, api-url or LEGATO_API_URL.")
    ],
) -> None:
    """Remove KEY from the config file, so its default (or the environment) applies."""
    from legato.settings import config_file_path, unset_config_value

    path = config_file_path()
    name, removed = unset_config_value(path, key)
    if removed:
        typer.echo(f"unset {name} in {path}")
    else:
        typer.echo(f"{name} is not set in {path}; nothing to do")
    _warn_if_env_overrides(name, path)


def _warn_if_env_overrides(key: str, path: Path) -> None:
    from legato.settings import FILE_KEYS, env_value

    found = env_value(key)
    if found and key in FILE_KEYS:
        typer.echo(
            f"warning: the environment variable {found[0]} is set and wins over {path}; "
            f"unset it for the file's value to apply",
            err=True,
        )
