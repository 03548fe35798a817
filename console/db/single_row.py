"""Tables of one row (id 1) that taskconsole rewrites in place: the scheduler-wide pause, the
warning pass's last look, the warning outlook."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, update

ROW_ID = 1


def put_row(conn: Connection, model, values: dict[str, Any]) -> None:
    """Write ``values`` into ``model``'s one row, making it the first time. Two writers that both
    make it: the second's INSERT fails on the key (IntegrityError), and it may write again."""
    if not conn.execute(update(model).where(model.id == ROW_ID).values(**values)).rowcount:
        conn.execute(insert(model).values(id=ROW_ID, **values))
