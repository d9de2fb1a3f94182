"""The state door: the only writer of flow-run and task-run states.

Every state a run takes is written here, in the caller's write transaction: a run made
in its first state (a flow called from code, a subflow, a deployment's run asked for by
hand or made by the scheduler), a proposal (the engine's, a worker's, a cancel, a
retry), a claim, Late, a crash and its retry, a dead local run's task runs, and the
task-run states the batched writer commits. Nothing else in the store sets the state
columns of ``flow_runs`` or ``task_runs`` or appends to ``state_history`` (a test scans
the store's source for that).

Each write passes the rules of :mod:`legato.orchestration.transitions` and, for a
run held by an attempt, its fencing token (:mod:`legato.store.run_tokens`), in the
transaction that writes. Bulk forms keep claims, Late and the writer's batches at one
statement per kind of row: a batch of task-run states is checked in Python, state after
state of each task run, against the state stored before the batch only for the task
runs the batch did not create (one query per batch).

Every change made is recorded as a :class:`~legato.orchestration.changes.StateChange`
(run kind, run id, old state, new state) in :attr:`StateDoor.changes`; the store hands
them to its listeners once the transaction commits (``Store.state_listeners``). That is
where events, automations and the UI's live updates hook in. Bulk writes keep their
changes as the rows they wrote and make the records only when someone reads them, so a
batch of 10,000 task-run states costs nothing more while nobody listens.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.errors import LegatoError, ObjectNotFound, RunTakenBack, TransitionRefused
from legato.orchestration.changes import PriorState, RunKind, StateChange
from legato.orchestration.lateness import LATE_FROM_NAME, LATE_NAME, late_state
from legato.orchestration.transitions import (
    FLOW_RUN_MOVES,
    TASK_RUN_MOVES,
    check_task_run_transition,
    check_transition,
)
from legato.schemas.task_runs import (
    TASK_RUN_CURRENT_FIELDS,
    TASK_RUN_FIELDS,
    TASK_RUN_STATE_FIELDS,
)
from legato.states import State, StateType, Transition
from legato.store import run_tokens
from legato.store.bulk import max_parameters, placeholder, row_inserter
from legato.store.tables import flow_runs, state_history, task_runs
from legato.text import clean_text

if TYPE_CHECKING:
    from legato.ops import SortedBatch

STATE_COLUMNS = TASK_RUN_STATE_FIELDS
"""The current-state columns of ``flow_runs`` and ``task_runs``: written only here."""

HISTORY_COLUMNS = (
    "flow_run_id",
    "task_run_id",
    "type",
    "name",
    "message",
    "timestamp",
    "scheduled_time",
)

_ID_CHUNK = 500
T = TypeVar("T")


class TaskRunStateRefused(TransitionRefused):
    """A batch holds a task-run state that the task-run rule refuses; nothing of the
    batch was written (the batched writer then stores the rest without it)."""


# -- the changes of one transaction -------------------------------------------------------


class StateChanges:
    """The state changes of one transaction, in the order they were written."""

    def __init__(self) -> None:
        self._parts: list[Sequence[StateChange] | _TaskRunBatchChanges | _Deferred[Any]] = []

    def add(self, part: Sequence[StateChange] | _TaskRunBatchChanges | _Deferred[Any]) -> None:
        if len(part):
            self._parts.append(part)

    def __iter__(self) -> Iterator[StateChange]:
        for part in self._parts:
            yield from part

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts)

    def __bool__(self) -> bool:
        return bool(self._parts)


class _TaskRunBatchChanges:
    """The task-run states of one batch, kept as the history rows written (see
    :meth:`StateDoor.write_task_runs`), made into changes when read."""

    def __init__(self, history: list[tuple[Any, ...]], stored: Mapping[str, tuple[Any, ...]]):
        self._history = history
        self._stored = stored

    def __len__(self) -> int:
        return len(self._history)

    def __iter__(self) -> Iterator[StateChange]:
        last = {run_id: _prior(row) for run_id, row in self._stored.items()}
        for row in self._history:
            flow_run_id, task_run_id, type_, name, message, timestamp, scheduled_time = row
            new = State(StateType(type_), name, message, timestamp, scheduled_time)
            yield StateChange(
                RunKind.TASK_RUN, task_run_id, flow_run_id, last.get(task_run_id), new
            )
            last[task_run_id] = PriorState(new.type, name)


class _Deferred(Generic[T]):
    """Changes kept as the values a bulk write wrote, made into records when read."""

    def __init__(self, written: list[T], make: Callable[[T], StateChange]):
        self._written = written
        self._make = make

    def __len__(self) -> int:
        return len(self._written)

    def __iter__(self) -> Iterator[StateChange]:
        return map(self._make, self._written)


def _made(made: tuple[str, State]) -> StateChange:
    run_id, state = made
    return StateChange(RunKind.FLOW_RUN, run_id, run_id, None, state)


_SCHEDULED = PriorState(StateType.SCHEDULED, LATE_FROM_NAME)


def _marked_late(now: float, marked: tuple[str, float | None]) -> StateChange:
    run_id, due = marked
    return StateChange(RunKind.FLOW_RUN, run_id, run_id, _SCHEDULED, late_state(now, due))


def _prior(row: tuple[Any, ...]) -> PriorState:
    return PriorState(StateType(row[2]), row[3])


# -- rows -----------------------------------------------------------------------------------


def state_columns(state: State) -> dict[str, Any]:
    """The current-state columns of a run in ``state``."""
    return {
        "state_type": state.type.value,
        "state_name": state.name,
        "state_message": state.message,
        "state_timestamp": state.timestamp,
    }


def history_row(flow_run_id: str, task_run_id: str | None, state: State) -> dict[str, Any]:
    return {
        "flow_run_id": flow_run_id,
        "task_run_id": task_run_id,
        "type": state.type.value,
        "name": state.name,
        "message": state.message,
        "timestamp": state.timestamp,
        "scheduled_time": state.scheduled_time,
    }


def _as_is(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return rows


def clean_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with every text value cleaned (lone surrogates, NUL): see legato.text."""
    return [
        tuple(clean_text(value) if isinstance(value, str) else value for value in row)
        for row in rows
    ]


