"""KPI rollups: per-day event counts and the users' active days, folded in from the events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

The tables start empty with nothing folded in; :func:`bizmodel.store.rollups.refresh` folds
in the existing events on the first read (a store of 1M events: once, a few seconds), so the
migration itself stays instant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_event_id", sa.Integer, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "last_event_id": 0, "events": 0}])
    op.create_table(
        "event_days",
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(64), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("value_sum", sa.Float, nullable=False),
    )
    op.create_table(
        "activity_days",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("prev_day", sa.Integer, nullable=False),
    )
    op.create_index("ix_activity_days_day", "activity_days", ["day"])
    op.create_table(
        "activity_firsts",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("prev_day", sa.Integer, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("activity_firsts")
    op.drop_index("ix_activity_days_day", "activity_days")
    for name in ("activity_days", "event_days", "rollup_state"):
        op.drop_table(name)
