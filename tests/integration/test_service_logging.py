"""Logging for services: JSON lines (each parses, a run's lines carry job_id and run_id, a hostile
title stays one line), text lines naming the job and run, a file rotated by size, and the job
lines in the design document's Chinese words."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import yaml

from console.cli.log_setup import JsonLines, TextLines, handler_for
from console.settings import LoggingSettings
from tests.integration.helpers import needs_a_process, run_cli

HOSTILE = "title\nwith a newline \x1b[31mand ESC\x1b[0m [red]markup[/red]"


def taskconsole(tmp_path, *args: str, logging_settings: dict) -> subprocess.CompletedProcess:
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": f"sqlite:///{tmp_path / 'l.db'}"},
                                      "logging": logging_settings}), encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TASKCONSOLE_CONFIG": str(config)}
    if needs_a_process(args):
        return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True, cwd=tmp_path,
                              env=env, timeout=120)
    return run_cli(args, env=env, cwd=tmp_path)  # in this process: it only answers


def test_json_lines_parse_and_a_runs_lines_carry_its_job_and_run_id(tmp_path):
    assert taskconsole(tmp_path, "demo", "--tasks", "200", logging_settings={"format": "json"}).returncode == 0
    result = taskconsole(tmp_path, "jobs", "run", "update_time_progress", logging_settings={"format": "json"})
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # every line is one JSON object
    run_lines = [line for line in lines if line["job_id"] == "update_time_progress"]
    assert run_lines and all(isinstance(line["run_id"], int) for line in run_lines)
    assert any(line["message"].startswith("job update_time_progress started") for line in run_lines)
    first = run_lines[0]
    assert set(first) == {"time", "level", "logger", "message", "job_id", "run_id", "host", "pid"}
    assert first["time"].endswith("+00:00")


def test_chinese_job_lines_in_the_design_documents_words(tmp_path):
    settings = {"format": "text", "locale": "zh_CN"}
    assert taskconsole(tmp_path, "demo", "--tasks", "200", logging_settings=settings).returncode == 0
    result = taskconsole(tmp_path, "jobs", "run", "update_time_progress", logging_settings=settings)
    assert "任务开始: update_time_progress" in result.stderr
    assert "任务完成: update_time_progress, 耗时: " in result.stderr and "秒" in result.stderr
    assert "[update_time_progress #" in result.stderr  # the job and run on its lines


def _record(message: str, *args, msg: str | None = None) -> logging.LogRecord:
    record = logging.LogRecord("console.scheduler", logging.ERROR, __file__, 1, msg or message, args or None, None)
    record.job_id, record.run_id = "check_task_warnings", 41
    return record


def test_a_hostile_title_stays_one_line_in_json_and_in_text():
    record = _record(f"reminder for {HOSTILE}")
    out = JsonLines("en").format(record)
    assert "\n" not in out and "\x1b" not in out and json.loads(out)["message"] == f"reminder for {HOSTILE}"
    text = TextLines("en").format(record)
    assert "\x1b" not in text and "[check_task_warnings #41]" in text


def test_the_failure_and_retry_lines_in_chinese():
    zh = JsonLines("zh_CN")
    failed = _record("", "check_task_warnings", 0.2, "boom", msg="job %s failed after %.2f s: %s")
    assert json.loads(zh.format(failed))["message"] == "任务失败: check_task_warnings, 错误: boom"
    retry = _record("", "check_task_warnings", 1, 5.0, 1, 3,
                    msg="%s: attempt %d failed, retrying in %.0f s (retry %d of %d)")
    assert json.loads(zh.format(retry))["message"] == "任务失败，正在重试(1/3): check_task_warnings"


def test_the_file_is_rotated_by_size(tmp_path):
    path = tmp_path / "taskconsole.log"
    handler = handler_for(LoggingSettings(file=str(path), max_bytes=10_240, backups=2, format="json"), logging.INFO)
    logger = logging.getLogger("console.test_rotation")
    logger.addHandler(handler)
    try:
        for i in range(400):
            logger.warning("line %d %s", i, "x" * 60)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert path.exists() and (tmp_path / "taskconsole.log.1").exists() and (tmp_path / "taskconsole.log.2").exists()
    assert not (tmp_path / "taskconsole.log.3").exists()
    assert all(path.stat().st_size <= 10_240 + 200 for path in tmp_path.glob("taskconsole.log*"))


def test_a_log_file_that_cannot_be_written_stops_run_and_not_a_one_off_command(tmp_path):
    settings = {"file": str(tmp_path / "no" / "such" / "dir.log")}
    assert taskconsole(tmp_path, "db", "upgrade", logging_settings=settings).returncode == 0  # the terminal's
    result = taskconsole(tmp_path, "run", logging_settings=settings)
    assert result.returncode == 2 and "logging.file: cannot write" in result.stderr
    assert "Traceback" not in result.stderr
