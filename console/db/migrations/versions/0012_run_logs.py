"""Log lines of job runs, so that every console shows the live tail and any run's whole log.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import console.db.column_types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_run_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("at", console.db.column_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("logger", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_run_logs"),
    )
    op.create_index("ix_job_run_logs_run_id_id", "job_run_logs", ["run_id", "id"])
    op.create_index("ix_job_run_logs_at", "job_run_logs", ["at"])


def downgrade() -> None:
    op.drop_index("ix_job_run_logs_at", table_name="job_run_logs")
    op.drop_index("ix_job_run_logs_run_id_id", table_name="job_run_logs")
    op.drop_table("job_run_logs")
