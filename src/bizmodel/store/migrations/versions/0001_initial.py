"""Initial schema: predictions, feedback, events, experiments, assignments.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("ts", TS, nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("output", sa.JSON, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("cpu_seconds", sa.Float, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("experiment", sa.String(64), nullable=True),
        sa.Column("variant", sa.String(64), nullable=True),
    )
    op.create_index("ix_predictions_ts", "predictions", ["ts"])
    op.create_index("ix_predictions_input_hash", "predictions", ["input_hash"])
    op.create_index("ix_predictions_user_id", "predictions", ["user_id"])
    op.create_index("ix_predictions_model", "predictions", ["model_name", "model_version"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", TS, nullable=False),
        sa.Column("prediction_id", sa.String(32), sa.ForeignKey("predictions.id"), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("rating", sa.Float, nullable=True),
        sa.Column("correction", sa.JSON, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
    )
    op.create_index("ix_feedback_prediction_id", "feedback", ["prediction_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_event_id", sa.String(128), nullable=True, unique=True),
        sa.Column("ts", TS, nullable=False),
        sa.Column("received_ts", TS, nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("properties", sa.JSON, nullable=True),
    )
    op.create_index("ix_events_ts", "events", ["ts"])
    op.create_index("ix_events_user_id", "events", ["user_id"])
    op.create_index("ix_events_type", "events", ["type"])
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("variants", sa.JSON, nullable=False),
        sa.Column("model_name", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_ts", TS, nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("experiment", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.UniqueConstraint("experiment", "user_id", name="uq_assignments_experiment_user"),
    )


def downgrade() -> None:
    for name in ("assignments", "experiments", "events", "feedback", "predictions"):
        op.drop_table(name)
