"""``logging.file`` on someone else's disk: one writer per file, a full disk costs one line a
minute (not a traceback per record), files 0640, and ``config check`` says what ``run`` would."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys

import pytest

from console.cli.log_file import LogFile
from console.settings import SettingsError


def test_a_second_writer_of_one_log_file_is_refused_naming_the_first(tmp_path):
    path = tmp_path / "tc.log"
    first = LogFile(str(path), max_bytes=1000, backups=2)
    try:
        with pytest.raises(SettingsError, match=rf"written by another taskconsole process \(pid {os.getpid()}\)"):
            LogFile(str(path), max_bytes=1000, backups=2)
    finally:
        first.close()
    LogFile(str(path), max_bytes=1000, backups=2).close()  # free again once the first is gone


def test_a_second_process_on_the_same_file_exits_2(tmp_path):
    path = tmp_path / "tc.log"
    holder = LogFile(str(path), max_bytes=1000, backups=2)
    config = tmp_path / "settings.yaml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path / 'tc.db'}'}}\nlogging: {{file: '{path}'}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")} | {"TASKCONSOLE_CONFIG": str(config)}
    try:
        subprocess.run([sys.executable, "-m", "console", "db", "upgrade"], env=env, check=True, capture_output=True)
        result = subprocess.run([sys.executable, "-m", "console", "run"], env=env, capture_output=True, text=True,
                                timeout=60)
    finally:
        holder.close()
    assert result.returncode == 2, result.stderr
    assert f"pid {os.getpid()}" in result.stderr and "Traceback" not in result.stderr


def test_a_full_disk_is_one_line_a_minute_and_lines_come_back(tmp_path, capfd):
    path = tmp_path / "tc.log"
    handler = LogFile(str(path), max_bytes=0, backups=0)
    logger = logging.getLogger("console.test_full_disk")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        full = open("/dev/full", "w", encoding="utf-8", buffering=1)  # every line written: ENOSPC
        handler.stream, kept = full, handler.stream
        for i in range(200):
            logger.error("line %d", i)
        handler.stream = kept
        try:
            full.close()
        except OSError:  # what is still buffered cannot be written either
            pass
        err = capfd.readouterr().err
        assert err.count("cannot write the log file") == 1, err
        assert "Traceback" not in err and "Logging error" not in err
        logger.error("after the disk was freed")
        handler.flush()
        assert "after the disk was freed" in path.read_text()
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_log_files_are_made_0640(tmp_path):
    old = os.umask(0o022)
    try:
        handler = LogFile(str(tmp_path / "tc.log"), max_bytes=50, backups=2)
        logger = logging.getLogger("console.test_mode")
        logger.addHandler(handler)
        logger.propagate = False
        for i in range(5):  # rotates: the new file is made 0640 too
            logger.error("a line long enough to rotate the file %d", i)
        logger.removeHandler(handler)
        handler.close()
    finally:
        os.umask(old)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert "tc.log.1" in made
    for name in ("tc.log", "tc.log.1", "tc.log.lock"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name


def test_config_check_refuses_a_log_file_that_cannot_be_written(tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text(f"logging: {{file: '{tmp_path / 'no' / 'such' / 'tc.log'}'}}\n")
    result = subprocess.run([sys.executable, "-m", "console", "config", "check", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "logging.file: cannot write" in result.stderr and "does not exist" in result.stderr
