"""Settings that would destroy data, passwords, hostile files and arguments, the SQLite file itself
(issue 12, items 8, 9, 10 and 14).

- Ages and periods of zero or less (a negative cleanup age deleted every closed task), or past
  what a timestamp holds (P9999Y failed every run), are refused at load, naming the key; so is a
  notification type longer than the live column, when a command opens the database. Titles and
  contents longer than their columns are cut to fit.
- No password is printed, in any URL form SQLAlchemy reads (found through ``make_url``); a URL it
  cannot read is one line, exit 2, with no part of the password.
- The settings file is a regular file under 1 MB (/dev/zero read until killed, a FIFO blocked);
  numeric arguments have bounds, shown in --help.
- A new SQLite database and its -wal and -shm files are private (0600); a command that only reads
  creates no database where it is run.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from console.cli.main import build_parser, main
from console.db import schema
from console.db.engine import describe_error, make_engine
from console.db.models import Notification
from console.notify.notifications import alert_admins
from console.settings import MAX_SETTINGS_BYTES, Settings, SettingsError, load_settings, redact_url
from tests.conftest import DEMO_TABLES, NOW, Rows
from tests.integration.helpers import assert_one_clean_error, needs_a_process, run_cli, run_job

HOUR_ZERO = "PT0S"  # repeat_after 0: never again, the one duration that may be zero


def _env(url: str | None = None, config: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
    if url is not None:
        env["TASKCONSOLE_DATABASE_URL"] = url
    if config is not None:
        env["TASKCONSOLE_CONFIG"] = str(config)
    return env


def taskconsole(*args: str, cwd: Path, url: str | None = None, config: Path | None = None, timeout: float = 60,
                process: bool = False):
    """``taskconsole ARGS``: in this process where it only answers (``run_cli``); a real process
    for run, serve and the console, or where ``process`` asks for one (``timeout`` bounds it)."""
    if process or needs_a_process(args):
        return subprocess.run([sys.executable, "-m", "console", *args], cwd=cwd, env=_env(url, config),
                              capture_output=True, text=True, timeout=timeout)
    return run_cli(args, env=_env(url, config), cwd=cwd)


def at_once(argvs, **kwargs) -> list:
    """Several independent commands at once (in-process ones take turns; see run_cli)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda argv: taskconsole(*argv, **kwargs), argvs))


# -- item 8: settings that would destroy data or fail every run --------------------------------------

REFUSED = [
    ("cleanup:\n  closed_task_age: -86400\n", "cleanup.closed_task_age", "delete every row"),
    ("cleanup:\n  closed_task_age: 0\n", "cleanup.closed_task_age", "delete every row"),
    ("cleanup:\n  read_notification_age: -P1D\n", "cleanup.read_notification_age", "delete every row"),
    ("cleanup:\n  read_notification_age: P9999Y\n", "cleanup.read_notification_age", "every run would fail"),
    ("cleanup:\n  closed_task_age: P9999Y\n", "cleanup.closed_task_age", "every run would fail"),
    ("periodic:\n  default_period: -604800\n", "periodic.default_period", "reset every finished"),
    ("periodic:\n  default_period: 0\n", "periodic.default_period", "reset every finished"),
    ("periodic:\n  default_period: P9999Y\n", "periodic.default_period", "every run would fail"),
    ("warnings:\n  repeat_after: -3600\n", "warnings.repeat_after", "negative"),
    ("warnings:\n  repeat_after: P9999Y\n", "warnings.repeat_after", "every run would fail"),
    ("jobs:\n  cleanup_old_data:\n    trigger: {every: P9999Y}\n", "jobs.cleanup_old_data.trigger", "at most"),
    ("scheduler:\n  job_defaults:\n    misfire_grace_time: 999999999999\n", "scheduler.job_defaults.misfire_grace_time",
     "less than or equal"),
]


