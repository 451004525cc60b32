"""Tables of the event store (SQLAlchemy Core).

Every table is created by the Alembic migrations in ``bizmodel/store/migrations``; this module
is the source the migrations were written from and the one the queries use.

Examples
--------
>>> sorted(metadata.tables)
['activity_days', 'activity_firsts', 'api_keys', 'assignments', 'audit_log', 'event_days', \
'events', 'experiments', 'feedback', 'key_usage', 'predictions', 'rate_buckets', \
'rollup_state']
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

predictions = Table(
    "predictions",
    metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex, returned to the client
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("model_name", String(64), nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("input_hash", String(64), nullable=False, index=True),  # sha256 of the inputs
    Column("inputs", JSON, nullable=False),
    Column("output", JSON, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("cpu_seconds", Float, nullable=False),  # compute cost of this prediction
    Column("cost_usd", Float, nullable=False),
    Column("user_id", String(128), nullable=True, index=True),
    Column("experiment", String(64), nullable=True),
    Column("variant", String(64), nullable=True),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("prediction_id", String(32), ForeignKey("predictions.id"), nullable=False, index=True),
    Column("user_id", String(128), nullable=True),
    Column("rating", Float, nullable=True),  # e.g. 1-5 stars or thumbs as 0/1
    Column("correction", JSON, nullable=True),  # the value the user says is right
    Column("comment", Text, nullable=True),
    Column("client_feedback_id", String(64), nullable=True),  # idempotency key (unique index)
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_event_id", String(128), nullable=True, unique=True),  # idempotency key
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("received_ts", DateTime(timezone=True), nullable=False),
    Column("user_id", String(128), nullable=False, index=True),
    Column("type", String(64), nullable=False, index=True),
    Column("value", Float, nullable=True),
    Column("properties", JSON, nullable=True),
    Column("experiment", String(64), nullable=True),  # seen under this experiment ...
    Column("variant", String(64), nullable=True),  # ... and this arm: an exposure
)

experiments = Table(
    "experiments",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("salt", String(64), nullable=False),
    Column("variants", JSON, nullable=False),  # [{"name", "weight", "model_version"?}]
    Column("model_name", String(64), nullable=True),  # set for model-version experiments
    Column("status", String(16), nullable=False),  # "running" | "stopped"
    Column("description", Text, nullable=True),
    Column("created_ts", DateTime(timezone=True), nullable=False),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment", String(64), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("variant", String(64), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    UniqueConstraint("experiment", "user_id", name="uq_assignments_experiment_user"),
)

api_keys = Table(  # HTTP API keys: only a hash of each key is kept (bizmodel.store.keys)
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # the public part of bzk_<id>_<secret>
    Column("key_sha256", String(64), nullable=False),  # sha256 hex of the whole key
    Column("roles", String(64), nullable=False),  # comma-separated: predict,ingest,read,admin
    Column("name", String(128), nullable=True),  # who holds it, e.g. "ios-app"
    Column("rate_per_minute", Integer, nullable=True),  # None = the server's default
    Column("calls_per_day", Integer, nullable=True),  # daily quota; None = the server's default
    Column("created_ts", DateTime(timezone=True), nullable=False),
    Column("revoked_ts", DateTime(timezone=True), nullable=True),
)

audit_log = Table(  # admin actions: key create/revoke, experiment writes, promotions
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(64), nullable=False),  # "key:<id>", "env:<n>" or "cli"
    Column("action", String(32), nullable=False),  # e.g. "key.create", "experiment.delete"
    Column("target", String(128), nullable=True),  # what it acted on: key id, experiment, model
    Column("detail", JSON, nullable=True),
)

rate_buckets = Table(  # per-key token buckets shared by every server replica (store/ratelimits)
    "rate_buckets",
    metadata,
    Column("key_id", String(64), primary_key=True),  # the caller: "key:<id>" or "env:<n>"
    Column("tokens", Float, nullable=False),  # calls left at `updated`
    Column("updated", Float, nullable=False),  # Unix seconds of the last take
    Column("granted", Integer, nullable=False),  # tokens the last take got (read back)
)

key_usage = Table(  # calls each key used each UTC day, for daily quotas (store/ratelimits)
    "key_usage",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("day", Integer, primary_key=True),  # whole UTC days since 1970-01-01
    Column("used", Integer, nullable=False),  # calls granted to the replicas that day
    Column("granted", Integer, nullable=False),  # what the last take got (read back)
)

# ---- KPI rollups (bizmodel.store.rollups): derived from events, refreshed before each read ----
# Days are whole UTC days since 1970-01-01; NO_PREV (in rollups.py) stands for "none before".

rollup_state = Table(  # one row: the events already folded into the rollups
    "rollup_state",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("last_event_id", Integer, nullable=False),  # events with id <= this are folded in
    Column("events", Integer, nullable=False),  # how many events that is (a consistency check)
)

event_days = Table(  # per UTC day and event type: count and sum of value
    "event_days",
    metadata,
    Column("day", Integer, primary_key=True),
    Column("type", String(64), primary_key=True),
    Column("n", Integer, nullable=False),
    Column("value_sum", Float, nullable=False),  # NULL values count as 0
)

activity_days = Table(  # one row per (kind, user, day) the user was active in that kind
    "activity_days",
    metadata,
    Column("kind", String(16), primary_key=True),  # active | purchase | churn
    Column("user_id", String(128), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("prev_day", Integer, nullable=False),  # the user's previous day of that kind
)

activity_firsts = Table(  # activity_days counted per (kind, day, prev_day): distinct users
    "activity_firsts",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("prev_day", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
)

Index("ix_activity_days_day", activity_days.c.day)
Index("ix_predictions_model", predictions.c.model_name, predictions.c.model_version)
Index("ux_feedback_client_id", feedback.c.client_feedback_id, unique=True)
Index("ix_events_experiment_user", events.c.experiment, events.c.user_id)
Index("ix_assignments_arm", assignments.c.experiment, assignments.c.variant, assignments.c.ts)
