"""Small partial indexes over the rows the jobs skip, so counting them reads only them.

The warning check and the progress update count the processing tasks they skip (no window, end
not after start, progress outside 0..100, no handler); without these, each count was a second
scan of every processing task.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BAD = ("status = 'processing' AND (expected_start_time IS NULL OR expected_end_time IS NULL "
       "OR expected_end_time <= expected_start_time OR progress IS NULL OR progress < 0 OR progress > 100)")
NO_HANDLER = "status = 'processing' AND current_handler_id IS NULL"


def upgrade() -> None:
    op.create_index("ix_tasks_processing_bad", "tasks", ["id"],
                    postgresql_where=sa.text(BAD), sqlite_where=sa.text(BAD))
    op.create_index("ix_tasks_processing_no_handler", "tasks", ["id"],
                    postgresql_where=sa.text(NO_HANDLER), sqlite_where=sa.text(NO_HANDLER))


def downgrade() -> None:
    op.drop_index("ix_tasks_processing_no_handler", "tasks")
    op.drop_index("ix_tasks_processing_bad", "tasks")
