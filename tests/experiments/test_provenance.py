"""Compute records: timings add up over resumes, parts shared by several result keys count once, and
a part produced before timings existed is named as untimed instead of counted as zero."""

from __future__ import annotations

import pytest

from care_rl.revision import git_commit
from experiments.provenance import ComputePart, add_timing, compute_record, read_timing


def test_timing_sums_resumed_work(tmp_path):
    path = tmp_path / "timing.json"
    assert read_timing("eval x", path) == ComputePart("eval x", None)
    add_timing(path, 12.5)
    add_timing(path, 7.5)  # the same evaluation, resumed by a later run
    part = read_timing("eval x", path)
    assert part.wall_time_s == 20.0 and part.commits == (git_commit(),)


def test_compute_record_counts_a_shared_part_once_and_names_untimed_ones():
    stage = ComputePart("stage a (if)", 100.0, ("c1",))
    parts = [stage, ComputePart("eval a", 30.0, ("c2",)), stage, ComputePart("eval base", None)]
    record = compute_record(parts)
    assert record["wall_time_s"] == 130.0  # the shared stage once, the untimed eval not as zero
    assert record["untimed"] == ["eval base"]
    assert record["commits"] == ["c1", "c2"]
    assert list(record["parts"]) == ["eval a", "eval base", "stage a (if)"]


def test_a_crashed_evaluation_keeps_the_time_it_spent(smoke_profile, tmp_path, monkeypatch):
    """Finished batches survive a crash and are resumed, so the time that produced them must survive too
    (a cpu MGS evaluation that died at its seventh benchmark once recorded only the resumed remainder)."""
    from experiments import evaluation

    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-suite")

    monkeypatch.setattr(evaluation, "build_generator", lambda profile, adapter: object())
    monkeypatch.setattr(evaluation, "evaluate_suite", crash)
    ev = evaluation.Evaluator(smoke_profile, tmp_path)
    with pytest.raises(RuntimeError, match="killed mid-suite"):
        ev.evaluate("ckpt", None, "if")
    first = ev.compute("ckpt").wall_time_s
    assert first is not None and first > 0
    with pytest.raises(RuntimeError):
        ev.evaluate("ckpt", None, "if")  # the resumed attempt adds to it
    assert ev.compute("ckpt").wall_time_s > first
