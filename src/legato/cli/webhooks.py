"""``legato webhook``: URLs that turn other systems' HTTP requests into events.

A webhook's URL is shown when it is made and when it is rotated, never again (the
store keeps only a hash of it: see :mod:`legato.schemas.webhooks`); ``ls`` and
``show`` print its first characters so the URL a sender holds can be told apart.
With ``LEGATO_API_URL`` set the URL is the server's; in embedded mode the path is
printed, to put after the address ``legato server start`` serves this store on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from legato.cli.output import JsonOption, fail, format_time, print_json, reports_errors

if TYPE_CHECKING:
    from legato.schemas.webhooks import WebhookRecord, WebhookWithUrl

app = typer.Typer(
    rich_markup_mode=None,
    name="webhook",
    help=(
        "Create, list, change, rotate and delete webhooks: URLs (/hooks/<slug>) that turn "
        "any HTTP POST into an event through a Jinja2 template of its body, headers and query."
    ),
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The webhook's name.")]
TemplateOption = Annotated[
    Path,
    typer.Option(
        "--template",
        metavar="FILE",
        help="A Jinja2 template rendering the event as JSON ('-': standard input). It sees "
        "body, raw_body, headers, query and webhook.",
    ),
]
DescriptionOption = Annotated[
    str | None, typer.Option("--description", metavar="TEXT", help="What the webhook is for.")
]


def _client() -> Any:
    from legato import get_client

    return get_client()


WHAT = {
    "name": "NAME",
    "description": "--description",
    "template": "the template",
}
NAME_RULE = "a webhook name is 1 to 255 characters, without '/' or NUL, and not '.' or '..'"


def _checked(model: type[Any], **fields: Any) -> Any:
    """``model(**fields)``, or one line naming the bad option and what is allowed."""
    from pydantic import ValidationError

    try:
        return model(**fields)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            message = NAME_RULE if field == "name" else str(error["msg"])
            problems.append(f"{WHAT.get(field, field)}: {message.removeprefix('Value error, ')}")
        raise fail("; ".join(problems)) from None


def _read_template(path: Path) -> str:
    """The template in ``path``, compiled here first: a syntax error names the file and
    the line, and nothing is sent."""
    from legato.event_rules.webhooks import WebhookError, check_template

    where = "standard input" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read the template file {where}: {exc}") from None
    try:
        check_template(text)
    except WebhookError as exc:
        raise fail(f"{where}: {exc}; nothing was stored") from None
    return text


def _url(client: Any, path: str) -> tuple[str, bool]:
    """The webhook's URL on the server this CLI talks to, or its path (embedded mode)."""
    api_url = getattr(client, "api_url", None)
    return (f"{api_url.rstrip('/')}{path}", True) if api_url else (path, False)


def _print_url(client: Any, made: WebhookWithUrl, verb: str) -> None:
    url, full = _url(client, made.path)
    typer.echo(f"{verb} webhook {made.webhook.name!r}. Its URL:")
    typer.echo(url)
    if not full:
        typer.echo(
            "(a path: the server that serves this store answers it at its own address, "
            "e.g. http://127.0.0.1:4200" + made.path + ")"
        )
    typer.echo(
        "Copy it now: it will not be shown again ('legato webhook rotate' makes a new one). "
        "Anyone holding it can send events"
        + (" with an API key" if made.webhook.require_key else "")
        + "."
    )


def _made_json(client: Any, made: WebhookWithUrl) -> dict[str, Any]:
    url, _ = _url(client, made.path)
    return {**made.webhook.model_dump(mode="json"), "path": made.path, "url": url}


