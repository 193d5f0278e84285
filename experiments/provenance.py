"""``<name>.provenance.json`` beside every table and figure: what produced it, so a number in a
LaTeX table can be traced back to a commit, a profile and a command without guessing.

A run from a tree with uncommitted changes records ``<commit>-dirty`` and the sha256 of the diff
against that commit (``git diff HEAD --binary``, the rendered tables and figures left out: a run's own
renders do not make its code dirty, care_rl/revision.py), so two dirty runs can at least be told apart; the
runner refuses to write committed locations from such a tree unless told to (``check_clean``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from care_rl.atomic import write_bytes_atomic
from care_rl.config import REPO_ROOT, ConfigError
from care_rl.revision import CODE_PATHSPEC, git_commit

DIRTY = "-dirty"  # care_rl.revision.git_commit's suffix for a tree with uncommitted changes


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)


def diff_sha256(commit: str, repo: Path = REPO_ROOT) -> str | None:
    """sha256 of the uncommitted changes of tracked files (outside the rendered outputs, as
    ``git_commit`` counts them) when ``commit`` is dirty, else None."""
    if not commit.endswith(DIRTY):
        return None
    diff = _git(repo, "diff", "HEAD", "--binary", "--", *CODE_PATHSPEC)
    return hashlib.sha256(diff.stdout).hexdigest() if diff.returncode == 0 else None


def committed_location(path: Path, repo: Path = REPO_ROOT) -> bool:
    """Whether files written to folder ``path`` would be committed: inside the repository and not
    ignored by git (tables/ and figures/ are; tables/smoke/ and the cache are not)."""
    path, repo = path.resolve(), repo.resolve()
    if not path.is_relative_to(repo):
        return False
    probe = (path / "table.csv").relative_to(repo)  # folder patterns in .gitignore match its files
    return _git(repo, "check-ignore", "-q", "--no-index", str(probe)).returncode == 1


def check_clean(commit: str, outputs: Iterable[Path], allow_dirty: bool, repo: Path = REPO_ROOT) -> None:
    """Refuse, before any compute, to write committed ``outputs`` from a tree with uncommitted changes:
    a committed table must name the code that made it. ``allow_dirty`` overrides (the provenance then
    records the diff's hash)."""
    if allow_dirty or not commit.endswith(DIRTY):
        return
    committed = [str(p) for p in outputs if committed_location(p, repo)]
    if committed:
        raise ConfigError(
            f"the tree has uncommitted changes ({commit}) and {', '.join(committed)} is committed output: "
            "commit first, or pass --allow-dirty to write it anyway (its provenance records the diff's hash)"
        )


@dataclass(frozen=True)
class RunStamp:
    """When and from which commit a run started. Tables rendered at the end of a long run must name
    the code that trained and evaluated them and the whole run's wall time, not the render step's
    (the tree may have moved on by then, and rendering takes a fraction of a second)."""

    commit: str
    started_at: str
    started: float = field(repr=False)
    diff_sha256: str | None = None  # the uncommitted changes of a dirty tree (module docstring)

    @classmethod
    def now(cls) -> RunStamp:
        commit = git_commit()
        return cls(
            commit, datetime.now(UTC).isoformat(timespec="seconds"), time.monotonic(), diff_sha256(commit)
        )

    def elapsed(self) -> float:
        return time.monotonic() - self.started


TIMING = "timing.json"  # beside an evaluation or a judge adapter: its wall time, summed over resumes


@dataclass(frozen=True)
class ComputePart:
    """One piece of the compute behind an artefact: a training stage, a checkpoint evaluation, a judge
    study, the judge adapter's build. ``wall_time_s`` is None (and ``commits`` empty) for a piece
    produced before timings were recorded."""

    name: str
    wall_time_s: float | None
    commits: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str, record: dict[str, Any]) -> ComputePart:
        """From a result that records its own ``wall_time_s`` and ``commit`` (stage metrics, judge study)."""
        return cls(name, record.get("wall_time_s"), (record["commit"],) if "commit" in record else ())


def compute_record(parts: Iterable[ComputePart]) -> dict[str, Any]:
    """The ``compute`` field of a provenance file: every distinct part with its wall time and commits,
    their sum, and the parts whose time is unknown. A table re-rendered from the cache still names the
    compute behind its numbers; the file's own ``wall_time_s`` is the rendering run's."""
    unique = {p.name: p for p in parts}
    return {
        "wall_time_s": sum(p.wall_time_s for p in unique.values() if p.wall_time_s is not None),
        "untimed": sorted(n for n, p in unique.items() if p.wall_time_s is None),
        "commits": sorted({c for p in unique.values() for c in p.commits}),
        "parts": {
            n: {"wall_time_s": p.wall_time_s, "commits": list(p.commits)} for n, p in sorted(unique.items())
        },
    }


def add_timing(path: Path, seconds: float) -> None:
    """Add ``seconds`` of work done by this commit to the ``timing.json`` at ``path``: work resumed
    over several runs (an interrupted evaluation, a resumed trace collection) sums its pieces."""
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    record = {
        "wall_time_s": old.get("wall_time_s", 0.0) + seconds,
        "commits": sorted({*old.get("commits", []), git_commit()}),
    }
    write_bytes_atomic(path, (json.dumps(record, indent=1) + "\n").encode())


def read_timing(name: str, path: Path) -> ComputePart:
    """The part recorded in a ``timing.json`` (untimed when there is none)."""
    if not path.is_file():
        return ComputePart(name, None)
    record = json.loads(path.read_text(encoding="utf-8"))
    return ComputePart(name, record["wall_time_s"], tuple(record["commits"]))


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
    compute: dict[str, Any] | None = None,
) -> Path:
    """Write ``<out_dir>/<name>.provenance.json`` naming the outputs (with sha256), commit, profile,
    model, run date, wall time and the command line that produced them.

    With ``run``, the commit and start time are the run's and the wall time runs from its start
    (``wall_time_s`` is then ignored); a different HEAD at render time is recorded beside it. A dirty
    commit comes with ``diff_sha256``, the hash of its uncommitted changes.
    ``compute`` (``compute_record``) names the training and evaluation behind the numbers, whichever
    run did them."""
    now = git_commit()
    stamp: dict[str, Any] = {"commit": now, "wall_time_s": wall_time_s}
    diff = diff_sha256(now)
    if run is not None:
        stamp = {"commit": run.commit, "started_at": run.started_at, "wall_time_s": run.elapsed()}
        diff = run.diff_sha256
        if now != run.commit:
            stamp["render_commit"] = now
    if diff is not None:
        stamp["diff_sha256"] = diff
    record = {
        "artifact": name,
        "files": {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files},
        **stamp,
        "profile": profile,
        "model": model,
        "date": date,
        "command": [Path(sys.orig_argv[0]).name, *sys.orig_argv[1:]],
    }
    if compute is not None:
        record["compute"] = compute
    out = Path(out_dir) / f"{name}.provenance.json"
    write_bytes_atomic(out, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return out
