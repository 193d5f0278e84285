"""Intra-op threads for CPU runs: one per process unless ``OMP_NUM_THREADS`` says otherwise.

torch defaults to one thread per core. On a small shared machine that oversubscribes as soon as
anything else runs: on 2 cores beside one busy process, 8 generated tokens took 89 s at torch's 2
threads and 8 s at 1, and a 2048^3 fp32 GEMM 15.7 s instead of 0.6 s. One thread per process never
oversubscribes a machine whose other processes do the same (two jobs side by side use both cores);
a user with a quiet machine to themselves sets ``OMP_NUM_THREADS`` to the core count. The load
average is checked at start so that a run sharing busy cores says so instead of silently running
10x slower.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks (macOS)
        return os.cpu_count() or 1


def configure_threads(
    device: str, env: dict[str, str] | None = None, processes: int = 1, check_load: bool = True
) -> int:
    """Set torch's intra-op threads for a run on ``device`` and return them; warn if the cores are busy.

    On CPU: ``OMP_NUM_THREADS`` if set, else 1. On a GPU the count is left to torch (the CPU side only
    feeds the device). ``processes``: how many processes of the run take this many threads each (the
    workers of ``experiments.run --jobs N``), for the check; a worker skips it (``check_load``), its
    parent made it once for all of them.
    """
    import torch  # here: the runner checks its arguments' cores before it imports torch

    env = os.environ if env is None else env
    if device != "cpu":
        return torch.get_num_threads()
    value = env.get("OMP_NUM_THREADS", "").strip() or "1"
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"OMP_NUM_THREADS={value!r} is not a whole number of threads") from None
    if threads < 1:
        raise ValueError(f"OMP_NUM_THREADS={threads}: a run needs at least one thread")
    torch.set_num_threads(threads)
    if not check_load:
        return threads
    load, cores, wanted = os.getloadavg()[0], available_cores(), threads * processes
    if load + wanted > cores + 0.5:
        log.warning(
            "%d process(es) of %d torch thread(s) on %d cores whose 1-minute load average is already "
            "%.1f: this run will share cores and can be several times slower (see care_rl/threads.py)",
            processes,
            threads,
            cores,
            load,
        )
    return threads