@app.command("create")
@reports_errors
def create(
    name: NameArgument,
    template: TemplateOption,
    require_key: Annotated[
        bool,
        typer.Option(
            "--require-key",
            help="Callers must also send an API key that can write (Authorization: Bearer).",
        ),
    ] = False,
    description: DescriptionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a webhook and print its URL (once)."""
    from legato.schemas.webhooks import WebhookSpec

    spec = _checked(
        WebhookSpec,
        name=name,
        template=_read_template(template),
        description=description or "",
        require_key=require_key,
    )
    client = _client()
    made = client.create_webhook(spec)
    if as_json:
        print_json(_made_json(client, made))
        return
    _print_url(client, made, "Created")


@app.command("ls")
@reports_errors
def list_webhooks(as_json: JsonOption = False) -> None:
    """List webhooks (the start of each URL, never the URL)."""
    from rich.table import Table

    from legato.cli.output import stdout_console

    records: list[WebhookRecord] = _client().read_webhooks()
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    console = stdout_console()
    if not records:
        console.print("No webhooks (legato webhook create NAME --template FILE).")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("NAME", "STATUS", "KEY", "URL", "UPDATED", "DESCRIPTION"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(
            record.name,
            "enabled" if record.enabled else "disabled",
            "required" if record.require_key else "-",
            record.url_hint,
            format_time(record.updated),
            record.description,
        )
    console.print(table)


@app.command("show")
@reports_errors
def show(name: NameArgument, as_json: JsonOption = False) -> None:
    """Show a webhook and its template."""
    from legato.cli.output import stdout_console

    record: WebhookRecord = _client().read_webhook(name)
    if as_json:
        print_json(record.model_dump(mode="json"))
        return
    console = stdout_console()
    rows = [
        ("name", record.name),
        ("id", record.id),
        ("status", "enabled" if record.enabled else "disabled"),
        ("API key", "required" if record.require_key else "not required"),
        ("URL", f"{record.url_hint} (shown in full only when made or rotated)"),
        ("description", record.description or "-"),
        ("created", format_time(record.created)),
        ("updated", format_time(record.updated)),
    ]
    for label, value in rows:
        console.print(f"{label + ':':<13}{value}")
    console.print("template:")
    console.print(record.template.rstrip("\n"))


def _update(name: str, **changes: Any) -> WebhookRecord:
    from legato.schemas.webhooks import WebhookUpdate

    record: WebhookRecord = _client().update_webhook(name, _checked(WebhookUpdate, **changes))
    return record


@app.command("update")
@reports_errors
def update(
    name: NameArgument,
    template: Annotated[
        Path | None,
        typer.Option("--template", metavar="FILE", help="A new template ('-': standard input)."),
    ] = None,
    description: DescriptionOption = None,
    require_key: Annotated[
        bool | None,
        typer.Option(
            "--require-key/--no-require-key", help="Whether callers must send an API key."
        ),
    ] = None,
) -> None:
    """Change a webhook's template, description or key requirement (its URL stays)."""
    if template is None and description is None and require_key is None:
        raise fail("nothing to change: give --template FILE, --description or --require-key")
    record = _update(
        name,
        template=None if template is None else _read_template(template),
        description=description,
        require_key=require_key,
    )
    typer.echo(f"Updated webhook {record.name!r}.")


@app.command("enable")
@reports_errors
def enable(name: NameArgument) -> None:
    """Let the webhook's URL make events again."""
    record = _update(name, enabled=True)
    typer.echo(f"Enabled webhook {record.name!r}.")


@app.command("disable")
@reports_errors
def disable(name: NameArgument) -> None:
    """Refuse requests to the webhook's URL (403, nothing stored) until enabled again."""
    record = _update(name, enabled=False)
    typer.echo(f"Disabled webhook {record.name!r}: its URL answers 403 until enabled.")


@app.command("rotate")
@reports_errors
def rotate(name: NameArgument, as_json: JsonOption = False) -> None:
    """Give the webhook a new URL; the old one stops working at once (404)."""
    client = _client()
    made = client.rotate_webhook(name)
    if as_json:
        print_json(_made_json(client, made))
        return
    _print_url(client, made, "Rotated")
    typer.echo("The old URL no longer works: give the new one to the senders.")


@app.command("delete")
@reports_errors
def delete(name: NameArgument) -> None:
    """Delete a webhook: its URL answers 404 from now on (its events are kept)."""
    _client().delete_webhook(name)
    typer.echo(f"Deleted webhook {name!r}.")
