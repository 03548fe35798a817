"""Settings: shipped defaults, overrides, and one clear message naming the key for bad input."""

from pathlib import Path

import pytest

from console.settings import Settings, SettingsError, load_settings, redact_url

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_settings_file_equals_the_built_in_defaults():
    assert load_settings(ROOT / "settings.yaml", env={}) == Settings()


def test_seed_defaults():
    s = Settings()
    assert s.timezone == "Asia/Shanghai"
    assert s.scheduler.executor_threads == 10
    assert s.scheduler.job_defaults.misfire_grace_time == 3600
    assert [(lv.level, lv.at) for lv in s.warnings.levels] == [(20, 80), (10, 90), (5, 95)]
    assert s.jobs["cleanup_old_data"].retries == 3 and s.jobs["cleanup_old_data"].retry_delay == 5
    assert s.periodic.default_period.days == 7


def test_a_warning_level_is_one_class_read_from_settings_as_strictly_as_the_rest(tmp_path):
    from console.domain.rules import DEFAULT_LEVELS, WarningLevel, warning_level

    assert Settings().warnings.levels == DEFAULT_LEVELS
    loaded = load_settings(write(tmp_path, "warnings:\n  levels: [{level: 7, at: 93}]\n"), env={})
    assert loaded.warnings.levels == (WarningLevel(7, 93.0),)
    assert warning_level(94, 10, loaded.warnings.levels) == 7  # the rules take what settings read
    for text, key in (("[{level: 7, at: 93, when: 1}]", "warnings.levels.0.when"),
                      ("[{level: 0, at: 93}]", "warnings.levels.0.level")):
        with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
            load_settings(write(tmp_path, f"warnings:\n  levels: {text}\n"), env={})


def test_partial_file_keeps_other_defaults(tmp_path):
    s = load_settings(write(tmp_path, "jobs:\n  check_task_warnings:\n    retries: 1\n"), env={})
    assert s.jobs["check_task_warnings"].retries == 1
    assert s.jobs["check_task_warnings"].trigger.cron == "0 * * * *"
    assert s.jobs["reset_periodic_tasks"].trigger.cron == "0 2 * * *"


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, "database:\n  url: sqlite:///a.db\n")
    s = load_settings(path, env={"TASKCONSOLE_DATABASE_URL": "sqlite:///b.db", "TASKCONSOLE_REDIS_URL": "redis://x:1/0"})
    assert s.database.url == "sqlite:///b.db"
    assert s.redis.url == "redis://x:1/0"


def test_config_env_names_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, "timezone: Europe/Berlin\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("TASKCONSOLE_CONFIG", raising=False)
    assert load_settings(None).timezone == "Asia/Shanghai"  # no file anywhere: defaults
    monkeypatch.setenv("TASKCONSOLE_CONFIG", str(path))
    assert load_settings(None).timezone == "Europe/Berlin"
    monkeypatch.delenv("TASKCONSOLE_CONFIG")
    monkeypatch.chdir(tmp_path)
    assert load_settings(None).timezone == "Europe/Berlin"  # ./settings.yaml


BAD_FILES = [
        ("timezone: Mars/Olympus\n", "timezone", "unknown timezone"),
        ("scheduler:\n  executor_threads: many\n", "scheduler.executor_threads", "integer"),
        ("jobs:\n  check_task_warnings:\n    trigger: {cron: '0 25 * * *'}\n", "jobs.check_task_warnings.trigger",
         "invalid cron"),
        ("jobs:\n  check_task_warnings:\n    trigger: {cron: '0 * * * *', every: 60}\n",
         "jobs.check_task_warnings.trigger", "exactly one"),
        ("jobs:\n  no_such_job: {}\n", "jobs", "unknown job id 'no_such_job'"),
        ("bogus: 1\n", "bogus", "unknown key"),
        ("warnings:\n  repeat_after: soon\n", "warnings.repeat_after", "duration"),
        ("warnings:\n  check_every: PT2S\n", "warnings.check_every", "between 5 seconds and 1 hour"),
        ("warnings:\n  check_every: 0\n", "warnings.check_every", "between 5 seconds and 1 hour"),
        ("warnings:\n  check_every: P1D\n", "warnings.check_every", "between 5 seconds and 1 hour"),
        ("warnings:\n  check_every: often\n", "warnings.check_every", "valid timedelta"),
        ("notifications:\n  reset: {type: a, title: '{nope}', content: b}\n", "notifications", "{nope}"),
        ("database:\n  url: mysql://x\n", "database.url", "sqlite:// or postgresql://"),
        ("time_progress:\n  parallel: 9\n", "time_progress.parallel", "less than or equal to 8"),
        ("run_logs:\n  keep: PT5M\n", "run_logs.keep", "under an hour"),
]


@pytest.mark.parametrize("text, key, words", BAD_FILES)
def test_bad_values_name_the_key(tmp_path, text, key, words):
    with pytest.raises(SettingsError) as err:
        load_settings(write(tmp_path, text), env={})
    message = str(err.value)
    assert f": {key}" in message and words in message


def test_broken_yaml_says_where(tmp_path):
    with pytest.raises(SettingsError, match="not valid YAML at line 2"):
        load_settings(write(tmp_path, "a: 1\n  b: [\n"), env={})


def test_missing_file_is_one_clear_message(tmp_path):
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings(tmp_path / "nope.yaml", env={})


def test_passwords_are_redacted():
    assert redact_url("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_bad_url_with_a_password_is_not_echoed(tmp_path):
    with pytest.raises(SettingsError) as err:
        load_settings(write(tmp_path, "database:\n  url: mysql://u:s3cret@h/db\n"), env={})
    assert "s3cret" not in str(err.value)



@pytest.mark.parametrize("as_engine_url", [False, True])
def test_database_errors_never_carry_the_password(as_engine_url):
    # An engine's URL prints its password masked, so it must be read from the URL object itself.
    from sqlalchemy import create_engine

    from console.db.engine import describe_error

    url = "postgresql+psycopg2://ops:pa55-w0rd@db.example/tasks"
    given = create_engine(url).url if as_engine_url else url
    text = describe_error(RuntimeError("FATAL: password authentication failed: pa55-w0rd"), given)
    assert "pa55-w0rd" not in text and "***" in text


def test_check_every_null_keeps_only_the_hourly_check(tmp_path):
    assert load_settings(write(tmp_path, "warnings:\n  check_every: null\n"), env={}).warnings.check_every is None
    assert load_settings(write(tmp_path, "warnings:\n  check_every: 30\n"), env={}).warnings.check_every.seconds == 30
