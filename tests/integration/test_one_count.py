"""One count (issue #27): a processing task at a warning level is counted at that level everywhere
(the Warnings panel, its level lists, the metrics, ``tasks near``, the API), with a handler or not;
those without one are a sub-count, ``no_handler``, since nobody will be warned of them."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

from prometheus_client.parser import text_string_to_metric_families

from console.service import Service
from console.settings import Settings
from console.web import create_app
from tests.conftest import Rows
from tests.integration.helpers import invoke


def test_the_panel_tasks_near_and_the_metrics_count_unassigned_tasks_alike(db, tmp_path):
    now = datetime.now(timezone.utc)  # `tasks near` reads the clock: 100-hour windows keep far from thresholds
    rows = Rows(db.engine, now)
    handler = rows.user()
    for pct, who in [(85, handler), (85, None), (92, None), (97, handler), (97, None), (97, None), (50, None)]:
        rows.processing(time_pct=pct, progress=10.0, handler=who)
    settings = Settings.model_validate({"http": {"public_metrics": True}, "database": {"url": db.url}})
    service = Service(settings, db.engine)

    stats = service.warning_stats()
    panel = {s.level: s.in_level for s in stats.levels}
    assert panel == {20: 2, 10: 1, 5: 3}
    assert {s.level: s.no_handler for s in stats.levels} == {20: 1, 10: 1, 5: 2}
    assert {s.level: s.pending for s in stats.levels} == {20: 1, 10: 0, 5: 1}  # only those someone will hear of

    near = invoke(["tasks", "near", "--json", "--limit", "50"], url=db.url, cwd=tmp_path)
    assert near.returncode == 0, near.stderr
    listed = json.loads(near.stdout)
    assert dict(Counter(t["level"] for t in listed if t["level"])) == panel
    assert sum(1 for t in listed if t["level"] and t["handler"] is None) == 4

    text = create_app(service).test_client().get("/metrics").get_data(True)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    metric = {int(s.labels["level"]): s.value for s in families["taskconsole_tasks_in_warning_level"].samples}
    unhandled = {int(s.labels["level"]): s.value
                 for s in families["taskconsole_tasks_in_warning_level_no_handler"].samples}
    assert metric == panel and unhandled == {20: 1, 10: 1, 5: 2}

    for level, n in panel.items():  # each level's list (the panel's, the API's) holds its count
        assert len(service.dashboard(near_show=level).near) == n
    service.engine.dispose()