@pytest.mark.parametrize("body, key, words", REFUSED, ids=[r[1] + ":" + r[0].split(": ")[-1].strip() for r in REFUSED])
def test_an_age_or_period_that_would_destroy_data_or_fail_every_run_is_refused_naming_the_key(tmp_path, body, key,
                                                                                              words):
    (tmp_path / "s.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(tmp_path / "s.yaml", env={})
    assert f": {key}: " in str(err.value) and words in str(err.value), str(err.value)


def test_the_bounds_themselves_are_accepted(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "cleanup: {closed_task_age: P1D, read_notification_age: P36500D}\n"
        f"periodic: {{default_period: PT60S}}\nwarnings: {{repeat_after: {HOUR_ZERO}}}\n", encoding="utf-8")
    s = load_settings(tmp_path / "s.yaml", env={})
    assert (s.cleanup.closed_task_age, s.cleanup.read_notification_age) == (timedelta(days=1), timedelta(days=36500))
    assert (s.periodic.default_period, s.warnings.repeat_after) == (timedelta(minutes=1), timedelta(0))


def test_a_negative_cleanup_age_is_refused_before_any_row_is_deleted(db, tmp_path):
    rows = Rows(db.engine)
    closed = rows.task(status="closed", updated_at=NOW - timedelta(hours=1))
    (tmp_path / "s.yaml").write_text("cleanup:\n  closed_task_age: -86400\n", encoding="utf-8")
    for proc in at_once((["jobs", "run", "cleanup_old_data"], ["run"]), cwd=tmp_path, url=db.url,
                        config=tmp_path / "s.yaml"):
        line = assert_one_clean_error(proc)
        assert "settings error" in line and "cleanup.closed_task_age" in line, line
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tasks WHERE id = :i"), {"i": closed}).scalar_one() == 1


def test_a_notification_type_longer_than_its_column_is_refused_when_a_command_opens_the_database(db, cli, tmp_path):
    (tmp_path / "s.yaml").write_text(f"notifications:\n  warning: {{type: '{'预' * 33}', title: t, content: c}}\n",
                                     encoding="utf-8")
    for proc in at_once((["jobs", "list"], ["jobs", "run", "check_task_warnings"], ["tasks", "near"]), cwd=tmp_path,
                        url=db.url, config=tmp_path / "s.yaml"):
        line = assert_one_clean_error(proc)
        assert "notifications.warning.type" in line and "33 characters" in line and "32" in line, line
    (tmp_path / "ok.yaml").write_text(f"notifications:\n  warning: {{type: '{'预' * 32}', title: t, content: c}}\n",
                                      encoding="utf-8")
    assert cli("jobs", "list", config=tmp_path / "ok.yaml").returncode == 0


@pytest.fixture
def narrow_notifications(pg):
    """The task system's notifications table, narrower than ours: type 8, title 12, content 20."""
    with pg.begin() as conn:
        conn.execute(text("ALTER TABLE notifications ALTER COLUMN type TYPE varchar(8), "
                          "ALTER COLUMN title TYPE varchar(12), ALTER COLUMN content TYPE varchar(20)"))
    yield pg
    with pg.begin() as conn:
        conn.execute(text("ALTER TABLE notifications ALTER COLUMN type TYPE varchar(32), "
                          "ALTER COLUMN title TYPE text, ALTER COLUMN content TYPE text"))


def test_the_type_is_checked_against_the_live_column_not_the_model(narrow_notifications, pg_server, tmp_path):
    (tmp_path / "s.yaml").write_text("notifications:\n  reset: {type: periodic-reset, title: t, content: c}\n",
                                     encoding="utf-8")  # 14 characters: within the model's 32
    line = assert_one_clean_error(taskconsole("jobs", "list", cwd=tmp_path, url=pg_server, config=tmp_path / "s.yaml"))
    assert "notifications.reset.type: 14 characters, longer than the 8" in line, line
    with pytest.raises(SettingsError, match="notifications.reset.type"):
        schema.check_notification_types(narrow_notifications, load_settings(tmp_path / "s.yaml", env={}))


def test_titles_and_contents_longer_than_their_columns_are_cut_to_fit(narrow_notifications):
    rows = Rows(narrow_notifications)
    handler, admin = rows.user(), rows.user(admin=True)
    rows.task(category="periodic", status="completed", current_handler_id=handler, title="a very long title " * 20,
              actual_end_time=NOW - timedelta(days=8))
    counts = run_job("reset_periodic_tasks", narrow_notifications, Settings(), NOW)
    assert counts["reset"] == 1 and counts["notified"] == 1, counts
    with narrow_notifications.begin() as conn:
        assert alert_admins(conn, DEMO_TABLES, Settings().notifications.job_failure, job_id="cleanup_old_data", error="x" * 900,
                            now=NOW) == 1
        written = conn.execute(select(Notification.user_id, Notification.title, Notification.content)
                               .order_by(Notification.id)).all()
    assert [w.user_id for w in written] == [handler, admin]
    reset = Settings().notifications.reset
    assert written[0].title == reset.title[:12] and written[0].content == ("任务「" + "a very long title " * 20)[:20]
    assert all(len(w.title) <= 12 and len(w.content) <= 20 for w in written)


def test_the_column_widths_are_read_from_sqlites_declared_types_too(sqlite_db):
    with sqlite_db.engine.connect() as conn:
        assert schema.text_widths(conn, "notifications", ("type", "title", "content")) == \
            {"type": 32, "title": None, "content": None}
    too_long = Settings.model_validate({"notifications": {"job_failure": {"type": "x" * 33, "title": "t",
                                                                          "content": "c"}}})
    with pytest.raises(SettingsError, match="notifications.job_failure.type: 33 characters"):
        schema.check_notification_types(sqlite_db.engine, too_long)


# -- item 9: passwords -------------------------------------------------------------------------------

def _with_password(url: str, userinfo: str, query: str = "") -> str:
    """``url`` (postgresql+psycopg2://root@host:port/db) with ``userinfo`` written as given."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{userinfo}@{rest.split('@', 1)[1]}{query}"


SECRET_FORMS = {
    # (user info as written, query, what must never be printed)
    "raw / # ? : in the password": ("root:pa/ss#w?rd:9Secret", "", ("pa/ss", "9Secret", "rd:9")),
    "?password= in the query": ("root", "?password=Sekr3tQ&application_name=x", ("Sekr3tQ",)),
    "percent-encoded @ and :": ("root:p%40ss%3AWrd9Secret", "", ("p@ss", "p%40ss", "Wrd9Secret")),
}


@pytest.mark.parametrize("form", SECRET_FORMS, ids=list(SECRET_FORMS))
def test_status_status_json_and_run_never_print_the_password(pg, pg_server, tmp_path, form):
    userinfo, query, secrets = SECRET_FORMS[form]
    url = _with_password(pg_server, userinfo, query)  # trust auth: PostgreSQL lets any password in
    status, as_json = taskconsole("status", cwd=tmp_path, url=url), taskconsole("status", "--json", cwd=tmp_path, url=url)
    assert status.returncode == as_json.returncode == 0, status.stderr + as_json.stderr
    assert "database: ok" in status.stdout and json.loads(as_json.stdout)["database"]["status"] == "ok"
    assert "***" in status.stdout and "***" in json.loads(as_json.stdout)["database"]["url"]
    run = subprocess.Popen([sys.executable, "-m", "console", "run"], cwd=tmp_path, env=_env(url),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, err = time.monotonic() + 30, ""
        while "leading on" not in err and time.monotonic() < deadline and run.poll() is None:
            err += run.stderr.readline()
        run.send_signal(signal.SIGTERM)
        out, rest = run.communicate(timeout=30)
    finally:
        run.kill()
    err += rest
    assert "leading on" in err and run.returncode == 0, err
    for output in (status.stdout, status.stderr, as_json.stdout, as_json.stderr, out, err):
        for secret in secrets:
            assert secret not in output, (secret, output)


@pytest.mark.parametrize("url, pieces", [
    ("postgresql://app:Sekr3tZ@127.0.0.1:notaport/db", ("Sekr3tZ", "notaport")),
    ("postgresql://app:p@ss:Wrd9Secret@host/db", ("Wrd9Secret", "p@ss", "ss:W", "9Secret")),
    ("postgresql://app:Sekr3tW@[::1/db", ("Sekr3tW",)),
])
def test_a_url_sqlalchemy_cannot_read_is_one_line_exit_2_with_no_part_of_the_password(tmp_path, monkeypatch, capsys,
                                                                                       url, pieces):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TASKCONSOLE_CONFIG", raising=False)
    monkeypatch.setenv("TASKCONSOLE_DATABASE_URL", url)
    for argv in (["status"], ["status", "--json"], ["jobs", "list"], ["run"], ["db", "upgrade"]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1, err
        assert "database.url" in err and "%40" in err, err  # says how to write one
        for piece in pieces:
            assert piece not in err, (argv, piece, err)
    assert taskconsole("status", cwd=tmp_path, url=url, process=True).returncode == 2  # and no traceback from a process either
    assert list(tmp_path.iterdir()) == []


def test_every_secret_form_is_redacted_and_control_characters_are_removed():
    assert redact_url("postgresql://u:pa/ss#w?rd:9Secret@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgresql://u@h/db?password=Sekr3tQ&sslpassword=k3y&host=/tmp") == \
        "postgresql://u@h/db?host=%2Ftmp&password=***&sslpassword=***"
    assert redact_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgresql://u:p@ss:Wrd9Secret@h/db") == "<a database URL that cannot be read>"
    shown = redact_url("postgresql://u:pw@ho\x1b[31mst\u202e/db")
    assert "\x1b" not in shown and "\u202e" not in shown and "pw" not in shown
    for url, secret in (("postgresql://u@h/db?password=Sekr3tQ", "Sekr3tQ"),
                        ("postgresql://u:p%40ss@h/db", "p@ss"), ("postgresql://u:p%40ss@h/db", "p%40ss")):
        said = describe_error(RuntimeError(f"FATAL: could not connect with {secret}"), make_engine(url).url)
        assert secret not in said and "***" in said, said


def test_status_strips_control_characters_from_the_url_it_prints(tmp_path):
    url = "postgresql://root:Sekr3tC@127.0.0.1\x1b]0;pwned\x07\u202e:1/db?connect_timeout=1"
    proc = taskconsole("status", cwd=tmp_path, url=url)
    # The URL is read (its host is not a name anyone has): the database is down, exit 1.
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "database: down" in proc.stdout and "postgresql://root:***@127.0.0.1]0;pwned:1/db" in proc.stdout, \
        proc.stdout
    shown = proc.stdout + proc.stderr
    assert not set("\x1b\x07\u202e") & set(shown) and "Sekr3tC" not in shown, shown


# -- item 10: the settings file and numeric arguments ------------------------------------------------

@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "directory", "over 1 MB"])
def test_the_settings_file_must_be_a_regular_file_under_1_mb(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "settings.fifo"
        os.mkfifo(path)
    elif kind == "directory":
        path = tmp_path / "settings.d"
        path.mkdir()
    elif kind == "over 1 MB":
        path = tmp_path / "big.yaml"
        path.write_bytes(b"# padding\n" * (MAX_SETTINGS_BYTES // 10 + 1))
    else:
        path = Path(kind)
    began = time.monotonic()
    proc = taskconsole("--config", str(path), "jobs", "list", cwd=tmp_path, timeout=20, process=True)  # bounded
    line = assert_one_clean_error(proc)
    assert "settings error" in line and ("not a regular file" in line or "larger than 1 MB" in line), line
    assert time.monotonic() - began < 15


def test_a_settings_file_of_1_mb_is_read(tmp_path):
    path = tmp_path / "s.yaml"
    body = b"timezone: Europe/Berlin\n"
    path.write_bytes(body + b"#" * (MAX_SETTINGS_BYTES - len(body) - 1) + b"\n")
    assert path.stat().st_size == MAX_SETTINGS_BYTES
    assert load_settings(path, env={}).timezone == "Europe/Berlin"


BOUNDED = [  # the argument, its bounds, and how --help says them
    (["jobs", "history", "--limit"], 1, 10_000, "1 to 10,000"),
    (["tasks", "near", "--limit"], 1, 1_000, "1 to 1,000"),
    (["tasks", "forecast", "--hours"], 1, 168, "1 to 168"),
    (["tasks", "next", "1", "--count"], 1, 1_000, "1 to 1,000"),
    (["demo", "--tasks"], 0, 10_000_000, "0 to 10,000,000"),
    (["tasks", "next"], 1, 2**63 - 1, "1 to 2^63-1"),
    (["tasks", "set-recurrence"], 1, 2**63 - 1, "1 to 2^63-1"),
]


@pytest.mark.parametrize("argv, low, high, documented", BOUNDED, ids=[" ".join(b[0]) for b in BOUNDED])
def test_numeric_arguments_exit_2_past_their_documented_bounds(capsys, argv, low, high, documented):
    tail = ["P1D"] if argv[-1] == "set-recurrence" else []
    for value in (str(low - 1), str(high + 1), "99999999999999999999999", "1e3", "x" * 5000):
        with pytest.raises(SystemExit) as exit_:
            main([*argv, value, *tail])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert f"from {low:,} to {high:,}" in err or "not a whole number" in err, err
    for value in (low, high):  # the bounds themselves parse
        build_parser().parse_args([*argv, str(value), *tail])
    with pytest.raises(SystemExit):
        main([*argv[:2], "--help"] if argv[0] != "demo" else ["demo", "--help"])
    assert documented in capsys.readouterr().out


# -- item 14: the SQLite file ------------------------------------------------------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_and_shm_files_are_readable_by_their_owner_only(tmp_path):
    proc = taskconsole("db", "upgrade", cwd=tmp_path, url=f"sqlite:///{tmp_path / 'new.db'}")
    assert proc.returncode == 0, proc.stderr
    assert _mode(tmp_path / "new.db") == 0o600
    old = os.umask(0o022)  # the usual umask, which let pysqlite create 0644
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
        with engine.begin() as conn:  # a write, so that -wal and -shm exist while it is open
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM t")).all()
            for name in ("other.db", "other.db-wal", "other.db-shm"):
                assert _mode(tmp_path / name) == 0o600, name
        engine.dispose()
    finally:
        os.umask(old)


READ_ONLY = [["jobs", "list"], ["status"], ["status", "--json"], ["tasks", "near"], ["jobs", "history"],
             ["preview", "cleanup_old_data"], ["tasks", "next", "1"], ["jobs", "run", "cleanup_old_data"], ["run"],
             ["jobs", "pause", "cleanup_old_data"]]


def test_commands_that_only_read_create_no_database_in_an_empty_folder(tmp_path):
    for argv, proc in zip(READ_ONLY, at_once(READ_ONLY, cwd=tmp_path, url=f"sqlite:///{tmp_path / 'tasks.db'}")):
        line = assert_one_clean_error(proc)
        assert "does not exist" in line and "taskconsole db upgrade" in line, (argv, line)
    line = assert_one_clean_error(taskconsole("jobs", "list", cwd=tmp_path))  # the default: ./taskconsole.db
    assert "taskconsole.db does not exist" in line, line
    assert list(tmp_path.iterdir()) == []
