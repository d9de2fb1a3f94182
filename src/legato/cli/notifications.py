"""``legato notification``: channels that notifications are sent to, a test message, and
what was delivered.

Secrets (webhook URLs, header values, the SMTP password) are stored encrypted and
printed masked, by every command. The SMTP password is never an argument (a command
line is seen by ``ps`` and kept in shell history): it is read from the environment
variable ``--smtp-password-env`` names, or asked for without echo.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from legato.cli.output import (
    JsonOption,
    fail,
    format_time,
    print_json,
    reports_errors,
    stdout_console,
)

if TYPE_CHECKING:
    from legato.schemas.notifications import ChannelRecord, DeliveryRecord

app = typer.Typer(
    rich_markup_mode=None,
    name="notification",
    help=(
        "Create, list, show, test and delete notification channels (Slack, Microsoft Teams, "
        "JSON webhooks, email over SMTP, apprise), and list what was delivered to them."
    ),
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="A channel name.")]
SMTP_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


def _client() -> Any:
    from legato import get_client

    return get_client()


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise fail(f"--header {text!r}: write it as NAME=VALUE (e.g. Authorization='Bearer x')")
    return name.strip(), value


def _smtp_password(user: str | None, env_var: str | None) -> str | None:
    if env_var:
        value = os.environ.get(env_var)
        if value is None:
            raise fail(
                f"--smtp-password-env {env_var}: no such environment variable is set; "
                f"export it first (e.g. read -s {env_var} && export {env_var})"
            )
        return value
    if user is None:
        return None
    if not sys.stdin.isatty():
        raise fail(
            "--smtp-user needs a password: name the environment variable holding it with "
            "--smtp-password-env VAR (it is never taken on the command line)"
        )
    password: str = typer.prompt(f"SMTP password for {user}", hide_input=True)
    return password


def _problem(exc: Exception) -> str:
    """A pydantic validation error as one sentence, without echoing the input (a URL
    may be a secret)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        skip = {"config", "slack", "teams", "webhook", "email", "apprise"}
        where = ".".join(str(p) for p in error["loc"] if p not in skip)
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where or 'config'}: {message}" if where else message)
    return "; ".join(parts)


def _target(record: ChannelRecord) -> str:
    config = record.config
    if record.kind == "email":
        return f"{', '.join(config.get('to', []))} via {config.get('host')}:{config.get('port')}"
    return str(config.get("url", ""))


