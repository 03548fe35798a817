"""Settings: the schema of settings.yaml, loading it and environment overrides (redaction of
database URLs: console.redaction, re-exported here).

Every option has a default here, and the shipped ``settings.yaml`` repeats those defaults with
comments (a test keeps the two equal). Loading never raises anything but ``SettingsError``,
whose message names the offending key and never contains a password.

Validation refuses more than wrong types: a value that would delete or reset everything (an age
or period of zero or less) or make every run fail (a duration past what a timestamp can hold)
is refused here, naming the key, rather than found out by the jobs. Passwords are found in a
URL the way SQLAlchemy reads it (``make_url``), never by searching the text.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from console.domain.cron import CronError, normalise_crontab
from console.domain.rules import DEFAULT_LEVELS, WarningLevel
from console.domain.runs import JobId
from console.domain.templates import TemplateError, template_fields
from console.domain.text import printable
from console.domain.webhook_url import parse_webhook_url
# Redaction lives in its own module; settings is where the rest of the code finds it.
from console.redaction import UNPARSABLE_URL, parse_url, redact_url, url_secrets  # noqa: F401
from console.settings_task_system import TaskSystemSettings

JOB_IDS: tuple[str, ...] = tuple(job.value for job in JobId)  # plain words, as settings keys

ENV_CONFIG = "TASKCONSOLE_CONFIG"
ENV_DATABASE_URL = "TASKCONSOLE_DATABASE_URL"
ENV_REDIS_URL = "TASKCONSOLE_REDIS_URL"

# A settings file is a few kilobytes; more, or anything but a regular file (/dev/zero, a FIFO),
# is a mistake that would otherwise read until killed or block forever.
MAX_SETTINGS_BYTES = 1024 * 1024
# The longest age, period or interval: every one is added to or taken from "now", and the result
# must stay a timestamp both databases and Python hold (years 1 to 9999) for centuries to come.
LONGEST = timedelta(days=36500)


def _within(value: timedelta, shortest: timedelta, too_short: str) -> timedelta:
    """``value`` if it lies in [shortest, LONGEST]; else a ValueError saying the bounds and why."""
    if not shortest <= value <= LONGEST:
        why = too_short if value < shortest else "every run would fail: no timestamp reaches that far"
        raise ValueError(f"must be between {_words(shortest)} and {_words(LONGEST)}, not {_span(value)}: {why}")
    return value


def _span(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day{'' if abs(days) == 1 else 's'}"
    return f"{seconds:g} second{'' if abs(seconds) == 1 else 's'}"


def _words(value: timedelta) -> str:
    seconds = value.total_seconds()
    iso = f"P{int(seconds // 86400)}D" if seconds and seconds % 86400 == 0 else f"PT{seconds:g}S"
    return f"{_span(value)} ({iso})"


class SettingsError(Exception):
    """Bad settings: the message names the key and is safe to show."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TriggerSettings(_Strict):
    """When a job fires: exactly one of ``cron`` or ``every``."""

    cron: str | None = None
    """A five-field crontab line (minute hour day month weekday); weekday 0 or 7 is Sunday."""
    every: timedelta | None = None
    """A fixed interval, as seconds or an ISO-8601 duration (``PT30M``); aligned to midnight."""

    @model_validator(mode="after")
    def _exactly_one(self) -> "TriggerSettings":
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of 'cron' or 'every'")
        if self.cron is not None:
            try:
                normalise_crontab(self.cron)
            except CronError as exc:
                raise ValueError(f"invalid cron expression {self.cron!r}: {exc}") from None
        if self.every is not None and self.every.total_seconds() < 1:
            raise ValueError("'every' must be at least one second")
        if self.every is not None and self.every > LONGEST:
            raise ValueError(f"'every' must be at most {_words(LONGEST)}")
        return self


