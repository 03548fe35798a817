"""The leader's frequent look for thresholds crossed (``warnings.check_every``): its last pass,
and the warning counts and forecast it keeps after each.

``warning_pass`` holds one row (id 1), rewritten by each pass: when it looked, from which instant,
what it sent and how long it took, and who looked. The next leader goes on from ``looked_at`` (no
threshold crossed while no process led is missed), and every console shows the last pass.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

import console.db.column_types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    instant = console.db.column_types.UTCDateTime(timezone=True)
    op.create_table(
        "warning_pass",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("looked_at", instant, nullable=False),
        sa.Column("since", instant, nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_warning_pass"),
    )


    op.create_table(
        "warning_outlook",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("computed_at", instant, nullable=False),
        sa.Column("took_s", sa.Float(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("forecast", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_warning_outlook"),
    )


def downgrade() -> None:
    op.drop_table("warning_outlook")
    op.drop_table("warning_pass")
