"""Results on disk: one JSONL per (checkpoint key, benchmark, eval-config hash), one record per item.

Each record keeps the prompt, every sampled completion, its score and the judges' raw outputs, so
tables re-render without regenerating and a reviewer can inspect any sample. The file is rewritten
atomically (temp file + ``os.replace``) after every batch: a crash loses at most the batch in flight,
and a reader never sees half a file. A file damaged some other way (a truncated copy, an edit) is
treated like a corrupt stage: the unreadable records are dropped with a warning naming the file and
lines, and the evaluator recomputes them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from care_rl.atomic import write_text_atomic

log = logging.getLogger(__name__)

Record = dict[str, Any]


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def read_json_or_none(path: Path) -> Any:
    """A JSON file the evaluator wrote, or ``None`` (with a warning naming it) if it is unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        log.warning("%s is corrupt (%s); it will be rebuilt", path, e)
        return None


def _record(line: str) -> Record | None:
    """One results line, or ``None`` if it is not a record with an id and a list of samples."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return None
    ok = isinstance(rec, dict) and isinstance(rec.get("id"), str) and isinstance(rec.get("samples"), list)
    return rec if ok else None


class ResultStore:
    """The records of one benchmark run, keyed by item id, persisted after every batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.n_corrupt = 0  # unreadable lines found on reading
        self.records: dict[str, Record] = self._read()

    def _read(self) -> dict[str, Record]:
        if not self.path.is_file():
            return {}
        records: dict[str, Record] = {}
        bad: list[int] = []
        for lineno, line in enumerate(
            self.path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        ):
            rec = _record(line)
            if rec is None:
                bad.append(lineno)
            else:
                records[rec["id"]] = rec
        self.n_corrupt = len(bad)
        if bad:
            log.warning(
                "%s is corrupt (unreadable line(s) %s); those items will be recomputed",
                self.path,
                ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else ""),
            )
        return records

    def has(self, item_id: str) -> bool:
        return item_id in self.records

    def add(self, batch: list[Record]) -> None:
        """Add one batch's records and persist the whole file atomically."""
        for rec in batch:
            self.records[rec["id"]] = rec
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records.values())
        write_text_atomic(self.path, text)
