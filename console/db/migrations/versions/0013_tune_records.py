"""What ``db tune`` made, recorded; API tokens bound to their user's name.

- ``tune_objects``: one row for each object ``db tune`` made on the task system's tables (index,
  trigger, function, table option), with its kind, name, table and definition. ``db untune``
  removes exactly these, whatever the mapping says now, and a tune that fails removes what it had
  made. Indexes an earlier tune made (``tc_…`` with a definition digest, on a table of this schema)
  are recorded here, so untune still finds them after the mapping's words change.
- ``api_tokens.user_name``: the name of the user a token was made for. A token is good only while
  a user row with that id *and* that name is an admin: an id reused by another user does not
  revive it. A token made before this revision is bound at its next good use to the name its user has then.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import console.db.column_types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The name db tune gives its indexes: tc_, the table and purpose, a six-digit digest of the definition.
TUNE_INDEX_PATTERN = r"^tc_.+_[0-9a-f]{6}$"


def upgrade() -> None:
    op.create_table(
        "tune_objects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("table_name", sa.String(255), nullable=True),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("made_at", console.db.column_types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tune_objects"),
        sa.UniqueConstraint("kind", "name", "table_name", name="uq_tune_objects_kind_name_table_name"),
    )
    op.add_column("api_tokens", sa.Column("user_name", sa.String(255), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Indexes of an earlier tune: in this schema, named as tune names them. Names are data here
        # (parameters), never SQL.
        op.execute(sa.text(
            "INSERT INTO tune_objects (kind, name, table_name, definition, made_at) "
            "SELECT 'index', indexname, tablename, indexdef, CURRENT_TIMESTAMP FROM pg_indexes "
            "WHERE schemaname = current_schema() AND indexname ~ :pattern"
        ).bindparams(pattern=TUNE_INDEX_PATTERN))
    else:
        rows = bind.execute(sa.text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' "
                                    "AND name LIKE 'tc\\_%' ESCAPE '\\'")).all()
        import re

        for name, table, sql in rows:
            if re.match(TUNE_INDEX_PATTERN, name):
                bind.execute(sa.text("INSERT INTO tune_objects (kind, name, table_name, definition, made_at) "
                                     "VALUES ('index', :n, :t, :d, CURRENT_TIMESTAMP)"),
                             {"n": name, "t": table, "d": sql or ""})


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("user_name")
    op.drop_table("tune_objects")
