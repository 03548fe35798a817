"""Command palette: every shown main-screen action of the action table (``console.tui.keys``),
for the selected job and, for the per-job ones, for each job by name. Each runs through the app's
``perform``, as a key or a ``:`` command does; what --read-only refuses is not offered."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.tui.keys import KEYS


class JobCommands(Provider):
    def _commands(self):
        app = self.app
        locale = app.words.locale
        usable = [k for k in KEYS if k.screen == "main" and k.action and k.show and app.permitted(k.action)]
        for key in usable:
            if not key.per_job:
                yield key.label_in(locale), partial(app.perform, key), key.description_in(locale)
        for job_id in app.service.job_names():
            for key in usable:
                if key.per_job:
                    yield (f"{key.label_in(locale)} {job_id}", partial(app.perform, key, job_id),
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
