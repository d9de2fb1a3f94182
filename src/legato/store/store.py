"""The Store: the only place that builds SQL. Named writes and reads over the tables.

Flow-run writes are synchronous (a handful per run, and their state checks need
the current row); task-run states and logs go through the :class:`BatchWriter`.
Reads return the pydantic records of :mod:`legato.schemas`.

The Store is a facade over a :class:`legato.store.database.Database` and the query
modules, which are plain functions of a connection (or of a
:class:`legato.store.state_door.StateDoor`, for writes that change run states):
:mod:`~legato.store.claims`, :mod:`~legato.store.concurrency`,
:mod:`~legato.store.deployments`, :mod:`~legato.store.local_runs`,
:mod:`~legato.store.reaping`, :mod:`~legato.store.scheduling`,
:mod:`~legato.store.work_pools` and :mod:`~legato.store.queries`. Each method opens
the connection or transaction it needs and calls them; a method that takes several
transactions (reaping, marking Late in batches, backfill) says so by its loop here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from legato.errors import LegatoError, ObjectNotFound, ScheduleError
from legato.event_rules.resource_events import deployment_event, work_pool_event
from legato.event_rules.state_events import NewEvent
from legato.processes import StartTimeLookup, gone_reason
from legato.schemas import FlowRunFilter, ListsFlowRuns, ReadsLogs
from legato.schemas.runs import DEFAULT_LOG_PAGE, DEFAULT_TASK_RUN_PAGE
from legato.states import State, StateType, Transition
from legato.store import (
    claims,
    concurrency,
    deployments,
    local_runs,
    reaping,
    run_tokens,
    scheduling,
    work_pools,
)
from legato.store import events as event_queries
from legato.store.automations import AutomationStore
from legato.store.bulk import row_inserter
from legato.store.database import Database, translated
from legato.store.event_log import EventLog
from legato.store.flows import FlowIds
from legato.store.notifications import NotificationStore
from legato.store.reaping import REAP_BATCH, CrashOutcome, StaleRun
from legato.store.scheduling import Schedulable, SlotRun
from legato.store.state_door import StateChanges, StateDoor, TaskRunStatements, clean_rows
from legato.store.tables import (
    api_keys,
    flow_run_tags,
    flow_runs,
    ingested_batches,
    task_runs,
)
from legato.store.webhooks import Webhooks
from legato.store.writer import BatchWriter
from legato.text import check_parameters, clean_text, is_clean

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from legato.ops import SortedBatch
    from legato.schemas import (
        ApiKeyRecord,
        FlowRecord,
        FlowRunPage,
        FlowRunRecord,
        LogPage,
        StateRecord,
        TaskRunPage,
        TaskRunRecord,
        TaskRunSummary,
    )
    from legato.schemas.claims import ClaimedFlowRun
    from legato.schemas.concurrency import ConcurrencyLimitRecord, LeaseAnswer, WorkPoolRecord
    from legato.schemas.deployments import (
        BackfillResult,
        DeploymentRecord,
        DeploymentRunRequest,
        DeploymentSpec,
    )
    from legato.schemas.task_runs import PreviousTaskRun

StateListener = Callable[[StateChanges], None]


class BulkStatements:
    """Plain SQL for the batched writer: the task runs and their states (written by the
    state door, :class:`legato.store.state_door.TaskRunStatements`), graph edges and log
    lines, as positional tuples straight to the driver (see there for why)."""

    def __init__(self, dialect: sa.Dialect):
        self.task_runs = TaskRunStatements(dialect)
        input_columns = ["task_run_id", "parameter", "upstream_id"]
        self.input_insert = row_inserter(dialect, "task_run_inputs", input_columns)
        self.input_values = itemgetter(*input_columns)
        log_columns = ["flow_run_id", "task_run_id", "timestamp", "level", "logger", "message"]
        self.log_insert = row_inserter(dialect, "logs", log_columns)
        self.log_values = itemgetter(*log_columns)


def _as_is(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return rows


def _storable_flow_run_row(row: dict[str, Any]) -> dict[str, Any]:
    """A new flow run's row as it can be stored: free text cleaned; parameters that
    cannot be stored as they are refused (ParameterValidationError, a 422 in the API)."""
    check_parameters(str(row.get("flow_name")), row.get("parameters"))
    cleaned = dict(row)
    for key in ("name", "entrypoint"):
        value = row.get(key)
        if isinstance(value, str):
            cleaned[key] = clean_text(value)
    tags = row.get("tags")
    if isinstance(tags, list):
        cleaned["tags"] = [clean_text(tag) if isinstance(tag, str) else tag for tag in tags]
    return cleaned


def _storable_state(state: State) -> State:
    message = state.message
    if message is None or is_clean(message):
        return state
    return dataclasses.replace(state, message=clean_text(message))


class Store(
    ListsFlowRuns,
    ReadsLogs,
):
    """A migrated database plus its batched writer. Thread-safe; one per process and URL.

    ``db`` is the :class:`Database` (engine, transactions, state listeners); ``flow_ids``
    remembers the id of each flow name once read."""

    def __init__(self, url: str, *, lock_timeout: float = 30.0, writer_linger: float = 0.05):
        self.db = Database(url, lock_timeout=lock_timeout)
        self.engine: Engine = self.db.engine
        self.url = self.db.url
        self._bulk = BulkStatements(self.engine.dialect)
        self.writer = BatchWriter(self._write_batch, linger=writer_linger)
        self.flow_ids = FlowIds()
        self.events = EventLog(self.db)
        self.automations = AutomationStore(self.db)
        """Automations, their firings and actions (:mod:`legato.store.automations`)."""
        """Events: stored, read, pruned, and state changes made events
        (:mod:`legato.store.event_log`)."""
        self.webhooks = Webhooks(self.db, changed=self.events.poke)
        """Webhooks: made, changed, rotated, found by slug (:mod:`legato.store.webhooks`)."""
        self.notifications = NotificationStore(self.db)
        """Notification channels (secrets encrypted) and deliveries
        (:mod:`legato.store.notifications`)."""
        self.state_listeners: list[StateListener] = self.db.state_listeners
        """Called with the state changes of each committed transaction (see
        :mod:`legato.store.state_door`), in the thread that committed: keep it quick."""

    # -- connections -------------------------------------------------------------

    def _write_conn(self) -> Connection:
        return self.db.write_connection()

    def _door(self) -> contextlib.AbstractContextManager[StateDoor]:
        return self.db.door()

    def _record_events(self, conn: Connection, *new: NewEvent) -> None:
        """Store events of a change in the transaction making it (last: see
        :mod:`legato.store.events`); the caller pokes the event log after commit."""
        event_queries.insert_events(conn, list(new))

    def close(self) -> None:
        self.writer.close()
        self.db.close()

    # -- batched task-run writes ----------------------------------------------------

    def _write_batch(self, batch: SortedBatch) -> None:
        """Write one sorted batch in one transaction: task runs and their states through
        the state door, then edges and logs. With ``batch.scrub`` (a batch written again
        after it failed) every text value is cleaned first; the fast path does not look
        at the text at all."""
        bulk = self._bulk
        rows = clean_rows if batch.scrub else _as_is
        with self._door() as door:
            conn = door.conn
            if batch.batches:
                conn.execute(ingested_batches.insert(), batch.batches)
            if batch.new_task_runs or batch.changed_task_runs or batch.history:
                door.write_task_runs(bulk.task_runs, batch)
            if batch.inputs:
                bulk.input_insert.execute(conn, rows([bulk.input_values(r) for r in batch.inputs]))
            if batch.logs:
                bulk.log_insert.execute(conn, rows([bulk.log_values(r) for r in batch.logs]))

    def stored_task_run_ids(self, task_run_ids: list[str]) -> set[str]:
        """Which of ``task_run_ids`` are stored (a bulk batch that failed: was it a
        duplicate?); one query per thousand ids."""
        found: set[str] = set()
        with translated(self.url), self.engine.connect() as conn:
            for start in range(0, len(task_run_ids), 1000):
                chunk = task_run_ids[start : start + 1000]
                query = sa.select(task_runs.c.id).where(task_runs.c.id.in_(chunk))
                found.update(str(row_id) for row_id in conn.execute(query).scalars())
        return found

    def batch_ingested(self, batch_id: str) -> bool:
        """Whether a client batch with this id was committed already."""
        with translated(self.url), self.engine.connect() as conn:
            query = sa.select(ingested_batches.c.id).where(ingested_batches.c.id == batch_id)
            return conn.execute(query).first() is not None

    def prune_ingested_batches(self, *, before: float) -> int:
        """Forget batch ids received before ``before`` (epoch seconds); how many went."""
        with translated(self.url), self._write_conn() as conn:
            result = conn.execute(
                ingested_batches.delete().where(ingested_batches.c.received < before)
            )
            conn.commit()
        return int(result.rowcount or 0)

    # -- flows and flow runs --------------------------------------------------------

    def create_flow_run(
        self, row: dict[str, Any], state: State, *, token: str | None = None
    ) -> None:
        """Insert a flow run (``row`` holds its columns except flow_id/state) in ``state``.

        With ``token`` (the attempt token of the process creating it) the run must be a
        subflow of that attempt's run, and it joins the attempt: taking the run back takes
        it back too. A process whose run was taken back gets :class:`RunTakenBack`."""
        row = _storable_flow_run_row(row)
        state = _storable_state(state)
        with self._door() as door:
            row = door.join_attempt(row, token)
            flow_id = self.flow_ids.of(door.conn, row["flow_name"])
            door.create_flow_run({**row, "flow_id": flow_id}, state)
            run_tags = list(dict.fromkeys(row.get("tags") or []))
            if run_tags:
                door.conn.execute(
                    flow_run_tags.insert(),
                    [
                        {"tag": tag, "flow_run_id": row["id"], "created": row["created"]}
                        for tag in run_tags
                    ],
                )

    def set_flow_run_state(
        self,
        flow_run_id: str,
        state: State,
        *,
        rerun: bool = False,
        fields: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> Transition:
        """Move a flow run to ``state`` if the rules allow it from its stored state.

        The check and the write happen in one transaction on the locked row, so a
        concurrent change (a cancel) is never overwritten. ``fields`` updates other
        columns (run_count, start_time, end_time) in the same write.

        ``token`` is the attempt token of the process proposing (None: a proposal from
        outside any attempt, such as a cancel). It is checked against the row in the
        same transaction (:func:`legato.store.run_tokens.check_proposal`): a process
        whose run was taken back is refused with ``taken_back`` set. A final state ends
        the attempt (its token stops working); so does a proposal from outside that ends
        the run or sends it back to be scheduled (a run given back is then held by no
        worker, for the next claim). See
        :meth:`legato.store.state_door.StateDoor.propose_flow_run_state`.
        """
        state = _storable_state(state)
        with self._door() as door:
            verdict = door.propose_flow_run_state(
                flow_run_id, state, rerun=rerun, fields=fields, token=token
            )
            if not verdict.allowed:
                door.rollback()
        return verdict

    def run_in_attempt(self, flow_run_id: str, token: str) -> bool:
        """Whether ``flow_run_id`` is the run of the attempt ``token``, or a subflow of it,
        and that attempt still holds it (what a run's credential may touch)."""
        with translated(self.url), self.engine.connect() as conn:
            return run_tokens.in_tree(conn, flow_run_id, run_tokens.hash_token(token))

    def check_attempt_runs(
        self, flow_run_ids: Collection[str], token: str, task_run_ids: Collection[str] = ()
    ) -> str | None:
        """For a batch of task runs and logs sent with ``token``: the first of
        ``flow_run_ids`` outside that attempt (taken back, or another run's), or None.
        ``task_run_ids`` that are stored already count by the flow run they belong to (a
        batch may not rewrite another run's task run under its own run's id)."""
        wanted = run_tokens.hash_token(token)
        owners = set(flow_run_ids)
        with translated(self.url), self.engine.connect() as conn:
            ids = sorted(set(task_run_ids))
            for start in range(0, len(ids), 900):
                owners.update(
                    str(run_id)
                    for run_id in conn.execute(
                        sa.select(task_runs.c.flow_run_id)
                        .where(task_runs.c.id.in_(ids[start : start + 900]))
                        .distinct()
                    ).scalars()
                )
            for flow_run_id in sorted(owners):
                if not run_tokens.in_tree(conn, flow_run_id, wanted):
                    return flow_run_id
        return None

    # -- reads used by the engine -----------------------------------------------------

    def read_task_runs_by_key(self, flow_run_id: str) -> dict[tuple[str, int], PreviousTaskRun]:
        """The task runs of an earlier attempt, keyed by (task_key, dynamic_key)."""
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            found = queries.previous_task_runs(conn, flow_run_id)
        return {(run.task_key, run.dynamic_key): run for run in found}

    def find_cached_result(self, cache_key: str, now: float) -> str | None:
        """The result key of the newest task run that computed (not reused) a value for
        ``cache_key`` and has not expired."""
        with translated(self.url), self.engine.connect() as conn:
            return conn.execute(
                sa.select(task_runs.c.result_key)
                .where(
                    task_runs.c.cache_key == cache_key,
                    task_runs.c.state_type == StateType.COMPLETED.value,
                    task_runs.c.state_name != "Cached",
                    task_runs.c.result_key.is_not(None),
                    sa.or_(
                        task_runs.c.cache_expiration.is_(None),
                        task_runs.c.cache_expiration > now,
                    ),
                )
                .order_by(task_runs.c.end_time.desc())
                .limit(1)
            ).scalar()

    def read_flow_run_row(self, flow_run_id: str) -> dict[str, Any]:
        with translated(self.url), self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(flow_runs).where(flow_runs.c.id == flow_run_id))
                .mappings()
                .first()
            )
        if row is None:
            raise ObjectNotFound(f"no flow run with id {flow_run_id!r}")
        found = dict(row)
        found.pop("token_hash", None)  # a credential's hash: never handed out
        return found

    # -- the read API -------------------------------------------------------------

    def read_flows(self, *, limit: int = 200, offset: int = 0) -> list[FlowRecord]:
        """Flows by name (a flow is registered when it first runs)."""
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            return queries.flows_list(conn, limit=limit, offset=offset)

    def read_flow(self, name: str) -> FlowRecord:
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            record = queries.flow_by_name(conn, name)
        if record is None:
            raise ObjectNotFound(f"no flow named {name!r}")
        return record

    def read_flow_run_page(
        self,
        where: FlowRunFilter | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> FlowRunPage:
        """Flow runs matching ``where``, newest first; ``cursor`` continues a listing."""
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            return queries.flow_runs_page(
                conn, where or FlowRunFilter(), limit=limit, offset=offset, cursor=cursor
            )

    def read_flow_run(self, flow_run_id: str) -> FlowRunRecord:
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            record = queries.flow_run_by_id(conn, flow_run_id)
        if record is None:
            raise ObjectNotFound(f"no flow run with id {flow_run_id!r}")
        return record

    def read_task_runs(self, flow_run_id: str) -> list[TaskRunRecord]:
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            return queries.task_runs_of(conn, flow_run_id)

    def read_task_run(self, task_run_id: str) -> TaskRunRecord:
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            record = queries.task_run_by_id(conn, task_run_id)
        if record is None:
            raise ObjectNotFound(f"no task run with id {task_run_id!r}")
        return record

    def read_state_history(self, run_id: str) -> list[StateRecord]:
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            history = queries.state_history_of(conn, run_id)
            if not history and not queries.run_exists(conn, run_id):
                raise ObjectNotFound(f"no flow run or task run with id {run_id!r}")
            return history

    def read_task_state_histories(
        self, flow_run_id: str, task_run_ids: list[str] | None = None
    ) -> dict[str, list[StateRecord]]:
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            return queries.task_state_histories(conn, flow_run_id, task_run_ids)

    def read_task_run_page(
        self, flow_run_id: str, *, limit: int = DEFAULT_TASK_RUN_PAGE, cursor: str | None = None
    ) -> TaskRunPage:
        """One page of the flow run's task runs in creation order; ``cursor`` continues."""
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            return queries.task_runs_page(conn, flow_run_id, limit=limit, cursor=cursor)

    def read_task_run_summary(self, flow_run_id: str) -> TaskRunSummary:
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            return queries.task_run_summary(conn, flow_run_id)

    def read_log_page(
        self,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        level: str | int | None = None,
        limit: int = DEFAULT_LOG_PAGE,
        cursor: str | None = None,
    ) -> LogPage:
        """One bounded page of the flow run's log lines in the order stored."""
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            return queries.logs_page(
                conn, flow_run_id, task_run_id=task_run_id, level=level, limit=limit, cursor=cursor
            )

    def read_standalone_task_run_page(
        self, *, limit: int = 50, cursor: str | None = None
    ) -> TaskRunPage:
        """Task runs called outside any flow, newest first; ``cursor`` continues."""
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            return queries.standalone_task_runs_page(conn, limit=limit, cursor=cursor)

    def read_task_run_log_page(
        self,
        task_run_id: str,
        *,
        level: str | int | None = None,
        limit: int = DEFAULT_LOG_PAGE,
        cursor: str | None = None,
    ) -> LogPage:
        """One bounded page of one task run's log lines in the order stored (a
        standalone task run has no flow run to read them through)."""
        from legato.store import queries

        with translated(self.url), self.engine.connect() as conn:
            return queries.task_run_logs_page(
                conn, task_run_id, level=level, limit=limit, cursor=cursor
            )

    def resolve_task_run_id(self, wanted: str) -> str:
        """A full task-run id from a unique start of it, or from the name of a task run
        called outside any flow (names inside flows repeat run after run)."""
        from legato.store import queries

        wanted = wanted.strip()
        with translated(self.url), self.engine.connect() as conn:
            ids = queries.task_run_ids_with_prefix(conn, wanted) if is_id_prefix(wanted) else []
            if len(ids) == 1:
                return str(ids[0])
            named = [] if ids else queries.standalone_task_runs_named(conn, wanted)
        if len(named) == 1:
            return str(named[0].id)
        if ids:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise ObjectNotFound(
                f"{wanted!r} is the start of the ids of several task runs ({shown}); "
                "give more of the id, or the task run's name"
            )
        if named:
            shown = "; ".join(f"{row.id} (made {_utc_text(row.created)})" for row in named[:5])
            more = " and more" if len(named) > 5 else ""
            raise ObjectNotFound(
                f"{len(named) if len(named) <= 5 else 'several'} task runs are named "
                f"{wanted!r}: {shown}{more}; give the id (or a unique start of it)"
            )
        raise ObjectNotFound(
            f"no task run with id or name {wanted!r}; `legato task-runs ls` lists task runs "
            "called outside a flow"
        )

    def resolve_flow_run_id(self, wanted: str) -> str:
        """A full flow-run id from a unique prefix of it or from the run's name (ids are
        long to type, and runs made close together share a long prefix)."""
        from legato.store import queries

        wanted = wanted.strip()
        with translated(self.url), self.engine.connect() as conn:
            ids = queries.flow_run_ids_with_prefix(conn, wanted) if is_id_prefix(wanted) else []
            if len(ids) == 1:
                return str(ids[0])
            named = [] if ids else queries.flow_runs_named(conn, wanted)
        if len(named) == 1:
            return str(named[0].id)
        if ids:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise ObjectNotFound(
                f"{wanted!r} is the start of the ids of several flow runs ({shown}); "
                "give more of the id, or the run's name"
            )
        if named:
            shown = "; ".join(
                f"{row.id} ({row.flow_name}, made {_utc_text(row.created)})" for row in named[:5]
            )
            more = " and more" if len(named) > 5 else ""
            raise ObjectNotFound(
                f"{len(named) if len(named) <= 5 else 'several'} flow runs are named "
                f"{wanted!r}: {shown}{more}; give the id (or a unique start of it)"
            )
        raise ObjectNotFound(f"no flow run with id or name {wanted!r}; `legato runs ls` lists runs")

    # -- API keys --------------------------------------------------------------------

    def create_api_key(
        self, name: str, *, read_only: bool = False, internal: bool = False
    ) -> tuple[ApiKeyRecord, str]:
        """A new key named ``name``: its record and the key itself (stored only hashed).

        ``internal``: a key of a running server's own processes (its built-in worker).
        Listed and revocable like any key, but it does not make the server require keys
        (:meth:`has_api_keys`), and the server deletes it when it stops."""
        from legato.ids import new_id
        from legato.store.api_keys import api_key_record, hash_key, new_key

        name = name.strip()
        if not name:
            raise LegatoError("an API key needs a name")
        key = new_key()
        row = {
            "id": new_id(),
            "name": name,
            "key_hash": hash_key(key),
            "read_only": read_only,
            "internal": internal,
            "created": time.time(),
            "last_used": None,
        }
        duplicate = LegatoError(
            f"an API key named {name!r} already exists; pick another name, or delete it "
            f"first (legato api-key delete {name})"
        )
        with translated(self.url), self._write_conn() as conn:
            taken = conn.execute(sa.select(api_keys.c.id).where(api_keys.c.name == name)).first()
            if taken is not None:
                raise duplicate
            try:
                conn.execute(api_keys.insert().values(row))
                conn.commit()
            except sa.exc.IntegrityError:
                raise duplicate from None
        return api_key_record(row), key

    def find_api_key(self, key: str) -> ApiKeyRecord | None:
        """The record of ``key`` (compared by hash), or None if no stored key matches."""
        from legato.store.api_keys import api_key_record, hash_key

        with translated(self.url), self.engine.connect() as conn:
            row = conn.execute(
                sa.select(api_keys).where(api_keys.c.key_hash == hash_key(key))
            ).first()
        return None if row is None else api_key_record(row._mapping)

    def touch_api_key(self, key_id: str, when: float) -> None:
        """Record that the key ``key_id`` was last used at ``when``."""
        with translated(self.url), self._write_conn() as conn:
            conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(last_used=when))
            conn.commit()

    def list_api_keys(self) -> list[ApiKeyRecord]:
        from legato.store.api_keys import api_key_record

        with translated(self.url), self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created, api_keys.c.name))
            return [api_key_record(row._mapping) for row in rows]

    def delete_api_key(self, name: str) -> None:
        with translated(self.url), self._write_conn() as conn:
            deleted = conn.execute(api_keys.delete().where(api_keys.c.name == name)).rowcount
            conn.commit()
        if not deleted:
            raise ObjectNotFound(f"no API key named {name!r} (legato api-key ls lists them)")

    def has_api_keys(self) -> bool:
        """Whether a key made by someone exists (a server's internal keys do not count:
        they would make a keyless server require keys while it runs)."""
        with translated(self.url), self.engine.connect() as conn:
            query = sa.select(api_keys.c.id).where(api_keys.c.internal.is_(False)).limit(1)
            return conn.execute(query).first() is not None

    # -- work pools (legato.store.work_pools) ----------------------------------------

    def create_work_pool(self, name: str, concurrency_limit: int | None = None) -> WorkPoolRecord:
        """A new, unpaused pool (WorkPoolExists if one has that name)."""
        with self.db.writing() as conn:
            work_pools.create_work_pool(conn, name, concurrency_limit)
            payload = {"concurrency_limit": concurrency_limit}
            self._record_events(conn, work_pool_event("created", name, payload))
        self.events.poke()
        return self.read_work_pool(name)

    def set_work_pool_limit(self, name: str, concurrency_limit: int | None) -> WorkPoolRecord:
        """Most active runs of ``name`` (None: no limit); the active ones may finish."""
        with self.db.writing() as conn:
            work_pools.set_work_pool_limit(conn, name, concurrency_limit)
            payload = {"concurrency_limit": concurrency_limit}
            self._record_events(conn, work_pool_event("updated", name, payload))
        self.events.poke()
        return self.read_work_pool(name)

    def set_work_pool_paused(self, name: str, paused: bool) -> WorkPoolRecord:
        """A paused pool's runs are not claimed (they wait, Scheduled or Late)."""
        with self.db.writing() as conn:
            work_pools.set_work_pool_paused(conn, name, paused)
            action = "paused" if paused else "resumed"
            self._record_events(conn, work_pool_event(action, name))
        self.events.poke()
        return self.read_work_pool(name)

    def read_work_pools(self) -> list[WorkPoolRecord]:
        """Every pool by name, with its number of active runs."""
        with self.db.reading() as conn:
            return work_pools.read_work_pools(conn)

    def read_work_pool(self, name: str) -> WorkPoolRecord:
        with self.db.reading() as conn:
            return work_pools.read_work_pool(conn, name)

    # -- tag concurrency limits (legato.store.concurrency) ----------------------------

    def set_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimitRecord:
        """Create the limit of ``tag``, or change it (leases held are kept)."""
        with self.db.writing() as conn:
            concurrency.set_concurrency_limit(conn, tag, limit)
        return self.read_concurrency_limit(tag)

    def delete_concurrency_limit(self, tag: str) -> None:
        """Remove the limit of ``tag`` and its leases (ObjectNotFound if it has none)."""
        with self.db.writing() as conn:
            concurrency.delete_concurrency_limit(conn, tag)

    def read_concurrency_limits(self, now: float | None = None) -> list[ConcurrencyLimitRecord]:
        """Every tag limit, by tag, with the task runs holding its live leases."""
        now = time.time() if now is None else now
        with self.db.reading() as conn:
            return concurrency.read_concurrency_limits(conn, now)

    def read_concurrency_limit(self, tag: str) -> ConcurrencyLimitRecord:
        now = time.time()
        with self.db.reading() as conn:
            return concurrency.read_concurrency_limit(conn, tag, now)

    def read_limited_tags(self) -> list[str]:
        """The tags that have a limit (read once per flow run, before its tasks)."""
        with self.db.reading() as conn:
            return concurrency.read_limited_tags(conn)

    def acquire_concurrency_slots(
        self,
        tags: Sequence[str],
        task_run_id: str,
        flow_run_id: str,
        holder: str,
        ttl: float,
        now: float | None = None,
    ) -> LeaseAnswer:
        """One slot of each limited tag in ``tags`` for ``task_run_id`` until ``now + ttl``,
        or none: the answer names the full tags."""
        now = time.time() if now is None else now
        with self.db.writing() as conn:
            return concurrency.acquire_concurrency_slots(
                conn, tags, task_run_id, flow_run_id, holder, ttl, now
            )

    def renew_concurrency_slots(
        self, task_run_ids: Sequence[str], ttl: float, now: float | None = None
    ) -> list[str]:
        """Push the live leases of these task runs to ``now + ttl``; those still holding one."""
        ids = list(dict.fromkeys(task_run_ids))
        if not ids:
            return []
        now = time.time() if now is None else now
        with self.db.writing() as conn:
            return concurrency.renew_concurrency_slots(conn, ids, ttl, now)

    def release_concurrency_slots(self, task_run_ids: Sequence[str]) -> int:
        """Give back every slot these task runs hold; how many leases went."""
        ids = list(dict.fromkeys(task_run_ids))
        if not ids:
            return 0
        with self.db.writing() as conn:
            return concurrency.release_concurrency_slots(conn, ids)

    # -- workers' claims (legato.store.claims) -----------------------------------------

    def claim_flow_runs(
        self, pool: str, worker_name: str, limit: int, now: float | None = None
    ) -> list[ClaimedFlowRun]:
        """Up to ``limit`` due runs of ``pool``, earliest first, moved to Pending and held
        by ``worker_name``, each with a new attempt token (see
        :func:`legato.store.claims.claim_flow_runs`)."""
        if limit < 1:
            return []
        now = time.time() if now is None else now
        with self.db.door() as door:
            return claims.claim_flow_runs(door, pool, worker_name, limit, now)

    def heartbeat(
        self, flow_run_ids: Sequence[str], worker_name: str, now: float | None = None
    ) -> dict[str, str]:
        """Mark the runs ``worker_name`` holds as alive at ``now``; the state type of each
        (a Cancelling one is for the worker to stop), leaving out runs it does not hold."""
        ids = list(dict.fromkeys(flow_run_ids))
        if not ids:
            return {}
        now = time.time() if now is None else now
        with self.db.writing() as conn:
            return claims.heartbeat(conn, ids, worker_name, now)

    def held_states(self, flow_run_ids: Sequence[str], worker_name: str) -> dict[str, str]:
        """The state type of each run ``worker_name`` holds, as :meth:`heartbeat` answers,
        without writing (a read the worker makes twice a second to see cancels at once)."""
        ids = list(dict.fromkeys(flow_run_ids))
        if not ids:
            return {}
        with translated(self.url), self.engine.connect() as conn:
            return claims.held_states(conn, ids, worker_name)

    # -- crashed runs (legato.store.reaping, legato.store.local_runs) -------------------

    def crash_flow_run(
        self,
        flow_run_id: str,
        message: str,
        *,
        worker_name: str | None = None,
        stale_before: float | None = None,
        skip_locked: bool = False,
        now: float | None = None,
    ) -> CrashOutcome | None:
        """Mark a run that stopped without a final state Crashed (or Cancelled, when it
        was Cancelling), and reschedule it when its deployment's retries allow.

        Only a run still held is changed: one in Pending, Running or Cancelling (or
        Scheduled while a worker holds it), held by ``worker_name`` when given, whose
        heartbeat is older than ``stale_before`` when given. Anything else - the run
        finished, another worker holds it now, it heartbeated meanwhile - returns None
        and writes nothing; so does a row another transaction has locked, with
        ``skip_locked``. ``ObjectNotFound`` for an unknown id.
        """
        now = time.time() if now is None else now
        with self.db.door() as door:
            row = reaping.lock_run(door.conn, flow_run_id, skip_locked=skip_locked)
            if row is not None:
                return reaping.crash_held_run(
                    door,
                    flow_run_id,
                    row,
                    message,
                    worker_name=worker_name,
                    stale_before=stale_before,
                    now=now,
                )
            door.rollback()
        if skip_locked:
            with self.db.reading() as conn:
                if reaping.flow_run_exists(conn, flow_run_id):
                    return None  # locked by someone else, who is dealing with it
        raise ObjectNotFound(f"no flow run with id {flow_run_id!r}")

    def reap_stale_flow_runs(
        self, *, timeout: float, now: float | None = None
    ) -> list[CrashOutcome]:
        """Crash every run held by a worker that has not heartbeated for ``timeout``
        seconds (see :meth:`crash_flow_run`), each saying which worker went quiet and
        when; what became of each."""
        now = time.time() if now is None else now
        before = now - timeout
        outcomes: list[CrashOutcome] = []
        seen: set[str] = set()
        while True:
            stale = [
                run for run in self.read_stale_flow_runs(before) if run.flow_run_id not in seen
            ]
            for run in stale:
                seen.add(run.flow_run_id)
                outcome = self.crash_flow_run(
                    run.flow_run_id,
                    reaping.stale_message(run, now),
                    worker_name=run.worker_name,
                    stale_before=before,
                    skip_locked=True,
                    now=now,
                )
                if outcome is not None:
                    outcomes.append(outcome)
            if len(stale) < REAP_BATCH:
                return outcomes

    def read_stale_flow_runs(self, before: float) -> list[StaleRun]:
        """Runs held by a worker whose last heartbeat is older than ``before``, oldest
        first (at most one batch)."""
        with self.db.reading() as conn:
            return reaping.read_stale_flow_runs(conn, before)

    def read_local_runs(self, host: str) -> list[dict[str, Any]]:
        """The unfinished runs held by no worker whose process was recorded on ``host``."""
        with self.db.reading() as conn:
            return local_runs.read_local_runs(conn, host)

    def reap_gone_local_runs(
        self, host: str, start_time_of: StartTimeLookup, *, now: float | None = None
    ) -> list[CrashOutcome]:
        """Crash every unfinished local run of ``host`` whose process is gone (see
        :mod:`legato.store.local_runs`); what became of each."""
        outcomes: list[CrashOutcome] = []
        for row in self.read_local_runs(host):
            reason = gone_reason(row, host, start_time_of)
            if reason is None:
                continue
            outcome = self.crash_local_run(row, reason, now=now)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def crash_local_run(
        self, recorded: Mapping[str, Any], message: str, *, now: float | None = None
    ) -> CrashOutcome | None:
        """Crash the local run ``recorded`` (its id and process columns as read) and its
        unfinished task runs, if the row still names that process, is unfinished and is
        held by no worker; None (nothing written) otherwise."""
        now = time.time() if now is None else now
        with self.db.door() as door:
            return local_runs.crash_local_run(door, recorded, message, now)

    # -- deployments (legato.store.deployments) ---------------------------------------

    def deploy(self, spec: DeploymentSpec) -> DeploymentRecord:
        """Create the deployment ``spec.flow_name/spec.name``, or update it in place.

        Changing its schedules removes the runs they made that have not started (the
        scheduler makes the new ones); runs asked for by hand are kept.
        """
        with self.db.writing() as conn:
            deployment_id = deployments.deploy(conn, spec, self.flow_ids)
            record = deployments.read_deployment(conn, deployment_id)
            action = "created" if record.created == record.updated else "updated"
            self._record_events(conn, _deployment_event(action, record))
        self.events.poke()
        return record

    def set_deployment_paused(self, deployment_id: str, paused: bool) -> DeploymentRecord:
        """Pause (no new runs; its schedules' unstarted runs removed) or resume."""
        with self.db.writing() as conn:
            deployments.set_deployment_paused(conn, deployment_id, paused)
            record = deployments.read_deployment(conn, deployment_id)
            self._record_events(conn, _deployment_event("paused" if paused else "resumed", record))
        self.events.poke()
        return record

    def set_schedule_active(
        self, deployment_id: str, schedule: str, active: bool
    ) -> DeploymentRecord:
        """Pause or resume one schedule of a deployment, named by its id or by its
        position (1 for the first); pausing removes the runs it made that have not
        started."""
        deployment = self.read_deployment(deployment_id)
        with self.db.writing() as conn:
            deployments.set_schedule_active(conn, deployment, schedule, active)
            record = deployments.read_deployment(conn, deployment.id)
            action = "schedule-resumed" if active else "schedule-paused"
            self._record_events(conn, _deployment_event(action, record, schedule=schedule))
        self.events.poke()
        return record

    def delete_deployment(self, deployment_id: str) -> int:
        """Delete a deployment, its schedules and its runs that have not started; how
        many unstarted runs went with it."""
        with self.db.writing() as conn:
            record = deployments.read_deployment(conn, deployment_id)
            dropped = deployments.delete_deployment(conn, deployment_id)
            self._record_events(conn, _deployment_event("deleted", record))
        self.events.poke()
        return dropped

    def create_deployment_run(
        self,
        deployment_id: str,
        request: DeploymentRunRequest,
        *,
        schedule_id: str | None = None,
    ) -> FlowRunRecord:
        """A Scheduled run of the deployment, due at ``request.scheduled_time`` (now if
        unset), its parameters checked against the flow's signature first. With an
        idempotency key already used, the run made then is returned instead."""
        deployment = self.read_deployment(deployment_id)
        parameters = deployments.check_run_parameters(deployment, request)
        now = time.time()
        with self.db.door() as door:
            run_id = deployments.create_deployment_run(
                door,
                deployment,
                request,
                parameters,
                self.flow_ids,
                now=now,
                schedule_id=schedule_id,
            )
        return self.read_flow_run(run_id)

    def read_deployments(self, *, limit: int = 200, offset: int = 0) -> list[DeploymentRecord]:
        """Deployments by flow name, then name."""
        with self.db.reading() as conn:
            return deployments.read_deployments(conn, limit=limit, offset=offset)

    def read_deployment(self, reference: str) -> DeploymentRecord:
        """By id, by ``flow/name``, or by name alone when only one flow has it."""
        with self.db.reading() as conn:
            return deployments.read_deployment(conn, reference)

    # -- the scheduler (legato.store.scheduling) --------------------------------------

    def read_schedulable(self, deployment_id: str | None = None) -> list[Schedulable]:
        """Unpaused deployments with at least one active schedule (or the one asked for,
        paused or not, with all its active schedules)."""
        with self.db.reading() as conn:
            return scheduling.read_schedulable(conn, deployment_id)

    def insert_scheduled_runs(
        self,
        deployment: DeploymentRecord,
        slots: list[SlotRun],
        *,
        require_unpaused: bool = True,
    ) -> list[str]:
        """Make a Scheduled run for each slot that has none yet; the ids of those made
        (see :func:`legato.store.scheduling.insert_scheduled_runs`)."""
        if not slots:
            return []
        now = time.time()
        with self.db.door() as door:
            return scheduling.insert_scheduled_runs(
                door, deployment, slots, self.flow_ids, require_unpaused=require_unpaused, now=now
            )

    def backfill_deployment(
        self, deployment_id: str, start: datetime, end: datetime, *, now: datetime | None = None
    ) -> BackfillResult:
        """Runs for every slot of the deployment's active schedules in [start, end), each
        due at its slot and keyed as the scheduler keys it (so neither duplicates the
        other), paused or not. ``ScheduleError`` for a bad or too long range, or an end in
        the future: upcoming slots are the scheduler's."""
        from legato.schemas.deployments import BackfillResult

        now = now or datetime.now(UTC)
        found = self.read_schedulable(deployment_id)
        if not found:
            deployment = self.read_deployment(deployment_id)  # ObjectNotFound when unknown
            raise ScheduleError(
                f"deployment {deployment.full_name} has no active schedule, so it has no "
                "slots to backfill; give it one with `legato deploy ... --cron/--interval/--rrule`"
            )
        item = found[0]
        slots = scheduling.backfill_slot_runs(item, start, end, now)
        made = self.insert_scheduled_runs(item.deployment, slots, require_unpaused=False)
        return BackfillResult(
            deployment_id=deployment_id,
            start=start,
            end=end,
            slots=len(slots),
            created=len(made),
            runs=made,
        )

    def mark_late_runs(self, *, before: float, now: float | None = None) -> int:
        """Scheduled runs of deployments due before ``before`` (now minus the grace period)
        that no worker has started become Late, each with a history row; how many did
        (see :func:`legato.store.scheduling.mark_late_batch`)."""
        now = time.time() if now is None else now
        total = 0
        while True:
            with self.db.door() as door:
                looked_at, marked = scheduling.mark_late_batch(door, before=before, now=now)
                total += marked
            if looked_at < scheduling.LATE_BATCH:
                return total


def _deployment_event(
    action: str, record: DeploymentRecord, *, schedule: str | None = None
) -> NewEvent:
    payload: dict[str, Any] = {"paused": record.paused}
    if schedule is not None:
        payload["schedule"] = schedule
    return deployment_event(
        action, record.id, record.full_name, work_pool=record.work_pool, payload=payload
    )


def is_id_prefix(text: str) -> bool:
    """Whether ``text`` could start a flow-run id (hex digits and dashes, at most 36)."""
    return 0 < len(text) <= 36 and not text.strip("0123456789abcdefABCDEF-")


def _utc_text(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
