"""The near-threshold query against a plain Python ranking of the same rows, down both of its
paths: levels answered from a prefix of the deadline order, and levels read among the tasks past
the lowest threshold (read from the tasks through db tune's index on that instant)."""

from __future__ import annotations

import random

import pytest

from console.domain.rules import warning_level
from console.service import near as near_module
from console.service.near import near_tasks
from tests.conftest import DEMO_TABLES, NOW


@pytest.mark.parametrize("prefix", [3, 40, 5000])
def test_tasks_in_a_level_come_most_severe_first_then_by_deadline_whatever_path_found_them(db, rows, settings,
                                                                                            monkeypatch, prefix):
    monkeypatch.setattr(near_module, "PREFIX", prefix)
    levels = settings.warnings.levels
    handler = rows.user()
    rng = random.Random(7)
    expected = []
    for _ in range(60):
        time_pct, progress = rng.uniform(40, 99.5), rng.choice([5.0, 50.0, 85.0, 92.0, 99.0])
        hours = rng.choice([10.0, 100.0, 1000.0])
        task_id = rows.processing(time_pct=time_pct, progress=progress, hours=hours,
                                  handler=rng.choice([handler, handler, None]))  # both read paths
        level = warning_level(time_pct, progress, levels)
        if level is not None:
            rank = sorted(levels, key=lambda lv: lv.at, reverse=True).index(
                next(lv for lv in levels if lv.level == level))
            end_hours = hours * (100 - time_pct) / 100
            expected.append((rank, end_hours, task_id))
    expected.sort()
    assert len({e[0] for e in expected}) == 3  # every level has tasks, some sparse in deadline order
    found = near_tasks(db.engine, DEMO_TABLES, NOW, levels, limit=len(expected) + 5)
    in_level = [t for t in found if t.level is not None]
    assert [t.task_id for t in in_level] == [task_id for _, _, task_id in expected]
    assert all(t.level is None and t.next_level is not None for t in found[len(in_level):])
    # A smaller limit is a prefix of the same answer.
    assert [t.task_id for t in near_tasks(db.engine, DEMO_TABLES, NOW, levels, limit=7)] == [t.task_id for t in found[:7]]
