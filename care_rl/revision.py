"""The code revision that produced a result. Stage metrics, evaluation timings and provenance files
all name it, so a number can be traced to the commit that computed it, also when a later run only
re-renders it from the cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

from care_rl.config import REPO_ROOT

# Rendered tables and figures: written by the code, not part of it. A run renders several artefacts in
# turn, and a long run (make all) trains and evaluates after its first render, so counting its own
# outputs as uncommitted changes would stamp everything after the first render "-dirty".
OUTPUTS = ("tables", "figures")
CODE_PATHSPEC = (".", *(f":(exclude){d}" for d in OUTPUTS))  # git pathspec: the tree minus the outputs


def git_commit(repo: Path = REPO_ROOT) -> str:
    """HEAD's hash, suffixed ``-dirty`` when tracked files outside ``OUTPUTS`` differ from it;
    ``unknown`` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHSPEC],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head
