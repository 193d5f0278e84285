"""Atomic file writes: a temporary file in the same folder, then ``os.replace``. A crash (or a reader
racing the writer) sees the old file or the new one, never half of one: stage outputs, evaluation
results, tables and provenance files all go through here."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (parents created) with the permissions of an ordinary file (0644;
    ``mkstemp`` alone would leave 0600, unreadable to other users of shipped data or a shared cache)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` as UTF-8, line endings untouched."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """An empty folder beside ``target`` to fill; when the block ends without error it replaces
    ``target`` (an earlier, maybe incomplete, one is removed first), otherwise it is removed. Readable
    by others (0755), like the files above: saved models, adapters and NLTK data are shared."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    staging.chmod(0o755)
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