class JobSettings(_Strict):
    """One job's schedule and failure handling."""

    enabled: bool = True
    """A disabled job is not scheduled; it can still be run by hand."""
    trigger: TriggerSettings
    """When the job fires, in the settings' timezone."""
    retries: int = Field(default=3, ge=0, le=100)
    """How many times a failed scheduled run is tried again before admins are alerted."""
    retry_delay: float = Field(default=5.0, ge=0, le=3600)
    """Seconds to wait before each retry."""


def _default_jobs() -> dict[str, JobSettings]:
    return {
        JobId.RESET_PERIODIC_TASKS.value: JobSettings(trigger=TriggerSettings(cron="0 2 * * *")),
        JobId.CHECK_TASK_WARNINGS.value: JobSettings(trigger=TriggerSettings(cron="0 * * * *")),
        JobId.UPDATE_TIME_PROGRESS.value: JobSettings(trigger=TriggerSettings(every=timedelta(minutes=30))),
        JobId.CLEANUP_OLD_DATA.value: JobSettings(trigger=TriggerSettings(cron="0 3 * * sun")),
    }


class JobDefaults(_Strict):
    """APScheduler job defaults."""

    coalesce: bool = True
    """Fold a backlog of missed firings into one run."""
    max_instances: int = Field(default=1, ge=1)
    """Concurrent instances of one job in this process."""
    misfire_grace_time: int = Field(default=3600, ge=1, le=int(LONGEST.total_seconds()))
    """Seconds a late firing may still run; later ones are recorded as missed."""


class SchedulerSettings(_Strict):
    """The embedded APScheduler."""

    executor_threads: int = Field(default=10, ge=1, le=200)
    """Size of the thread pool that runs jobs."""
    job_defaults: JobDefaults = JobDefaults()


class DatabaseSettings(_Strict):
    """Where the data lives."""

    url: str = "sqlite:///taskconsole.db"
    """SQLAlchemy URL; a relative SQLite path is relative to the working directory."""

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
            raise ValueError("must start with sqlite:// or postgresql://")
        parse_url(url)
        return url


class RedisSettings(_Strict):
    """Optional helper; never decides a result."""

    url: str | None = None
    """redis://host:port/db, or null for none."""

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, url: str | None) -> str | None:
        if url and not re.match(r"^rediss?://", url):
            raise ValueError("must start with redis:// or rediss://")
        if url:
            parse_url(url)
        return url or None


class WarningSettings(_Strict):
    """The warning check."""

    levels: tuple[WarningLevel, ...] = DEFAULT_LEVELS
    """Each ``{level, at}``: console.domain.rules.WarningLevel, the one class of a warning level."""
    repeat_after: timedelta = timedelta(hours=24)
    """Send the same level for the same window again after this long; 0 means never."""

    @field_validator("repeat_after")
    @classmethod
    def _repeat_bounds(cls, value: timedelta) -> timedelta:
        return _within(value, timedelta(0), "0 means never; a negative one is a mistake")

    @field_validator("levels")
    @classmethod
    def _distinct(cls, levels: tuple[WarningLevel, ...]) -> tuple[WarningLevel, ...]:
        if not levels:
            raise ValueError("at least one level is needed")
        if len({lv.level for lv in levels}) != len(levels) or len({lv.at for lv in levels}) != len(levels):
            raise ValueError("levels and thresholds must be distinct")
        return tuple(sorted(levels, key=lambda lv: lv.at))


class PeriodicSettings(_Strict):
    """Periodic task resets."""

    default_period: timedelta = timedelta(days=7)
    """Period after completion at which a periodic task is reset, and length of its new window."""
    rule_check_interval: timedelta = timedelta(minutes=1)
    """How often the running scheduler looks (by index) for rule-driven tasks that fell due, and
    runs the reset job at once when one has; keeps them within minutes of their occurrence."""

    @field_validator("default_period")
    @classmethod
    def _period_bounds(cls, value: timedelta) -> timedelta:
        return _within(value, timedelta(minutes=1), "zero or less would reset every finished periodic task at once, "
                       "with a window ending before it starts")

    @field_validator("rule_check_interval")
    @classmethod
    def _sensible_interval(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=5) <= value <= timedelta(minutes=5):
            raise ValueError("must be between 5 seconds and 5 minutes")
        return value


