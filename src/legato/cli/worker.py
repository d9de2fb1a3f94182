"""``legato worker start --pool NAME``: run the due flow runs of a work pool, each in a process.

With ``LEGATO_API_URL`` set the worker and its flow processes talk to that
server; without it, to the embedded store under ``LEGATO_HOME``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from legato.cli.output import reports_errors
from legato.errors import LegatoError

MAX_CLAIM_WAIT = 30.0
"""The server's cap on a claim's wait (``legato.server.api.work_pools``)."""

app = typer.Typer(
    rich_markup_mode=None,
    name="worker",
    help="Run deployments' flow runs: a worker claims due runs of its work pool.",
    no_args_is_help=True,
)


@app.command("start")
@reports_errors
def start(
    pool: Annotated[
        str, typer.Option("--pool", help="The work pool to take runs from.", metavar="TEXT")
    ],
    limit: Annotated[
        int,
        typer.Option(
            "--limit", min=1, help="Most flow runs this worker runs at once.", metavar="INTEGER"
        ),
    ] = 10,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="This worker's name (default: host name and process id).", metavar="TEXT"
        ),
    ] = None,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0,
            help="Seconds running flow runs get to finish after SIGTERM/Ctrl-C (and a "
            "cancelled one between SIGTERM and SIGKILL).",
            metavar="NUMBER",
        ),
    ] = 30.0,
    launcher: Annotated[
        str | None,
        typer.Option(
            "--launcher",
            help="How each flow run is started: 'process' (a new Python process per run), "
            "'fork' (forked from a process that imported legato once; Linux, much cheaper "
            "per run) or 'auto' (fork where it works, else process). Default: "
            "LEGATO_WORKER_LAUNCHER, else auto.",
            metavar="TEXT",
        ),
    ] = None,
    entrypoint_dirs: Annotated[
        list[Path] | None,
        typer.Option(
            "--entrypoint-dir",
            help="Run only flows whose entrypoint file or module lies inside this directory "
            "(symlinks followed; repeat for more). Others fail without being imported. "
            "Default: LEGATO_WORKER_ENTRYPOINT_DIRS, else any entrypoint (whoever can create "
            "deployments can run code on this worker).",
            metavar="PATH",
        ),
    ] = None,
) -> None:
    """Claim due runs of POOL and run each in a subprocess until stopped (SIGTERM/Ctrl-C;
    a second one stops running flow runs at once)."""
    import signal
    import sys

    from legato.orchestrator.default import build_orchestrator
    from legato.settings import get_settings
    from legato.workers.worker import LAUNCHERS, Worker, WorkerOptions

    settings = get_settings()
    launcher = (launcher or settings.worker_launcher).lower()
    if launcher not in LAUNCHERS:
        raise LegatoError(f"unknown launcher {launcher!r}: use one of {', '.join(LAUNCHERS)}")
    options = WorkerOptions(
        pool=pool,
        name=name or f"{socket.gethostname()}-{os.getpid()}",
        limit=limit,
        poll_interval=settings.worker_poll_interval,
        heartbeat_interval=settings.worker_heartbeat_interval,
        grace_seconds=grace,
        # Against a server a claim waits there until a run falls due (woken at once);
        # the embedded store has nobody to wake it, so it is polled.
        claim_wait=min(settings.worker_poll_interval, MAX_CLAIM_WAIT) if settings.api_url else 0,
        launcher=launcher,
    )
    env: dict[str, str] = {}
    if settings.api_url:
        env["LEGATO_API_URL"] = settings.api_url
        if settings.api_key:
            env["LEGATO_API_KEY"] = settings.api_key
    folders = entrypoint_folders(entrypoint_dirs or settings.worker_entrypoint_dirs)
    if folders:
        # Each run's process checks its entrypoint against these before importing it.
        env["LEGATO_WORKER_ENTRYPOINT_DIRS"] = os.pathsep.join(str(f) for f in folders)
    orchestrator = build_orchestrator(settings)

    def say(text: str) -> None:
        typer.echo(text, err=True)

    def echo(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    worker = Worker(orchestrator, options, env=env, say=say, echo=echo)

    def on_signal(signum: int, _frame: object) -> None:
        say(f"Worker {options.name!r} received {signal.Signals(signum).name}: stopping")
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if folders:
        say(f"Worker {options.name!r} runs flows only from {', '.join(map(str, folders))}")
    try:
        worker.run()
    finally:
        orchestrator.close()


def entrypoint_folders(dirs: list[Path]) -> list[Path]:
    """``dirs`` made absolute (symlinks resolved); a missing one is an error (a typo would
    otherwise refuse every run)."""
    folders = []
    for folder in dirs:
        resolved = folder.expanduser().resolve()
        if not resolved.is_dir():
            raise LegatoError(
                f"the entrypoint directory {folder} does not exist (or is not a directory)"
            )
        folders.append(resolved)
    return folders
