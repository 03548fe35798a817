"""The job store of a leading process: it hands out due jobs only while this process may fire.

APScheduler consumes a firing when its round takes the job from the store: it submits the run and
moves the job's next run time on, whether or not the run can happen. Two moments must consume
none: while the leader lock is in doubt (its session was lost and is being taken back; a standby
may lead next) and once a graceful stop has begun (a round waiting for the store while
``shutdown()`` waits for a running job would submit to an executor already shut down: apscheduler
#285, #985). ``get_due_jobs`` - the job store's public method each round calls - then answers
"nothing due", so those firings stay due for whoever leads next, this process or another.

``get_next_run_time`` then answers no earlier than a second from now: a due job the round did not
take would otherwise wake the scheduler again at once, over and over. What this relies on (each
round asks ``get_due_jobs`` and sleeps until ``get_next_run_time``) is pinned by
tests/unit/test_apscheduler_extension_points.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

from console.scheduler.safe_jobstore import SafeJobStore

RETRY_ROUND_S = 1.0


class LeadingJobStore(SafeJobStore):
    def __init__(self, *, may_hand_out: Callable[[], bool], **options):
        super().__init__(**options)
        self.may_hand_out = may_hand_out
        self._held_back = False  # the last round was told "nothing due" while jobs were

    def get_due_jobs(self, now):
        # Asked once per round: the answer (a lock probe on PostgreSQL) serves the wake-up too.
        self._held_back = not self.may_hand_out()
        return [] if self._held_back else super().get_due_jobs(now)

    def get_next_run_time(self):
        next_run: datetime | None = super().get_next_run_time()
        if next_run is None or not self._held_back:
            return next_run
        return max(next_run, datetime.now(timezone.utc) + timedelta(seconds=RETRY_ROUND_S))
