"""An idempotency key on feedback: a retried ``POST /v1/feedback`` is stored once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

``client_feedback_id`` is derived from the request's ``Idempotency-Key`` header (the Ray Serve
ingress adds one to every feedback request), the caller's key and the prediction id; rows
without one (older clients, the Python API) never conflict. A unique index rather than a
column constraint, because SQLite cannot add a UNIQUE column to an existing table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feedback", sa.Column("client_feedback_id", sa.String(64), nullable=True))
    op.create_index("ux_feedback_client_id", "feedback", ["client_feedback_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_feedback_client_id", "feedback")
    op.drop_column("feedback", "client_feedback_id")
