"""Command palette: every key's action, for the selected job and for each job by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.jobs import JOBS


class JobCommands(Provider):
    def _commands(self):
        app = self.app
        yield "Refresh now", app.action_refresh, "reload every panel"
        yield "Help: keys", app.action_help, "show what each key does"
        yield "Filter the focused table", app.action_filter, "/"
        yield "Quit", app.action_quit_console, "stop the scheduler gracefully and quit"
        if not app.read_only:
            yield "Pause or resume the whole scheduler", app.action_toggle_scheduler, "P"
        for job_id in JOBS:
            yield f"Inspect {job_id}", partial(app.inspect_job, job_id), "run history, counts, last error"
            yield f"Preview {job_id}", partial(app.preview_job, job_id), "dry run: what it would change now"
            if not app.read_only:
                yield f"Trigger {job_id}", partial(app.trigger_job, job_id), "run it now (manual)"
                yield f"Pause or resume {job_id}", partial(app.toggle_job, job_id), "its schedule"

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