class CleanupSettings(_Strict):
    """Old data removal."""

    closed_task_age: timedelta = timedelta(days=90)
    """Closed tasks not updated for this long are deleted."""
    read_notification_age: timedelta = timedelta(days=180)
    """Read notifications older than this are deleted."""
    batch_size: int = Field(default=5000, ge=1, le=1_000_000)
    """Rows deleted per transaction."""

    @field_validator("closed_task_age", "read_notification_age")
    @classmethod
    def _age_bounds(cls, value: timedelta) -> timedelta:
        return _within(value, timedelta(days=1), "an age of zero or less would delete every row; "
                       "to keep everything, disable jobs.cleanup_old_data")


class TimeProgressSettings(_Strict):
    """The time progress rewrite."""

    parallel: int = Field(default=2, ge=1, le=8)
    """Connections that rewrite time progress at once on PostgreSQL, each over its own range of
    task ids (at least 8 MB of the table each); SQLite writes with one."""


class Template(_Strict):
    """A notification's type, title and content; ``{placeholders}`` are filled from the task."""

    type: str
    title: str
    content: str


class NotificationSettings(_Strict):
    """Texts of the notifications the jobs send."""

    reset: Template = Template(type="任务重置", title="周期任务已重置", content="任务「{title}」已重置，请及时处理")
    """Placeholders: {title}, {task_id}."""
    warning: Template = Template(
        type="任务预警",
        title="任务预警：剩余{level}%时间",
        content="任务「{title}」仅剩{level}%的时间，当前进度{progress}%，请及时处理",
    )
    """Placeholders: {title}, {task_id}, {level}, {progress}."""
    job_failure: Template = Template(
        type="系统错误", title="定时任务执行失败", content="定时任务 {job_id} 执行失败：{error}"
    )
    """Placeholders: {job_id}, {error}."""

    @model_validator(mode="after")
    def _known_placeholders(self) -> "NotificationSettings":
        allowed = {
            "reset": {"title", "task_id"},
            "warning": {"title", "task_id", "level", "progress"},
            "job_failure": {"job_id", "error"},
        }
        for name, fields in allowed.items():
            template: Template = getattr(self, name)
            for part in ("title", "content"):
                try:
                    used = template_fields(getattr(template, part))
                except TemplateError as exc:
                    raise ValueError(f"{name}.{part}: {exc}") from None
                unknown = used - fields
                if unknown:
                    raise ValueError(
                        f"{name}.{part}: unknown placeholder {{{sorted(unknown)[0]}}}; "
                        f"allowed: {', '.join('{' + f + '}' for f in sorted(fields))}"
                    )
        return self


class ConsoleSettings(_Strict):
    """The terminal console."""

    refresh_interval: float = Field(default=2.0, ge=0.2, le=3600)
    """Seconds between panel refreshes."""
    locale: Literal["zh_CN", "en"] = "en"
    """Language of the console's own text."""


class LoggingSettings(_Strict):
    """What ``taskconsole run``, ``serve`` and the other commands log, and where (the console keeps
    its own panel)."""

    format: Literal["text", "json"] = "text"
    """text: one line a record; json: one JSON object a line (time in UTC ISO-8601, level, logger,
    message, job_id and run_id where there is one, host, pid), for a log shipper."""
    file: str | None = None
    """A file run and serve write to, rotated by size (other commands answer on the terminal);
    none: standard error (what systemd and containers expect)."""
    max_bytes: int = Field(default=10_485_760, ge=10_240, le=10_737_418_240)
    """The file's size at which it is rotated (10 KiB to 10 GiB)."""
    backups: int = Field(default=5, ge=0, le=1000)
    """Rotated files kept (taskconsole.log.1 ...)."""
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """The least level written by run and serve (other commands write warnings unless a job runs)."""
    locale: Literal["en", "zh_CN"] = "en"
    """zh_CN writes the job lines in the design document's words (任务开始: …, 任务完成: …, 耗时: 0.13秒,
    任务失败: …, 错误: …, 任务失败，正在重试(1/3)); JSON keys stay English."""