@app.command("create")
@reports_errors
def create(
    name: NameArgument,
    slack: Annotated[
        str | None, typer.Option("--slack", metavar="URL", help="A Slack incoming webhook URL.")
    ] = None,
    teams: Annotated[
        str | None,
        typer.Option("--teams", metavar="URL", help="A Microsoft Teams incoming webhook URL."),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option("--webhook", metavar="URL", help="Any URL that takes a JSON POST."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", metavar="NAME=VALUE", help="A header sent to --webhook (repeatable)."
        ),
    ] = None,
    email: Annotated[
        list[str] | None,
        typer.Option("--email", metavar="TO", help="Send email to this address (repeatable)."),
    ] = None,
    smtp_host: Annotated[
        str | None, typer.Option("--smtp-host", metavar="HOST", help="SMTP server (--email).")
    ] = None,
    smtp_port: Annotated[
        int | None,
        typer.Option(
            "--smtp-port",
            metavar="PORT",
            help="SMTP port (default 587 with --starttls, 465 with --ssl, 25 with --no-tls).",
        ),
    ] = None,
    smtp_user: Annotated[
        str | None, typer.Option("--smtp-user", metavar="USER", help="SMTP login name.")
    ] = None,
    smtp_password_env: Annotated[
        str | None,
        typer.Option(
            "--smtp-password-env",
            metavar="VAR",
            help="Environment variable holding the SMTP password (else it is asked for).",
        ),
    ] = None,
    sender: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="ADDRESS",
            help="Sender address (default: --smtp-user if it is an address).",
        ),
    ] = None,
    starttls: Annotated[
        bool, typer.Option("--starttls", help="Upgrade the connection with STARTTLS (default).")
    ] = False,
    use_ssl: Annotated[bool, typer.Option("--ssl", help="TLS from the start (SMTPS).")] = False,
    no_tls: Annotated[
        bool, typer.Option("--no-tls", help="No encryption (a relay on this machine only).")
    ] = False,
    apprise: Annotated[
        str | None,
        typer.Option("--apprise", metavar="URL", help="An apprise URL (needs legato[apprise])."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create channel NAME of one kind: --slack, --teams, --webhook, --email or --apprise."""
    from pydantic import ValidationError

    from legato.schemas.notifications import (
        AppriseConfig,
        ChannelSpec,
        EmailConfig,
        SlackConfig,
        TeamsConfig,
        WebhookConfig,
    )

    kinds = [
        flag
        for flag, value in (
            ("--slack", slack),
            ("--teams", teams),
            ("--webhook", webhook),
            ("--email", email),
            ("--apprise", apprise),
        )
        if value
    ]
    if len(kinds) != 1:
        given = f" (given: {', '.join(kinds)})" if kinds else ""
        raise fail(f"give exactly one of --slack, --teams, --webhook, --email, --apprise{given}")
    if header and not webhook:
        raise fail("--header goes with --webhook only")
    smtp_flags = [smtp_host, smtp_port, smtp_user, smtp_password_env, sender]
    if not email and (any(v is not None for v in smtp_flags) or starttls or use_ssl or no_tls):
        raise fail("--smtp-*, --from, --starttls, --ssl and --no-tls go with --email only")
    config: Any
    try:
        if slack:
            config = SlackConfig(url=slack)
        elif teams:
            config = TeamsConfig(url=teams)
        elif webhook:
            config = WebhookConfig(url=webhook, headers=dict(_header(h) for h in header or []))
        elif apprise:
            config = AppriseConfig(url=apprise)
        else:
            if sum([starttls, use_ssl, no_tls]) > 1:
                raise fail("give one of --starttls, --ssl, --no-tls")
            security: Literal["starttls", "ssl", "none"] = (
                "ssl" if use_ssl else "none" if no_tls else "starttls"
            )
            if not smtp_host:
                raise fail("--email needs --smtp-host HOST (the SMTP server to send through)")
            if sender is None:
                if smtp_user and "@" in smtp_user:
                    sender = smtp_user
                else:
                    raise fail("--email needs --from ADDRESS (the sender's address)")
            config = EmailConfig(
                host=smtp_host,
                port=smtp_port or SMTP_PORTS[security],
                username=smtp_user,
                password=_smtp_password(smtp_user, smtp_password_env),
                sender=sender,
                to=list(email or []),
                security=security,
            )
        spec = ChannelSpec(name=name, config=config)
    except ValidationError as exc:
        raise fail(f"cannot create channel {name!r}: {_problem(exc)}") from None
    record = _client().create_notification_channel(spec)
    if as_json:
        print_json(record.model_dump(mode="json"))
        return
    stdout_console().print(
        f"created notification channel {record.name!r} ({record.kind}: {_target(record)}); "
        f"try it with: legato notification test {record.name}"
    )


@app.command("ls")
@reports_errors
def list_channels(as_json: JsonOption = False) -> None:
    """List channels (secrets masked)."""
    from rich.table import Table

    records = _client().read_notification_channels()
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    console = stdout_console()
    if not records:
        console.print("No notification channels yet (legato notification create NAME --slack URL).")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("NAME", overflow="fold")
    table.add_column("KIND")
    table.add_column("TARGET", overflow="fold")
    table.add_column("CREATED")
    for record in records:
        table.add_row(record.name, record.kind, _target(record), format_time(record.created))
    console.print(table)


@app.command("show")
@reports_errors
def show(name: NameArgument, as_json: JsonOption = False) -> None:
    """Show channel NAME (secrets shown as ********)."""
    record = _client().read_notification_channel(name)
    if as_json:
        print_json(record.model_dump(mode="json"))
        return
    console = stdout_console()
    console.print(f"name:     {record.name}")
    console.print(f"kind:     {record.kind}")
    for key, value in record.config.items():
        if key == "kind" or value is None:
            continue
        if isinstance(value, dict):
            shown = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value)
        else:
            shown = str(value)
        console.print(f"{key + ':':<9} {shown}", soft_wrap=True)
    console.print(f"created:  {format_time(record.created)}")


@app.command("test")
@reports_errors
def test(
    name: NameArgument,
    subject: Annotated[
        str | None, typer.Option("--subject", metavar="TEXT", help="Subject of the test message.")
    ] = None,
    body: Annotated[
        str | None, typer.Option("--body", metavar="TEXT", help="Body of the test message.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Send a test message to NAME now (retried like any notification) and print each
    attempt. Exits 1 if it could not be delivered."""
    from legato.schemas.notifications import TrialMessage

    values = {k: v for k, v in (("subject", subject), ("body", body)) if v is not None}
    delivery = _client().test_notification_channel(name, TrialMessage(**values))
    if as_json:
        print_json(delivery.model_dump(mode="json"))
    else:
        _print_attempts(delivery)
    if delivery.status != "sent":
        raise typer.Exit(1)


def _print_attempts(delivery: DeliveryRecord) -> None:
    console = stdout_console()
    for number, attempt in enumerate(delivery.attempts, 1):
        code = "" if attempt.status_code is None else f" ({attempt.status_code})"
        error = f": {attempt.error}" if attempt.error else ""
        console.print(
            f"attempt {number}: {attempt.outcome}{code} in {attempt.duration:.2f}s{error}",
            soft_wrap=True,
        )
    if delivery.status == "sent":
        console.print(f"sent to {delivery.channel_name!r}")
    else:
        console.print(f"not delivered to {delivery.channel_name!r}: {delivery.last_error}")


@app.command("delete")
@reports_errors
def delete(name: NameArgument) -> None:
    """Delete channel NAME and the record of its deliveries."""
    _client().delete_notification_channel(name)
    stdout_console().print(f"deleted notification channel {name!r}")


@app.command("deliveries")
@reports_errors
def deliveries(
    name: NameArgument,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, max=1000, help="How many, newest first.")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """The last messages sent to NAME: status, attempts, subject, last error."""
    from rich.table import Table

    records = _client().read_notification_deliveries(name, limit=limit)
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    console = stdout_console()
    if not records:
        console.print(f"Nothing was sent to {name!r} yet (legato notification test {name}).")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("CREATED", no_wrap=True)
    table.add_column("STATUS")
    table.add_column("ATTEMPTS", justify="right")
    table.add_column("SUBJECT", overflow="fold")
    table.add_column("LAST ERROR", overflow="fold")
    for record in records:
        table.add_row(
            format_time(record.created),
            record.status,
            str(len(record.attempts)),
            record.subject,
            record.last_error or "",
        )
    console.print(table)
