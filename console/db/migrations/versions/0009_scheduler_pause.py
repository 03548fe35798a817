"""The scheduler-wide pause, stored so that whichever process leads obeys it.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import console.db.column_types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row at most (id 1); no row means the scheduler is not paused.
    op.create_table(
        "scheduler_pause",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("changed_at", console.db.column_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scheduler_pause"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_pause")
