"""Ctrl-C on a run in the foreground (``taskconsole jobs run``): stop it now, record it "interrupted".

Python runs signal handlers on the main thread only, between bytecodes, so a job blocked in the
database driver (on a row lock, say) would not see Ctrl-C until its statement returned, and a
run killed by it would stay ``running`` in the ledger. So the run goes on a worker thread while
the main thread waits; on Ctrl-C the runner is told (``JobRunner.interrupt``: long jobs stop
between batches, the run is recorded "interrupted") and the statements on the connections the
run holds are cancelled (PostgreSQL's cancel request, SQLite's ``interrupt()``), which makes them
fail at once. Only if the run is still not closed after a grace period (SQLite waiting for its
write lock cannot be interrupted) is it closed from here, and the process exits anyway.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, TypeVar

from sqlalchemy import Engine, event

from console.scheduler.runner import JobRunner

log = logging.getLogger("console.scheduler")
T = TypeVar("T")
# How long Ctrl-C waits for the run to close itself before closing it from the main thread.
GRACE_S = 10.0


class ConnectionsInUse:
    """While inside: the driver connections checked out of ``engine``'s pool, to cancel them."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._conns: dict[int, Any] = {}
        self._guard = threading.Lock()

    def __enter__(self) -> "ConnectionsInUse":
        event.listen(self._engine, "checkout", self._checked_out)
        event.listen(self._engine, "checkin", self._checked_in)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self._engine, "checkout", self._checked_out)
        event.remove(self._engine, "checkin", self._checked_in)

    def _checked_out(self, dbapi_conn, _record, _proxy) -> None:
        with self._guard:
            self._conns[id(dbapi_conn)] = dbapi_conn

    def _checked_in(self, dbapi_conn, _record) -> None:
        if dbapi_conn is not None:  # None: it was invalidated
            with self._guard:
                self._conns.pop(id(dbapi_conn), None)

    def cancel(self) -> int:
        """Cancel what each connection runs now (an idle one ignores it); returns how many were asked."""
        with self._guard:
            conns = list(self._conns.values())
        asked = 0
        for conn in conns:
            # psycopg2: cancel() sends the server a cancel request; sqlite3: interrupt(). Both are
            # made to be called from another thread.
            cancel = getattr(conn, "cancel", None) or getattr(conn, "interrupt", None)
            if cancel is None:
                continue
            try:
                cancel()
                asked += 1
            except Exception as exc:  # noqa: BLE001 - a connection that is gone runs nothing
                log.debug("could not cancel a statement: %s", exc)
        return asked


def run_in_foreground(runner: JobRunner, work: Callable[[], T], *, close_unfinished: Callable[[], None],
                      grace_s: float = GRACE_S) -> T:
    """``work()`` (which runs a job through ``runner``) on a worker thread; Ctrl-C on this thread
    interrupts it as described above, then KeyboardInterrupt is raised again.

    ``close_unfinished`` records the interruption when the run did not close itself within
    ``grace_s``; it runs on a thread of its own and is given ``grace_s`` too. A second Ctrl-C
    stops waiting at once."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = exc
        finally:
            done.set()

    with ConnectionsInUse(runner.engine) as in_use:
        worker = threading.Thread(target=target, name="foreground-run", daemon=True)
        worker.start()
        try:
            while not done.wait(0.25):  # a timed wait, so that Ctrl-C is seen at once
                pass
        except KeyboardInterrupt:
            runner.interrupt()
            asked = in_use.cancel()
            log.warning("interrupted: stopping the run (%d database session(s) asked to cancel)", asked)
            if not done.wait(grace_s):
                log.error("the run did not stop within %.0f s; closing it as interrupted from here", grace_s)
                closer = threading.Thread(target=close_unfinished, name="close-interrupted", daemon=True)
                closer.start()
                closer.join(grace_s)
            raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
