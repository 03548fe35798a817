"""Which stored timestamps Python can read, as SQL: the console's and the command line's guard.

A timestamp column of the task system can hold what a Python ``datetime`` cannot: PostgreSQL's
``'infinity'``, year 200000 or 4000 BC; on SQLite any text at all ('soon', '2026-02-30', an
integer). The jobs only compute with such values in SQL, but a face that reads one into Python
fails, and with it the whole panel. Every read of a task's timestamps for display is therefore
guarded by ``readable``, and the rows it leaves out are counted, never shown half-read.

A readable timestamp is one of years 1 to 9999 in UTC. On SQLite it must also be in the text
form SQLAlchemy writes (``YYYY-MM-DD HH:MM:SS`` and an optional fraction), a real calendar
instant (SQLite itself would take 30 February for 2 March), which is also the only form the
jobs' epoch arithmetic reads correctly.
"""

from __future__ import annotations

from sqlalchemy import Boolean, and_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement



class readable(FunctionElement[bool]):
    """True when the timestamp column's value can be read into a Python ``datetime`` (NULL or false
    for NULL)."""

    type = Boolean()
    inherit_cache = True
    name = "readable"


@compiles(readable, "postgresql")
def _readable_pg(element, compiler, **kw):
    # 'infinity' and '-infinity' compare beyond every finite instant, BC dates below year 1.
    col = compiler.process(element.clauses, **kw)
    return f"({col} >= '0001-01-01 00:00:00+00' AND {col} < '10000-01-01 00:00:00+00')"


@compiles(readable, "sqlite")
def _readable_sqlite(element, compiler, **kw):
    col = compiler.process(element.clauses, **kw)
    head = f"substr({col}, 1, 19)"
    # The first 19 characters must be a date and time SQLite writes back unchanged (no 30 February,
    # no 24:00, year 0001 or later); what follows must be nothing or a fraction of a second.
    # A modifier makes SQLite normalise the instant first (without one it echoes 30 February back).
    return (f"(typeof({col}) = 'text' "
            f"AND coalesce(strftime('%Y-%m-%d %H:%M:%S', {head}, '+0 seconds') = {head}, 0) "
            f"AND substr({col}, 1, 4) <> '0000' "
            f"AND (length({col}) = 19 OR (substr({col}, 20, 1) = '.' AND length({col}) > 20 "
            f"AND substr({col}, 21) NOT GLOB '*[^0-9]*')))")


def all_readable(*columns) -> ColumnElement[bool]:
    """Every one of ``columns`` is readable (NULL, not true, if one is NULL)."""
    return and_(*[readable(c) for c in columns])
