"""A task in a warning level without a handler is counted in the Warnings panel and marked there,
and its task screen says nobody will be warned (issue #27, one count); in Chinese too."""

from __future__ import annotations

from sqlalchemy import update

from console.db.models import Task
from console.tui.inspect_screens import TaskScreen
from console.tui.widgets import WarningsPanel
from tests.tui.conftest import loaded, settle


async def test_an_unassigned_task_in_a_level_is_counted_marked_and_says_nobody_is_warned(hostile_service, make_app):
    with hostile_service.engine.begin() as conn:
        task_id = conn.execute(update(Task).values(current_handler_id=None).returning(Task.id)).scalar_one()
    app = make_app(hostile_service, embed_scheduler=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert {s.level: (s.in_level, s.no_handler) for s in app.dashboard.warnings.levels}[5] == (1, 1)
        note = app.query_one(WarningsPanel).query_one("#no-handler")
        assert note.display and note.render().plain == "no handler: 5% 1"
        app.push_screen(TaskScreen(task_id))
        await loaded(pilot)
        assert "no handler: nobody will be warned of this task" in app.screen.query_one("#summary").render().plain


def test_the_words_have_chinese():
    from console.tui.i18n import Words

    zh = Words("zh_CN")
    assert zh("no handler") == "无处理人" and "不会发给任何人" in zh("no handler: nobody will be warned of this task")
