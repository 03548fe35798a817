"""Per-task recurrence: the rule, its next due instant, and what it was planned from.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import console.db.column_types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FINISHED_PERIODIC = "category = 'periodic' AND status IN ('completed', 'closed') AND recurrence IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("recurrence", sa.String(500), nullable=True))
        batch.add_column(sa.Column("next_reset_at", console.db.column_types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reset_planned_from", console.db.column_types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("recurrence_error", sa.Text(), nullable=True))
    # The reset job reads rule-driven tasks only through these, so its cost follows the tasks due
    # (or newly finished), not every periodic task.
    op.create_index("ix_tasks_rule_due", "tasks", ["next_reset_at"],
                    postgresql_where=sa.text(FINISHED_PERIODIC), sqlite_where=sa.text(FINISHED_PERIODIC))
    unplanned = f"{FINISHED_PERIODIC} AND (reset_planned_from IS NULL OR reset_planned_from <> actual_end_time)"
    op.create_index("ix_tasks_rule_unplanned", "tasks", ["id"],
                    postgresql_where=sa.text(unplanned), sqlite_where=sa.text(unplanned))
    op.create_index("ix_tasks_rule_invalid", "tasks", ["id"],
                    postgresql_where=sa.text("recurrence_error IS NOT NULL"),
                    sqlite_where=sa.text("recurrence_error IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_tasks_rule_invalid", "tasks")
    op.drop_index("ix_tasks_rule_unplanned", "tasks")
    op.drop_index("ix_tasks_rule_due", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("recurrence_error")
        batch.drop_column("reset_planned_from")
        batch.drop_column("next_reset_at")
        batch.drop_column("recurrence")
