"""``taskconsole``: argument parsing, error handling and exit codes.

Exit codes: 0 success, 1 a job failed (or could not start because it is already running),
2 bad input (settings, arguments, unknown job id, unusable database) with one clear message.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from console import __version__
from console.domain.deliveries import DeliveryState
from console.domain.text import printable
from console.settings import JOB_IDS, SettingsError, load_settings

log = logging.getLogger("console.cli")

EPILOG = """\
settings: --config FILE, else $TASKCONSOLE_CONFIG, else ./settings.yaml, else built-in defaults;
$TASKCONSOLE_DATABASE_URL and $TASKCONSOLE_REDIS_URL override the file.
exit codes: 0 success, 1 a job failed (or, for status, the database is down), 2 bad input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump, exit 2
        self.exit(2, f"taskconsole: error: {message} (see `{self.prog} --help`)\n")


# Bounds of the numeric arguments (shown in --help): past them a command would run for minutes,
# or overflow a column, instead of answering.
DEMO_TASKS = (0, 10_000_000)
HISTORY_LIMIT = (1, 10_000)
NEAR_LIMIT = (1, 1_000)
NEXT_COUNT = (1, 1_000)
FORECAST_HOURS = (1, 168)  # console.service.forecast.HOURS: a week at most
TASK_ID = (1, 2**63 - 1)  # a BIGINT, as tasks.id is on PostgreSQL


def _whole_number(bounds: tuple[int, int]):
    """An argparse type: a whole number within ``bounds`` (else exit 2, one line)."""
    low, high = bounds

    def parse(text: str) -> int:
        shown = printable(text if len(text) <= 40 else text[:40] + "…")
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{shown!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:,} to {high:,}, not {shown}")
        return value

    return parse