class RunLogSettings(_Strict):
    """The log lines of job runs, kept in taskconsole's own table (job_run_logs)."""

    keep: timedelta = timedelta(days=14)
    """Lines older than this are deleted (checked once an hour by the process that writes them)."""
    lines_per_run: int = Field(default=2000, ge=10, le=1_000_000)
    """Lines kept per run; a run that logs more keeps its first lines and says how many it dropped."""

    @field_validator("keep")
    @classmethod
    def _keep_bounds(cls, value: timedelta) -> timedelta:
        return _within(value, timedelta(hours=1), "under an hour, a run's log would be gone before anyone read it")


class RunHistorySettings(_Strict):
    """How long the run ledger (job_runs, with each run's log lines), the audit of manual actions
    and the finished commands are kept; cleanup_old_data deletes what is older, in batches."""

    keep: timedelta = timedelta(days=90)
    """Runs finished, actions audited and commands done longer ago than this are deleted. What the
    deleted runs counted stays in the metrics (job_run_totals)."""

    @field_validator("keep")
    @classmethod
    def _keep_bounds(cls, value: timedelta) -> timedelta:
        return _within(value, timedelta(days=1), "under a day, yesterday's runs would be gone from history")


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8080`` for IPv6) as (host, port); ValueError saying what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:5000)")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r}: the port must be a number from 1 to 65535")
    if any(c.isspace() or c in "/?#@" for c in host):
        raise ValueError(f"{value!r}: {host!r} is not a host name or address")
    return host, int(port)


class HttpSettings(_Strict):
    """The HTTP API (JSON, /healthz and /metrics)."""

    listen: str | None = None
    """host:port to serve on (``taskconsole run`` and the console, on every node); null: off."""
    public_metrics: bool = False
    """Serve /metrics without a token (for a Prometheus on a trusted network)."""

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value:
            parse_listen(value)
        return value or None


class AlertSettings(_Strict):
    """Alerts beyond the admins' notifications."""

    webhook_url: str | None = None
    """http(s) URL that gets a JSON POST when a job fails for good, is missed or is abandoned; null: none.
    A ``user:password@`` in it is sent as Basic auth; redirects are not followed."""

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url:
            parse_webhook_url(url)  # its messages never quote the URL: user, password and path may be secrets
        return url or None


