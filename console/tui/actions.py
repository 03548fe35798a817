"""The console's actions: what each entry of the action table (``console.tui.keys``) does. Mixed
into the app (``console.tui.app``).

A key, a ``:`` command and a palette entry run the same ``action_*`` method; one given a job id
acts on that job, one without acts on the selected one. Whether an action may run at all is
decided before it starts, never inside it: ``check_action`` for keys (Textual asks it), and
``perform`` for the command line and the palette; both ask ``permitted``, the one place the
read-only rule is applied.

Every action that touches the database or runs a job does it in a thread worker and reports
back with a toast; none blocks the UI thread.
"""

from __future__ import annotations

import threading
import time

from textual import work
from textual.widgets import DataTable

from console.domain.text import printable
from console.domain.runs import JobId, JobState, Outcome, RunStatus, SchedulerState
from console.service import ActionResult, os_user
from console.tui.dialogs import Confirm, Help
from console.tui.quitting import Stopping
from console.tui.history_views import AuditScreen, DeliveriesScreen, NotesScreen
from console.tui.log_views import LogScreen
from console.tui.logs import LogPanel
from console.tui.format import changed, duration
from console.tui.keys import BY_ID, Key, main_screen_actions, writing_actions
from console.tui.inspect_screens import JobScreen, PreviewScreen, TaskScreen, WarningsScreen
from console.tui.widgets import NearTable

CHANGING_ACTIONS = writing_actions()
# Help opens over any screen; every other main-screen key waits until the screen on top closes.
MAIN_SCREEN_ACTIONS = main_screen_actions() - {"help"}
CONFIRM_BEFORE = {JobId.CLEANUP_OLD_DATA}