class TaskRunStatements:
    """Plain SQL for the task runs and states of the batched writer.

    The writer commits tens of thousands of rows a second; SQLAlchemy's per-row
    parameter processing cost more than the database itself, so these statements
    take positional tuples, read straight off the engine's task-run and state
    objects with ``attrgetter``, to the driver. JSON columns are encoded here.

    The columns are those of :class:`legato.schemas.task_runs.TaskRunRow` (the
    engine's ``TaskRun`` and a client's rows both carry them by those names).
    """

    def __init__(self, dialect: sa.Dialect):
        mark = self._mark = placeholder(dialect.paramstyle)
        columns = [name for name in TASK_RUN_FIELDS if name != "tags"]
        self.insert = row_inserter(dialect, "task_runs", [*columns, "tags"])
        self.insert_values = attrgetter(*columns)
        sets = ", ".join(f"{name} = {mark}" for name in TASK_RUN_CURRENT_FIELDS)
        self.update = f"UPDATE task_runs SET {sets} WHERE id = {mark}"
        self.update_values = attrgetter(*TASK_RUN_CURRENT_FIELDS, "id")
        self.history_insert = row_inserter(dialect, "state_history", list(HISTORY_COLUMNS))
        self.state_values = attrgetter(
            "type._value_", "name", "message", "timestamp", "scheduled_time"
        )
        # Where the id and the state columns sit in the row tuples of each statement.
        at = columns.index
        self.insert_slots = (
            at("id"),
            at("state_type"),
            at("state_name"),
            at("state_message"),
            at("state_timestamp"),
        )
        self.update_slots = (len(TASK_RUN_CURRENT_FIELDS), 0, 1, 2, 3)
        self._tags_json: dict[tuple[str, ...], str] = {}
        # The latest history row of each of a list of task runs: the max id per task run
        # (through the task_run_id index), then those rows. PostgreSQL takes the ids as
        # one array (psycopg parses a long statement's text on every execute); SQLite
        # takes them as placeholders, a statement text per count kept.
        latest = (
            "SELECT flow_run_id, task_run_id, type, name, message, timestamp "
            "FROM state_history WHERE id IN (SELECT max(id) FROM state_history "
            "WHERE task_run_id {} GROUP BY task_run_id)"
        )
        self._postgres = dialect.name == "postgresql"
        if self._postgres:
            self._latest = latest.format(f"= ANY({mark})")
            self.latest_chunk = 10_000
        else:
            self._latest = latest
            self.latest_chunk = min(5_000, max_parameters(dialect.name))
        self._latest_sql: dict[int, str] = {}

    def latest_states(self, task_run_ids: list[str]) -> tuple[str, tuple[Any, ...]]:
        """The statement and parameters reading the latest state of ``task_run_ids``
        (at most :attr:`latest_chunk` of them)."""
        if self._postgres:
            return self._latest, (task_run_ids,)
        count = len(task_run_ids)
        sql = self._latest_sql.get(count)
        if sql is None:
            marks = ", ".join([self._mark] * count)
            sql = self._latest_sql[count] = self._latest.format(f"IN ({marks})")
        return sql, tuple(task_run_ids)

    def tags_json(self, tags: list[str]) -> str:
        key = tuple(tags)
        text = self._tags_json.get(key)
        if text is None:
            text = self._tags_json[key] = json.dumps(list(key))
        return text

    def clean_tags_json(self, tags: list[str]) -> str:
        return self.tags_json([clean_text(str(tag)) for tag in tags])


