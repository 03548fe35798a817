"""The words of runs, outcomes and jobs are written once, in ``console.domain``.

Every module outside ``console/domain/`` names a run status, a trigger kind, an operator action's
(or a queued command's) outcome or a job id through the enum member (``RunStatus.FAILED``, ``Outcome.EXPIRED``, ``JobId.CLEANUP_OLD_DATA``),
never as a string of its own: members are ``str``, so what is stored, compared and shown is the
same word, and a word that changes, or is misspelt, is found by the name, not by a search.
"""

from __future__ import annotations

import ast
from pathlib import Path

import console
from console.domain.runs import JobId, Outcome, RunStatus, TriggerKind

ROOT = Path(console.__file__).parent
WORDS = {member.value: f"{type(member).__name__}.{member.name}" for enum in (RunStatus, TriggerKind, Outcome, JobId)
         for member in enum}
# console/domain/ defines the words; migrations are history, written as they were then.
EXEMPT = ("domain", "db/migrations")
# A word that equals one of the enums' but means something else, and is shown as it is:
# "12 skipped" counts rows a job left alone (format.changed), not a run whose status is skipped.
# The HTTP API's answer says "success" in its message (the design document's envelope), not a run.
# `deliveries retry` is a command's name (issue #28), not a run's trigger kind.
ELSEWHERE = {("tui/i18n.py", "skipped"), ("web/answers.py", "success"), ("cli/commands.py", "retry"),
             ("cli/main.py", "retry")}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(tuple(f"{e}/" for e in EXEMPT)):
            yield rel, path


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants: prose, not words the code uses."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def test_the_words_of_the_enums_are_distinct_names():
    # The same word in two enums is the same word on disk: it must mean one thing, said by both.
    assert Outcome.SUCCESS == RunStatus.SUCCESS and Outcome.FAILED == RunStatus.FAILED
    assert Outcome.ABANDONED == RunStatus.ABANDONED and Outcome.EXPIRED == "expired"


def test_no_module_outside_the_domain_spells_a_run_outcome_or_job_word():
    found = []
    for rel, path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        prose = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in WORDS
                    and id(node) not in prose and (rel, node.value) not in ELSEWHERE):
                found.append(f"console/{rel}:{node.lineno}: {node.value!r} (use {WORDS[node.value]})")
    assert not found, "\n".join(found)