def _listen(text: str) -> str:
    """An argparse type: host:port."""
    from console.settings import parse_listen

    try:
        parse_listen(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(printable(str(exc))) from None
    return text


def _range(bounds: tuple[int, int]) -> str:
    return f"{bounds[0]:,} to {bounds[1]:,}"


def _config_option(parser: argparse.ArgumentParser, *, top: bool) -> None:
    parser.add_argument(
        "--config", metavar="FILE", default=None if top else argparse.SUPPRESS,
        help="settings file (default: $TASKCONSOLE_CONFIG or ./settings.yaml)",
    )


class _Version(argparse.Action):
    """``--version``: one line, the package version and the schema revision it needs. The schema
    module is imported only here, so that --help stays quick."""

    def __call__(self, parser, namespace, values, option_string=None):
        from console.service import SCHEMA_HEAD

        sys.stdout.write(f"taskconsole {__version__} (schema {SCHEMA_HEAD})\n")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="taskconsole",
        description="Run a task system's background jobs, and open the operators' console over them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_option(parser, top=True)
    parser.add_argument("--read-only", action="store_true", help="console: disable every action that changes something")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the version and the schema revision it needs, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text, description=help_text)
        _config_option(p, top=False)
        return p

    command("run", "run the scheduler headless in the foreground; it leads, or stands by while another "
            "process leads (SIGTERM or Ctrl-C stops it gracefully); serves the HTTP API where http.listen is set")
    p = command("serve", "serve the HTTP API alone (JSON under /api, /healthz, /metrics), taking no part in the "
                "scheduler election: runs and pauses go to whichever process leads (SIGTERM or Ctrl-C stops it)")
    p.add_argument("--listen", metavar="HOST:PORT", type=_listen, default=None,
                   help="address to serve on (default: the settings' http.listen, else 127.0.0.1:5000)")

    tokens = sub.add_parser("tokens", help="tokens of the HTTP API: create, list, revoke",
                            description="Tokens of the HTTP API (Authorization: Bearer <token>). Only admin "
                            "users (users.is_admin) may hold one; the token is shown once, only its hash is kept.")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", metavar="ACTION", required=True, parser_class=_Parser)
    p = command("create", "make a token for an admin user and print it once; exit 2 if the user is not an admin",
                tokens_sub)
    p.add_argument("--user", type=_whole_number(TASK_ID), required=True, metavar="USER_ID",
                   help="the admin's id in the task system's users table")
    p.add_argument("--name", metavar="NAME", default=None, help="what the token is for (default: user <id>)")
    p.add_argument("--json", action="store_true", help="JSON for scripts: {id, name, user_id, token}")
    p = command("list", "the tokens (never the tokens themselves): id, name, user, created, revoked", tokens_sub)
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p = command("revoke", "revoke a token at once, on every node", tokens_sub)
    p.add_argument("token_id", type=_whole_number(TASK_ID), metavar="ID", help="the token's id (tokens list)")
    p = command("status", "who leads the scheduler (host, pid, since), who stands by, database and Redis "
                "health, each job's last run; exit 1 if the database is down")
    p.add_argument("--json", action="store_true", help="JSON for scripts (leader is null when none leads)")
    p = sub.add_parser("completion", help="print a shell completion script (bash or zsh), job ids included",
                       description="Print a shell completion script. bash: "
                       "eval \"$(taskconsole completion bash)\" in ~/.bashrc; zsh: "
                       "eval \"$(taskconsole completion zsh)\" in ~/.zshrc.")
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell")
    config = sub.add_parser("config", help="check a settings file before deploying it",
                            description="Check a settings file before deploying it.")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True, parser_class=_Parser)
    p = command("check", "validate the settings (file, environment overrides, defaults) without touching a "
                "database: exit 0, or 2 listing every problem with its key (what depends on the database "
                "is db check's)", config_sub)
    p.add_argument("--json", action="store_true", help="JSON for scripts: {file, ok, problems: [{key, message}]}")
    p.add_argument("--show", action="store_true", help="also print the effective settings, secrets masked")
    db = sub.add_parser("db", help="database schema", description="Database schema.")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True, parser_class=_Parser)
    command("upgrade", "create or upgrade taskconsole's schema to this version; where the task system's tables "
            "exist, they are adopted as they are (nothing of theirs is altered), else created", db_sub)
    p = command("downgrade", "back to an earlier schema revision (a rollback of an upgrade): prints each step "
                "and what it drops (tables, columns, how many rows), and does it only with --yes; a step "
                "that refuses says why before anything is touched", db_sub)
    p.add_argument("revision", metavar="REVISION", help="the revision to go back to, e.g. 0012")
    p.add_argument("--yes", action="store_true", help="do it: drop what the plan printed")
    p = command("check", "compare the settings' task_system mapping with the live tables: per table and column, "
                "what the database has and whether taskconsole can use it, and the status and category words "
                "the mapping does not name; exit 2 naming every problem", db_sub)
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p = command("tune", "the indexes and fillfactor (never a trigger or function) that make the jobs fast at a "
                "million tasks, on the task system's own tables: print each with what it costs the task system "
                "(nothing is changed without --apply)", db_sub)
    p.add_argument("--apply", action="store_true", help="make the changes not yet made (PostgreSQL builds the "
                   "indexes CONCURRENTLY: the task system keeps writing)")
    p = command("untune", "what `db tune` made, to remove: print it (nothing is changed without --apply)", db_sub)
    p.add_argument("--apply", action="store_true", help="remove what tune made")

    demo = command("demo", "load demo users, tasks and notifications (creates the schema if needed)")
    demo.add_argument("--tasks", type=_whole_number(DEMO_TASKS), default=10_000, metavar="N",
                      help=f"number of tasks, {_range(DEMO_TASKS)} (default 10000)")
    demo.add_argument("--replace", action="store_true", help="empty users, tasks and notifications first")
    demo.add_argument("--vocabulary", choices=("en", "zh"), default="en",
                      help="the status and category words the tasks carry: en (the default mapping's) or zh "
                      "(处理中, 已完成, 定时周期任务 ...; prints the task_system section the settings then need)")

    jobs = sub.add_parser("jobs", help="list, run, pause, resume jobs and show their history",
                          description="List, run, pause and resume jobs; show their run history.")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True, parser_class=_Parser)
    p = command("list", "the jobs, their triggers (* where the stored one is not yet the settings'), next run times and "
                "last runs", jobs_sub)
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p = command("run", "run a job now, recorded as manual; exit 1 if it fails", jobs_sub)
    p.add_argument("job_id", metavar="ID", help=f"one of: {', '.join(JOB_IDS)}")
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    for action, text in (("pause", "pause a job's schedule"), ("resume", "resume a paused job's schedule")):
        p = command(action, text, jobs_sub)
        p.add_argument("job_id", metavar="ID", help=f"one of: {', '.join(JOB_IDS)}")
    p = command("history", "recent runs, newest first", jobs_sub)
    p.add_argument("job_id", metavar="ID", nargs="?", help="only this job")
    p.add_argument("--limit", type=_whole_number(HISTORY_LIMIT), default=20, metavar="N",
                   help=f"how many runs, {_range(HISTORY_LIMIT)} (default 20)")
    p.add_argument("--json", action="store_true", help="JSON for scripts")

    scheduler = sub.add_parser("scheduler", help="pause or resume the whole scheduler",
                               description="Pause or resume the whole scheduler. The pause is stored in the "
                               "database: whichever process leads, now or after a hand-over, obeys it.")
    scheduler_sub = scheduler.add_subparsers(dest="scheduler_command", metavar="ACTION", required=True,
                                             parser_class=_Parser)
    command("pause", "pause the whole scheduler: no job fires until it is resumed", scheduler_sub)
    command("resume", "resume the whole scheduler", scheduler_sub)

    p = command("preview", "dry run: what a job would change now; nothing is written")
    p.add_argument("job_id", metavar="ID", help=f"one of: {', '.join(JOB_IDS)}")
    p.add_argument("--json", action="store_true", help="JSON for scripts")

    tasks = sub.add_parser("tasks", help="tasks near their warning thresholds, the warnings ahead; per-task "
                           "recurrence rules", description="Tasks near their warning thresholds, the warnings "
                           "falling due in the next hours; per-task recurrence rules.")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True, parser_class=_Parser)
    p = command("near", "processing tasks nearest their next warning threshold (or past one)", tasks_sub)
    p.add_argument("--limit", type=_whole_number(NEAR_LIMIT), default=20, metavar="N",
                   help=f"how many tasks, {_range(NEAR_LIMIT)} (default 20)")
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p = command("forecast", "warnings falling due in each of the next hours, per level, with work progress as it "
                "stands: each processing task's threshold instants ahead (start + window × level's threshold), "
                "unless already warned of in its cycle. Each level's instant counts as its own warning, though "
                "the check sends only the most severe level per run; repeats (warnings.repeat_after) are not "
                "counted. Hour 0 is the rest of the current hour, in the settings' timezone", tasks_sub)
    p.add_argument("--hours", type=_whole_number(FORECAST_HOURS), default=24, metavar="N",
                   help=f"how many hours ahead, {_range(FORECAST_HOURS)} (default 24)")
    p.add_argument("--json", action="store_true",
                   help="JSON for scripts: a list of {hour (ISO-8601 with offset), level, count}, every hour and level")
    p = command("set-recurrence", "give a periodic task its own rule: an ISO-8601 duration (P1D, PT12H, P2W, "
                "P1M) or an RRULE (FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0); 'none' restores the default",
                tasks_sub)
    p.add_argument("task_id", type=_whole_number(TASK_ID), metavar="ID", help="the task's id, 1 to 2^63-1")
    p.add_argument("rule", metavar="RULE", help="the rule, evaluated in the settings' timezone")
    p = command("next", "a task's next windows under its rule (start and end)", tasks_sub)
    p.add_argument("task_id", type=_whole_number(TASK_ID), metavar="ID", help="the task's id, 1 to 2^63-1")
    p.add_argument("--count", type=_whole_number(NEXT_COUNT), default=5, metavar="N",
                   help=f"how many windows, {_range(NEXT_COUNT)} (default 5)")
    p.add_argument("--json", action="store_true", help="JSON for scripts: a list of {start, end}")

    deliveries = sub.add_parser("deliveries", help="the outbox of deliveries to channels: list, retry",
                                description="The outbox: each event for each channel (settings: channels), "
                                "sent by the leader with retries; a delivery not sent within "
                                "delivery.give_up_after is failed.")
    deliveries_sub = deliveries.add_subparsers(dest="deliveries_command", metavar="ACTION", required=True,
                                               parser_class=_Parser)
    p = command("list", "deliveries, newest first: channel, event, recipient, state, tries, last error",
                deliveries_sub)
    p.add_argument("--state", choices=[str(s) for s in DeliveryState], default=None, help="only this state")
    p.add_argument("--channel", metavar="NAME", default=None, help="only this channel")
    p.add_argument("--limit", type=_whole_number(HISTORY_LIMIT), default=50, metavar="N",
                   help=f"how many, {_range(HISTORY_LIMIT)} (default 50)")
    p.add_argument("--json", action="store_true", help="JSON for scripts: a list of {id, channel, event, "
                   "recipient, user_id, task_id, subject, state, tries, last_error, created_at, next_try_at, sent_at}")
    p = command("retry", "send failed deliveries again: one by its id, or every one with --failed", deliveries_sub)
    p.add_argument("delivery_id", type=_whole_number(TASK_ID), metavar="ID", nargs="?", help="the delivery's id")
    p.add_argument("--failed", action="store_true", help="every failed delivery")

    channels = sub.add_parser("channels", help="the delivery channels: send a test message",
                              description="The delivery channels of the settings (channels).")
    channels_sub = channels.add_subparsers(dest="channels_command", metavar="ACTION", required=True,
                                           parser_class=_Parser)
    p = command("test", "send one test message on a channel now (not through the outbox); exit 2 if it "
                "did not go, saying why", channels_sub)
    p.add_argument("name", metavar="NAME", help="the channel's name (channels[].name)")
    p.add_argument("--to", metavar="ADDRESS", default=None, help="for a personal channel (to: handler): the address")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "completion":
        from console.cli.completion import cmd_completion

        return cmd_completion(args, parser)
    if args.command == "config":
        # Before the settings are loaded: checking them is the point, problems and all.
        from console.cli.config_check import cmd_config_check

        return cmd_config_check(args)
    from console.cli import commands  # the heavy imports, after --help and argument errors

    try:
        settings = load_settings(args.config)
        handler: Callable[[argparse.Namespace, object], int] = commands.dispatch(args)
        # Job logs (start, progress, finish) go to stderr where someone watches a run.
        watching = args.command in ("run", "serve") or (
            args.command == "jobs" and args.jobs_command == "run" and not args.json
        )
        from console.cli.log_setup import configure

        configure(settings.logging, service=args.command in ("run", "serve"), verbose=watching)
        return handler(args, settings)
    except SettingsError as exc:
        return _fail(f"settings error: {exc}")
    except commands.KNOWN_ERRORS as exc:
        return _fail(commands.explain(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (head, less) went away; nothing more to say.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback, never a password
        from console.service import describe_error

        if os.environ.get("TASKCONSOLE_DEBUG"):
            raise
        url = getattr(locals().get("settings"), "database", None)
        sys.stderr.write(
            f"taskconsole: error: {printable(describe_error(exc, url.url if url else None))} "
            "(set TASKCONSOLE_DEBUG=1 for the traceback)\n"
        )
        return 1


def _fail(message: str) -> int:
    # Messages quote input and data (a rule, a path, a database's words): shown inert.
    sys.stderr.write(f"taskconsole: error: {printable(message)}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
