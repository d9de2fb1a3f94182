"""Opening a store: the SQLAlchemy engine, SQLite pragmas, schema checks, error translation,
and the :class:`Database` the store's query modules run their SQL in.

Every way a store can be unusable (corrupt file, read-only folder, a lock held
too long, a schema newer than this code) becomes one :class:`StoreError` whose
message names the file and what to do. Nothing is written before the schema
check passes, so a bad store is never made worse.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from legato.errors import StoreError
from legato.files import PRIVATE_FILE_MODE, create_private_file, open_to_others, private_dir
from legato.store.state_door import StateChanges, StateDoor
from legato.text import loads_json

logger = logging.getLogger("legato.store")

HEAD_REVISION = "0012"
"""The newest migration this code knows; a test checks it equals the Alembic head."""

KNOWN_REVISIONS = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0006",
    "0007",
    "0008",
    "0009",
    "0010",
    "0011",
    "0012",
)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def describe(url: sa.URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"the SQLite database {url.database}"
    return f"the database {url.render_as_string(hide_password=True)}"


def explain(exc: BaseException, url: sa.URL) -> StoreError:
    """Turn a driver error into a message a user can act on."""
    text = str(getattr(exc, "orig", None) or exc)
    where = describe(url)
    lowered = text.lower()
    if "file is not a database" in lowered or "malformed" in lowered:
        msg = (
            f"{where} is damaged or not a legato database ({text}). It was not modified; "
            "move it aside to start a new one, or point LEGATO_HOME elsewhere."
        )
    elif "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        msg = (
            f"cannot write {where} ({text}). Check that its folder exists and is writable, "
            "or set LEGATO_HOME to a writable folder."
        )
    elif "locked" in lowered or "busy" in lowered:
        msg = (
            f"{where} stayed locked by another process for longer than the lock timeout "
            f"({text}). Retry, stop the process holding it, or raise LEGATO_STORE_LOCK_TIMEOUT."
        )
    else:
        msg = f"cannot use {where}: {text}"
    return StoreError(msg)


@contextlib.contextmanager
def translated(url: sa.URL) -> Iterator[None]:
    """Re-raise database errors as StoreError (without the driver's traceback wall)."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        raise explain(exc, url) from None
    except OSError as exc:
        raise StoreError(f"cannot use {describe(url)}: {exc}") from None


def create_engine(url_text: str, *, lock_timeout: float) -> Engine:
    try:
        url = sa.make_url(url_text)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"LEGATO_DATABASE_URL is not a database URL: {exc}") from None
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, lock_timeout)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("psycopg2", ""):
        url = url.set(drivername="postgresql+psycopg")
    try:
        return sa.create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=10, json_deserializer=loads_json
        )
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise StoreError(
            f"the driver for {describe(url)} is not installed ({exc}); "
            "install legato[postgres] for PostgreSQL"
        ) from None


def _private_database_files(path: Path) -> None:
    """Make the database file 0600 before SQLite opens it (SQLite gives its -wal and -shm
    files the database file's mode). A store made by an older legato, readable by others,
    is tightened to 0600 with a warning: it holds parameters, logs and API key hashes."""
    try:
        if create_private_file(path):
            return
    except OSError:
        return  # SQLite's own open reports a folder it cannot write
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        mode = open_to_others(file)
        if mode is None:
            continue
        try:
            os.chmod(file, PRIVATE_FILE_MODE)
        except OSError as exc:  # not ours: say so, and go on
            logger.warning(
                "%s is readable by other users (mode %o) and could not be made private: %s",
                file,
                mode,
                exc,
            )
            continue
        logger.warning(
            "%s was readable by other users (mode %o); it is now readable by its owner only (0600)",
            file,
            mode,
        )


