"""``experiments.run <target> --jobs N``: N worker processes that together produce a plan's jobs, each
torch at one thread, so that a target uses every core without oversubscribing any (care_rl/threads.py).

Every job's work is content-addressed and made under a lock (care_rl.locks: a stage, an evaluation, a
surgery edit, a judge study), so workers need no coordinator. Worker i of N re-plans the target and
walks its jobs in its own rotation (starting i/N of the way through the list); a job whose entry another
worker is making is skipped for now (``locks.Busy``), and once the walk ends the worker comes back to
the skipped jobs in order, waiting for their locks. The cache then holds exactly the entries one process
would have made; the parent links and renders from it as ``--jobs 1`` does, every entry cached.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from typing import TextIO

from care_rl import locks
from care_rl.config import Profile
from care_rl.logs import setup_logging
from experiments.runconfig import RunDirs


class LinePrefix:
    """A text stream that starts every line it passes on with ``prefix`` (whose worker said it)."""

    def __init__(self, stream: TextIO, prefix: str) -> None:
        self.stream, self.prefix, self.at_line_start = stream, prefix, True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            if self.at_line_start:
                out.append(self.prefix)
            out.append(piece)
            self.at_line_start = piece.endswith("\n")
        self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> object:  # isatty, encoding, fileno: the wrapped stream's
        return getattr(self.stream, name)


def rotation(n_jobs: int, worker: int, workers: int) -> list[int]:
    """The order in which ``worker`` (0-based) of ``workers`` walks ``n_jobs`` jobs."""
    start = worker * n_jobs // workers
    return [(start + k) % n_jobs for k in range(n_jobs)]


def produce_in_workers(profile: Profile, dirs: RunDirs, target: str, workers: int) -> None:
    """Run ``workers`` worker processes on ``target``'s plan and wait for all of them; any failure is
    raised here, after the others have finished what they were making (it stays cached)."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch thread pools
    processes = [
        context.Process(target=work, args=(profile, dirs, target, i, workers), name=f"worker {i + 1}")
        for i in range(workers)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    failed = [f"{p.name} (exit code {p.exitcode})" for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(
            f"{', '.join(failed)} failed: see its lines above; what the workers finished stays cached, "
            "so running the target again resumes"
        )


def work(profile: Profile, dirs: RunDirs, target: str, index: int, workers: int) -> None:
    """One worker (module docstring): every line it prints starts with ``[worker i/N]``."""
    prefix = f"[worker {index + 1}/{workers}] "
    sys.stdout = LinePrefix(sys.stdout, prefix)
    sys.stderr = LinePrefix(sys.stderr, prefix)
    setup_logging(logging.WARNING)
    from care_rl.threads import configure_threads
    from experiments.plan import Planner
    from experiments.produce import Producer

    configure_threads(profile.device, check_load=False)  # the parent checked the load for all workers
    planner = Planner(profile, dirs)
    planner.evaluator.progress = False  # N progress bars would overwrite each other's lines
    plan = planner.plan(target)
    producer = Producer(planner, lambda line: print(line, flush=True))
    jobs = plan.jobs + plan.sweep
    skipped, busy = [], set()  # busy: cascades with a stage another worker is training
    for i in rotation(len(jobs), index, workers):
        job = jobs[i]
        cascade = job.cascade.label if job.cascade is not None else None
        try:
            if cascade in busy:  # a cascade is trained before any of its checkpoints is evaluated
                raise locks.Busy(f"cascade {cascade} has a stage another worker is training")
            producer.produce(job, wait=False)
        except locks.Busy as e:
            print(f"later: {job.key} ({e})", flush=True)
            skipped.append(job)
            if job.cascade is not None and job.cascade.name not in producer.trained:
                busy.add(cascade)
    for job in skipped:
        producer.produce(job)
    print(
        f"done: {len(jobs)} result keys, {len(skipped)} of them after waiting for another worker", flush=True
    )
