"""Flows in the store: the row a flow gets the first time a run of it is made."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.store.database import insert_if_absent
from legato.store.tables import flows


class FlowIds:
    """Flow ids by name, remembered once read: a flow's row is made once and its id
    never changes, so each name costs one insert-or-read per process."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def of(self, conn: Connection, name: str) -> str:
        """The id of the flow ``name``, its row made in ``conn``'s transaction if absent."""
        flow_id = self._ids.get(name)
        if flow_id is not None:
            return flow_id
        from legato.ids import new_id

        row = {"id": new_id(), "name": name, "created": time.time()}
        insert_if_absent(conn, flows, row, ["name"])
        stored = str(conn.execute(sa.select(flows.c.id).where(flows.c.name == name)).scalar_one())
        self._ids[name] = stored
        return stored
