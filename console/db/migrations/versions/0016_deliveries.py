"""The outbox of deliveries to channels (issue #28).

- ``deliveries``: one row per event per channel (per recipient for a personal channel), written in
  the transaction of the notification or run end it copies; the leader's sender claims a row
  (``state`` sending, ``claimed_by``, ``claimed_until``), sends it, and marks it sent.
- ``delivery_totals``: what rows no longer in ``deliveries`` (deleted by retention) or no longer
  in their state (a given-up row sent again) counted, so ``taskconsole_deliveries_total`` never falls.

Downgrade drops both: what was not yet sent is lost, and the downgrade plan says so.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

import console.db.column_types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    when = console.db.column_types.UTCDateTime(timezone=True)
    op.create_table(
        "deliveries",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("user_id", big_id, nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("task_id", big_id, nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("deadline", when, nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("run_id", big_id, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("next_try_at", when, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claimed_until", when, nullable=True),
        sa.Column("sent_at", when, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
    )
    op.create_index("ix_deliveries_state_next_try_at", "deliveries", ["state", "next_try_at"])
    op.create_index("ix_deliveries_channel_state", "deliveries", ["channel", "state"])
    op.create_index("ix_deliveries_claimed_by", "deliveries", ["claimed_by"])
    op.create_table(
        "delivery_totals",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "state", name="pk_delivery_totals"),
    )


def downgrade() -> None:
    op.drop_table("delivery_totals")
    op.drop_index("ix_deliveries_claimed_by", table_name="deliveries")
    op.drop_index("ix_deliveries_channel_state", table_name="deliveries")
    op.drop_index("ix_deliveries_state_next_try_at", table_name="deliveries")
    op.drop_table("deliveries")
