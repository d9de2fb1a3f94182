"""Alembic environment: one migration tree for SQLite and PostgreSQL.

legato runs migrations itself (``legato.store.database.ensure_schema``) and passes
the connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from legato.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - legato always passes a connection
    raise RuntimeError("legato migrations run through legato.store, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
context.run_migrations()
