"""Per-key token buckets in the store, shared by every replica of the HTTP API.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

With ``serve --replicas N`` or Ray Serve, each replica counting a key's calls on its own let
the key make N times its ``rate_per_minute``; the replicas now lease tokens from one bucket
per key here (:mod:`bizmodel.store.ratelimits`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("granted", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
