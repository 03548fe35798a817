"""The commands behind ``taskconsole``; each takes parsed arguments and settings, returns an exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from typing import Callable

from console.cli import output
from console.cli.forecast_output import forecast_text
from console.cli.systemd import Notifier
from console.cli.signals import install_stop_handlers
from console.domain.recurrence import RecurrenceError
from console.domain.runs import Outcome, RunStatus, SchedulerState
from console.service import (AlreadyRunning, DatabaseError, DatabaseUnreachable, DeliveryRefused, DemoError, DisabledJob,
                             RunNotStarted, SchemaError, Service, UnknownJob, database, describe_error,
                             send_test_message)
from console.service.database import DowngradeRefused
from console.service.db_tuning import TuneRefused
from console.service.tokens import TokenRefused
from console.service.task_rules import UnknownTask
from console.domain.text import printable
from console.settings import Settings, redact_url

log = logging.getLogger("console.cli")



class BadInput(Exception):
    """Said in one line, exit 2: a token id that is not there, an address that cannot be listened on."""


KNOWN_ERRORS = (DatabaseError, SchemaError, DowngradeRefused, UnknownJob, DisabledJob, DemoError, UnknownTask,
                RecurrenceError, TuneRefused, TokenRefused, DeliveryRefused, BadInput)
# The HTTP API's threads each hold a database connection while they answer.
API_CONNECTIONS = 8
DEFAULT_LISTEN = "127.0.0.1:5000"



def explain(exc: BaseException) -> str:
    return str(exc)


def _service(settings: Settings, *, serving: bool = False) -> Service:
    """The service for a command that opens the database (the console and `run` too)."""
    return database.open_for_command(settings, extra_connections=API_CONNECTIONS if serving else 0)


def _start_api(service: Service, listen: str, *, stop_scheduler_on_failure: bool = True):
    """The HTTP API on ``listen``, serving in threads of this process; ListenError (exit 2) if
    the address cannot be had."""
    from console.web import ApiServer, ListenError, create_app

    server = ApiServer(create_app(service), listen)
    try:
        address = server.start()
    except ListenError as exc:
        if stop_scheduler_on_failure:
            service.stop_scheduler()
        raise BadInput(str(exc)) from None
    log.info("HTTP API on http://%s (/api/scheduler/jobs, /healthz, /metrics)", address)
    return server


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from console.tui.app import run_console
    except ImportError:
        sys.stderr.write("taskconsole: the console is not part of this build yet; see `taskconsole --help`\n")
        return 2
    listen = settings.http.listen
    service = _service(settings, serving=listen is not None)
    server, address, error = None, None, None
    if listen:
        # The console serves the API as `run` does; a port already taken (a `run` on this host
        # with the same settings) is said in its log panel, and the console opens all the same.
        try:
            server = _start_api(service, listen, stop_scheduler_on_failure=False)
            address = server.address
        except BadInput as exc:
            error = str(exc)
    try:
        return run_console(service, read_only=args.read_only, api_address=address, api_error=error)
    finally:
        if server is not None:
            server.stop()


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    stop = threading.Event()
    install_stop_handlers(stop)
    listen = settings.http.listen
    service = _wait_for_database(settings, stop, serving=listen is not None)
    if service is None:
        return 0  # stopped while waiting
    # Bound before the election: a port in use exits 2 before this process could lead.
    server = _start_api(service, listen) if listen else None

    systemd = Notifier()

    def on_change(role: str) -> None:
        if role == "leader":
            _log_schedule(service, settings)
        systemd.status("leading" if role == "leader" else "standing by")

    service.start_scheduler(kind="run", on_change=on_change)
    where = f"{redact_url(settings.database.url)} (pid {os.getpid()}); SIGTERM or Ctrl-C stops it"
    if service.leading:
        _log_schedule(service, settings)
        log.info("scheduler leading on %s", where)
        systemd.ready("leading")
    else:
        leader, _ = service.cluster()
        by = f"{leader.kind} on {leader.host}, pid {leader.pid}" if leader else "another process"
        log.info("standing by on %s: %s leads; this one takes over if it ends", where, by)
        systemd.ready(f"standing by: {by} leads")
    while not stop.wait(1.0):
        systemd.alive()
    systemd.stopping()
    if server is not None:
        server.stop()  # requests in flight finish first
    service.stop_scheduler()
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    stop = threading.Event()
    install_stop_handlers(stop)
    service = _service(settings, serving=True)
    server = _start_api(service, args.listen or settings.http.listen or DEFAULT_LISTEN)
    log.info("serving the HTTP API only (no scheduler here) on %s; SIGTERM or Ctrl-C stops it",
             redact_url(settings.database.url))
    while not stop.wait(1.0):
        pass
    server.stop()
    service.bus.close()
    return 0


def _token_json(token, tz) -> dict:
    return {"id": token.id, "name": token.name, "user_id": token.user_id, "user_name": token.user_name,
            "created_at": output.iso(token.created_at, tz), "created_by": token.created_by,
            "revoked_at": output.iso(token.revoked_at, tz)}


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    info, token = _service(settings).tokens.create(args.user, args.name)
    if args.json:
        output.emit_json({"id": info.id, "name": info.name, "user_id": info.user_id, "token": token})
    else:
        print(f"token {info.id} ({printable(info.name)}) for user {info.user_id}; shown once, keep it now:\n{token}")
    return 0


def cmd_tokens_list(args: argparse.Namespace, settings: Settings) -> int:
    tokens = _service(settings).tokens.all()
    if args.json:
        output.emit_json([_token_json(t, settings.tz) for t in tokens])
    elif not tokens:
        print("no tokens yet (taskconsole tokens create --user ID)")
    else:
        print(output.table(("ID", "NAME", "USER", "USER NAME", "CREATED", "BY", "REVOKED"), [
            (t.id, t.name, t.user_id, t.user_name or "-", output.local(t.created_at, settings.tz), t.created_by,
             output.local(t.revoked_at, settings.tz)) for t in tokens]))
    return 0


def cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    info = _service(settings).tokens.revoke(args.token_id)
    if info is None:
        raise BadInput(f"no token has id {args.token_id} (taskconsole tokens list)")
    print(f"token {info.id} ({printable(info.name)}) revoked at {output.local(info.revoked_at, settings.tz)}")
    return 0


def _delivery_json(d, tz) -> dict:
    return {"id": d.id, "channel": d.channel, "event": d.event, "recipient": d.recipient, "user_id": d.user_id,
            "task_id": d.task_id, "subject": d.subject, "state": d.state, "tries": d.tries,
            "last_error": d.last_error, "created_at": output.iso(d.created_at, tz),
            "next_try_at": output.iso(d.next_try_at, tz), "sent_at": output.iso(d.sent_at, tz)}


def cmd_deliveries_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _service(settings).deliveries.list(state=args.state, channel=args.channel, limit=args.limit)
    if args.json:
        output.emit_json([_delivery_json(d, settings.tz) for d in rows])
    elif not rows:
        print("no deliveries" + (f" {args.state}" if args.state else "") + (
            "" if settings.delivery_channels else " (no channels in the settings)"))
    else:
        print(output.table(("ID", "CHANNEL", "EVENT", "TO", "STATE", "TRIES", "WRITTEN", "LAST ERROR"), [
            (d.id, d.channel, d.event, d.recipient, d.state, d.tries, output.local(d.created_at, settings.tz),
             d.last_error or "-") for d in rows]))
    return 0


def cmd_deliveries_retry(args: argparse.Namespace, settings: Settings) -> int:
    if (args.delivery_id is None) == (not args.failed):
        raise BadInput("say which: deliveries retry ID, or deliveries retry --failed")
    service = _service(settings)
    n = service.deliveries.retry(None if args.failed else args.delivery_id)
    print(f"{n} failed deliver{'y' if n == 1 else 'ies'} queued again", flush=True)
    _deliver_while_unled(service)  # or the leader sends them within seconds
    return 0


def cmd_channels_test(args: argparse.Namespace, settings: Settings) -> int:
    # No database: the channel's settings and the network are all a test needs.
    print(f"test message sent on {send_test_message(settings, args.name, args.to)}")
    return 0


def _wait_for_database(settings: Settings, stop: threading.Event, *, serving: bool = False) -> Service | None:
    """A headless scheduler started before its database (a host booting) waits for it, saying so
    on each try, rather than exiting; a database without the schema still exits 2 at once."""
    delay = 2.0
    while True:
        try:
            return _service(settings, serving=serving)
        except DatabaseUnreachable as exc:
            log.warning("%s; trying again in %.0f s", exc, delay)
        if stop.wait(delay):
            return None
        delay = min(delay * 2, 30.0)


def _log_schedule(service, settings: Settings) -> None:
    for job in service.jobs():
        log.info("%s: %s, next run %s", job.id, job.trigger,
                 output.local(job.next_run_time, settings.tz) if job.next_run_time else job.state)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from console.service.status import gather_status

    database.require_database(settings.database.url)  # a missing SQLite file is bad input, not an outage
    status = gather_status(settings)
    if args.json:
        output.emit_json(output.status_json(status, settings.tz))
    else:
        print(output.status_text(status, settings.tz))
    return 0 if status.database == "ok" else 1


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    def progress(line: str) -> None:  # tuning steps, and what a try waits for
        sys.stderr.write(f"{printable(line)}\n")

    before, after = database.upgrade(settings, progress=progress)
    if before == after:
        print(f"schema is up to date (revision {after})")
    else:
        print(f"schema upgraded from {before or 'nothing'} to revision {after}")
    return 0


def cmd_db_downgrade(args: argparse.Namespace, settings: Settings) -> int:
    def progress(line: str) -> None:
        sys.stderr.write(f"{printable(line)}\n")

    plan = database.downgrade(settings, args.revision, apply=False)
    for step in plan:
        print(f"{step.from_revision} -> {step.to_revision}:")
        if step.refused:
            print(f"  refuses: {printable(step.refused)}")
            continue
        for table, rows in step.tables.items():
            print(f"  drops table {printable(table)} ({rows} rows)")
        for (table, column), values in step.columns.items():
            print(f"  drops column {printable(table)}.{printable(column)} ({values} values)")
        if not step.tables and not step.columns:
            print("  drops no table or column")
    refused = next((s for s in plan if s.refused), None)
    if refused is not None:
        sys.stderr.write(f"taskconsole: error: cannot downgrade: the step from {refused.from_revision} to "
                         f"{refused.to_revision} refuses; nothing was changed\n")
        return 2
    if not args.yes:
        print(f"nothing changed; run `taskconsole db downgrade {args.revision} --yes` to do it (running nodes of "
              "this release then stop firing by themselves: the schema fence; start the older release's after it)")
        return 0
    database.downgrade(settings, args.revision, apply=True, progress=progress)
    print(f"schema downgraded to revision {args.revision}")
    return 0


def cmd_db_check(args: argparse.Namespace, settings: Settings) -> int:
    from console.cli.check_output import check_error, check_json, check_text
    from console.service.db_check import check_database

    report = check_database(settings)
    database = redact_url(settings.database.url)
    if args.json:
        output.emit_json(check_json(report, database))
    else:
        print(check_text(report, database))
    if report.problems:
        sys.stderr.write(f"taskconsole: error: {printable(check_error(report))}\n")
        return 2
    return 0


def cmd_db_tune(args: argparse.Namespace, settings: Settings, *, undo: bool = False) -> int:
    from console.service import db_tuning

    verb = "untune" if undo else "tune"
    if not args.apply:
        planned = db_tuning.plan(settings, undo=undo)
        for change in planned:
            state = ("there" if change.present else "not there") if not undo else \
                ("there: would be removed" if change.present else "not there")
            if change.refused and not undo:
                state = f"cannot be made here: {change.refused}"
            print(f"{change.name} ({state})")
            print(f"  for:  {change.what}")
            print(f"  cost: {change.cost}")
            for statement in change.statements:
                print("  " + " ".join(statement.split()) + ";")
        todo = sum(1 for c in planned if c.present == undo and not (c.refused and not undo))
        doing = "remove" if undo else "make"
        print(f"{todo} of {len(planned)} changes to {doing}; run `taskconsole db {verb} --apply` to {doing} them"
              if todo else f"nothing to {verb}: every change is {'gone' if undo else 'there'}")
        return 0

    def progress(name: str) -> None:
        sys.stderr.write(f"{'removing' if undo else 'making'} {name} ...\n")
        sys.stderr.flush()

    done = db_tuning.apply(settings, undo=undo, progress=progress)
    print(f"{len(done)} changes {'removed' if undo else 'made'}" if done else f"nothing to {verb}")
    return 0


def cmd_db_untune(args: argparse.Namespace, settings: Settings) -> int:
    return cmd_db_tune(args, settings, undo=True)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    began = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 1 or done == total:
            sys.stderr.write(f"\rloading demo tasks: {done:,}/{total:,} ({done * 100 // max(total, 1)}%)")
            sys.stderr.flush()
            last[0] = now

    outcome = database.demo(settings, args.tasks, replace=args.replace, vocabulary=args.vocabulary, progress=progress)
    existing, result = outcome.existing, outcome.loaded
    if result is None:
        # Re-running the README's command must not fail, nor touch data that is already there.
        print(f"the database already has {existing:,} tasks; left them as they are "
              "(use `taskconsole demo --replace` to empty it and load the demo)")
        return 0
    if args.tasks:
        sys.stderr.write("\n")
    print(f"demo loaded into {redact_url(settings.database.url)}: {result.users} users, {result.tasks:,} tasks, "
          f"{result.notifications:,} notifications in {time.perf_counter() - began:.1f} s")
    section = database.vocabulary_yaml(args.vocabulary)
    if section and settings.task_system.values.status.processing[0] != "处理中":
        print("the tasks carry Chinese status and category words; the jobs see them once the settings file "
              "holds this section (`taskconsole db check` confirms):\n" + section, end="")
    return 0


def cmd_jobs_list(args: argparse.Namespace, settings: Settings) -> int:
    jobs = _service(settings).jobs()
    if args.json:
        output.emit_json([output.job_json(j, settings.tz) for j in jobs])
    else:
        print(output.jobs_text(jobs, settings.tz))
    return 0


def cmd_jobs_run(args: argparse.Namespace, settings: Settings) -> int:
    service = _service(settings)
    try:
        # In the foreground: Ctrl-C stops the run at once and closes it as failed ("interrupted").
        result = service.run_job_in_foreground(args.job_id)
    except AlreadyRunning as exc:
        if args.json:
            output.emit_json({"job_id": args.job_id, "status": Outcome.ALREADY_RUNNING, "error": str(exc)})
        sys.stderr.write(f"taskconsole: {printable(str(exc))}\n")
        return 1
    except RunNotStarted as exc:
        # Recorded (run ledger and audit) when the database let us; said in one line either way.
        if args.json:
            output.emit_json({"job_id": args.job_id, "run_id": exc.run_id, "status": RunStatus.FAILED, "duration_s": 0.0,
                              "counts": {}, "error": str(exc)})
        recorded = (f" (recorded as run {exc.run_id})" if exc.run_id is not None
                    else " (the database refused to record it)")
        sys.stderr.write(f"taskconsole: error: {printable(str(exc))}{recorded}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"taskconsole: interrupted; the run of {args.job_id} is recorded as failed (interrupted)\n")
        raise  # exit code 130
    if args.json:
        output.emit_json(output.result_json(result))
    else:
        print(output.result_text(result))
    _deliver_while_unled(service)
    return 0 if result.status == RunStatus.SUCCESS else 1


def _deliver_while_unled(service) -> None:
    """No process leads: what the run queued for the channels is sent from here before exiting."""
    try:
        waiting = service.deliver_while_unled()
    except Exception as exc:  # noqa: BLE001 - the run is done and recorded; its deliveries wait for a leader
        sys.stderr.write(f"taskconsole: the deliveries wait for a leader: {printable(describe_error(exc, service.settings.database.url))}\n")
        return
    if waiting:
        sys.stderr.write(f"taskconsole: {waiting} deliveries wait for a leader to send them (none leads now; "
                         "taskconsole deliveries list)\n")


def cmd_jobs_pause(args: argparse.Namespace, settings: Settings) -> int:
    _service(settings).pause_job(args.job_id)
    print(f"{args.job_id} paused")
    return 0


def cmd_jobs_resume(args: argparse.Namespace, settings: Settings) -> int:
    next_run = _service(settings).resume_job(args.job_id)
    print(f"{args.job_id} resumed; next run {output.local(next_run, settings.tz)}")
    return 0


def cmd_jobs_history(args: argparse.Namespace, settings: Settings) -> int:
    runs = _service(settings).history(args.job_id, args.limit)
    if args.json:
        output.emit_json([output.run_json(r, settings.tz) for r in runs])
    else:
        print(output.history_text(runs, settings.tz) if runs else "no runs recorded yet")
    return 0


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    preview = _service(settings).preview(args.job_id)
    if args.json:
        output.emit_json(output.preview_json(args.job_id, preview, settings.tz))
    else:
        print(output.preview_text(args.job_id, preview, settings.tz))
    return 0


def cmd_tasks_near(args: argparse.Namespace, settings: Settings) -> int:
    tasks = _service(settings).near_tasks(args.limit)
    skipped = tasks.skipped
    if skipped:
        log.warning("skipped %d processing task%s whose window has a timestamp outside years 1 to 9999",
                    skipped, "" if skipped == 1 else "s")
    if args.json:
        output.emit_json(output.near_json(tasks, settings.tz))
    else:
        print(output.near_text(tasks, settings.tz) if tasks else "no processing task is near a threshold")
    return 0


def cmd_tasks_forecast(args: argparse.Namespace, settings: Settings) -> int:
    forecast = _service(settings).warning_forecast(args.hours)
    if args.json:
        output.emit_json(output.forecast_json(forecast))
    else:
        print(forecast_text(forecast))
    return 0


def cmd_tasks_set_recurrence(args: argparse.Namespace, settings: Settings) -> int:
    words = _service(settings).set_recurrence(args.task_id, args.rule)
    print(f"task {args.task_id}: {printable(words)}; the reset job plans its next reset on its next run")
    return 0


def cmd_tasks_next(args: argparse.Namespace, settings: Settings) -> int:
    windows = _service(settings).next_windows(args.task_id, args.count)
    if args.json:
        output.emit_json([{"start": output.iso(s, settings.tz), "end": output.iso(e, settings.tz)} for s, e in windows])
    else:
        print(output.table(("START", "END"), [(output.local(s, settings.tz), output.local(e, settings.tz))
                                             for s, e in windows]) if windows else "no further window")
    return 0


def cmd_scheduler_pause(args: argparse.Namespace, settings: Settings) -> int:
    return _pause_scheduler(settings, paused=True)


def cmd_scheduler_resume(args: argparse.Namespace, settings: Settings) -> int:
    return _pause_scheduler(settings, paused=False)


# How long `scheduler pause|resume` waits for the leader to show it obeyed (it looks every 2 s).
_OBEY_WAIT_S = 6.0


def _pause_scheduler(settings: Settings, *, paused: bool) -> int:
    service = _service(settings)
    was = service.scheduler_pause().paused
    if paused:
        service.pause_scheduler()
    else:
        service.resume_scheduler()
    word, state = ("paused", SchedulerState.PAUSED) if paused else ("resumed", SchedulerState.RUNNING)
    already = " (it already was)" if was == paused else ""
    deadline = time.monotonic() + _OBEY_WAIT_S
    while True:
        leader, _ = service.cluster()
        if leader is None:
            print(f"scheduler {word}{already}; no process leads now: the next leader starts {state}")
            return 0
        who = f"{leader.kind} on {printable(leader.host)}, pid {leader.pid}"
        if leader.state == state:
            print(f"scheduler {word}{already}; the leader ({who}) is {state}")
            return 0
        if time.monotonic() >= deadline:
            print(f"scheduler {word}{already} (stored); the leader ({who}) has not shown it yet and "
                  "obeys at its next heartbeat")
            return 0
        time.sleep(0.25)


# Every command line, by its words, and the function that carries it out.
COMMANDS: dict[tuple[str, ...], Callable[[argparse.Namespace, Settings], int]] = {
    (): cmd_console,
    ("run",): cmd_run,
    ("serve",): cmd_serve,
    ("tokens", "create"): cmd_tokens_create,
    ("tokens", "list"): cmd_tokens_list,
    ("tokens", "revoke"): cmd_tokens_revoke,
    ("status",): cmd_status,
    ("db", "upgrade"): cmd_db_upgrade,
    ("db", "check"): cmd_db_check,
    ("db", "tune"): cmd_db_tune,
    ("db", "downgrade"): cmd_db_downgrade,
    ("db", "untune"): cmd_db_untune,
    ("demo",): cmd_demo,
    ("jobs", "list"): cmd_jobs_list,
    ("jobs", "run"): cmd_jobs_run,
    ("jobs", "pause"): cmd_jobs_pause,
    ("jobs", "resume"): cmd_jobs_resume,
    ("jobs", "history"): cmd_jobs_history,
    ("preview",): cmd_preview,
    ("tasks", "near"): cmd_tasks_near,
    ("tasks", "forecast"): cmd_tasks_forecast,
    ("tasks", "set-recurrence"): cmd_tasks_set_recurrence,
    ("tasks", "next"): cmd_tasks_next,
    ("deliveries", "list"): cmd_deliveries_list,
    ("deliveries", "retry"): cmd_deliveries_retry,
    ("channels", "test"): cmd_channels_test,
    ("scheduler", "pause"): cmd_scheduler_pause,
    ("scheduler", "resume"): cmd_scheduler_resume,
}


def dispatch(args: argparse.Namespace) -> Callable[[argparse.Namespace, Settings], int]:
    """The function for the parsed command line (its command and, for a group, its action)."""
    if args.command is None:
        return COMMANDS[()]
    action = getattr(args, f"{args.command}_command", None)
    return COMMANDS[(args.command,) if action is None else (args.command, action)]
