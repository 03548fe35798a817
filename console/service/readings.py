"""What the panels, the command line and the API read about the tasks and their warnings: the
near-threshold tasks and the title search, the warning counts (the leader's kept ones while fresh,
else counted here, sparingly where slow), the forecast, the charts' hourly groups and one task's
details. A part of ``Service`` (console.service.facade), on its engine, mapping, settings and clock.
"""

from __future__ import annotations

import time

from console.db.tuning import title_index_present
from console.service import outlook
from console.service.charts import HourlyRuns, HourlySent, job_runs_per_hour, warnings_sent_per_hour
from console.service.dashboard import TaskDetail, WarningStats, count_unclassified, indexed, task_detail, warning_stats
from console.service.forecast import Forecast, PanelForecast, warning_forecast
from console.service.near import NearTask, NearTasks, find_tasks, near_tasks, task_exists

UNCLASSIFIED_EVERY_S = 60.0
UNTUNED_STATS_EVERY_S = 30.0
# A read of the warning counts that took longer than this is repeated at most every
# UNTUNED_STATS_EVERY_S: at a million tasks with db tune's indexes it reads the ~135,000 tasks past
# 80 % of their window, 0.7 s (PostgreSQL, the demo, measured), too dear for every 2 s refresh.
SLOW_STATS_S = 0.25


class Readings:
    """Reads for the faces, on ``Service``'s engine, tables, settings and clock."""

    def init_readings(self) -> None:
        """The state the reads keep between refreshes (``Service.__init__`` calls it)."""
        self._unclassified: tuple[float, int] | None = None  # (monotonic time read, count)
        self._stats: tuple[float, WarningStats] | None = None  # the main screen's warning counts, when read
        self._indexed = True  # whether db tune's index serves the warning counts (asked at each refresh)
        self._stats_took = 0.0  # seconds the last read of the warning counts took
        # Warnings falling due in the next 24 hours, read at most once a minute (console.service.forecast).
        self._forecast = PanelForecast(self.warning_forecast)

    def near_tasks(self, limit: int = 20) -> NearTasks:
        return near_tasks(self.engine, self.tables, self.clock(), self.settings.warnings.levels, limit)

    def search_tasks(self, text: str, limit: int = 50) -> list[NearTask]:
        """Processing tasks by title (any case) or id, over the whole table (console.service.near)."""
        return find_tasks(self.engine, self.tables, self.clock(), self.settings.warnings.levels, text, limit)

    def title_search_indexed(self) -> bool:
        """Whether db tune's title index serves search_tasks; without it a search reads every
        processing task (the console says it is scanning)."""
        with self.engine.connect() as conn:
            return title_index_present(conn, self.tables)

    def task_exists(self, task_id: int) -> bool:
        return task_exists(self.engine, self.tables, task_id)

    def _sparing(self) -> bool:
        return not self._indexed or self._stats_took > self.slow_stats_s

    def _panel_warning_stats(self) -> tuple[WarningStats, bool]:
        """The warning counts for the main screen, and whether they were read just now. Without
        db tune's index on the lowest-threshold instant they are a scan of the processing tasks
        (about a second at a million tasks), and with it a read of every task past that instant,
        which is many at a million (SLOW_STATS_S): then at most every UNTUNED_STATS_EVERY_S, not
        at every refresh."""
        kept = self._outlook_stats()
        if kept is not None:
            return kept, False  # counted by the leader after its last pass (console.service.outlook)
        now = time.monotonic()
        self._indexed = indexed(self.engine, self.tables)
        if self._sparing() and self._stats is not None and now - self._stats[0] < UNTUNED_STATS_EVERY_S:
            return self._stats[1], False
        stats = warning_stats(self.engine, self.tables, self.clock(), self.settings.warnings.levels)
        self._stats_took = time.monotonic() - now
        self._stats = (now, stats)
        return stats, True

    def unclassified_tasks(self) -> int:
        """Tasks whose status the mapping does not name. One count over the tasks (a scan where
        ``db tune`` has not been applied), so read at most once a minute."""
        now = time.monotonic()
        if self._unclassified is None or now - self._unclassified[0] >= UNCLASSIFIED_EVERY_S:
            self._unclassified = (now, count_unclassified(self.engine, self.tables))
        return self._unclassified[1]

    def warning_stats(self) -> WarningStats:
        kept = self._outlook_stats()
        if kept is not None:
            return kept
        return warning_stats(self.engine, self.tables, self.clock(), self.settings.warnings.levels)

    def _outlook_stats(self) -> WarningStats | None:
        now = self.clock()
        kept = outlook.fresh(self.engine, now)
        return None if kept is None else outlook.stats(self.engine, kept, now, self.settings.warnings.levels)

    def warning_forecast(self, hours: int = 24) -> Forecast:
        """Warnings falling due in each of the next ``hours`` hours (1 to 168), per level
        (console.service.forecast); hour 0 is the rest of the current hour, in the settings' timezone.
        The leader's count after its last pass where it covers them (console.service.outlook)."""
        now = self.clock()
        kept = outlook.fresh(self.engine, now) if 1 <= hours <= 24 else None
        found = None if kept is None else outlook.forecast(kept, now, self.settings.warnings.levels,
                                                           self.settings.tz, hours)
        return found or warning_forecast(self.engine, self.tables, now, self.settings.warnings.levels,
                                         self.settings.tz, hours)

    def refresh_outlook(self) -> None:
        """Count the warning levels and the next day's forecast for every reader (the leader, after
        each warning pass)."""
        outlook.refresh(self.engine, self.tables, self.settings.warnings.levels, self.settings.tz, self.clock())

    def job_runs_per_hour(self, job_id: str) -> HourlyRuns:
        """A job's finished runs per hour over the last 7 days: the longest and the failures
        (console.service.charts)."""
        self.check_job(job_id)
        return job_runs_per_hour(self.engine, job_id, self.clock(), self.settings.tz)

    def warnings_sent_per_hour(self) -> HourlySent:
        """Warnings sent per hour and level over the last 7 days (console.service.charts)."""
        order = tuple(lv.level for lv in sorted(self.settings.warnings.levels, key=lambda lv: lv.at))
        return warnings_sent_per_hour(self.engine, self.clock(), self.settings.tz, order)

    def task_detail(self, task_id: int) -> TaskDetail | None:
        return task_detail(self.engine, self.tables, task_id, self.clock(), self.settings.warnings.levels)

    # -- per-task rules -------------------------------------------------------------------------
