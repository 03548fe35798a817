"""``taskconsole config check``: a settings file checked before it is deployed.

Every problem is listed, each naming its key (exit 2), without touching a database: what depends
on the database (the mapping's tables and columns, column widths) is ``db check``'s. ``--show``
prints the effective settings (file, then environment overrides, then defaults) with every secret
masked, so an operator can diff what will run.
"""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from console.cli.log_file import writable_problem
from console.domain.text import printable
from console.domain.webhook_url import mask_webhook_url
from console.settings import Settings, check_settings, redact_url


def effective(settings: Settings) -> dict:
    """The settings as they will run, secrets masked: database and Redis passwords, the webhook's user,
    password, path and query."""
    data = settings.model_dump(mode="json")
    data["database"]["url"] = redact_url(settings.database.url)
    if data.get("redis", {}).get("url"):
        data["redis"]["url"] = redact_url(settings.redis.url)
    if data.get("alerts", {}).get("webhook_url"):
        data["alerts"]["webhook_url"] = mask_webhook_url(settings.alerts.webhook_url)
    for channel in data.get("channels", []):
        # A channel's URL carries its token or password (in the path, the user or the query).
        channel["url"] = channel["url"].split("://", 1)[0] + "://***"
    return data


def cmd_config_check(args: argparse.Namespace) -> int:
    settings, source, problems = check_settings(args.config)
    if settings is not None and settings.logging.file:
        # run and serve would exit 2 on it; say it here, where the unit's ExecStartPre asks.
        problem = writable_problem(settings.logging.file)
        if problem:
            problems.append(("logging.file", f"cannot write {printable(settings.logging.file)}: {problem}"))
    if settings is not None and settings.delivery_channels:
        from console.service import check_channel_urls  # Apprise parses each URL; nothing is sent

        problems.extend(check_channel_urls(settings))
    shown = effective(settings) if settings is not None and args.show else None
    if args.json:
        out = {"file": source, "ok": not problems,
               "problems": [{"key": key, "message": message} for key, message in problems]}
        if shown is not None:
            out["settings"] = shown
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return 2 if problems else 0
    if problems:
        for key, message in problems:
            sys.stderr.write(f"taskconsole: error: {printable(source)}: {key}: {message}\n")
        sys.stderr.write(f"taskconsole: {len(problems)} problem(s) in {printable(source)}\n")
        return 2
    print(f"{printable(source)}: ok")
    if shown is not None:
        sys.stdout.write(yaml.safe_dump(shown, allow_unicode=True, sort_keys=False))
    return 0
