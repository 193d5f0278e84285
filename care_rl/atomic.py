"""Atomic file writes: a temporary file in the same folder, then ``os.replace``. A crash (or a reader
racing the writer) sees the old file or the new one, never half of one: stage outputs, evaluation
results, tables and provenance files all go through here."""

from __future__ import annotations

import os
import tempfile
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
