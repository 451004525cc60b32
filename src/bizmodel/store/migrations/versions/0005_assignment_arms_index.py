"""An index of the assignments by experiment and arm (with the exposure time).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

The web app lists every experiment's arms and counts their exposures on each page (its
segment filter, the Experiments list); without it each is a scan of every assignment (100k
exposures: 0.11 s), with it a covering-index scan (0.02 s).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_assignments_arm", "assignments", ["experiment", "variant", "ts"])


def downgrade() -> None:
    op.drop_index("ix_assignments_arm", "assignments")
