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

import torch

log = logging.getLogger(__name__)


def configure_threads(device: str, env: dict[str, str] | None = None) -> int:
    """Set torch's intra-op threads for a run on ``device`` and return them; warn if the cores are busy.

    On CPU: ``OMP_NUM_THREADS`` if set, else 1. On a GPU the count is left to torch (the CPU side only
    feeds the device).
    """
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
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load + threads > cores + 0.5:
        log.warning(
            "%d torch thread(s) on %d cores whose 1-minute load average is already %.1f: this run will "
            "share cores and can be several times slower (see care_rl/threads.py)",
            threads,
            cores,
            load,
        )
    return threads
