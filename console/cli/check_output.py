"""Rendering ``taskconsole db check``: a report per table and column for people, JSON for scripts.

The report object comes from the service (``console.service.db_check``); its JSON shape is
documented in the README under "Running on your task system's database".
"""

from __future__ import annotations

from typing import Any

from console.cli.output import table
from console.domain.text import printable


def check_json(report: Any, database: str) -> dict[str, Any]:
    return {"database": database, **report.as_dict()}


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _values(found: Any, heading: str) -> list[str]:
    if found is None:
        return []
    if not found.values:
        return [f"{heading}: none"]
    lines = [f"{heading}:"]
    lines += [f"  {printable('(null)' if v['value'] is None else repr(v['value']))}  {v['rows']:,} "
              f"row{'' if v['rows'] == 1 else 's'}" for v in found.values]
    if found.more:
        lines.append(f"  … and {found.more:,} more")
    return lines


def check_text(report: Any, database: str) -> str:
    lines = [f"database {printable(database)} ({report.dialect}); timestamps without time zone are read as "
             f"{report.wall_clock} wall-clock time (task_system.naive_timestamps: {report.naive_timestamps})"]
    for t in report.tables:
        lines.append("")
        if not t.found:
            lines.append(f"{t.table}: table {printable(repr(t.name))} NOT FOUND (task_system.tables.{t.table})")
            continue
        lines.append(f"{t.table}: table {printable(repr(t.name))}")
        rows = [(c.column, "-" if c.name is None else c.name, c.type or "-", _yes(c.nullable),
                 "-" if c.name is None else ("yes" if c.usable else "NO"),
                 c.note or "") for c in t.columns]
        body = table(("COLUMN", "NAME", "TYPE", "NULLABLE", "USABLE", "NOTE"), rows, max_width=60)
        lines += ["  " + line for line in body.splitlines()]
    lines.append("")
    if report.notification_type_width is not None:
        lines.append(f"notification types: the longest is {report.notification_type_longest} characters; "
                     f"the type column holds {report.notification_type_width}")
    lines += _values(report.status, "tasks.status words task_system.values.status does not name "
                     "(the jobs leave these rows alone)")
    lines += _values(report.category, "tasks.category words other than task_system.values.category.periodic "
                     "(ordinary tasks, never reset)")
    lines.append("")
    if report.problems:
        count = len(report.problems)
        lines.append(f"{count} problem{'' if count == 1 else 's'}:")
        lines += [f"  - {printable(p)}" for p in report.problems]
    else:
        lines.append("no problem found: the task_system mapping fits this database")
    return "\n".join(lines)


def check_error(report: Any) -> str:
    """The one line for stderr when the mapping does not fit: every problem, in order."""
    count = len(report.problems)
    return (f"the task_system mapping does not fit the database ({count} problem{'' if count == 1 else 's'}): "
            + "; ".join(report.problems))
