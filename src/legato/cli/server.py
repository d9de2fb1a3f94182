"""``legato server``: run the REST API over the store of this machine's settings.

``legato server start`` opens the store named by ``LEGATO_DATABASE_URL`` (default:
the SQLite file under ``LEGATO_HOME``), migrating it if needed, and serves the API
on uvicorn until SIGINT or SIGTERM; then it stops its worker, stops taking requests,
lets in-flight ones finish, flushes the store's writer and exits 0.

Beside the API it runs the scheduler, the reaper (runs of workers that stopped
heartbeating end Crashed, and are retried where their deployment says so) and a
worker for the ``default`` pool (:mod:`legato.server.services.local_worker`).

Bound to an address other than loopback, the server refuses to start unless the
store holds at least one API key (``legato api-key create``), or ``--insecure``
says that an open server is intended; deleting the last key later does not open it
(it then refuses everything but health). Bound to loopback, it answers only to
loopback host names unless ``LEGATO_SERVER_ALLOWED_HOSTS`` lists others.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from legato.cli.output import fail, reports_errors
from legato.errors import LegatoError

SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the interpreter lock while another waits (Python's default
is 0.005). The event loop answers every request (``/api/health`` too) between the
route threads' turns; with several busy threads, each of its steps waited up to 5 ms
per thread, and one request takes several steps."""

if TYPE_CHECKING:
    from legato.server.services import Service

app = typer.Typer(
    rich_markup_mode=None,
    name="server",
    help="Run the legato server (REST API).",
    no_args_is_help=True,
)


@app.command("start")
@reports_errors
def start(
    host: Annotated[str, typer.Option(help="Address to bind.", metavar="TEXT")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on.", metavar="INTEGER")
    ] = 4200,
    log_level: Annotated[
        str, typer.Option(help="uvicorn's log level (debug, info, warning, error).", metavar="TEXT")
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
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Do not run a worker for the 'default' work pool beside the server (run "
            "'legato worker start --pool default' elsewhere instead).",
        ),
    ] = False,
) -> None:
    """Serve the API (docs at /api/docs) until interrupted.

    Beside the API the server runs the scheduler, the reaper (a run whose worker stops
    heartbeating for LEGATO_HEARTBEAT_TIMEOUT seconds is marked Crashed, and scheduled
    again if its deployment has retries left; checked every LEGATO_REAPER_INTERVAL
    seconds) and a worker for the 'default' work pool, whose lines are printed here
    prefixed with [worker]. SIGINT/SIGTERM stop the worker first (its running flow runs
    get 30 s to finish), then the server.
    """
    import uvicorn

    from legato.server import create_app
    from legato.server.access_log import hide_webhook_slugs, quiet_polls_unless_debug
    from legato.settings import get_settings
    from legato.store import Store

    settings = get_settings()
    store = Store(
        settings.effective_database_url,
        lock_timeout=settings.store_lock_timeout,
        writer_linger=settings.writer_linger,
    )
    internal_name: str | None = None
    try:
        if not is_loopback(host) and not insecure and not store.has_api_keys():
            raise fail(
                f"refusing to serve on {host}, which is not a loopback address, without an "
                "API key: create one with 'legato api-key create NAME' (clients send it as "
                "LEGATO_API_KEY), or pass --insecure to serve it open to anyone who can reach it"
            )
        from legato.notifications import Notifications
        from legato.server.services.automations import AutomationServiceConfig
        from legato.server.services.events import EventServiceConfig
        from legato.server.services.local_worker import LocalWorker
        from legato.server.services.reaper import Reaper, ReaperConfig
        from legato.server.services.scheduler import server_scheduler
        from legato.services.scheduler import SchedulerConfig

        services: list[Service] = (
            []
            if no_scheduler
            else [server_scheduler(store, SchedulerConfig.from_settings(settings))]
        )
        services.append(Reaper(store, ReaperConfig.from_settings(settings)))
        worker = None
        if not no_worker:
            # Its own key, stored hashed and marked internal while this server runs:
            # `legato api-key ls` lists it, `legato api-key delete` revokes it, and the
            # server deletes it when it stops. The worker's flow runs never see it: each
            # gets its own run's credential (legato.server.run_credentials).
            internal_name, internal_key = _internal_key(store)
            worker = LocalWorker(lambda: _own_url(server, host), env=_worker_env(internal_key))
            services.append(worker)
        app = create_app(
            store,
            max_body_bytes=settings.server_max_body_bytes,
            max_request_bytes=settings.server_max_request_bytes,
            services=services,
            # Reachable from the network: keys stay required even after the last is
            # deleted (unless --insecure said an open server is intended).
            keys_required=not is_loopback(host) and not insecure,
            allowed_hosts=allowed_hosts(host, settings.server_allowed_hosts),
            event_config=EventServiceConfig.from_settings(settings),
            automation_config=AutomationServiceConfig.from_settings(settings),
            notifier=Notifications.from_settings(store, settings),
        )
        shown_host = f"[{host}]" if ":" in host else host
        typer.echo(f"legato server: serving http://{shown_host}:{port} (API docs at /api/docs)")
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower())
        server = uvicorn.Server(config)
        quiet_polls_unless_debug(log_level)
        hide_webhook_slugs()
        sys.setswitchinterval(SWITCH_INTERVAL)
        _stop_first(server, worker)
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
        if internal_name is not None:
            with contextlib.suppress(LegatoError):  # revoked by hand meanwhile: gone already
                store.delete_api_key(internal_name)
        store.close()
    typer.echo("legato server: stopped")


