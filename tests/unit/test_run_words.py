"""The run ledger's words (status, trigger kind) are written once, in console.domain.runs."""

from __future__ import annotations

from pathlib import Path

import console
from console.domain.runs import RunStatus, TriggerKind

ROOT = Path(console.__file__).parent


def test_the_words_are_the_contracts():
    assert [s.value for s in RunStatus] == ["running", "success", "failed", "missed", "skipped", "abandoned"]
    assert [k.value for k in TriggerKind] == ["scheduled", "manual", "retry", "precise"]
    assert RunStatus.SUCCESS == "success" and f"{TriggerKind.RETRY}" == "retry"  # stored and shown as words


def test_the_run_ledger_writes_only_the_words_of_domain_runs():
    # The ledger and the runner name statuses and trigger kinds through the enums only.
    for module in ("scheduler/ledger.py", "scheduler/runner.py"):
        source = (ROOT / module).read_text(encoding="utf-8")
        for word in ("running", "success", "failed", "missed", "skipped", "abandoned", "manual", "retry"):
            assert f'"{word}"' not in source, (module, word)
