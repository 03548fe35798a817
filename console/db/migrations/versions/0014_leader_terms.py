"""Counted for the metrics: leader changes and runs that failed for good.

- ``leader_terms``: one row each time a process takes the lead (``taskconsole_leader_changes_total``).
- ``job_runs.failed_for_good``: set on the failed run no retry follows, the one that alerts admins
  (``taskconsole_job_failed_for_good_total``; its alert rule).
- ``job_run_totals`` and ``warnings_sent_totals``: what runs deleted by the run history's retention
  (``run_history.keep``) counted, folded in the same transaction as they are deleted, so that the
  metrics' counters and histograms (runs, failures, durations, warnings sent) never fall.

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

# The duration histogram's buckets (console.scheduler.ledger.DURATION_BUCKETS: 12 bounds).
BUCKETS = 12


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
    big = sa.BigInteger()
    op.create_table(
        "job_run_totals",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger_kind", sa.String(16), nullable=False),
        sa.Column("runs", big, nullable=False),
        sa.Column("failed_for_good", big, nullable=False),
        sa.Column("duration_count", big, nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        *(sa.Column(f"bucket_{i}", big, nullable=False) for i in range(BUCKETS)),
        sa.PrimaryKeyConstraint("job_id", "status", "trigger_kind", name="pk_job_run_totals"),
    )
    op.create_table(
        "warnings_sent_totals",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sent", big, nullable=False),
        sa.PrimaryKeyConstraint("level", name="pk_warnings_sent_totals"),
    )


def downgrade() -> None:
    op.drop_table("warnings_sent_totals")
    op.drop_table("job_run_totals")
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_column("failed_for_good")
    op.drop_table("leader_terms")
