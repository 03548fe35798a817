"""Command palette: every key's action (``console.tui.keys``), for the selected job and for each
job by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.tui.keys import KEYS

# The app's method that does a per-job key's action for a job named in the palette.
_FOR_JOB = {"trigger": "trigger_job", "toggle_job": "toggle_job", "inspect": "inspect_job", "preview": "preview_job"}


class JobCommands(Provider):
    def _commands(self):
        app = self.app
        locale = app.words.locale
        usable = [k for k in KEYS if k.screen == "main" and k.action and k.show and not (k.writes and app.read_only)]
        for key in usable:
            if not key.per_job:
                yield key.label_in(locale), getattr(app, f"action_{key.action}"), key.description_in(locale)
        for job_id in app.service.job_names():
            for key in usable:
                if key.per_job:
                    yield (f"{key.label_in(locale)} {job_id}", partial(getattr(app, _FOR_JOB[key.action]), job_id),
                           key.description_in(locale))

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