def _stop_first(server: Any, first: Service | None) -> None:
    """Make SIGINT/SIGTERM stop ``first`` (the local worker) before the server stops
    serving: the worker's flow runs report their ends to this server while they finish.
    A second signal hurries the worker and stops serving at once."""
    if first is None:
        return
    handle_exit = server.handle_exit  # what uvicorn installs as its signal handler
    stopping = threading.Event()

    def stop_then_exit(sig: int, frame: Any) -> None:
        first.stop()
        handle_exit(sig, frame)

    def on_signal(sig: int, frame: Any) -> None:
        if stopping.is_set():
            threading.Thread(target=first.stop, daemon=True).start()
            handle_exit(sig, frame)
            return
        stopping.set()
        threading.Thread(
            target=stop_then_exit, args=(sig, frame), name="legato-stop-worker", daemon=True
        ).start()

    server.handle_exit = on_signal


def _own_url(server: Any, host: str) -> str | None:
    """This server's URL as seen from this machine, once it is serving (None before)."""
    if not server.started:
        return None
    port = server.servers[0].sockets[0].getsockname()[1]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _internal_key(store: Any) -> tuple[str, str]:
    """A new internal key for this server's worker: its name and the key.

    Internal keys left by servers of this host that died without deleting theirs (kill -9)
    are deleted first: their processes are gone, and so is any use for the keys."""
    import os

    from legato.processes import host_name, process_start_time

    prefix = f"server-worker-{host_name()}-"
    for stale in store.list_api_keys():
        pid = stale.name.removeprefix(prefix)
        mine = stale.internal and stale.name.startswith(prefix) and pid.isdigit()
        if mine and process_start_time(int(pid)) is None:
            with contextlib.suppress(LegatoError):
                store.delete_api_key(stale.name)
    record, key = store.create_api_key(f"{prefix}{os.getpid()}", internal=True)
    return record.name, key


def _worker_env(api_key: str) -> dict[str, str]:
    """The server's environment for its worker (the URL is added once known)."""
    import os

    env = {key: value for key, value in os.environ.items() if key != "LEGATO_API_URL"}
    env["LEGATO_API_KEY"] = api_key
    return env


def allowed_hosts(bind: str, configured: list[str]) -> list[str] | None:
    """The Host names the server answers to: loopback names, the address it is bound to
    (``127.0.0.2`` or ``[::1]`` written long, which clients and its own worker put in
    ``Host`` when they reach it there) plus ``configured``; None (any name) for a server
    bound beyond loopback with nothing configured."""
    from legato.server.guards import LOOPBACK_HOSTS

    if not configured and not is_loopback(bind):
        return None
    address = bind.strip("[]")
    own = f"[{address}]" if ":" in address else address
    return [*LOOPBACK_HOSTS, own, *configured]


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
