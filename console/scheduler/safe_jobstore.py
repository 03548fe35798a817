"""APScheduler's SQLAlchemy job store, loading job state without letting the database run code.

APScheduler 3 pickles each job into ``apscheduler_jobs.job_state`` and unpickles it in every process
that reads the table (``taskconsole run``, the console, every command). Plain ``pickle.loads``
runs whatever a row asks for, so whoever could write that table could run code as the scheduler's
user on every host. This store keeps APScheduler's table and format (the design's choice) and
changes only how a row is loaded:

- an allowlist unpickler: only the classes a job of ours holds (its cron or interval trigger,
  their fields, datetimes and zones), and no ``BUILD`` that would change a class process-wide;
- the loaded state must have the shape of one of our jobs, calling one of our functions:
  ``Job.__setstate__`` imports the function named in the state, and importing runs code;
- a row it refuses is kept and reported (``refused``), never deleted as APScheduler's own
  ``_get_jobs`` would: it is evidence, and the job's schedule is not silently lost. Its job does
  not run until an operator deletes or fixes the row; the other jobs go on.

Overridden (tests/hostile/test_job_store.py pins what they rely on): ``_reconstitute_job``,
``_get_jobs``, ``lookup_job`` (to name the row) and ``get_next_run_time`` (to leave refused rows out).
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
from datetime import datetime, timedelta, timezone
from typing import Collection
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.triggers.cron import CronTrigger, expressions, fields
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import utc_timestamp_to_datetime
from sqlalchemy import and_, null, select

from console.domain.text import printable

log = logging.getLogger("console.scheduler")


def _zoneinfo_getattr(obj, name):
    # A ZoneInfo pickles as getattr(ZoneInfo, "_unpickle")(key, from_cache). The real getattr
    # would reach any attribute of any admitted object, and from there the interpreter.
    if obj is ZoneInfo and name == "_unpickle":
        return ZoneInfo._unpickle
    raise pickle.UnpicklingError(f"it asks for getattr({obj!r}, {name!r}), which no job of ours holds")


# Only CronTrigger and IntervalTrigger: triggers.build_trigger makes nothing else. Not OrTrigger or
# AndTrigger: their __setstate__ imports a class named in the state (apscheduler.util.ref_to_obj).
_TRIGGERS = (CronTrigger, IntervalTrigger)
# Checked row states remembered (four jobs; each rewrite of a row is a new state).
_REMEMBERED = 64
# Instances of these are rebuilt with BUILD (attributes set from the state); on anything else,
# a class or a function, BUILD would set attributes for the whole process.
_BUILT = _TRIGGERS + (
    fields.BaseField, fields.WeekField, fields.DayOfMonthField, fields.DayOfWeekField, fields.MonthField,
    expressions.AllExpression, expressions.RangeExpression, expressions.MonthRangeExpression,
    expressions.WeekdayRangeExpression, expressions.WeekdayPositionExpression,
    expressions.LastDayOfMonthExpression,
)
ADMITTED = {(c.__module__, c.__qualname__): c for c in _BUILT + (datetime, timedelta, timezone, ZoneInfo)}
ADMITTED[("builtins", "getattr")] = _zoneinfo_getattr

# What Job.__getstate__ (version 1) writes, and the types a job of ours has there.
_SHAPE = {
    "version": int, "id": str, "func": str, "trigger": _TRIGGERS, "executor": str, "args": tuple,
    "kwargs": dict, "name": str, "misfire_grace_time": (int, type(None)), "coalesce": bool,
    "max_instances": int, "next_run_time": (datetime, type(None)),
}


class _RestrictedUnpickler(pickle._Unpickler):  # noqa: SLF001
    """The pure-Python unpickler (its BUILD can be checked; the C one's cannot) with an allowlist."""

    dispatch = dict(pickle._Unpickler.dispatch)  # noqa: SLF001

    def find_class(self, module: str, name: str):
        try:
            return ADMITTED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which no job of ours holds") from None

    def load_build(self):
        target = self.stack[-2]
        if type(target) not in _BUILT:
            raise pickle.UnpicklingError(f"it sets attributes of {target!r}, which no job of ours does")
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build


class RefusedJobState(JobLookupError):
    """A job store row this process will not load; the row is kept."""

    def __init__(self, job_id: str, reason: str):
        reason = _plain(reason)
        KeyError.__init__(self, f"job store row {job_id!r} refused, kept and not run: {reason}")
        self.job_id, self.reason = job_id, reason

    def __str__(self) -> str:
        return self.args[0]


class SafeJobStore(SQLAlchemyJobStore):
    """SQLAlchemyJobStore whose rows load only as jobs of ours calling ``functions``."""

    def __init__(self, *, engine, tablename: str, functions: Collection[str],
                 executors: Collection[str] = ("default",)):
        super().__init__(engine=engine, tablename=tablename)
        self.functions, self.executors = frozenset(functions), frozenset(executors)
        # Rows refused by the last reads, job id -> why; left out of the scheduler's wake-ups.
        self.refused: dict[str, str] = {}
        self._checked: dict[tuple[str | None, bytes], dict] = {}
        self._checked_lock = threading.Lock()

    def _remember(self, key: tuple[str | None, bytes], state: dict) -> None:
        with self._checked_lock:
            if len(self._checked) >= _REMEMBERED:
                self._checked.pop(next(iter(self._checked)))  # the oldest
            self._checked[key] = state

    def _reconstitute_job(self, job_state: bytes, job_id: str | None = None) -> Job:
        """As the base class's, through the allowlist and the shape check; raises RefusedJobState.

        A row's checked state is remembered by its bytes (a few rows, rewritten only when the
        job changes), so reading the same rows again, as every panel refresh and API request
        does, builds the jobs without unpickling and checking them again."""
        try:
            state = self._checked.get((job_id, job_state))
            if state is None:
                state = _RestrictedUnpickler(io.BytesIO(job_state)).load()
                self._check(state, job_id)
                self._remember((job_id, job_state), state)
            # A job of its own: the scheduler may modify it; args and kwargs are copied, the
            # trigger (never changed in place by APScheduler) is shared.
            state = {**state, "args": tuple(state["args"]), "kwargs": dict(state["kwargs"]), "jobstore": self}
            job = Job.__new__(Job)
            job.__setstate__(state)
        except Exception as exc:  # noqa: BLE001 - whatever a row holds, it is refused, not raised
            raise RefusedJobState(job_id or "?", str(exc) or type(exc).__name__) from None
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def _check(self, state, job_id: str | None) -> None:
        if type(state) is not dict or set(state) != set(_SHAPE) or state["version"] != 1:
            raise ValueError("it is not the state of an APScheduler 3 job (version 1)")
        for key, kind in _SHAPE.items():
            if not isinstance(state[key], kind):
                raise ValueError(f"its {key} is a {type(state[key]).__name__}")
        if job_id is not None and state["id"] != job_id:
            raise ValueError(f"it holds the job {state['id']!r}")
        if state["func"] not in self.functions:
            raise ValueError(f"its function {state['func']!r} is not one of ours")
        if state["executor"] not in self.executors:
            raise ValueError(f"its executor {state['executor']!r} is not one of ours")
        # A trigger that cannot compute would stop the scheduler's loop for every job.
        state["trigger"].get_next_fire_time(None, datetime.now(timezone.utc))

    def lookup_job(self, job_id):
        selectable = select(self.jobs_t.c.job_state).where(self.jobs_t.c.id == job_id)
        with self.engine.begin() as connection:
            job_state = connection.execute(selectable).scalar()
        if not job_state:
            return None
        try:
            job = self._reconstitute_job(job_state, job_id)
        except RefusedJobState as exc:
            self._note({job_id: exc.reason}, {job_id}, complete=False)
            raise
        self._note({}, {job_id}, complete=False)
        return job

    def _get_jobs(self, *conditions):
        # The base class's query; a row that fails to load is kept (the base class deletes it).
        selectable = select(self.jobs_t.c.id, self.jobs_t.c.job_state).order_by(self.jobs_t.c.next_run_time)
        selectable = selectable.where(and_(*conditions)) if conditions else selectable
        with self.engine.begin() as connection:
            rows = connection.execute(selectable).all()
        jobs, refused = [], {}
        for row in rows:
            try:
                jobs.append(self._reconstitute_job(row.job_state, row.id))
            except RefusedJobState as exc:
                refused[row.id] = exc.reason
        self._note(refused, {row.id for row in rows}, complete=not conditions)
        return jobs

    def get_next_run_time(self):
        # Without refused rows: one never runs, so its past next run time would wake the
        # scheduler at once, over and over.
        selectable = (
            select(self.jobs_t.c.next_run_time)
            .where(self.jobs_t.c.next_run_time != null(), self.jobs_t.c.id.not_in(list(self.refused)))
            .order_by(self.jobs_t.c.next_run_time)
            .limit(1)
        )
        with self.engine.begin() as connection:
            return utc_timestamp_to_datetime(connection.execute(selectable).scalar())

    def _note(self, refused: dict[str, str], seen: set[str], *, complete: bool) -> None:
        """Record what a read refused; each row and reason is logged once per process."""
        for job_id, reason in refused.items():
            if self.refused.get(job_id) != reason:
                log.error("job store row %r refused, kept and not run: %s", job_id, reason)
        kept = {} if complete else {i: r for i, r in self.refused.items() if i not in seen}
        self.refused = kept | refused


def _plain(text: str, limit: int = 300) -> str:
    # The reason quotes what the row holds: no control characters from it reach a log or a screen.
    text = printable(text)
    return text if len(text) <= limit else text[:limit] + "..."
