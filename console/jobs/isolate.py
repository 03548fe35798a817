"""Writing a set of rows when the database may refuse some of them.

The task system may guard its tasks with triggers or constraints of its own (a task that must not
be reopened, say), which raise on an UPDATE of certain rows. One such row must not roll back the
whole set-based write. So a job writes a set in a SAVEPOINT; when the database refuses it, the set
is split in two (by id ranges, or halves of a batch) and each half is tried in its own SAVEPOINT,
and so on until the refused rows stand alone. The other rows are written in the same transaction,
with their notifications; the refused ones are named, and the job raises ``RowsRefused`` at the
end so that the run is recorded failed (retried, then alerted). The common case stays one
statement; k refused rows among n cost about 2·k·log2(n) statements. Past a budget of attempts a
failing part is refused whole, unsplit, so that a database refusing everything costs little.

A job that deletes (cleanup) reports what was refused and goes on instead of failing the run; it
walks its rows by id, so a refused row is not tried again in the same run. The ``range_*``
helpers at the end split a part given as an id range, for a job whose rows are chosen by a
condition rather than listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, TypeVar

from sqlalchemy import Connection, and_, func, select, true
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InternalError

from console.db.engine import describe_error

P = TypeVar("P")
R = TypeVar("R")
IdRange = tuple[int | None, int | None]  # first and last id, inclusive; None: open

# A trigger's RAISE (PostgreSQL P0001 is an InternalError; SQLite's RAISE(ABORT) an IntegrityError),
# a CHECK or foreign key, a value the column refuses. Not OperationalError: a lock, a timeout or a
# lost connection is no row's fault, and splitting would only repeat it.
_REFUSALS = (IntegrityError, InternalError, DataError)
BUDGET = 200  # split attempts per run
_NAMED = 20  # ids named in the error


def is_refusal(exc: BaseException) -> bool:
    return isinstance(exc, _REFUSALS) and not (isinstance(exc, DBAPIError) and exc.connection_invalidated)


@dataclass
class Refused:
    """What the database refused during one run."""

    ids: list[int] = field(default_factory=list)
    parts: list[tuple[int, str]] = field(default_factory=list)  # (rows, label), refused unsplit
    first_error: str | None = None
    attempts: int = 0
    budget: int = field(default_factory=lambda: BUDGET)

    @property
    def count(self) -> int:
        return len(self.ids) + sum(n for n, _ in self.parts)

    def message(self, what: str, verb: str = "write") -> str:
        """One line naming the refused rows and the database's first reason; ``what`` is singular."""
        names = [str(i) for i in sorted(self.ids)[:_NAMED]]
        if len(self.ids) > _NAMED:
            names.append(f"and {len(self.ids) - _NAMED} more")
        named = [f"id {', '.join(names)}"] if len(self.ids) == 1 else ([f"ids {', '.join(names)}"] if names else [])
        named += [label for _, label in self.parts]
        plural = "" if self.count == 1 else "s"
        return (f"the database refused to {verb} {self.count} {what}{plural}: {'; '.join(named)} "
                f"({self.first_error or 'no reason given'})")


def write_isolated(conn: Connection, whole: P, write: Callable[[Connection, P], R],
                   split: Callable[[Connection, P], list[P] | int], size: Callable[[Connection, P], tuple[int, str]],
                   refused: Refused) -> list[R]:
    """``write`` the whole part, else its pieces, each in a SAVEPOINT; returns what the writes returned.

    ``split`` gives a failed part's pieces, or the id of the one row it holds (an empty list when
    it holds none); ``size`` its row count and a label, when it is refused whole.
    """
    results: list[R] = []
    todo = [whole]
    while todo:
        part = todo.pop()
        try:
            with conn.begin_nested():
                results.append(write(conn, part))
            continue
        except DBAPIError as exc:
            if not is_refusal(exc):
                raise
            if refused.first_error is None:
                refused.first_error = describe_error(exc)
        if refused.attempts >= refused.budget:
            refused.parts.append(size(conn, part))
            continue
        refused.attempts += 1
        pieces = split(conn, part)
        if isinstance(pieces, int):
            refused.ids.append(pieces)
        else:
            todo.extend(reversed(pieces))  # lower ids first
    return results


def halves(items: list) -> list[list] | int:
    """``split`` for a batch of parameter dicts keyed ``b_id``."""
    if len(items) == 1:
        return items[0]["b_id"]
    middle = len(items) // 2
    return [items[:middle], items[middle:]]


def batch_size(items: list) -> tuple[int, str]:
    ids = sorted(item["b_id"] for item in items)
    return len(ids), f"{len(ids)} tasks among ids {ids[0]}..{ids[-1]}"


def in_range(column, part: IdRange):
    """``column`` within the inclusive id range ``part``."""
    first, last = part
    return and_(true() if first is None else column >= first, true() if last is None else column <= last)


def _range_ids(conn: Connection, column, condition, part: IdRange):
    return conn.execute(select(func.count(), func.min(column), func.max(column))
                        .where(condition, in_range(column, part))).one()


def range_halves(conn: Connection, column, condition, part: IdRange) -> list[IdRange] | int:
    """``split`` for an id range: halves of the ids in ``part`` that ``condition`` selects, or the
    id of its one such row (an empty list when it holds none)."""
    n, first, last = _range_ids(conn, column, condition, part)
    if n <= 1:
        return first if n == 1 else []
    middle = (first + last) // 2
    return [(first, middle), (middle + 1, last)]


def range_size(conn: Connection, column, condition, part: IdRange, what: str) -> tuple[int, str]:
    """``size`` for an id range: the rows ``condition`` selects in ``part``, ``what`` plural."""
    n, first, last = _range_ids(conn, column, condition, part)
    return int(n), f"{n} {what} among ids {first}..{last}"
