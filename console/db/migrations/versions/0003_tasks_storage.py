"""Tasks storage for frequent rewrites: room on each page, one index fewer.

The progress job rewrites time_progress of every processing task every 30 minutes. With free
room on the page PostgreSQL keeps the new row version there and skips every index (a HOT
update); fillfactor 70 leaves that room for rows written from now on. ix_tasks_status goes:
each status filter has a partial index of its own, and every index costs each rewrite.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tasks SET (fillfactor = 70)")
    op.drop_index("ix_tasks_status", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_status", "tasks", ["status"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tasks RESET (fillfactor)")
