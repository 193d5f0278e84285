"""Two processes that reach the same uncached stage train it once: both see it missing, one trains
under the stage's lock, the other waits, finds it finished when it gets the lock, and reuses it."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

from care_rl.atomic import write_text_atomic
from care_rl.training import cascade
from care_rl.training import stage as stage_module
from care_rl.training.stage import StageRun, write_done
from care_rl.training.stage_run import ARTEFACTS, load_done

IF = StageRun(domains=("if",), rewards=("if",))
DEADLOCK_GUARD_S = 600  # only a hang ends here; the processes take a second


def test_two_processes_train_a_stage_once(train_profile, tmp_path, monkeypatch):
    # fork: both children start with this process's modules and the fake trainer below, in no time
    context = multiprocessing.get_context("fork")
    checked = [context.Event(), context.Event()]  # each child has seen the stage missing
    trainers = tmp_path / "trainers.txt"

    def fake_run_stage(profile, spec, parent, out_dir, *, key, services):
        """A stage that costs nothing, written only once both children have seen it missing."""
        assert all(e.wait(DEADLOCK_GUARD_S) for e in checked)
        for rel in ARTEFACTS:
            write_text_atomic(Path(out_dir) / rel, json.dumps({"wall_time_s": 0.0}))
        write_done(Path(out_dir), key, 0.0)
        with trainers.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return load_done(Path(out_dir))

    monkeypatch.setattr(stage_module, "run_stage", fake_run_stage)

    def child(i: int) -> None:
        def load_done_then_signal(out_dir):
            done = load_done(out_dir)
            checked[i].set()
            return done

        cascade.load_done = load_done_then_signal  # this child's copy of the module only
        result = cascade._run_or_reuse(train_profile, IF, None, tmp_path / "stages", None, "stage", False)
        (tmp_path / f"child{i}.json").write_text(json.dumps({"pid": os.getpid(), "key": result.key}))

    children = [context.Process(target=child, args=(i,)) for i in range(2)]
    for p in children:
        p.start()
    for p in children:
        p.join(DEADLOCK_GUARD_S)
    assert [p.exitcode for p in children] == [0, 0]
    results = [json.loads((tmp_path / f"child{i}.json").read_text()) for i in range(2)]
    assert trainers.read_text().split() in ([str(r["pid"])] for r in results)  # exactly one trained
    key = cascade.stage_key(train_profile, IF, None)
    assert [r["key"] for r in results] == [key, key]  # and both returned the stage
    assert load_done(tmp_path / "stages" / key) is not None
