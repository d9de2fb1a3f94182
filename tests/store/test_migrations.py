"""Migrations: the Alembic tree builds exactly the tables of ``legato.store.tables``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from legato.store import Store
from legato.store.database import HEAD_REVISION, KNOWN_REVISIONS, MIGRATIONS_DIR
from legato.store.tables import metadata


def script_directory() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def migrate(url: str) -> None:
    Store(url).close()


def test_head_revision_is_the_alembic_head() -> None:
    scripts = script_directory()
    assert scripts.get_heads() == [HEAD_REVISION]
    assert scripts.get_current_head() == HEAD_REVISION


def test_known_revisions_are_every_alembic_revision() -> None:
    revisions = {script.revision for script in script_directory().walk_revisions()}
    assert revisions == set(KNOWN_REVISIONS)


def test_migrations_match_table_metadata(database_url: str) -> None:
    migrate(database_url)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            diffs = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_migrated_database_is_stamped_at_head(database_url: str) -> None:
    migrate(database_url)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION
    finally:
        engine.dispose()


def test_migrated_database_has_every_table_and_index(database_url: str) -> None:
    migrate(database_url)
    engine = sa.create_engine(database_url)
    try:
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) == set(metadata.tables) | {"alembic_version"}
        for table in metadata.tables.values():
            columns = {column["name"] for column in inspector.get_columns(table.name)}
            assert columns == {column.name for column in table.columns}, table.name
            indexes = {index["name"] for index in inspector.get_indexes(table.name)}
            assert indexes >= {index.name for index in table.indexes}, table.name
    finally:
        engine.dispose()


def test_opening_a_migrated_store_again_changes_nothing(database_url: str) -> None:
    migrate(database_url)
    engine = sa.create_engine(database_url)
    try:
        before = {name: sa.inspect(engine).get_columns(name) for name in metadata.tables}
        migrate(database_url)
        after = {name: sa.inspect(engine).get_columns(name) for name in metadata.tables}
    finally:
        engine.dispose()
    assert repr(before) == repr(after)


def test_comparison_detects_a_column_the_migrations_lack(database_url: str) -> None:
    """Guards the test above: the comparison does see a drift when there is one."""
    migrate(database_url)
    drifted = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["logs"].append_column(sa.Column("extra", sa.Integer, nullable=True))
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), drifted)
    finally:
        engine.dispose()
    assert [(diff[0], diff[2], diff[3].name) for diff in diffs] == [("add_column", "logs", "extra")]


def test_a_0001_store_upgrades_to_head_keeping_its_runs(database_url: str) -> None:
    """A store made by migration 0001 alone (the first legato) gains api_keys (0002),
    and its runs' tags become filterable (0003 copies them into flow_run_tags)."""
    import time

    from alembic import command

    from legato.store.database import MIGRATIONS_DIR as migrations
    from legato.store.tables import flow_runs, flows

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            config = Config()
            config.set_main_option("script_location", str(migrations))
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            conn.execute(flows.insert().values(id="f1", name="etl", created=time.time()))
            conn.execute(
                flow_runs.insert().values(
                    id="0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e",
                    flow_id="f1",
                    flow_name="etl",
                    name="old-run",
                    parameters={},
                    tags=["nightly", "etl", "nightly"],
                    state_type="COMPLETED",
                    state_name="Completed",
                    state_timestamp=time.time(),
                    run_count=1,
                    created=time.time(),
                )
            )
            conn.commit()
            assert MigrationContext.configure(conn).get_current_revision() == "0001"
            assert not sa.inspect(conn).has_table("api_keys")
    finally:
        engine.dispose()

    store = Store(database_url)
    try:
        assert [run.name for run in store.read_flow_runs()] == ["old-run"]
        assert [run.name for run in store.read_flow_runs(tags=["nightly", "etl"])] == ["old-run"]
        assert store.read_flow_runs(tags=["weekly"]) == []
        assert store.read_flow_runs(state="Completed")[0].tags == ["nightly", "etl", "nightly"]
        assert not store.has_api_keys()
        _, key = store.create_api_key("after-upgrade")
        assert store.find_api_key(key) is not None
    finally:
        store.close()
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
