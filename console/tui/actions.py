"""The console's keys: what each action does. Mixed into the app (``console.tui.app``).

Every action that touches the database or runs a job does it in a thread worker and reports
back with a toast; none blocks the UI thread.
"""

from __future__ import annotations

import threading
import time

from textual import work
from textual.widgets import DataTable

from console.domain.text import printable
from console.domain.runs import JobId, Outcome, RunStatus
from console.service import ActionResult, os_user
from console.tui.dialogs import Confirm, Help
from console.tui.quitting import Stopping
from console.tui.history_views import AuditScreen, NotesScreen
from console.tui.log_views import LogScreen
from console.tui.logs import LogPanel
from console.tui.format import changed, duration
from console.tui.keys import KEY_OF_ACTION, main_screen_actions, writing_actions, writing_keys
from console.tui.inspect_screens import JobScreen, PreviewScreen, TaskScreen
from console.tui.widgets import NearTable

CHANGING_ACTIONS = writing_actions()
WRITING_KEYS = writing_keys()
# Help opens over any screen; every other main-screen key waits until the screen on top closes.
MAIN_SCREEN_ACTIONS = main_screen_actions() - {"help"}
CONFIRM_BEFORE = {JobId.CLEANUP_OLD_DATA}


class ConsoleActions:
    """Key actions of ``TaskConsoleApp``; relies on its service, read_only flag and dashboard."""

    # -- keys -----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "quit_console" and isinstance(self.screen, Stopping):
            return True  # a second q or Ctrl-C while stopping: offer to leave the run
        if action in MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1:
            return False  # another screen is on top: its own keys apply
        if action in CHANGING_ACTIONS and self.read_only:
            return None  # shown dimmed; pressing it is answered by on_key
        return True

    def on_key(self, event) -> None:
        # A disabled binding does not run its action: the key comes here, and says why.
        if self.read_only and len(self.screen_stack) == 1 and event.key in WRITING_KEYS:
            self.refused_read_only(WRITING_KEYS[event.key])

    def refused_read_only(self, action: str) -> bool:
        """In --read-only, a toast naming the key pressed; True if the action must stop."""
        if not self.read_only:
            return False
        key = KEY_OF_ACTION.get(action, action)
        self.notify(f"{key}: {self.words('read-only console: nothing is changed')}", severity="warning",
                    markup=False)
        return True

    def chosen_job(self, verb: str) -> str | None:
        """The selected job, or None after a toast saying none is (its row went away)."""
        job_id = self.selected_job()
        if job_id is None:
            self.notify(f"{verb}: {self.words('no job selected (the row went away); choose one with the arrows')}",
                        severity="warning", markup=False)
        return job_id

    def action_trigger(self) -> None:
        if self.refused_read_only("trigger"):
            return
        job_id = self.chosen_job("t")
        if job_id:
            self.trigger_job(job_id)

    def trigger_job(self, job_id: str) -> None:
        if self.refused_read_only("trigger"):
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

    def action_toggle_job(self) -> None:
        if self.refused_read_only("toggle_job"):
            return
        job_id = self.chosen_job("p")
        if job_id:
            self.toggle_job(job_id)

    def toggle_job(self, job_id: str) -> None:
        if self.refused_read_only("toggle_job"):
            return
        info = self.job_info(job_id)
        self._set_paused(job_id, not (info is not None and info.paused))

    @work(thread=True, group="actions", exit_on_error=False)
    def _set_paused(self, job_id: str, pause: bool) -> None:
        act = self.service.pause if pause else self.service.resume
        self._tell(act(job_id, actor=os_user()), f"{job_id} {self.words('paused' if pause else 'resumed')}")

    def action_toggle_scheduler(self) -> None:
        if self.refused_read_only("toggle_scheduler"):
            return
        self._toggle_scheduler()

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

    def action_inspect(self) -> None:
        focused = self.focused
        if isinstance(focused, NearTable):
            if focused.selected_key:
                self.push_screen(TaskScreen(int(focused.selected_key)))
            else:
                self.notify(f"enter: {focused.nothing_chosen}", severity="warning", markup=False)
        elif job_id := self.chosen_job("enter"):
            self.inspect_job(job_id)

    # Handlers by name rather than @on: Textual collects @on handlers only from its own classes.
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "jobs":
            self.inspect_job(event.row_key.value)
        elif event.data_table.id == "near":
            self.push_screen(TaskScreen(int(event.row_key.value)))

    def inspect_job(self, job_id: str) -> None:
        self.push_screen(JobScreen(job_id))

    def action_preview(self) -> None:
        job_id = self.chosen_job("v")
        if job_id:
            self.preview_job(job_id)

    def preview_job(self, job_id: str) -> None:
        self.push_screen(PreviewScreen(job_id))

    def action_logs(self) -> None:
        panel = self.query_one(LogPanel)
        self.push_screen(LogScreen(list(panel.entries), list(self.service.job_names())))

    def action_audit(self) -> None:
        self.push_screen(AuditScreen())

    def action_notifications(self) -> None:
        self.push_screen(NotesScreen())

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
