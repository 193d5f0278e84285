"""``<name>.provenance.json`` beside every table and figure: what produced it, so a number in a
LaTeX table can be traced back to a commit, a profile and a command without guessing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class RunStamp:
    """When and from which commit a run started. Tables rendered at the end of a long run must name
    the code that trained and evaluated them and the whole run's wall time, not the render step's
    (the tree may have moved on by then, and rendering takes a fraction of a second)."""

    commit: str
    started_at: str
    started: float = field(repr=False)

    @classmethod
    def now(cls) -> RunStamp:
        return cls(git_commit(), datetime.now(UTC).isoformat(timespec="seconds"), time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_provenance(
    out_dir: Path,
    name: str,
    files: list[Path],
    *,
    profile: str,
    model: str,
    date: str,
    wall_time_s: float | None = None,
    run: RunStamp | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``<out_dir>/<name>.provenance.json`` naming the outputs (with sha256), commit, profile,
    model, run date, wall time and the command line that produced them.

    With ``run``, the commit and start time are the run's and the wall time runs from its start
    (``wall_time_s`` is then ignored); a different HEAD at render time is recorded beside it."""
    now = git_commit()
    stamp: dict[str, Any] = {"commit": now, "wall_time_s": wall_time_s}
    if run is not None:
        stamp = {"commit": run.commit, "started_at": run.started_at, "wall_time_s": run.elapsed()}
        if now != run.commit:
            stamp["render_commit"] = now
    record = {
        "artifact": name,
        "files": {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files},
        **stamp,
        "profile": profile,
        "model": model,
        "date": date,
        "command": [Path(sys.orig_argv[0]).name, *sys.orig_argv[1:]],
        **(extra or {}),
    }
    out = Path(out_dir) / f"{name}.provenance.json"
    write_atomic(out, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return out
