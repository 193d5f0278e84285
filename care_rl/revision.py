"""The code revision that produced a result. Stage metrics, evaluation timings and provenance files
all name it, so a number can be traced to the commit that computed it, also when a later run only
re-renders it from the cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

from care_rl.config import REPO_ROOT


def git_commit(repo: Path = REPO_ROOT) -> str:
    """HEAD's hash, suffixed ``-dirty`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head
