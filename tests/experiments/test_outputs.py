"""Where a run writes, checked before compute: folders that cannot be written fail at once (not at the
end of a long run), committed folders are written only from a clean tree, and what a smoke run
writes is ignored by git (issue 21, items 2, 14, 16)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from care_rl.config import ConfigError
from care_rl.revision import git_commit
from experiments.paths import REPO_ROOT
from experiments.produce import Producer
from experiments.provenance import RunStamp, check_clean, committed_location, diff_sha256, write_provenance
from experiments.run import main
from experiments.runconfig import RunDirs, load_runner_config


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository with one committed file and tables/smoke/ ignored."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "code.py").write_text("x = 1\n")
    (root / ".gitignore").write_text("tables/smoke/\n")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return root


def forbid_compute(monkeypatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("compute started")

    monkeypatch.setattr(Producer, "prepare", forbidden)  # the first step of every run's compute


def test_an_unwritable_output_fails_before_compute(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CARE_RL_CACHE", str(tmp_path / "cache"))
    forbid_compute(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["table4", "--profile", "smoke", "--tables-out", str(blocker / "tables")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write the tables folder") and str(blocker / "tables") in err


def test_committed_locations_follow_gitignore(repo):
    assert committed_location(repo / "tables", repo)
    assert not committed_location(repo / "tables" / "smoke", repo)
    assert not committed_location(repo.parent / "elsewhere", repo)


def test_smoke_outputs_are_ignored_and_cpu_outputs_committed():
    config = load_runner_config()
    smoke = RunDirs.of("smoke", config.for_profile("smoke"))
    cpu = RunDirs.of("cpu", config.for_profile("cpu"))
    assert (cpu.tables, cpu.figures) == (REPO_ROOT / "tables", REPO_ROOT / "figures")
    assert committed_location(cpu.tables) and committed_location(cpu.figures)
    assert not committed_location(smoke.tables) and not committed_location(smoke.figures)


def test_a_dirty_tree_records_its_diff_and_may_not_write_committed_outputs(repo, tmp_path):
    clean = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert diff_sha256(clean.stdout.strip(), repo) is None
    (repo / "code.py").write_text("x = 2\n")
    first = diff_sha256("abc-dirty", repo)
    assert first is not None and re.fullmatch(r"[0-9a-f]{64}", first)
    (repo / "code.py").write_text("x = 3\n")
    assert diff_sha256("abc-dirty", repo) not in (None, first)  # another diff, another hash

    with pytest.raises(ConfigError, match=r"uncommitted changes.*--allow-dirty"):
        check_clean("abc-dirty", [repo / "tables"], allow_dirty=False, repo=repo)
    check_clean("abc-dirty", [repo / "tables"], allow_dirty=True, repo=repo)
    check_clean("abc-dirty", [repo / "tables" / "smoke", tmp_path / "out"], allow_dirty=False, repo=repo)
    check_clean("abc", [repo / "tables"], allow_dirty=False, repo=repo)

    stamp = RunStamp("abc-dirty", "2025-01-01T00:00:00+00:00", 0.0, first)
    (tmp_path / "t.csv").write_text("x\n")
    prov = write_provenance(tmp_path, "t", [tmp_path / "t.csv"], profile="p", model="m", date="d", run=stamp)
    assert f'"diff_sha256": "{first}"' in prov.read_text()


def test_a_runs_own_renders_leave_its_code_clean(repo):
    """A run renders its tables one after another (and make all trains after its first render): a
    committed table it rewrote must not stamp the next artefact, stage or evaluation "-dirty"."""
    (repo / "tables").mkdir()
    (repo / "figures").mkdir()
    (repo / "tables" / "t.csv").write_text("a\n")
    (repo / "figures" / "f.png").write_bytes(b"\x89PNG")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "outputs")
    head = git_commit(repo)
    (repo / "tables" / "t.csv").write_text("b\n")  # the run's first render
    (repo / "figures" / "f.png").write_bytes(b"\x89PNG2")
    assert git_commit(repo) == head and not head.endswith("-dirty")
    check_clean(git_commit(repo), [repo / "tables"], allow_dirty=False, repo=repo)
    (repo / "code.py").write_text("x = 2\n")  # code is still code
    assert git_commit(repo) == head + "-dirty"
    code_diff = diff_sha256(head + "-dirty", repo)
    (repo / "tables" / "t.csv").write_text("c\n")  # the diff's hash names the code's changes only
    assert diff_sha256(head + "-dirty", repo) == code_diff
    git(repo, "checkout", "--", "code.py")
    (repo / "tables.py").write_text("")  # only the folders are outputs, not names that start alike
    git(repo, "add", "tables.py")
    assert git_commit(repo) == head + "-dirty"


def test_the_runner_refuses_committed_tables_from_a_dirty_tree(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CARE_RL_CACHE", str(tmp_path / "cache"))
    forbid_compute(monkeypatch)
    dirty = RunStamp("abc-dirty", "2025-01-01T00:00:00+00:00", 0.0, "0" * 64)
    monkeypatch.setattr(RunStamp, "now", classmethod(lambda cls: dirty))
    committed = REPO_ROOT / "tables"  # never written: the check comes first, compute is forbidden
    assert main(["table4", "--profile", "smoke", "--tables-out", str(committed)]) == 2
    assert "--allow-dirty" in capsys.readouterr().err
    with pytest.raises(AssertionError, match="compute started"):  # with the flag it goes on
        main(["table4", "--profile", "smoke", "--tables-out", str(committed), "--allow-dirty"])
