"""The event's own fields on a delivery, for channels that carry them (``channels[].fields``).

``deliveries.fields`` holds a job event's fields as JSON text (``event``, ``job_id``, ``at``,
``host``, ``run_id``, ``error`` ...), copied when the event is queued, so the failure webhook
(``alerts.webhook_url``, now a ``json://`` channel) posts the body its receivers have always read.
Null for every other row. Downgrade drops the column: rows queued but not yet sent then go out
without those fields.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("fields", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("fields")