class ConsoleActions:
    """Key actions of ``TaskConsoleApp``; relies on its service, read_only flag and dashboard."""

    # -- whether an action may run ---------------------------------------------------------------
    def permitted(self, action: str) -> bool | None:
        """The read-only rule, applied here alone: an action that changes something (``writes`` in
        the table) is refused in --read-only. None: shown dimmed, and said when asked for."""
        return None if self.read_only and action in CHANGING_ACTIONS else True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "quit_console" and isinstance(self.screen, Stopping):
            return True  # a second q or Ctrl-C while stopping: offer to leave the run
        if action in MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1:
            return False  # another screen is on top: its own keys apply
        return self.permitted(action)

    def on_key(self, event) -> None:
        # A key whose binding is disabled does not run its action: it comes here, and says why.
        active = self.screen.active_bindings.get(event.key)
        if active is not None and not active.enabled and active.binding.id in BY_ID:
            self.say_refused(BY_ID[active.binding.id].shown_as)

    def say_refused(self, asked_as: str) -> None:
        """A toast naming the key or command that was refused."""
        self.notify(f"{asked_as}: {self.words('read-only console: nothing is changed')}", severity="warning",
                    markup=False)

    def perform(self, entry: Key, *args: str, asked_as: str | None = None) -> None:
        """Run ``entry``'s action (with the argument a command or the palette gives), if permitted."""
        if self.permitted(entry.action) is not True:
            self.say_refused(asked_as or entry.shown_as or entry.command)
            return
        getattr(self, f"action_{entry.action}")(*args)

    def chosen_job(self, verb: str) -> str | None:
        """The selected job, or None after a toast saying none is (its row went away)."""
        job_id = self.selected_job()
        if job_id is None:
            self.notify(f"{verb}: {self.words('no job selected (the row went away); choose one with the arrows')}",
                        severity="warning", markup=False)
        return job_id

    def action_trigger(self, job_id: str | None = None) -> None:
        job_id = job_id or self.chosen_job("t")
        if not job_id:
            return
        if job_id in self.service.running_here():
            self.notify(f"{job_id} {self.words('is already running')}", severity="warning", markup=False)
            return
        if job_id in CONFIRM_BEFORE:
            question = self.words("Run {job} now? It deletes old data for good.").format(job=job_id)
            self.push_screen(Confirm(question), lambda yes: self._run_job(job_id) if yes else None)
        else:
            self._run_job(job_id)

    def _soon(self, fn, *args, **kwargs) -> None:
        """``fn`` on the UI thread, from a thread; nothing once the app has ended (a run left
        running when the operator quit without waiting still finishes, silently)."""
        if not self.is_running:
            return
        try:
            self.call_from_thread(fn, *args, **kwargs)
        except RuntimeError:
            pass  # it ended meanwhile

    def _tell(self, result: ActionResult, done_here: str) -> None:
        """A toast saying how the action ended (whoever carried it out), then a refresh."""
        w = self.words
        what = f"{w(result.action.replace('_all', ''))} {result.target}"
        if result.outcome == Outcome.QUEUED:
            text, severity = f"{what}: {w('sent to the leader, not taken yet')}", "warning"
        elif result.ok:
            text, severity = (f"{what}: {w('done by the leader')}" if result.by_leader else done_here), "information"
        else:
            text, severity = f"{what}: {result.outcome} ({result.detail or w('no detail')})", "warning"
        self._soon(self.notify, printable(text), severity=severity, markup=False)
        self._soon(self.request_refresh)

    def _run_job(self, job_id: str) -> None:
        # A daemon thread, not a Textual worker: the app's exit waits for its workers, and an
        # operator who chooses to leave a run must not wait for it.
        self.notify(f"{job_id}: {self.words(Outcome.STARTED)}", markup=False)
        threading.Thread(target=self._run_job_thread, args=(job_id,), name=f"console-run-{job_id}",
                         daemon=True).start()

    def _run_job_thread(self, job_id: str) -> None:
        try:
            self._carry_out_run(job_id)
        except Exception as exc:  # noqa: BLE001 - shown, as a worker's error would be
            self._soon(self.notify, printable(f"{job_id} {self.words('failed:')} {exc}"), severity="error",
                       markup=False)

    def _carry_out_run(self, job_id: str) -> None:
        w = self.words
        result = self.service.run_now(job_id, actor=os_user())
        run = result.run
        if run is None:
            self._tell(result, f"{job_id}: {w(Outcome.DONE)}")
        elif run.status == RunStatus.SUCCESS:
            text = f"{job_id}: {w('done in')} {w.duration(duration(run.duration_s))}, {w.counts(changed(run.counts))}"
            self._soon(self.notify, printable(text), markup=False)
        else:
            text = f"{job_id} {w('failed:')} {run.error}"
            self._soon(self.notify, printable(text), severity="error", markup=False, timeout=10)

    def action_toggle_job(self, job_id: str | None = None) -> None:
        job_id = job_id or self.chosen_job("p")
        if job_id:
            info = self.job_info(job_id)
            self._set_paused(job_id, not (info is not None and info.paused))

    def action_pause_job(self, job_id: str) -> None:
        self._pause_or_say(job_id, True)

    def action_resume_job(self, job_id: str) -> None:
        self._pause_or_say(job_id, False)

    def _pause_or_say(self, job_id: str, pause: bool) -> None:
        info = self.job_info(job_id)
        if info is not None and info.paused == pause:
            self.notify(f"{job_id} is already {JobState.PAUSED if info.paused else JobState.RUNNING}", markup=False)
        else:
            self._set_paused(job_id, pause)

    @work(thread=True, group="actions", exit_on_error=False)
    def _set_paused(self, job_id: str, pause: bool) -> None:
        act = self.service.pause if pause else self.service.resume
        self._tell(act(job_id, actor=os_user()), f"{job_id} {self.words('paused' if pause else 'resumed')}")

    def action_toggle_scheduler(self) -> None:
        self._toggle_scheduler()

    def action_pause_all(self) -> None:
        if not self._scheduler_paused():
            self._toggle_scheduler()  # asks first

    def action_resume_all(self) -> None:
        if self._scheduler_paused():
            self._toggle_scheduler()

    def _scheduler_paused(self) -> bool:
        return self.dashboard is not None and self.dashboard.scheduler_state == SchedulerState.PAUSED

    @work(thread=True, group="actions", exit_on_error=False)
    def _toggle_scheduler(self) -> None:
        # The stored pause is what every leader obeys, this process or another.
        if self.service.scheduler_pause().paused:
            self._set_scheduler_paused(False)
        else:
            # Pausing stops every job, on whichever process leads: asked first; resuming is not.
            question = self.words("Pause the whole scheduler? No job runs, on any process, until P resumes it.")
            self.call_from_thread(self.push_screen, Confirm(question, yes=self.words("Pause all")),
                                  lambda yes: self._set_scheduler_paused(True) if yes else None)

    @work(thread=True, group="actions", exit_on_error=False)
    def _set_scheduler_paused(self, pause: bool) -> None:
        act = self.service.pause_all if pause else self.service.resume_all
        self._tell(act(actor=os_user()), f"{self.words('scheduler')} {self.words('paused' if pause else 'resumed')}")

    def action_inspect(self, job_id: str | None = None) -> None:
        focused = self.focused
        if job_id:
            self.push_screen(JobScreen(job_id))
        elif isinstance(focused, NearTable):
            if focused.selected_key:
                self.push_screen(TaskScreen(int(focused.selected_key)))
            else:
                self.notify(f"enter: {focused.nothing_chosen}", severity="warning", markup=False)
        elif job_id := self.chosen_job("enter"):
            self.push_screen(JobScreen(job_id))

    # Handlers by name rather than @on: Textual collects @on handlers only from its own classes.
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "jobs":
            self.push_screen(JobScreen(event.row_key.value))
        elif event.data_table.id == "near":
            self.push_screen(TaskScreen(int(event.row_key.value)))

    def action_preview(self, job_id: str | None = None) -> None:
        job_id = job_id or self.chosen_job("v")
        if job_id:
            self.push_screen(PreviewScreen(job_id))

    def action_logs(self) -> None:
        panel = self.query_one(LogPanel)
        self.push_screen(LogScreen(list(panel.entries), list(self.service.job_names())))

    def action_warnings(self) -> None:
        self.push_screen(WarningsScreen())

    def action_audit(self) -> None:
        self.push_screen(AuditScreen())

    def action_notifications(self) -> None:
        self.push_screen(NotesScreen())

    def action_deliveries(self) -> None:
        self.push_screen(DeliveriesScreen())

    def action_refresh(self) -> None:
        self.request_refresh()
        if self.near_search is not None:
            self._search(self.near_search)  # a search's rows are read again only when asked

    def action_help(self) -> None:
        # The keys of the screen on top: each screen names its key groups (HELP_KEYS).
        screens = getattr(self.screen, "HELP_KEYS", ("main", "table"))
        title = getattr(self.screen, "HELP_TITLE", "taskconsole keys")
        self.push_screen(Help(self.read_only, self.words.locale, screens, self.words(title)))

    def action_quit_console(self) -> None:
        if self._quitting:
            if isinstance(self.screen, Stopping):
                self.screen.action_leave()
            return
        running = sorted(self.service.running_here())
        if running:
            question = self.words("{jobs} is running. Quit anyway? The scheduler stops gracefully: running "
                                  "jobs finish or roll back first.").format(jobs=", ".join(running))
            self.push_screen(Confirm(question, yes=self.words("Quit")),
                             lambda yes: self._begin_shutdown() if yes else None)
        else:
            self._begin_shutdown()

    async def action_quit(self) -> None:
        self.action_quit_console()

    def action_help_quit(self) -> None:
        # Ctrl-C: Textual's default only says to press ctrl+q; an operator means "quit".
        self.action_quit_console()

    def _begin_shutdown(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        if self.service.running_here():
            self.push_screen(Stopping(self.words, self._waiting_for, self.service.clock), self._left)
        else:
            self.notify(self.words("stopping the scheduler…"), markup=False)
        # A plain daemon thread, not a worker: leaving the run must not wait for it to end.
        threading.Thread(target=self._stop_and_exit, name="console-stop", daemon=True).start()

    def _waiting_for(self) -> dict[str, object]:
        """The jobs the stop waits for, with when each started (None where not known)."""
        out = {}
        for job_id in self.service.running_here():
            info = self.job_info(job_id)
            last = info.last_run if info is not None else None
            out[job_id] = last.started_at if last is not None and last.status == RunStatus.RUNNING else None
        return out

    def _left(self, leave: bool | None) -> None:
        if leave:
            # run_console ends the process without waiting; the run is the next leader's.
            self.left_running = sorted(self.service.running_here())
            self.exit(0)

    def _stop_and_exit(self) -> None:
        self.service.stop_scheduler()
        # Runs started from this console (t) are not the scheduler's: wait for them too.
        while self.service.running_here() and not self.left_running:
            time.sleep(0.1)
        self._soon(self.exit, 0)
