"""The audit view (``a``: who did what, when, from where), the notifications view (``n``:
what the jobs sent, to whom; ``t`` cycles the type, ``/`` filters by task, recipient or title,
and Enter on a task id reads that task's notifications from the database), and the deliveries
view (``d``: the outbox to the channels, issue #28; ``t`` cycles the state, ``/`` filters)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Input, Label

from console.domain.deliveries import DeliveryState
from console.domain.text import printable
from console.service.history import COUNT_CAP
from console.tui.format import local_time, safe, status
from console.tui.keys import bindings, localize
from console.tui.table import Column, FilterableTable

LIMIT = 500


class AuditTable(FilterableTable):
    COLUMNS = (Column("when", 14, 0), Column("who", 12, 0), Column("action", 8, 0), Column("job", 20, 1),
               Column("outcome", 10, 1), Column("from", 14, 2), Column("detail", 16, 3, flex=80))


class NotesTable(FilterableTable):
    COLUMNS = (Column("when", 14, 0), Column("type", 10, 1), Column("to", 12, 0), Column("task", 8, 0),
               Column("title", 20, 2, flex=80))


class DeliveriesTable(FilterableTable):
    COLUMNS = (Column("when", 14, 0), Column("channel", 12, 0), Column("event", 11, 1), Column("to", 16, 0),
               Column("state", 8, 0), Column("tries", 5, 1), Column("task", 8, 2), Column("error", 20, 1, flex=80))


class _History(Screen):
    BINDINGS = bindings("history")
    HELP_KEYS = ("history",)
    HELP_TITLE = "keys of this view"
    TABLE: type[FilterableTable]
    TITLE_WORD = ""

    def compose(self) -> ComposeResult:
        yield Label(id="history-heading", classes="heading")
        yield self.TABLE(id="history")
        yield Input(id="history-filter", placeholder=self.app.words("filter: type to narrow the rows; escape clears"))
        yield Footer()

    @property
    def table(self) -> FilterableTable:
        return self.query_one("#history", FilterableTable)

    def on_mount(self) -> None:
        w = self.app.words
        localize(self, w.locale)
        self.table.labels = {c.key: w(c.key) for c in self.TABLE.COLUMNS}
        self.table.focus()
        self.load()

    def heading(self, extra: str = "") -> None:
        t, w = self.table, self.app.words
        text = Text(f"{w(self.TITLE_WORD)}: {t.row_count:,} / {t.total:,}", style="bold")
        if t.filter_text:
            text.append(f"   {w('filter')} “{t.filter_text}”")
        text.append(extra)
        self.query_one("#history-heading", Label).update(text)

    def action_reload(self) -> None:
        self.load()

    def action_filter(self) -> None:
        box = self.query_one("#history-filter", Input)
        box.value = self.table.filter_text
        box.select_on_focus = True  # a kept filter is replaced by what is typed next
        box.add_class("visible")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.table.apply_filter(event.value)
        self.heading(self.extra())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("visible")
        self.table.focus()

    def action_clear_or_back(self) -> None:
        box = self.query_one("#history-filter", Input)
        if box.has_class("visible") or self.table.filter_text:
            box.value = ""
            box.remove_class("visible")
            self.table.apply_filter("")
            self.table.focus()
            self.heading(self.extra())
        else:
            self.app.pop_screen()

    def extra(self) -> str:
        return ""

    def load(self) -> None:
        raise NotImplementedError

    def on_data_table_row_selected(self, event) -> None:
        # Enter on a row opens its task, where it has one (an audit line has none).
        event.stop()
        task = self.table.cell(event.row_key.value, "task")
        if task is not None and task.plain.isdigit():
            from console.tui.inspect_screens import TaskScreen

            self.app.push_screen(TaskScreen(int(task.plain)))


def _next(order: list, current):
    """The value after ``current`` in ``order``, round; the first where ``current`` is not in it."""
    return order[(order.index(current) + 1) % len(order)] if current in order else order[0]


class AuditScreen(_History):
    TABLE = AuditTable
    TITLE_WORD = "audit of manual actions"

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        lines = self.app.service.audit(LIMIT)
        self.app.call_from_thread(self.show, lines)

    def show(self, lines) -> None:
        tz = self.app.tz
        rows = []
        for a in lines:
            cells = {"when": Text(local_time(a.at, tz, "%m-%d %H:%M:%S")), "who": safe(a.actor, "bold"),
                     "action": safe(self.app.words(a.action)), "job": safe(a.job_id), "outcome": status(a.outcome, printable(self.app.words(a.outcome))),
                     "from": safe(a.host), "detail": safe(a.detail or "")}
            rows.append((str(a.id), cells, f"{a.actor} {a.action} {a.job_id} {a.outcome} {a.host} {a.detail or ''}"))
        self.table.set_rows(rows)
        self.heading()


class NotesScreen(_History):
    TABLE = NotesTable
    TITLE_WORD = "notifications sent"

    kind: str | None = None  # the notification type shown; None: all
    task_id: int | None = None  # the task whose notifications are shown; None: every task's
    in_all = 0  # how many the database holds for this type and task (counted up to 100,000)

    def extra(self) -> str:
        w = self.app.words
        capped = ""
        if self.in_all > self.table.total:
            many = f"{COUNT_CAP:,}+" if self.in_all > COUNT_CAP else f"{self.in_all:,}"
            capped = f"   {w('newest')} {self.table.total:,} {w('of')} {many}: t {w('or')} / {w('narrows')}"
        return (capped + f"   {w('type')} {self.kind or w('all')}"
                + (f"   {w('task')} {self.task_id}" if self.task_id is not None else ""))

    def action_cycle_type(self) -> None:
        self.kind = _next([None, *self.app.service.notification_types()], self.kind)
        self.load()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # A task id: that task's notifications, read from the database (not only the rows loaded).
        value = event.value.strip()
        self.task_id = int(value) if value.isdigit() and len(value) < 19 else None
        if self.task_id is not None:
            event.input.value = ""
            self.table.apply_filter("")
            self.load()
        super().on_input_submitted(event)

    def action_clear_or_back(self) -> None:
        if self.task_id is not None and not self.table.filter_text:
            self.task_id = None
            self.load()
            return
        super().action_clear_or_back()

    def on_key(self, event) -> None:
        # A digit on the list starts a task id (Enter reads that task's notifications).
        if event.character and event.character.isdigit() and self.table.has_focus:
            event.stop()
            box = self.query_one("#history-filter", Input)
            typed = box.value if box.has_class("visible") else ""  # keys typed before the box took focus
            self.action_filter()
            box.select_on_focus = False  # the digits typed so far stay, the next go after them
            box.value = typed + event.character
            box.cursor_position = len(box.value)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        service = self.app.service
        notes = service.sent_notifications(kind=self.kind, task_id=self.task_id, limit=LIMIT)
        # Capped: say of how many, so 500 of 16,000 never reads as all of them.
        in_all = (service.count_sent_notifications(kind=self.kind, task_id=self.task_id)
                  if len(notes) >= LIMIT else len(notes))
        self.app.call_from_thread(self.show, notes, in_all)

    def show(self, notes, in_all: int) -> None:
        self.in_all = in_all  # set with the rows it counts: an older load never outlives a newer one
        tz = self.app.tz
        rows = []
        for n in notes:
            cells = {"when": Text(local_time(n.created_at, tz, "%m-%d %H:%M:%S")), "type": safe(n.type or "-"),
                     "to": safe(n.to or "-"), "task": Text(str(n.task_id) if n.task_id is not None else "-"),
                     "title": safe(n.title or "")}
            rows.append((str(n.id), cells, f"{n.task_id} {n.type} {n.to} {n.title}"))
        self.table.set_rows(rows)
        self.heading(self.extra())


class DeliveriesScreen(_History):
    TABLE = DeliveriesTable
    TITLE_WORD = "deliveries to channels"

    state: str | None = None  # the delivery state shown; None: all

    def extra(self) -> str:
        w = self.app.words
        # The states are the contract's words (deliveries list --state), shown as they are.
        return f"   {w('state')} {self.state or w('all')}"

    def action_cycle_type(self) -> None:
        self.state = _next([None, *DeliveryState], self.state)
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        rows = self.app.service.deliveries.list(state=self.state, limit=LIMIT)
        self.app.call_from_thread(self.show, rows)

    def show(self, deliveries) -> None:
        tz = self.app.tz
        rows = []
        for d in deliveries:
            cells = {"when": Text(local_time(d.created_at, tz, "%m-%d %H:%M:%S")), "channel": safe(d.channel),
                     "event": safe(d.event), "to": safe(d.recipient), "state": status(d.state, printable(d.state)),
                     "tries": Text(str(d.tries)), "task": Text(str(d.task_id) if d.task_id is not None else "-"),
                     "error": safe(d.last_error or "")}
            rows.append((str(d.id), cells, f"{d.channel} {d.event} {d.recipient} {d.state} {d.task_id} "
                                           f"{d.last_error or ''}"))
        self.table.set_rows(rows)
        self.heading(self.extra())
