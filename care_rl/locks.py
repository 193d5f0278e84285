"""One maker per cache entry across processes: a stage is trained, a checkpoint evaluated, by one
process at a time, however many runs (or workers of one run: ``experiments.run --jobs N``) share the
cache.

The lock is an ``fcntl.flock`` on a hidden file beside the entry (``<folder>/.<name>.lock``), so it is
released by the kernel when its holder exits, crash included: a stale lock cannot outlive a run. The
holder writes its pid into the file, for the message another process gets. Callers check the cache,
take the lock, and check the cache again: whoever waited may find the entry finished by the holder.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Busy(RuntimeError):
    """Another process holds the entry's lock (raised only by a caller that would not wait)."""


def lock_path(entry: Path) -> Path:
    """The lock file of cache entry ``entry`` (a folder or a file), beside it."""
    entry = Path(entry)
    return entry.with_name(f".{entry.name}.lock")


@contextmanager
def hold(entry: Path, wait: bool = True) -> Iterator[None]:
    """Hold ``entry``'s lock for the block: wait for it, or raise ``Busy`` at once if ``wait`` is
    False and another process holds it."""
    path = lock_path(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            raise Busy(f"{entry} is being made by another process (pid {holder})") from None
        try:
            f.truncate(0)
            f.write(str(os.getpid()))
            f.flush()
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
