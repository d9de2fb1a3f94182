"""The ``legato`` command: a thin shell over legato's client, one sub-app per noun.

Only typer and rich are imported at start-up; each command imports the parts of
legato it needs when it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from legato.cli import (
    api_keys,
    automations,
    concurrency,
    config,
    deployments,
    events,
    flow_runs,
    flows,
    notifications,
    runs,
    schedule,
    server,
    task_runs,
    webhooks,
    work_pools,
    worker,
)
from legato.cli.output import reports_errors

app = typer.Typer(
    rich_markup_mode=None,
    name="legato",
    help=(
        "legato: a workflow orchestrator for plain Python. Functions marked @flow and "
        "@task run in order, retry, cache and resume, and every run, state and log line "
        "is recorded (under LEGATO_HOME, default ~/.legato) for these commands to read."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(flows.app, name="flows")
app.add_typer(deployments.app, name="deployment")
app.command("deploy")(deployments.deploy)
app.add_typer(runs.app, name="runs")
app.add_typer(task_runs.app, name="task-runs")
app.add_typer(server.app, name="server")
app.add_typer(api_keys.app, name="api-key")
app.add_typer(config.app, name="config")
app.add_typer(schedule.app, name="schedule")
app.add_typer(worker.app, name="worker")
app.add_typer(work_pools.app, name="work-pool")
app.add_typer(concurrency.app, name="concurrency-limit")
app.add_typer(events.app, name="events")
app.add_typer(automations.app, name="automation")
app.command("notify")(reports_errors(automations.notify))
app.add_typer(webhooks.app, name="webhook")
app.add_typer(notifications.app, name="notification")
app.add_typer(flow_runs.app, name="flow-run", hidden=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("legato")
    except PackageNotFoundError:  # running from a source tree that is not installed
        from legato import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"legato {_version()}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print legato's version and exit.",
        ),
    ] = False,
) -> None:
    """legato: a workflow orchestrator for plain Python."""
