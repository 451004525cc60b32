"""Daily call quotas per API key: the key's quota and the calls each key used each day.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

``api_keys.calls_per_day`` (None = the server's ``calls_per_day``) and ``key_usage``, the
calls a key used on a UTC day, counted by every replica of the API in one place
(:func:`bizmodel.store.ratelimits.use_quota`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("calls_per_day", sa.Integer, nullable=True))
    op.create_table(
        "key_usage",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("used", sa.Integer, nullable=False),
        sa.Column("granted", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("key_usage")
    op.drop_column("api_keys", "calls_per_day")
