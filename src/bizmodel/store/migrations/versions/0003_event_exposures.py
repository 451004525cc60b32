"""Events carry the experiment and variant they were seen under (exposures as data).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("experiment", sa.String(64), nullable=True))
        batch.add_column(sa.Column("variant", sa.String(64), nullable=True))
    # the exposures an experiment's analysis reads: by experiment, then user
    op.create_index("ix_events_experiment_user", "events", ["experiment", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_events_experiment_user", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("variant")
        batch.drop_column("experiment")
