"""Loading settings: the file (``--config``, ``$TASKCONSOLE_CONFIG``, ``./settings.yaml``), then the
environment's overrides, then validation. Loading never raises anything but ``SettingsError``,
whose message names the offending key and never contains a password; a file that is not a small
regular file (a FIFO, /dev/zero) is refused before it is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from console.domain.text import printable
from console.settings.base import SettingsError
from console.settings.redaction import redact_url
from console.settings.schema import Settings

ENV_CONFIG = "TASKCONSOLE_CONFIG"
ENV_DATABASE_URL = "TASKCONSOLE_DATABASE_URL"
ENV_REDIS_URL = "TASKCONSOLE_REDIS_URL"

# A settings file is a few kilobytes; more, or anything but a regular file (/dev/zero, a FIFO),
# is a mistake that would otherwise read until killed or block forever.
MAX_SETTINGS_BYTES = 1024 * 1024


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