# -- the door ---------------------------------------------------------------------------------


class StateDoor:
    """The state writes of one write transaction on ``conn``; :attr:`changes` lists
    what it changed. The caller commits (:meth:`commit`) or rolls back (:meth:`rollback`)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.changes = StateChanges()

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        """Undo the transaction, and forget its changes."""
        self.conn.rollback()
        self.changes = StateChanges()

    # -- flow runs made ---------------------------------------------------------------

    def join_attempt(self, row: dict[str, Any], token: str | None) -> dict[str, Any]:
        """``row`` of a flow run to create, made a member of the attempt ``token`` (the
        token of the process creating it; None: no attempt): the run must be a subflow
        of that attempt's run, and taking the attempt back takes it back too. A process
        whose run was taken back gets :class:`RunTakenBack`."""
        if token is None:
            return row
        wanted = run_tokens.hash_token(token)
        parent = row.get("parent_flow_run_id")
        if parent is None or not run_tokens.in_tree(self.conn, parent, wanted):
            raise RunTakenBack(run_tokens.taken_back(parent or row["id"]).reason)
        return {**row, "token_hash": wanted}

    def create_flow_run(self, row: Mapping[str, Any], state: State) -> None:
        """Insert the flow run ``row`` (its columns but the state's) in ``state``."""
        self.conn.execute(flow_runs.insert().values(**row, **state_columns(state)))
        self._wrote_flow_run(str(row["id"]), None, state)

    def create_flow_runs(
        self, made: Sequence[tuple[Mapping[str, Any], State]], *, unique: str
    ) -> list[str]:
        """Insert each (row, first state) of ``made`` unless a run with the same
        ``unique`` column (``idempotency_key``, ``id``) exists (two schedulers may insert
        the same slot at once: one wins); the ids inserted, in order. One multi-row
        statement for all of them (``RETURNING`` tells which went in)."""
        if not made:
            return []
        statement = self._insert_ignoring(unique).returning(flow_runs.c.id)
        rows = [{**row, **state_columns(state)} for row, state in made]
        inserted = set(self.conn.execute(statement, rows).scalars())
        if not inserted:
            return []
        kept = [(str(row["id"]), state) for row, state in made if row["id"] in inserted]
        self.conn.execute(
            state_history.insert(), [history_row(run_id, None, state) for run_id, state in kept]
        )
        self.changes.add(_Deferred(kept, _made))
        return [run_id for run_id, _ in kept]

    def _insert_ignoring(self, unique: str) -> Any:
        if self.postgres:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(flow_runs).on_conflict_do_nothing(index_elements=[unique])
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(flow_runs).on_conflict_do_nothing(index_elements=[unique])

    # -- flow-run states --------------------------------------------------------------

    def propose_flow_run_state(
        self,
        flow_run_id: str,
        state: State,
        *,
        rerun: bool = False,
        fields: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> Transition:
        """Move a flow run to ``state`` if its attempt token and the rules allow it from
        its stored state, on its locked row; the verdict (a refusal writes nothing).

        ``token`` is the attempt token of the process proposing (None: a proposal from
        outside any attempt, such as a cancel); see
        :func:`legato.store.run_tokens.check_proposal`. A final state ends the attempt
        (its token stops working); so does a proposal from outside that ends the run or
        sends it back to be scheduled (a run given back is then held by no worker, for
        the next claim). ``fields`` sets other columns in the same write.
        """
        query = sa.select(
            flow_runs.c.state_type,
            flow_runs.c.state_name,
            flow_runs.c.token_hash,
            flow_runs.c.parent_flow_run_id,
        ).where(flow_runs.c.id == flow_run_id)
        if self.postgres:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        if row is None:
            raise ObjectNotFound(f"no flow run with id {flow_run_id!r}")
        refused, token_fields = run_tokens.check_proposal(
            self.conn, flow_run_id, row, token, state.type is StateType.RUNNING
        )
        if refused is not None:
            return refused
        verdict = check_transition(StateType(row.state_type), state.type, rerun=rerun)
        if not verdict.allowed:
            return verdict
        given_back = token is None and state.type is StateType.SCHEDULED
        ends_attempt = state.is_final() or given_back
        if ends_attempt and row.parent_flow_run_id is None:
            run_tokens.release(self.conn, row.token_hash)  # the run and its subflows
            token_fields = {}
        elif ends_attempt:
            token_fields = {"token_hash": None}  # a subflow: only itself
        if given_back:  # to be claimed again: no worker holds it (nor reaps it) now
            token_fields.update(worker_name=None, heartbeat=None)
        old = PriorState(StateType(row.state_type), row.state_name)
        self._write_flow_run_state(flow_run_id, old, state, {**(fields or {}), **token_fields})
        return verdict

    def move_flow_run(
        self,
        flow_run_id: str,
        old: PriorState,
        state: State,
        fields: Mapping[str, Any] | None = None,
        *,
        rerun: bool = False,
    ) -> None:
        """Move a flow run the caller has locked, and found in ``old``, to ``state``
        (with ``fields``, other columns). The caller asks only for moves its own rules
        allow; one the transition rules refuse is a fault (LegatoError)."""
        _require_move(f"flow run {flow_run_id}", old.type, state.type, rerun=rerun)
        self._write_flow_run_state(flow_run_id, old, state, fields)

    def take_back(self, token_hash: str | None) -> None:
        """End the attempt ``token_hash`` (its run and subflows): its process is refused
        from now on (see :mod:`legato.store.run_tokens`)."""
        run_tokens.release(self.conn, token_hash)

    def _write_flow_run_state(
        self,
        flow_run_id: str,
        old: PriorState | None,
        state: State,
        fields: Mapping[str, Any] | None,
    ) -> None:
        self.conn.execute(
            flow_runs.update()
            .where(flow_runs.c.id == flow_run_id)
            .values(**state_columns(state), **(fields or {}))
        )
        self._wrote_flow_run(flow_run_id, old, state)

    def _wrote_flow_run(self, flow_run_id: str, old: PriorState | None, state: State) -> None:
        self.conn.execute(state_history.insert().values(**history_row(flow_run_id, None, state)))
        self.changes.add([StateChange(RunKind.FLOW_RUN, flow_run_id, flow_run_id, old, state)])

    # -- flow-run states in bulk ---------------------------------------------------------

    def claim_flow_runs(
        self,
        claimed: Sequence[tuple[str, PriorState]],
        pending: State,
        *,
        worker_name: str,
        heartbeat: float,
        tokens: Mapping[str, str],
    ) -> None:
        """Move the runs ``claimed`` (their ids, locked, and the states they were in) to
        ``pending``, held by ``worker_name``, each with its new attempt token from
        ``tokens`` replacing any earlier attempt's: one statement for all of them."""
        if not claimed:
            return
        for run_id, old in claimed:
            _require_move(f"flow run {run_id}", old.type, pending.type)
        self.conn.execute(
            flow_runs.update()
            .where(flow_runs.c.id == sa.bindparam("run_id"))
            .values(
                **state_columns(pending),
                worker_name=worker_name,
                heartbeat=heartbeat,
                token_hash=sa.bindparam("new_token_hash"),
            ),
            [
                {"run_id": run_id, "new_token_hash": run_tokens.hash_token(tokens[run_id])}
                for run_id, _ in claimed
            ],
        )
        self.conn.execute(
            state_history.insert(), [history_row(run_id, None, pending) for run_id, _ in claimed]
        )
        self.changes.add(
            [StateChange(RunKind.FLOW_RUN, run_id, run_id, old, pending) for run_id, old in claimed]
        )

    def mark_late(self, run_ids: Sequence[str], now: float) -> int:
        """Move those of ``run_ids`` still Scheduled (re-checked by the statement: a worker
        may have claimed one meanwhile, another server marked it) to Late at ``now``;
        how many moved. One statement per few hundred runs."""
        late = StateType.SCHEDULED
        _require_move("runs marked Late", late, late)
        marked: list[tuple[str, float | None]] = []
        for start in range(0, len(run_ids), _ID_CHUNK):
            chunk = run_ids[start : start + _ID_CHUNK]
            marked.extend(
                (str(row[0]), row[1])
                for row in self.conn.execute(
                    flow_runs.update()
                    .where(
                        flow_runs.c.id.in_(chunk),
                        flow_runs.c.state_type == late.value,
                        flow_runs.c.state_name == LATE_FROM_NAME,
                    )
                    .values(state_name=LATE_NAME, state_message=None, state_timestamp=now)
                    .returning(flow_runs.c.id, flow_runs.c.expected_start_time)
                )
            )
        if marked:
            self.conn.execute(
                state_history.insert(),
                [
                    {
                        "flow_run_id": run_id,
                        "task_run_id": None,
                        "type": late.value,
                        "name": LATE_NAME,
                        "message": None,
                        "timestamp": now,
                        "scheduled_time": due,
                    }
                    for run_id, due in marked
                ],
            )
            self.changes.add(_Deferred(marked, functools.partial(_marked_late, now)))
        return len(marked)

    # -- task-run states -------------------------------------------------------------------

    def end_task_runs(self, flow_run_id: str, state: State, unfinished: Iterable[str]) -> None:
        """Give the flow run's task runs in the state types ``unfinished`` ``state`` (their
        end time its timestamp), each with a history row."""
        where = (
            task_runs.c.flow_run_id == flow_run_id,
            task_runs.c.state_type.in_(list(unfinished)),
        )
        found = self.conn.execute(
            sa.select(task_runs.c.id, task_runs.c.state_type, task_runs.c.state_name).where(*where)
        ).all()
        if not found:
            return
        for row in found:
            verdict = check_task_run_transition(StateType(row.state_type), state.type)
            if not verdict.allowed:
                raise LegatoError(f"task run {row.id}: {verdict.reason}")
        self.conn.execute(
            task_runs.update()
            .where(*where)
            .values(**state_columns(state), end_time=state.timestamp)
        )
        self.conn.execute(
            state_history.insert(), [history_row(flow_run_id, str(row.id), state) for row in found]
        )
        self.changes.add(
            [
                StateChange(
                    RunKind.TASK_RUN,
                    str(row.id),
                    flow_run_id,
                    PriorState(StateType(row.state_type), row.state_name),
                    state,
                )
                for row in found
            ]
        )

    def write_task_runs(self, statements: TaskRunStatements, batch: SortedBatch) -> None:
        """Write a batch's task runs (new and changed rows) and their states (history).

        Each task run's states in the batch must follow one another under the task-run
        rule, starting from the state it had before the batch (none, for one the batch
        creates): :class:`TaskRunStateRefused` otherwise, before anything is written.
        A row carries its task run's current state, which may be ahead of the states the
        batch holds (the engine moved on before the row was read); a row whose state the
        rule does not allow after the batch's last state of it is written with that last
        state instead, so a row never shows a state its history refused.

        ``batch.scrub``: every text value is cleaned first (a batch written again after it
        failed); the fast path does not look at the text at all.
        """
        rows = clean_rows if batch.scrub else _as_is
        new = batch.new_task_runs
        changed = batch.changed_task_runs
        values = statements.state_values
        history = (
            rows([(t.flow_run_id, t.id, *values(s)) for t, s in batch.history])
            if batch.history
            else []
        )
        known = {row[1] for row in history}
        known.update(changed)
        known.difference_update(new)
        stored = self._stored_task_run_states(statements, known) if known else {}
        last = _follow_task_run_states(history, stored)
        if new:
            insert_values = statements.insert_values
            tags: Callable[[list[str]], str] = (
                statements.clean_tags_json if batch.scrub else statements.tags_json
            )
            inserted = rows([(*insert_values(t), tags(t.tags)) for t in new.values()])
            statements.insert.execute(
                self.conn, _rows_after(inserted, last, statements.insert_slots)
            )
        if changed:
            update_values = statements.update_values
            updated = rows([update_values(t) for t in changed.values()])
            self.conn.exec_driver_sql(
                statements.update, _rows_after(updated, last, statements.update_slots)
            )
        if history:
            statements.history_insert.execute(self.conn, history)
            self.changes.add(_TaskRunBatchChanges(history, stored))

    def _stored_task_run_states(
        self, statements: TaskRunStatements, task_run_ids: set[str]
    ) -> dict[str, tuple[Any, ...]]:
        """The latest stored state of each of these task runs, as a history row (see
        :meth:`write_task_runs`), by id; those with none are left out."""
        ids = sorted(task_run_ids)
        found: dict[str, tuple[Any, ...]] = {}
        step = statements.latest_chunk
        for start in range(0, len(ids), step):
            chunk = ids[start : start + step]
            sql, parameters = statements.latest_states(chunk)
            for row in self.conn.exec_driver_sql(sql, parameters).fetchall():
                found[row[1]] = (*row, None)
        return found


def _require_move(
    what: str, current: StateType, proposed: StateType, *, rerun: bool = False
) -> None:
    """A move of a flow run (``what`` names it) that the caller decided on and the
    transition rules must allow; a fault (LegatoError) if they do not. Looked up by value
    first: a claim checks every run it takes."""
    if proposed.value in FLOW_RUN_MOVES[current.value]:
        return
    verdict = check_transition(current, proposed, rerun=rerun)
    if not verdict.allowed:
        raise LegatoError(f"{what}: {verdict.reason}")


def _follow_task_run_states(
    history: list[tuple[Any, ...]], stored: Mapping[str, tuple[Any, ...]]
) -> dict[str, tuple[Any, ...]]:
    """Check each history row (flow_run_id, task_run_id, type, name, message, timestamp,
    scheduled_time) against the task run's state before it: the batch's previous one, or
    the one in ``stored``, or none. The last state of each task run, as such a row;
    :class:`TaskRunStateRefused` for the first state the rule refuses."""
    moves = TASK_RUN_MOVES
    last = dict(stored)
    get = last.get
    for row in history:
        task_run_id = row[1]
        before = get(task_run_id)
        if before is not None and row[2] not in moves.get(before[2], _ANY):
            verdict = check_task_run_transition(StateType(before[2]), StateType(row[2]))
            raise TaskRunStateRefused(f"task run {task_run_id}: {verdict.reason}")
        last[task_run_id] = row
    return last


def _rows_after(
    rows: list[tuple[Any, ...]],
    last: Mapping[str, tuple[Any, ...]],
    slots: tuple[int, int, int, int, int],
) -> list[tuple[Any, ...]]:
    """``rows`` (task-run rows; ``slots``: where the id, state type, name, message and
    timestamp sit in them), each whose state may not follow its task run's last state
    in ``last`` given that state instead."""
    moves = TASK_RUN_MOVES
    id_at, type_at, name_at, message_at, timestamp_at = slots
    get = last.get
    for index, row in enumerate(rows):
        before = get(row[id_at])
        if before is None:
            continue
        if row[type_at] in moves.get(before[2], _ANY):
            continue
        if row[timestamp_at] == before[5] and row[name_at] == before[3]:
            continue  # the row is at that very state (a terminal one)
        fixed = list(row)
        fixed[type_at], fixed[name_at] = before[2], before[3]
        fixed[message_at], fixed[timestamp_at] = before[4], before[5]
        rows[index] = tuple(fixed)
    return rows


_ANY = frozenset(t.value for t in StateType)
"""Moves from a state type legato does not know (a row written by a newer version)."""
