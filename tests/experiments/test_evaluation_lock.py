"""Two processes that reach the same unevaluated checkpoint evaluate it once: both see it missing, one
evaluates under the folder's lock, the other waits, finds it finished when it gets the lock, and reuses
it. A caller that will not wait is told the folder is busy."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from care_rl import locks
from experiments.evaluation import Evaluator

DEADLOCK_GUARD_S = 600  # only a hang ends here; the processes take a second


def test_two_processes_evaluate_a_checkpoint_once(smoke_profile, tmp_path, monkeypatch):
    context = multiprocessing.get_context("fork")  # the children start with the fakes below
    checked = [context.Event(), context.Event()]  # each child has seen the checkpoint missing
    evaluator = Evaluator(smoke_profile, tmp_path / "eval")
    done = evaluator.out_dir("base") / "summary.json"  # stands for "every benchmark is complete"

    def fake_evaluate(self, name, adapter, domain):
        assert all(e.wait(DEADLOCK_GUARD_S) for e in checked)
        done.parent.mkdir(parents=True, exist_ok=True)
        with (tmp_path / "evaluators.txt").open("a") as f:
            f.write(f"{os.getpid()}\n")
        done.write_text("{}")

    monkeypatch.setattr(Evaluator, "_evaluate", fake_evaluate)

    def child(i: int) -> None:
        seen = []

        def cached_then_signal(self, name, domain=None):
            seen.append(done.is_file())
            checked[i].set()
            return seen[-1]

        Evaluator.cached = cached_then_signal  # this child's copy only
        announced = []
        assert evaluator.evaluate("base", None, announce=lambda: announced.append(1)) == done.parent
        (tmp_path / f"child{i}.txt").write_text(f"{os.getpid()} {len(announced)} {seen}")

    children = [context.Process(target=child, args=(i,)) for i in range(2)]
    for p in children:
        p.start()
    for p in children:
        p.join(DEADLOCK_GUARD_S)
    assert [p.exitcode for p in children] == [0, 0]
    pids, announced, seen = zip(
        *((tmp_path / f"child{i}.txt").read_text().split(" ", 2) for i in range(2)), strict=True
    )
    (evaluator_pid,) = (tmp_path / "evaluators.txt").read_text().split()
    assert evaluator_pid in pids  # exactly one evaluated, and it said so; the other reused it
    assert sorted(announced) == ["0", "1"]
    assert sorted(seen) == ["[False, False]", "[False, True]"]  # the waiter checked again, found it


def test_a_busy_checkpoint_is_not_waited_for_on_request(smoke_profile, tmp_path):
    evaluator = Evaluator(smoke_profile, tmp_path / "eval")
    with locks.hold(evaluator.out_dir("base")), pytest.raises(locks.Busy, match="smoke-base"):
        evaluator.evaluate("base", None, wait=False)
