"""Column types and SQL expressions that read the same on SQLite and PostgreSQL.

Timestamps are timezone-aware in Python and stored as UTC: ``timestamptz`` on PostgreSQL, and
on SQLite a fixed-width UTC text that sorts and compares in time order.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import literal_column
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC; naive values are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone")
        value = value.astimezone(timezone.utc)
        # SQLite stores text: drop the offset so every stored value has the same width.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class epoch_seconds(FunctionElement[float]):
    """Seconds since 1970 of a timestamp column, as a float (for window arithmetic in SQL)."""

    type = Float()
    inherit_cache = True
    name = "epoch_seconds"


class indexable_epoch_seconds(epoch_seconds):
    """The same number, in a form PostgreSQL accepts in an index (see ix_tasks_warn_from)."""

    inherit_cache = True
    name = "indexable_epoch_seconds"


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element, compiler, **kw):
    # date_part returns float8; EXTRACT returns numeric, whose arithmetic costs several times more.
    return "date_part('epoch', %s)" % compiler.process(element.clauses, **kw)


@compiles(indexable_epoch_seconds, "postgresql")
def _indexable_epoch_pg(element, compiler, **kw):
    # Through timezone('UTC', ...) it is IMMUTABLE (date_part of a timestamptz is only STABLE), so
    # an index can hold it; the extra call costs, so only the indexed predicate uses this form.
    return "date_part('epoch', timezone('UTC', %s))" % compiler.process(element.clauses, **kw)


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    # julianday() keeps only milliseconds; whole seconds plus the stored fraction keep microseconds.
    # strftime() gets the text without its fraction: it rounds to milliseconds first, so
    # '07:59:59.999999' would come back as 08:00:00 and the fraction be counted twice.
    col = compiler.process(element.clauses, **kw)
    return f"(CAST(strftime('%s', substr({col}, 1, 19)) AS REAL) + CAST(substr({col}, 20) AS REAL))"


class round2(FunctionElement[float]):
    """A float rounded to two decimals (PostgreSQL only rounds numerics to a scale)."""

    type = Float()
    inherit_cache = True
    name = "round2"


@compiles(round2, "postgresql")
def _round2_pg(element, compiler, **kw):
    # Float arithmetic: rounding through numeric would cost a conversion per row.
    return "(round((%s) * 100.0) / 100.0)" % compiler.process(element.clauses, **kw)


@compiles(round2, "sqlite")
def _round2_sqlite(element, compiler, **kw):
    return "round(%s, 2)" % compiler.process(element.clauses, **kw)


class clamp(FunctionElement[float]):
    """``expr`` held within [low, high], evaluating ``expr`` once."""

    type = Float()
    inherit_cache = True
    name = "clamp"

    def __init__(self, expr, low: float = 0.0, high: float = 100.0):
        super().__init__(expr, literal_column(repr(float(low))), literal_column(repr(float(high))))


@compiles(clamp, "postgresql")
def _clamp_pg(element, compiler, **kw):
    expr, low, high = (compiler.process(c, **kw) for c in element.clauses)
    return f"LEAST(GREATEST({expr}, {low}), {high})"


@compiles(clamp, "sqlite")
def _clamp_sqlite(element, compiler, **kw):
    expr, low, high = (compiler.process(c, **kw) for c in element.clauses)
    return f"min(max({expr}, {low}), {high})"