def _sqlite_engine(url: sa.URL, lock_timeout: float) -> Engine:
    if url.database and url.database != ":memory:":
        path = Path(url.database).expanduser()
        try:
            private_dir(path.parent)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder {path.parent} for the legato database ({exc}); "
                "set LEGATO_HOME to a writable folder"
            ) from None
        _private_database_files(path)
        url = url.set(database=str(path))
    engine = sa.create_engine(
        url,
        connect_args={"timeout": lock_timeout, "check_same_thread": False},
        pool_size=8,
        max_overflow=16,
        # JSON read back cleaned of text no body can carry (a row of an older version).
        json_deserializer=loads_json,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front (BEGIN IMMEDIATE): a deferred transaction
        # that later upgrades to a writer can fail at once with "database is locked"
        # instead of waiting for busy_timeout.
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


def current_revision(conn: Connection) -> str | None:
    inspector = sa.inspect(conn)
    if not inspector.has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def ensure_schema(engine: Engine) -> None:
    """Bring the schema to HEAD_REVISION; refuse a schema newer than this code.

    Fast path: one SELECT. Alembic is imported only when a migration must run.
    """
    url = engine.url
    with translated(url):
        with engine.connect() as conn:
            try:
                revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            except sa.exc.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                revision = None
            except sa.exc.ProgrammingError:
                revision = None
            conn.rollback()
        if revision == HEAD_REVISION:
            return
        if revision is not None and revision not in KNOWN_REVISIONS:
            raise StoreError(
                f"{describe(url)} has schema revision {revision!r}, newer than this legato "
                f"understands (up to {HEAD_REVISION!r}). Upgrade legato, or point "
                "LEGATO_HOME / LEGATO_DATABASE_URL at another store. Nothing was changed."
            )
        _upgrade(engine)


_version_metadata = sa.MetaData()
_alembic_version = sa.Table(
    "alembic_version",
    _version_metadata,
    sa.Column("version_num", sa.String(32), primary_key=True),
)


def _upgrade(engine: Engine) -> None:
    with engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn:
        if engine.dialect.name == "postgresql":
            # Two processes starting at once must not both migrate.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7461626)")
        if current_revision(conn) is None and not sa.inspect(conn).has_table("flow_runs"):
            # A new store: create the tables of this version and stamp it, without
            # importing Alembic (a third of a cold start). A test keeps the migrations
            # and these tables equal, so both paths give the same schema.
            from legato.store.tables import metadata

            metadata.create_all(conn)
            _version_metadata.create_all(conn)
            conn.execute(_alembic_version.insert().values(version_num=HEAD_REVISION))
        else:
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        conn.commit()


class Database:
    """A migrated database: its engine, and the connections and transactions the query
    modules (:mod:`legato.store.claims`, :mod:`legato.store.deployments`, ...) are
    handed. Every one of them turns driver errors into :class:`StoreError`.

    Writes start ``BEGIN IMMEDIATE`` on SQLite, so a transaction that reads before it
    writes holds the write lock from its first statement (a claim's select-then-update
    is never interleaved with another writer's)."""

    def __init__(self, url: str, *, lock_timeout: float = 30.0):
        self.engine: Engine = create_engine(url, lock_timeout=lock_timeout)
        self.url = self.engine.url
        ensure_schema(self.engine)
        self.state_listeners: list[Callable[[StateChanges], None]] = []
        """Called with the state changes of each committed transaction (see
        :mod:`legato.store.state_door`), in the thread that committed: keep it quick."""

    def write_connection(self) -> Connection:
        """A connection whose transactions are write transactions (see the class)."""
        return self.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE")

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads; whatever it began is rolled back when it closes."""
        with translated(self.url), self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends (unless it raised; the
        block may commit or roll back itself before that)."""
        with translated(self.url), self.write_connection() as conn:
            yield conn
            conn.commit()

    @contextlib.contextmanager
    def door(self) -> Iterator[StateDoor]:
        """A write transaction whose state writes go through the state door: committed
        when the block ends (unless it raised), then its changes go to the listeners."""
        with translated(self.url), self.write_connection() as conn:
            door = StateDoor(conn)
            yield door
            door.commit()
        if door.changes and self.state_listeners:
            self._announce(door.changes)

    def _announce(self, changes: StateChanges) -> None:
        for listener in list(self.state_listeners):
            try:
                listener(changes)
            except Exception:  # a listener's fault must not fail a write that committed
                logger.exception("a state-change listener failed")

    def close(self) -> None:
        self.engine.dispose()


def insert_if_absent(
    conn: Connection, table: sa.Table, row: dict[str, Any], key: list[str]
) -> bool:
    """INSERT ... ON CONFLICT (key) DO NOTHING; whether the row went in (False: one
    with the same key was there; two processes may insert it at once).

    Told by RETURNING rather than rowcount, which psycopg reports as 1 either way.
    """
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table).values(row).on_conflict_do_nothing(index_elements=key)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).values(row).on_conflict_do_nothing(index_elements=key)
    returned = conn.execute(statement.returning(table.c[key[0]])).first()
    return returned is not None
