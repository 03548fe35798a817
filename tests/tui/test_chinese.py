"""zh_CN covers every word of the console's own: with console.locale zh_CN, each screen shows
no English word but data (titles, names, hosts, job ids, details), key names and product names."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from console.db.models import AuditEntry, Task, User
from console.settings import Settings
from console.tui.keys import COMMANDS
from console.tui.logs import LogPanel
from tests.tui.conftest import loaded, settle
from tests.tui.test_keys import select_job, wait_for

WORD = re.compile(r"[A-Za-z][A-Za-z]+")
# Key names as Textual and the footer write them, product and backend names, the clock's zone.
ALLOWED = {"ctrl", "enter", "escape", "esc", "tab", "palette", "taskconsole", "db", "redis", "Redis", "sqlite",
           "CST", "UTC"}


def _data_words(service) -> set[str]:
    words: set[str] = set()
    with service.engine.connect() as conn:
        for column in (Task.title, Task.status, Task.category, User.name, AuditEntry.actor, AuditEntry.host,
                       AuditEntry.detail, AuditEntry.job_id):
            for value in conn.execute(select(column)).scalars():
                words |= set(WORD.findall(str(value or "")))
    for job_id in service.job_names():
        words |= set(WORD.findall(job_id))
    words |= set(WORD.findall(service.database_label()))
    return words


def _english(app, allowed: set[str]) -> set[str]:
    svg = app.export_screenshot()
    shown = html.unescape(" ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg)))
    shown = re.sub(r"(?m)^\s*:\s.*$", "", shown)  # the list of : commands: typed as written
    return {w for w in WORD.findall(shown) if w not in allowed}


async def test_every_screen_in_chinese_shows_no_english_of_its_own(frozen_service, make_app):
    frozen_service.settings = Settings.model_validate({"console": {"locale": "zh_CN"}})
    app = make_app(frozen_service, embed_scheduler=False)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await select_job(pilot, "cleanup_old_data")
        await pilot.press("p")  # an audit line, and a toast
        await wait_for(pilot, lambda: frozen_service.store.get("cleanup_old_data") is not None)
        allowed = ALLOWED | _data_words(frozen_service)
        commands = {part for c in COMMANDS for part in WORD.findall(c.command)}
        # Log lines are the scheduler's and the jobs' logs, in the language of the logs: not
        # the console's own words. The panel is emptied so that only the console's words are read.
        panel = app.query_one(LogPanel)
        panel.clear()
        panel.entries.clear()
        seen = {}
        for name, keys in (("main", []), ("help", ["question_mark"]), ("job", ["escape", "enter"]),
                           ("task", ["escape", "tab", "enter"]), ("logs", ["escape", "l"]), ("audit", ["escape", "a"]),
                           ("notifications", ["escape", "n"]), ("preview", ["escape", "v"]),
                           ("warnings", ["escape", "w"]),
                           ("confirm", ["escape", "shift+tab", "P"])):
            for key in keys:
                await pilot.press(key)
            await loaded(pilot)
            await pilot.pause(0.3)
            seen[name] = _english(app, allowed | (commands if name == "help" else set()))
        assert {name: words for name, words in seen.items() if words} == {}
