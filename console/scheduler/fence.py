"""The schema fence: a node runs jobs only on the schema revision its release was written for.

During a rolling upgrade ``db upgrade`` (the new release) moves the database under nodes of the
old one. Such a node would write rows in an old shape (a warning ledger without the new cycle,
say) and fail every job against what it does not know. So every node reads the revision at each
heartbeat and before each firing; while it does not fit, the node neither fires nor leads nor
writes anything (not even its heartbeat row), and says why; when it fits again (the database was
rolled back, or the node replaced) it joins the election as before, without a restart.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine, text

from console.db.engine import read_only
from console.db.schema import mismatch

log = logging.getLogger("console.scheduler")


class SchemaFence:
    def __init__(self, engine: Engine):
        self._engine = read_only(engine)
        self._reason: str | None = None
        self._lock = threading.Lock()

    @property
    def reason(self) -> str | None:
        """Why this node is held back, as last read (None: the revision fits)."""
        return self._reason

    def check(self) -> str | None:
        """Read the revision now; returns (and remembers) why it does not fit, or None. A database
        that cannot be read raises: the caller's own error handling (the node's tick) applies."""
        with self._engine.connect() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        reason = mismatch(found)
        with self._lock:
            before, self._reason = self._reason, reason
        if reason != before:
            if reason:
                log.error("schema fence: %s; this process neither fires nor leads until the revision fits", reason)
            else:
                log.info("schema fence lifted: the database is at the revision this release knows")
        return reason
