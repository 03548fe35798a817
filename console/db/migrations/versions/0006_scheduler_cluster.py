"""Several scheduler processes on one database: who is there, and commands for the leader.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import console.db.column_types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, console.db.column_types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "scheduler_nodes",
        sa.Column("id", sa.String(96), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _when("started_at", False),
        _when("heartbeat_at", False),
        _when("leader_since"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduler_nodes"),
    )
    op.create_table(
        "scheduler_commands",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        _when("created_at", False),
        sa.Column("taken_by", sa.String(96), nullable=True),
        _when("taken_at"),
        _when("done_at"),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scheduler_commands"),
    )
    op.create_index("ix_scheduler_commands_open", "scheduler_commands", ["id"],
                    postgresql_where=sa.text("done_at IS NULL"), sqlite_where=sa.text("done_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_scheduler_commands_open", "scheduler_commands")
    op.drop_table("scheduler_commands")
    op.drop_table("scheduler_nodes")
