"""The plan prints before the model libraries load (issue 21, item 7): parsing arguments, validating
the configs and planning import neither torch nor TRL nor transformers, so `--plan`, `--help` and a bad
argument answer in about a second instead of after the 13-47 s those imports take on 2 cores."""

from __future__ import annotations

import subprocess
import sys

from experiments.paths import REPO_ROOT

HEAVY = ("torch", "transformers", "trl", "peft", "matplotlib")
PROBE = f"""
import sys
from experiments.run import main
code = main(sys.argv[1:])
print("heavy:", sorted(m for m in {HEAVY!r} if m in sys.modules), "exit:", code)
"""


def planned(*args: str, cache) -> str:
    env = {"CARE_RL_CACHE": str(cache), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    return done.stdout + done.stderr


def test_the_plan_is_printed_without_heavy_imports(tmp_path):
    out = planned("table2", "--profile", "cpu", "--plan", cache=tmp_path)
    assert "plan: table2" in out and "heavy: [] exit: 0" in out


def test_a_bad_target_fails_without_heavy_imports(tmp_path):
    out = planned("table99", "--profile", "smoke", cache=tmp_path)
    assert "error: unknown target 'table99'" in out and "heavy: [] exit: 2" in out
