"""Column types and SQL expressions that read the same on SQLite and PostgreSQL.

Timestamps are timezone-aware in Python and stored as UTC: ``timestamptz`` on PostgreSQL, and
on SQLite a fixed-width UTC text that sorts and compares in time order.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, DateTime, Float, String
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


class WallClockDateTime(TypeDecorator[datetime]):
    """A ``timestamp without time zone`` of the task system's, read and written as the wall clock
    of ``zone``.

    Python sees aware datetimes (in UTC), as with ``UTCDateTime``; the column holds the naive
    wall-clock time of ``zone``, as a task system that writes ``datetime.now()`` stores it."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def __init__(self, zone: str = "UTC"):
        super().__init__()
        self.zone = zone

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a wall-clock column; attach a timezone")
        return value.astimezone(zone_info(self.zone)).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone_info(self.zone))
        return value.astimezone(timezone.utc)


@lru_cache(maxsize=16)
def zone_info(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def wall_clock_zone(column) -> str | None:
    """The zone a column's naive values are wall-clock times of, other than UTC (None: UTC or aware)."""
    kind = getattr(column, "type", None)
    return kind.zone if isinstance(kind, WallClockDateTime) and kind.zone != "UTC" else None


def epoch_of(column, *, indexable: bool = False):
    """Seconds since 1970 of a timestamp column, whatever wall clock it is kept in: the one form the
    jobs, the panels and ``db tune``'s indexes and triggers all use."""
    zone = wall_clock_zone(column)
    if zone is not None:
        return wall_epoch_seconds(column, zone, indexable)
    return indexable_epoch_seconds(column) if indexable else epoch_seconds(column)


def sqlite_wall_epoch(value, zone: str):
    """SQLite function ``tc_wall_epoch(text, zone)``: epoch seconds of a naive wall-clock text (SQLite
    has no time zone database). NULL for what is not a timestamp."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone_info(zone))
    try:
        return parsed.timestamp()
    except (OverflowError, ValueError):
        return None


def sqlite_wall_utc(value, zone: str):
    """SQLite function ``tc_wall_utc(text, zone)``: a naive wall-clock text of ``zone`` as the UTC
    text ``UTCDateTime`` stores on SQLite. What is not a timestamp, or falls outside years 1 to 9999
    once in UTC, comes back as it was (no instant can be told for it)."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone_info(zone))
        return parsed.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    except (OverflowError, ValueError):
        return value


def _zone(compiler, zone: str) -> str:
    """A zone name as an SQL string literal, rendered by the dialect (a word, never pasted)."""
    return compiler.render_literal_value(zone, String())


class instant_of(FunctionElement[datetime]):
    """A task system's timestamp column as the instant it stands for, for taskconsole's own
    timezone-aware (UTC) columns: a wall clock's naive value is read in its zone. Aware and naive
    UTC columns are already that instant (PostgreSQL sessions run in UTC)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "instant_of"

    def __init__(self, column):
        self.zone = wall_clock_zone(column)
        super().__init__(column)


@compiles(instant_of, "postgresql")
def _instant_of_pg(element, compiler, **kw):
    col = compiler.process(element.clauses, **kw)
    if element.zone is None:
        return col
    return f"timezone({_zone(compiler, element.zone)}, {col})"  # the instant whose wall clock in the zone is col


@compiles(instant_of, "sqlite")
def _instant_of_sqlite(element, compiler, **kw):
    col = compiler.process(element.clauses, **kw)
    if element.zone is None:
        return col
    return f"tc_wall_utc({col}, {_zone(compiler, element.zone)})"


class wall_epoch_seconds(FunctionElement[float]):
    """``epoch_seconds`` of a naive column holding wall-clock times of a zone."""

    type = Float()
    inherit_cache = True
    name = "wall_epoch_seconds"

    def __init__(self, column, zone: str, indexable: bool = False):
        self.zone = zone
        self.indexable = indexable
        super().__init__(column)


@compiles(wall_epoch_seconds, "postgresql")
def _wall_epoch_pg(element, compiler, **kw):
    col = compiler.process(element.clauses, **kw)
    local = f"timezone({_zone(compiler, element.zone)}, {col})"  # the instant whose wall clock in the zone is col
    # timezone(zone, timestamp) and timezone('UTC', timestamptz) are IMMUTABLE; date_part of a
    # timestamptz is only STABLE, hence the extra step in an index's form.
    return f"date_part('epoch', timezone('UTC', {local}))" if element.indexable else f"date_part('epoch', {local})"


@compiles(wall_epoch_seconds, "sqlite")
def _wall_epoch_sqlite(element, compiler, **kw):
    return f"tc_wall_epoch({compiler.process(element.clauses, **kw)}, {_zone(compiler, element.zone)})"


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
    col = compiler.process(element.clauses, **kw)
    if _naive(element):  # date_part of a timestamp without time zone is IMMUTABLE, and its epoch is UTC's
        return f"date_part('epoch', {col})"
    # Through timezone('UTC', ...) it is IMMUTABLE (date_part of a timestamptz is only STABLE), so
    # an index can hold it; the extra call costs, so only the indexed predicate uses this form.
    return f"date_part('epoch', timezone('UTC', {col}))"


def _naive(element) -> bool:
    """Whether the function's column is a ``timestamp without time zone`` (a task system's naive UTC)."""
    kind = getattr(next(iter(element.clauses), None), "type", None)
    if isinstance(kind, WallClockDateTime):
        return True
    return isinstance(kind, DateTime) and not kind.timezone


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    # julianday() keeps only milliseconds; whole seconds plus the stored fraction keep microseconds.
    # strftime() gets the text without its fraction: it rounds to milliseconds first, so
    # '07:59:59.999999' would come back as 08:00:00 and the fraction be counted twice.
    col = compiler.process(element.clauses, **kw)
    return f"(CAST(strftime('%s', substr({col}, 1, 19)) AS REAL) + CAST(substr({col}, 20) AS REAL))"


class postgresql_only(FunctionElement[bool]):
    """A condition PostgreSQL tests and SQLite takes as true (it has no timestamp arithmetic)."""

    type = Boolean()
    inherit_cache = True
    name = "postgresql_only"


@compiles(postgresql_only, "postgresql")
def _postgresql_only_pg(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(postgresql_only, "sqlite")
def _postgresql_only_sqlite(element, compiler, **kw):
    return "1"


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
