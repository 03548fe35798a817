"""``taskconsole config check``: every problem with its key, exit 2; the shipped file passes; and
``--show`` prints the effective settings with no secret in them. No database is touched."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.helpers import run_cli
from tests.unit.test_settings import BAD_FILES, ROOT


def check(tmp_path: Path, *args: str, text: str | None = None) -> subprocess.CompletedProcess:
    if text is not None:
        (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
        args = ("--config", str(tmp_path / "s.yaml"), *args)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no TASKCONSOLE_* from the caller
    return run_cli(["config", "check", *args], env=env, cwd=tmp_path)


def test_the_shipped_settings_file_passes(tmp_path):
    result = check(tmp_path, "--config", str(ROOT / "settings.yaml"))
    assert result.returncode == 0 and result.stdout.strip().endswith("settings.yaml: ok"), result.stderr


@pytest.mark.parametrize("text, key, words", BAD_FILES)
def test_each_bad_file_of_the_settings_tests_exits_2_naming_the_key(tmp_path, text, key, words):
    result = check(tmp_path, text=text)
    assert result.returncode == 2
    assert f": {key}: " in result.stderr and words in result.stderr
    assert "Traceback" not in result.stderr


def test_every_problem_is_listed_not_only_the_first(tmp_path):
    text = "".join(t for t, _, _ in BAD_FILES[:3] if not t.startswith("jobs")) + "bogus: 1\n"
    result = check(tmp_path, "--json", text=text)
    assert result.returncode == 2
    out = json.loads(result.stdout)
    assert out["ok"] is False and {p["key"] for p in out["problems"]} == {"timezone", "scheduler.executor_threads",
                                                                         "bogus"}


def test_show_prints_what_will_run_and_never_a_secret(tmp_path):
    text = ("database:\n  url: 'postgresql://ops:s3cret-pw@db.internal:5432/tasks'\n"
            "redis:\n  url: 'redis://:r3dis-pw@cache:6379/0'\n"
            "alerts:\n  webhook_url: 'https://hooks.example.com/services/T0/B0/t0ken-in-path?key=k3y'\n"
            "timezone: Europe/Berlin\n")
    for args in (("--show",), ("--show", "--json")):
        result = check(tmp_path, *args, text=text)
        assert result.returncode == 0, result.stderr
        for secret in ("s3cret-pw", "r3dis-pw", "t0ken-in-path", "k3y"):
            assert secret not in result.stdout + result.stderr
    shown = json.loads(result.stdout)["settings"]
    assert shown["database"]["url"] == "postgresql://ops:***@db.internal:5432/tasks"
    assert shown["timezone"] == "Europe/Berlin" and shown["alerts"]["webhook_url"] == "https://hooks.example.com/***"


def test_an_unreadable_or_broken_file_is_one_problem(tmp_path):
    result = check(tmp_path, "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "cannot read settings file" in result.stderr
    result = check(tmp_path, text="a: 1\n  b: [\n")
    assert result.returncode == 2 and "not valid YAML at line 2" in result.stderr
