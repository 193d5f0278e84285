"""Atomic writes: readers see the old file or the new one, and a failed write leaves no debris."""

from __future__ import annotations

import stat

import pytest

from care_rl import atomic
from care_rl.atomic import write_bytes_atomic, write_text_atomic


def test_writes_create_parents_and_ordinary_permissions(tmp_path):
    path = tmp_path / "a" / "b" / "table.tex"
    write_text_atomic(path, "ünïcode\n")
    assert path.read_bytes() == "ünïcode\n".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    write_bytes_atomic(path, b"old")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_staged_dir_replaces_on_success_and_keeps_the_old_folder_on_failure(tmp_path):
    from care_rl.atomic import staged_dir

    target = tmp_path / "adapter"
    with staged_dir(target) as d:
        (d / "w").write_text("one")
    assert (target / "w").read_text() == "one"
    with pytest.raises(RuntimeError), staged_dir(target) as d:
        (d / "w").write_text("half")
        raise RuntimeError("crash mid-save")
    assert (target / "w").read_text() == "one"  # the crash left the finished folder as it was
    with staged_dir(target) as d:
        (d / "v").write_text("two")
    assert sorted(p.name for p in target.iterdir()) == ["v"]  # replaced, not merged
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]  # no staging folder left behind
    assert target.stat().st_mode & 0o777 == 0o755
