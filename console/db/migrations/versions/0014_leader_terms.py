"""Counted for the metrics: leader changes and runs that failed for good.

- ``leader_terms``: one row each time a process takes the lead (``taskconsole_leader_changes_total``).
- ``job_runs.failed_for_good``: set on the failed run no retry follows, the one that alerts admins
  (``taskconsole_job_failed_for_good_total``; its alert rule).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

import console.db.column_types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leader_terms",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("node_id", sa.String(96), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("began_at", console.db.column_types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_leader_terms"),
    )
    op.add_column("job_runs", sa.Column("failed_for_good", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_column("failed_for_good")
    op.drop_table("leader_terms")
