"""The state store: tables, migrations, the batched writer and named queries.

Only this folder builds SQL. Dialect differences (SQLite pragmas, PostgreSQL row
locks) stay here too.
"""

from legato.store.store import Store

__all__ = ["Store"]
