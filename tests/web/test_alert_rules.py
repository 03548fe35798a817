"""deploy/prometheus/alerts.yml: the four shipped rules, each reading only metrics a scrape has."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.web.test_metrics_only_grow import samples

RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "alerts.yml"


def test_the_shipped_rules_name_only_metrics_that_a_scrape_exports(leading_api):
    rules = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert set(rules) == {"TaskconsoleNoLeader", "TaskconsoleJobFailedForGood", "TaskconsoleJobLate",
                          "TaskconsoleNodeFenced"}
    exported = {name for name, _ in samples(leading_api.service)}
    for name, rule in rules.items():
        used = set(re.findall(r"taskconsole_[a-z_]+", rule["expr"]))
        assert used, name
        assert used <= exported, (name, used - exported)
        assert rule["annotations"]["summary"] and rule["labels"]["severity"]
    # Fires when every node is down (no series at all), not only when a node says "no leader".
    assert "absent(taskconsole_nodes" in rules["TaskconsoleNoLeader"]["expr"]
    # No period of any job is written into the late rule: it reads each job's own next run time.
    assert not re.search(r"\d+\s*\*\s*\d+", rules["TaskconsoleJobLate"]["expr"])
    assert "taskconsole_job_next_run_timestamp_seconds" in rules["TaskconsoleJobLate"]["expr"]
