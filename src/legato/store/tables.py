"""The schema: SQLAlchemy Core tables, one definition for SQLite and PostgreSQL.

Times are stored as float seconds since the epoch (UTC): one portable, cheap
type on both databases, converted to aware datetimes at the read edge
(:mod:`legato.store.queries`). Each run row carries its current state in indexed
columns beside its history rows, so listings never scan the history.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

flows = sa.Table(
    "flows",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("created", sa.Float, nullable=False),
)

flow_runs = sa.Table(
    "flow_runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("flow_id", sa.String(36), nullable=False),
    sa.Column("flow_name", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("entrypoint", sa.Text, nullable=True),
    sa.Column("parent_flow_run_id", sa.String(36), nullable=True),
    sa.Column("parent_task_run_id", sa.String(36), nullable=True),
    sa.Column("state_type", sa.String(16), nullable=False),
    sa.Column("state_name", sa.String(32), nullable=False),
    sa.Column("state_message", sa.Text, nullable=True),
    sa.Column("state_timestamp", sa.Float, nullable=False),
    sa.Column("run_count", sa.Integer, nullable=False, default=0),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("start_time", sa.Float, nullable=True),
    sa.Column("end_time", sa.Float, nullable=True),
    # Runs of deployments (all null for a flow called from code):
    sa.Column("deployment_id", sa.String(36), nullable=True),
    sa.Column("work_pool", sa.String(255), nullable=True),
    sa.Column("schedule_id", sa.String(36), nullable=True),
    sa.Column("expected_start_time", sa.Float, nullable=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("worker_name", sa.String(255), nullable=True),
    sa.Column("heartbeat", sa.Float, nullable=True),
    # Who owns the run now (see migration 0006). token_hash: sha256 of the token of the
    # attempt a worker claimed; every state proposal of that attempt must carry it, and
    # taking the run back clears it, so a process that lost its run is refused.
    sa.Column("token_hash", sa.String(64), nullable=True),
    # A run called from code (no worker): the process running it, so that a later
    # command can tell it died (host name, pid, the process's start time).
    sa.Column("process_host", sa.String(255), nullable=True),
    sa.Column("process_pid", sa.Integer, nullable=True),
    sa.Column("process_started", sa.Float, nullable=True),
    # Commands and reapers look for the unfinished local runs of their own host.
    sa.Index("ix_flow_runs_process_host_state", "process_host", "state_type"),
    # Listings go newest first by (created, id); each filter's index ends with both,
    # so a page is a walk down one index, never a sort.
    sa.Index("ix_flow_runs_flow_name_created", "flow_name", "created", "id"),
    sa.Index("ix_flow_runs_state_type_created", "state_type", "created", "id"),
    sa.Index("ix_flow_runs_state_name_created", "state_name", "created", "id"),
    sa.Index("ix_flow_runs_created", "created", "id"),
    sa.Index("ix_flow_runs_parent_flow_run_id", "parent_flow_run_id"),
    sa.Index("ix_flow_runs_deployment_id_created", "deployment_id", "created", "id"),
    # A scheduled slot (or any run created with a key) exists at most once.
    sa.UniqueConstraint("idempotency_key", name="uq_flow_runs_idempotency_key"),
    # Workers claim the due Scheduled runs of their pool, earliest first.
    sa.Index("ix_flow_runs_pool_state_expected", "work_pool", "state_type", "expected_start_time"),
    # The scheduler asks for each schedule's last slot.
    sa.Index("ix_flow_runs_schedule_id_expected", "schedule_id", "expected_start_time"),
    # Taking a run back clears the hash on the run and the subflows it made.
    sa.Index("ix_flow_runs_token_hash", "token_hash"),
    # `legato runs show NAME` finds a run by its name.
    sa.Index("ix_flow_runs_name", "name"),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("flow_name", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("entrypoint", sa.Text, nullable=False),
    sa.Column("work_pool", sa.String(255), nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("parameter_schema", sa.JSON, nullable=True),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("concurrency_limit", sa.Integer, nullable=True),
    sa.Column("retries", sa.Integer, nullable=False),
    sa.Column("catchup", sa.Boolean, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.UniqueConstraint("flow_name", "name", name="uq_deployments_flow_name_name"),
)
"""A flow entrypoint with its defaults, a work pool and schedules: what the scheduler
and ``legato deployment run`` make runs of."""

deployment_schedules = sa.Table(
    "deployment_schedules",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("deployment_id", sa.String(36), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("schedule", sa.JSON, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Index("ix_deployment_schedules_deployment_id", "deployment_id"),
)
"""One row per schedule of a deployment (``legato.schedules`` ``to_dict`` output)."""

work_pools = sa.Table(
    "work_pools",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("concurrency_limit", sa.Integer, nullable=True),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)

concurrency_limits = sa.Table(
    "concurrency_limits",
    metadata,
    sa.Column("tag", sa.String(255), primary_key=True),
    sa.Column("limit", sa.Integer, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)
"""At most ``limit`` task runs carrying ``tag`` run their bodies at once."""

concurrency_leases = sa.Table(
    "concurrency_leases",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tag", sa.String(255), nullable=False),
    sa.Column("task_run_id", sa.String(36), nullable=False),
    sa.Column("flow_run_id", sa.String(36), nullable=False),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
    sa.UniqueConstraint("tag", "task_run_id", name="uq_concurrency_leases_tag_task_run_id"),
    sa.Index("ix_concurrency_leases_task_run_id", "task_run_id"),
)
"""One slot of a tag's limit, held by a task run until it ends or ``expires`` passes
(its holder renews it while the task runs, so a dead process's slot frees itself)."""

flow_run_tags = sa.Table(
    "flow_run_tags",
    metadata,
    sa.Column("tag", sa.String(255), primary_key=True),
    sa.Column("flow_run_id", sa.String(36), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Index("ix_flow_run_tags_tag_created", "tag", "created", "flow_run_id"),
)
"""One row per tag of a flow run (the run's ``created`` copied in), so that a tag
filter walks an index newest first instead of scanning every run's JSON tags."""

task_runs = sa.Table(
    "task_runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    # NULL for a task called outside any flow (legato.engine.standalone).
    sa.Column("flow_run_id", sa.String(36), nullable=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("task_key", sa.String(512), nullable=False),
    sa.Column("dynamic_key", sa.Integer, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("state_type", sa.String(16), nullable=False),
    sa.Column("state_name", sa.String(32), nullable=False),
    sa.Column("state_message", sa.Text, nullable=True),
    sa.Column("state_timestamp", sa.Float, nullable=False),
    sa.Column("run_count", sa.Integer, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("start_time", sa.Float, nullable=True),
    sa.Column("end_time", sa.Float, nullable=True),
    sa.Column("cache_key", sa.String(512), nullable=True),
    sa.Column("cache_expiration", sa.Float, nullable=True),
    sa.Column("result_key", sa.String(512), nullable=True),
    sa.Column("subflow_run_id", sa.String(36), nullable=True),
    # A run's task runs are read in creation order (the API, and resume by key).
    sa.Index("ix_task_runs_flow_run_id_created", "flow_run_id", "created", "id"),
    sa.Index("ix_task_runs_cache_key", "cache_key"),
)

task_run_inputs = sa.Table(
    "task_run_inputs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_run_id", sa.String(36), nullable=False),
    sa.Column("parameter", sa.String(255), nullable=False),
    sa.Column("upstream_id", sa.String(36), nullable=False),
    sa.Index("ix_task_run_inputs_task_run_id", "task_run_id"),
)

state_history = sa.Table(
    "state_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # NULL for the states of a task run of no flow run (legato.engine.standalone).
    sa.Column("flow_run_id", sa.String(36), nullable=True),
    sa.Column("task_run_id", sa.String(36), nullable=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("name", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("scheduled_time", sa.Float, nullable=True),
    # (flow_run_id, task_run_id): a flow run's own states are those with no task run.
    sa.Index("ix_state_history_flow_run_id_task_run_id", "flow_run_id", "task_run_id"),
    sa.Index("ix_state_history_task_run_id", "task_run_id"),
)

logs = sa.Table(
    "logs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("flow_run_id", sa.String(36), nullable=True),
    sa.Column("task_run_id", sa.String(36), nullable=True),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("logger", sa.String(255), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    # Lines are read in the order stored (by id), a page at a time after the last id
    # read: a run's lines, or one task run's, are a walk down one of these.
    sa.Index("ix_logs_flow_run_id_id", "flow_run_id", "id"),
    sa.Index("ix_logs_task_run_id_id", "task_run_id", "id"),
)

ingested_batches = sa.Table(
    "ingested_batches",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("received", sa.Float, nullable=False),
    sa.Index("ix_ingested_batches_received", "received"),
)
"""Ids of the client batches (``POST /api/bulk``) already written, committed with
them: a batch sent again because its answer was lost is not stored twice."""

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("read_only", sa.Boolean, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("last_used", sa.Float, nullable=True),
    # A key of a running server's own processes (its built-in worker): made when the
    # server starts, deleted when it stops; listed and revocable like any other.
    sa.Column("internal", sa.Boolean, nullable=False, server_default=sa.false()),
)

events = sa.Table(
    "events",
    metadata,
    # The order the server stored events in: the cursor of reads and of the live stream.
    # AUTOINCREMENT on SQLite: a seq is never handed out twice, even after deletes.
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("event", sa.String(1024), nullable=False),
    sa.Column("occurred", sa.Float, nullable=False),
    sa.Column("received", sa.Float, nullable=False),
    sa.Column("resource_id", sa.String(1024), nullable=False),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Column("related", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Index("ix_events_event_seq", "event", "seq"),
    sa.Index("ix_events_resource_id_seq", "resource_id", "seq"),
    sa.Index("ix_events_occurred", "occurred"),
    sqlite_autoincrement=True,
)
"""Events as stored (:mod:`legato.store.events`); ``resource``, ``related`` and
``payload`` are JSON text, kept as sent."""

event_resources = sa.Table(
    "event_resources",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("resource_id", sa.String(1024), nullable=False),
    sa.Column("role", sa.String(255), nullable=False),
    sa.Index("ix_event_resources_resource_id_seq", "resource_id", "seq"),
    sa.Index("ix_event_resources_seq", "seq"),
)
"""The related resources of each event, one row each: 'events related to deployment X'
is a walk down an index rather than a read of every event's JSON."""

event_cursors = sa.Table(
    "event_cursors",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
"""How far a reader that must not skip anything has read: the automation evaluator's
place in the event feed (``automations.events``, ``automations.states``)."""

automations = sa.Table(
    "automations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    # The AutomationSpec as JSON text (legato.schemas.automations).
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Column("last_fired", sa.Float, nullable=True),
)
"""Automations (:mod:`legato.store.automations`)."""

automation_buckets = sa.Table(
    "automation_buckets",
    metadata,
    sa.Column("automation_id", sa.String(36), primary_key=True),
    sa.Column("trigger_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(1024), primary_key=True),
    sa.Column("start", sa.Float, nullable=True),
    sa.Column("end", sa.Float, nullable=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("triggered", sa.Boolean, nullable=False),
    sa.Column("event_ids", sa.Text, nullable=False),
)
"""What each trigger has counted, per ``for_each`` key (legato.event_rules.triggers):
written with the evaluator's cursor, so a restart goes on from exactly there."""

automation_firings = sa.Table(
    "automation_firings",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("automation_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("trigger_id", sa.String(64), nullable=False),
    sa.Column("key", sa.String(1024), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("late", sa.Boolean, nullable=False),
    sa.Column("event_ids", sa.Text, nullable=False),
    # The triggering event (the last one counted), as read: actions render from it.
    sa.Column("event", sa.Text, nullable=True),
    sa.Column("suppressed", sa.Integer, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Index("ix_automation_firings_automation_id_created", "automation_id", "created"),
)

automation_actions = sa.Table(
    "automation_actions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("firing_id", sa.String(36), nullable=False),
    sa.Column("automation_id", sa.String(36), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("finished", sa.Float, nullable=True),
    sa.Index("ix_automation_actions_status", "status", "lease_until"),
    sa.Index("ix_automation_actions_firing_id", "firing_id", "position"),
)
"""Each action of each firing, written with the firing (an outbox): pending until an
executor holds it (``lease_until``), then done or failed with its error or result."""

service_leases = sa.Table(
    "service_leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
)
"""Which server runs a service that must run once per database (the automation
evaluator), until when: two servers on one database take turns, never both."""
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    # sha256 of the URL's slug (the secret), as API keys are kept; the hint is its
    # first characters, shown so a user can tell which URL a sender holds.
    sa.Column("slug_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("slug_hint", sa.String(16), nullable=False),
    sa.Column("require_key", sa.Boolean, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
"""Webhooks (:mod:`legato.store.webhooks`): a template that turns a request to
``/hooks/<slug>`` into an event."""
notification_channels = sa.Table(
    "notification_channels",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    # The config's public fields as JSON text; its secret fields (legato.schemas.
    # notifications.SECRET_FIELDS) are one Fernet token of their JSON in ``secrets``.
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("secrets", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
"""Where notifications go (:mod:`legato.store.notifications`)."""

notification_deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("channel_id", sa.String(36), nullable=False),
    sa.Column("channel_name", sa.String(255), nullable=False),
    sa.Column("automation_id", sa.String(36), nullable=True),
    sa.Column("firing_id", sa.String(36), nullable=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_preview", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # Every try, as a JSON list of {at, outcome, status_code, error, duration}.
    sa.Column("attempts", sa.Text, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("finished", sa.Float, nullable=True),
    sa.Index("ix_notification_deliveries_channel_created", "channel_id", "created"),
    sa.Index("ix_notification_deliveries_firing", "firing_id"),
)
"""Each message sent to a channel, written before the first try and after each one, so
a delivery cut short by a crash still shows what was tried."""
