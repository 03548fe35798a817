"""Settings: the schema of settings.yaml, the task_system section, loading (file, environment,
guards) and the redaction of database URLs, one module each; everything is importable from here.

- ``console.settings.schema``: the sections and the root ``Settings`` (``jobs``: the jobs' part)
- ``console.settings.task_system``: the task system's names, words and timestamps
- ``console.settings.loading``: reading the file and the environment, ``load_settings``
- ``console.settings.redaction``: passwords out of URLs, for every message and screen
- ``console.settings.base``: ``SettingsError``, the strict model, the bounds of durations
"""

from console.settings.base import LONGEST, SettingsError
from console.settings.jobs import JOB_IDS, JobDefaults, JobSettings, SchedulerSettings, TriggerSettings
from console.settings.loading import (ENV_CONFIG, ENV_DATABASE_URL, ENV_REDIS_URL, MAX_SETTINGS_BYTES, check_settings,
                                      find_settings_file, load_settings)
from console.settings.redaction import UNPARSABLE_URL, parse_url, redact_url, url_secrets
from console.settings.schema import (AlertSettings, ChannelSettings, DeliverySettings, CleanupSettings, ConsoleSettings, DatabaseSettings, HttpSettings,
                                     LoggingSettings, NotificationSettings, PeriodicSettings, RedisSettings,
                                     RunHistorySettings, RunLogSettings, Settings, Template, TimeProgressSettings,
                                     WarningSettings, parse_listen)
from console.settings.task_system import TaskSystemSettings

__all__ = ["ENV_CONFIG", "ENV_DATABASE_URL", "ENV_REDIS_URL", "JOB_IDS", "LONGEST", "MAX_SETTINGS_BYTES", "UNPARSABLE_URL",
           "AlertSettings", "ChannelSettings", "DeliverySettings", "CleanupSettings", "ConsoleSettings", "DatabaseSettings", "HttpSettings", "JobDefaults",
           "JobSettings", "LoggingSettings", "NotificationSettings", "PeriodicSettings", "RedisSettings",
           "RunHistorySettings", "RunLogSettings", "SchedulerSettings", "Settings", "SettingsError",
           "TaskSystemSettings", "Template", "TimeProgressSettings", "TriggerSettings", "WarningSettings",
           "check_settings", "find_settings_file", "load_settings", "parse_listen", "parse_url", "redact_url",
           "url_secrets"]
