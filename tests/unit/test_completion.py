"""Shell completion: the scripts are made from the parser, name the four job ids, and bash
completes commands, actions and job ids with them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from console.settings import JOB_IDS
from tests.integration.helpers import run_cli


def script(shell: str) -> str:
    result = run_cli(["completion", shell], env=dict(os.environ), cwd=Path.cwd())
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_script_is_made_and_names_the_four_job_ids(shell):
    text = script(shell)
    assert all(job_id in text for job_id in JOB_IDS) and len(JOB_IDS) == 4
    assert "complete -F _taskconsole taskconsole" in text
    if shell == "zsh":
        assert "bashcompinit" in text


def test_bash_completes_commands_actions_and_job_ids(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    (tmp_path / "c.sh").write_text(script("bash"), encoding="utf-8")

    def complete(*words: str) -> list[str]:
        quoted = " ".join(f"'{w}'" for w in words)
        probe = f'source {tmp_path / "c.sh"}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _taskconsole; ' \
                'printf "%s\\n" "${COMPREPLY[@]}"'
        out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert complete("taskconsole", "jo") == ["jobs"]
    assert set(complete("taskconsole", "jobs", "")) >= {"list", "run", "pause", "resume", "history"}
    assert complete("taskconsole", "jobs", "run", "che") == ["check_task_warnings"]
    assert complete("taskconsole", "--config", "x.yaml", "jobs", "pause", "cl") == ["cleanup_old_data"]
    assert complete("taskconsole", "config", "check", "--s") == ["--show"]
    assert complete("taskconsole", "db", "upgrade", "c") == []  # db upgrade takes no job id
