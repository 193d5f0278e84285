"""experiments.workers' pieces: each worker starts its walk elsewhere in the plan and visits every job
once; every line a worker prints names it, however the line was written."""

from __future__ import annotations

import io

from experiments.workers import LinePrefix, rotation


def test_each_worker_walks_every_job_once_from_its_own_start():
    assert rotation(5, 0, 2) == [0, 1, 2, 3, 4]
    assert rotation(5, 1, 2) == [2, 3, 4, 0, 1]
    for workers in (1, 2, 3, 7):
        starts = {rotation(6, w, workers)[0] for w in range(workers)}
        assert len(starts) == min(workers, 6)
        assert all(sorted(rotation(6, w, workers)) == list(range(6)) for w in range(workers))
    assert rotation(0, 1, 2) == []


def test_every_line_starts_with_the_prefix():
    out = io.StringIO()
    stream = LinePrefix(out, "[worker 2/2] ")
    stream.write("stage 1/3 if: ")
    stream.write("training\nstep 1")
    stream.write("/1\n\nend\n")
    assert (
        out.getvalue()
        == "[worker 2/2] stage 1/3 if: training\n[worker 2/2] step 1/1\n[worker 2/2] \n[worker 2/2] end\n"
    )
