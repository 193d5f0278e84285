"""``PROFILE=path/to/profile.yaml`` works for every Make target, like a profile name (issue 21, item 10):
no target builds a path out of the profile argument itself."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from experiments.paths import PROFILES_DIR, REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    venv = f"VENV={sys.prefix}"
    return subprocess.run(["make", "-C", str(REPO_ROOT), venv, *args], capture_output=True, text=True)


def test_pagrm_traces_names_its_file_after_the_profile_not_its_path(tmp_path):
    profile = tmp_path / "my" / "cpu-copy.yaml"
    dry = make("-n", "pagrm-traces", "pagrm-sft", f"PROFILE={profile}", "CARE_RL_CACHE=/c")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("/c/pagrm/traces-cpu-copy.jsonl") == 2
    named = make("-n", "pagrm-traces", "PROFILE=smoke", "CARE_RL_CACHE=/c")
    assert "/c/pagrm/traces-smoke.jsonl" in named.stdout


def test_compare_paper_reads_the_tables_of_a_profile_given_by_path(tmp_path):
    profile = tmp_path / "cpu-copy.yaml"  # the cpu profile (name: cpu) under another path
    shutil.copy(PROFILES_DIR / "cpu.yaml", profile)
    done = make("-s", "compare-paper", f"PROFILE={profile}")
    assert done.returncode == 0, done.stderr
    assert "== table2 ==" in done.stdout  # the committed tables/ of the cpu profile
