"""The schema of settings.yaml: every section but the jobs' (console.settings.jobs) and the task
system's (console.settings.task_system), and the root ``Settings``.

Every option has a default here, and the shipped ``settings.yaml`` repeats those defaults with
comments (a test keeps the two equal). Validation refuses more than wrong types: a value that
would delete or reset everything, or make every run fail, is refused here, naming the key.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from console.domain.deliveries import ChannelTarget, DeliveryEvent, parse_quiet
from console.domain.rules import DEFAULT_LEVELS, WarningLevel
from console.domain.templates import TemplateError, template_fields
from console.domain.webhook_url import apprise_json_url, parse_webhook_url
from console.settings.base import LONGEST, _between, _Strict, _within, _words
from console.settings.jobs import JOB_IDS, JobSettings, SchedulerSettings, _default_jobs
from console.settings.redaction import UNPARSABLE_URL, parse_url
from console.settings.task_system import TaskSystemSettings


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
    check_every: timedelta | None = timedelta(minutes=1)
    """How often the leader looks (by index) for tasks that crossed a threshold since its last look,
    and warns them at once; None keeps only the job's own trigger (the design document's hourly check)."""

    @field_validator("check_every")
    @classmethod
    def _pass_bounds(cls, value: timedelta | None) -> timedelta | None:
        return _between(value, timedelta(seconds=5), timedelta(hours=1),
                        "must be between 5 seconds and 1 hour, or null for the hourly check alone")

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


WEBHOOK_CHANNEL = "webhook"


def webhook_channel(url: str) -> "ChannelSettings":
    """``alerts.webhook_url`` as a channel: a ``json://`` room that takes job failures (abandoned
    runs among them) and missed firings, with the fields its receivers have always read."""
    return ChannelSettings(name=WEBHOOK_CHANNEL, url=apprise_json_url(url), to=ChannelTarget.GROUP,
                           events=(DeliveryEvent.JOB_FAILURE, DeliveryEvent.JOB_MISSED), fields=True)


ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ChannelSettings(_Strict):
    """A place deliveries go (issue #28): an Apprise URL and what it takes."""

    name: str
    """Names the channel in ``deliveries list``, the metrics and ``channels test`` (letters, digits, _ . -)."""
    url: str
    """An Apprise URL (mailto://, dingtalk://, wecombot://, feishu://, slack://, json:// ...);
    ``${VAR}`` is read from the environment when sending (keep secrets there). For ``to: handler``
    the handler's address fills ``{email}``."""
    events: tuple[DeliveryEvent, ...] = tuple(DeliveryEvent)
    """What it takes: warning, reset, job_failure, job_missed."""
    levels: tuple[int, ...] | None = None
    """Only warnings of these levels (e.g. [5]); null: every level."""
    to: ChannelTarget = ChannelTarget.GROUP
    """group: the URL is a room or robot, every event goes there; handler: personal, one delivery
    per handler (job_failure and job_missed: per admin) to the address in users.email."""
    digest: timedelta | None = None
    """Gather a room's or a handler's events into one message per window (PT1M to P1D); null: each alone."""
    quiet: str | None = None
    """Quiet hours of a personal channel in the settings' timezone ("22:00-08:00"): held, then sent
    as one digest at their end; job_failure is never held."""
    task_url: str | None = None
    """A link to a task in the messages, with {task_id} (e.g. https://tasks.example.com/tasks/{task_id})."""
    locale: Literal["zh_CN", "en"] = "zh_CN"
    """zh_CN: the texts of ``notifications`` (the design document's); en: English."""
    fields: bool = False
    """json:// only: the event's fields beside Apprise's title and message (event, job_id, at,
    host, run_id, error ...; for a task: task_id, title, level, deadline, progress), as the
    failure webhook (alerts.webhook_url, the channel named webhook) has always posted them."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not CHANNEL_NAME.match(value):
            raise ValueError("must be 1 to 64 letters, digits, _ . or - (starting with a letter or digit)")
        return value

    @field_validator("digest")
    @classmethod
    def _digest_bounds(cls, value: timedelta | None) -> timedelta | None:
        return _between(value, timedelta(minutes=1), timedelta(days=1), "must be between PT1M and P1D (or null: no digest)")

    @field_validator("quiet")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value:
            parse_quiet(value)
        return value or None

    @field_validator("task_url")
    @classmethod
    def _task_url(cls, value: str | None) -> str | None:
        if value:
            try:
                unknown = template_fields(value) - {"task_id"}
            except TemplateError as exc:
                raise ValueError(str(exc)) from None
            if unknown:
                raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; allowed: {{task_id}}")
        return value or None

    @model_validator(mode="after")
    def _fits(self) -> "ChannelSettings":
        if "://" not in self.url:
            raise ValueError("url: not an Apprise URL (scheme://...)")
        try:
            used = template_fields(ENV_VAR.sub("", self.url))
        except TemplateError as exc:
            raise ValueError(f"url: {exc}") from None
        allowed = {"email"} if self.to == ChannelTarget.HANDLER else set()
        if used - allowed:
            raise ValueError(f"url: unknown placeholder {{{sorted(used - allowed)[0]}}}"
                             + ("; allowed: {email}" if allowed else "; a group channel's URL has none"))
        if self.to == ChannelTarget.HANDLER and not used:
            raise ValueError("url: a handler channel's URL needs {email}, the handler's address")
        if self.quiet and self.to != ChannelTarget.HANDLER:
            raise ValueError("quiet: only a personal channel (to: handler) has quiet hours")
        if len(set(self.events)) != len(self.events) or not self.events:
            raise ValueError("events: at least one, each once")
        if self.fields and self.url.split("://", 1)[0].lower() not in ("json", "jsons"):
            raise ValueError("fields: only a json:// or jsons:// channel carries the event's fields")
        return self


class DeliverySettings(_Strict):
    """How the leader sends the outbox (``deliveries``) to the channels."""

    send_timeout: timedelta = timedelta(seconds=10)
    """Each send's connect and read timeout, and twice it for the whole send (PT1S to PT2M)."""
    give_up_after: timedelta = timedelta(days=1)
    """A delivery not sent this long after it was written is given up (state failed: a run-log
    line, the metrics, the console; ``deliveries retry`` sends it again). PT1M to P30D."""

    @field_validator("send_timeout")
    @classmethod
    def _timeout(cls, value: timedelta) -> timedelta:
        return _between(value, timedelta(seconds=1), timedelta(minutes=2), "must be between PT1S and PT2M")

    @field_validator("give_up_after")
    @classmethod
    def _give_up(cls, value: timedelta) -> timedelta:
        return _between(value, timedelta(minutes=1), timedelta(days=30), "must be between PT1M and P30D")


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
    channels: tuple[ChannelSettings, ...] = ()
    """Where warnings, resets and job alerts are delivered beyond the notifications table (issue #28)."""
    delivery: DeliverySettings = DeliverySettings()
    task_system: TaskSystemSettings = TaskSystemSettings()
    """The task system's table and column names, words and naive timestamps (console.settings.task_system)."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {name!r}") from None
        return name

    @model_validator(mode="after")
    def _channels_fit(self) -> "Settings":
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channels: the name {next(n for n in names if names.count(n) > 1)!r} is used twice")
        if self.alerts.webhook_url and WEBHOOK_CHANNEL in names:
            raise ValueError(f"channels: the name {WEBHOOK_CHANNEL!r} is alerts.webhook_url's channel; "
                             "name this one otherwise")
        if any(c.to == ChannelTarget.HANDLER for c in self.channels) and not self.task_system.columns.users.email:
            raise ValueError("channels: a handler channel needs task_system.columns.users.email (the handler's address)")
        return self

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
    def delivery_channels(self) -> tuple[ChannelSettings, ...]:
        """Every channel the outbox delivers to: ``channels``, then the failure webhook
        (``alerts.webhook_url``) as the ``json://`` channel named ``webhook``. Made at each call
        (30 µs): a cached value would be carried, stale, by ``model_copy(update=...)``."""
        if not self.alerts.webhook_url:
            return self.channels
        return (*self.channels, webhook_channel(self.alerts.webhook_url))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
