"""``legato server``: run the REST API over the store of this machine's settings.

``legato server start`` opens the store named by ``LEGATO_DATABASE_URL`` (default:
the SQLite file under ``LEGATO_HOME``), migrating it if needed, and serves the API
on uvicorn until SIGINT or SIGTERM; then it stops taking requests, lets in-flight
ones finish, flushes the store's writer and exits 0.

Bound to an address other than loopback, the server refuses to start unless the
store holds at least one API key (``legato api-key create``), or ``--insecure``
says that an open server is intended.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Annotated

import typer

from legato.cli.output import fail, reports_errors

app = typer.Typer(name="server", help="Run the legato server (REST API).", no_args_is_help=True)


@app.command("start")
@reports_errors
def start(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 4200,
    log_level: Annotated[
        str, typer.Option(help="uvicorn's log level (debug, info, warning, error).")
    ] = "info",
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Serve on a non-loopback address even though no API key exists (anyone "
            "who can reach it can read and write runs).",
        ),
    ] = False,
    no_scheduler: Annotated[
        bool,
        typer.Option(
            "--no-scheduler",
            help="Do not make runs from deployment schedules nor mark overdue runs Late "
            "(another server on the same database may do it).",
        ),
    ] = False,
) -> None:
    """Serve the API (docs at /api/docs) until interrupted."""
    import uvicorn

    from legato.server import create_app
    from legato.settings import get_settings
    from legato.store import Store

    settings = get_settings()
    store = Store(
        settings.effective_database_url,
        lock_timeout=settings.store_lock_timeout,
        writer_linger=settings.writer_linger,
    )
    try:
        if not is_loopback(host) and not insecure and not store.has_api_keys():
            raise fail(
                f"refusing to serve on {host}, which is not a loopback address, without an "
                "API key: create one with 'legato api-key create NAME' (clients send it as "
                "LEGATO_API_KEY), or pass --insecure to serve it open to anyone who can reach it"
            )
        from legato.server.services.scheduler import Scheduler, SchedulerConfig

        services = (
            [] if no_scheduler else [Scheduler(store, SchedulerConfig.from_settings(settings))]
        )
        app = create_app(store, max_body_bytes=settings.server_max_body_bytes, services=services)
        shown_host = f"[{host}]" if ":" in host else host
        typer.echo(f"legato server: serving http://{shown_host}:{port} (API docs at /api/docs)")
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower())
        server = uvicorn.Server(config)
        try:
            with _signals_end_quietly():
                server.run()
        except SystemExit as exc:  # uvicorn exits 3 when it cannot bind or start the app
            if exc.code not in (0, None):
                raise fail("the server could not start (see the log above)") from None
            raise
        if not server.started:
            raise fail("the server could not start (see the log above)")
    finally:
        store.close()
    typer.echo("legato server: stopped")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """Make a SIGINT/SIGTERM that uvicorn already handled end the process with 0.

    uvicorn shuts down gracefully on these signals and then raises the signal again
    under the handler that was installed before it started; that would kill the
    process (or raise KeyboardInterrupt) after a clean shutdown. A no-op handler
    lets ``start`` return normally instead.
    """
    ignored = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda signum, frame: None) for sig in ignored}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