class Settings(_Strict):
    """Everything taskconsole can be told."""

    timezone: str = "Asia/Shanghai"
    """IANA timezone for triggers and for showing times (storage is always UTC)."""
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    jobs: dict[str, JobSettings] = Field(default_factory=_default_jobs)
    warnings: WarningSettings = WarningSettings()
    periodic: PeriodicSettings = PeriodicSettings()
    cleanup: CleanupSettings = CleanupSettings()
    time_progress: TimeProgressSettings = TimeProgressSettings()
    notifications: NotificationSettings = NotificationSettings()
    console: ConsoleSettings = ConsoleSettings()
    run_logs: RunLogSettings = RunLogSettings()
    run_history: RunHistorySettings = RunHistorySettings()
    logging: LoggingSettings = LoggingSettings()
    http: HttpSettings = HttpSettings()
    alerts: AlertSettings = AlertSettings()
    task_system: TaskSystemSettings = TaskSystemSettings()
    """The task system's table and column names, words and naive timestamps (console.settings_task_system)."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {name!r}") from None
        return name

    @field_validator("jobs", mode="before")
    @classmethod
    def _merge_jobs(cls, value: Any) -> Any:
        # A file may mention only the jobs (and keys) it changes; the rest keep their defaults.
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ValueError("must be a mapping of job id to job settings")
        unknown = sorted(set(value) - set(JOB_IDS))
        if unknown:
            raise ValueError(f"unknown job id {unknown[0]!r}; known: {', '.join(JOB_IDS)}")
        merged: dict[str, Any] = {}
        for job_id, default in _default_jobs().items():
            given = value.get(job_id) or {}
            if not isinstance(given, dict):
                merged[job_id] = given  # let pydantic report the wrong type
                continue
            base = default.model_dump(exclude_none=True)
            if "trigger" in given:
                base.pop("trigger")
            merged[job_id] = {**base, **given}
        return merged

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _problem(err) -> tuple[str, str]:
    """(key, what is wrong) for one pydantic error, in the words the settings errors use."""
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return printable(key), printable(msg)


def _error_message(exc: ValidationError, source: str) -> str:
    key, msg = _problem(exc.errors()[0])
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return printable(f"{source}: {key}: {msg}{more}")


def _read_file(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_SETTINGS_BYTES. Opened without blocking and
    checked on the open descriptor, so a FIFO or device swapped in cannot hang or flood us."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {printable(path)}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise SettingsError(f"settings file {printable(path)} is not a regular file")
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_SETTINGS_BYTES + 1) if info.st_size <= MAX_SETTINGS_BYTES else b""
        if info.st_size > MAX_SETTINGS_BYTES or len(data) > MAX_SETTINGS_BYTES:
            raise SettingsError(f"settings file {printable(path)} is larger than "
                                f"{MAX_SETTINGS_BYTES // 1024 // 1024} MB")
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = _read_file(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{printable(path)}: not UTF-8 text (byte {exc.start + 1})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        raise SettingsError(f"{printable(path)}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{printable(path)}: the top level must be a mapping of keys")
    return data


def find_settings_file(explicit: str | None = None) -> Path | None:
    """The file to read: ``--config``, else ``$TASKCONSOLE_CONFIG``, else ./settings.yaml if any."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    local = Path("settings.yaml")
    return local if local.is_file() else None


def _raw_settings(path: str | Path | None, env: dict[str, str]) -> tuple[dict, str]:
    """The settings file's mapping with the environment's overrides, and where it came from."""
    file = find_settings_file(str(path) if path else None)
    raw = _read_yaml(file) if file else {}
    source = str(file) if file else "settings"
    if env.get(ENV_DATABASE_URL):
        raw.setdefault("database", {})
        if not isinstance(raw["database"], dict):
            raw["database"] = {}
        raw["database"] = {**raw["database"], "url": env[ENV_DATABASE_URL]}
    if ENV_REDIS_URL in env:
        if not isinstance(raw.get("redis"), dict):
            raw["redis"] = {}
        raw["redis"] = {**raw["redis"], "url": env[ENV_REDIS_URL] or None}
    return raw, source


def load_settings(path: str | Path | None = None, *, env: dict[str, str] | None = None) -> Settings:
    """Read settings from ``path`` (or the usual places), apply environment overrides, validate."""
    raw, source = _raw_settings(path, os.environ if env is None else env)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(_error_message(exc, source)) from None


def check_settings(path: str | Path | None = None, *, env: dict[str, str] | None = None
                   ) -> tuple[Settings | None, str, list[tuple[str, str]]]:
    """Every problem of a settings file, not only the first: (settings or None, where they came
    from, [(key, what is wrong)]). Touches no database."""
    env = os.environ if env is None else env
    try:
        raw, source = _raw_settings(path, env)
    except SettingsError as exc:
        return None, str(path or "settings"), [("(file)", str(exc))]
    try:
        return Settings.model_validate(raw), source, []
    except ValidationError as exc:
        return None, source, [_problem(err) for err in exc.errors()]
