"""Results on disk: one JSONL per (checkpoint key, benchmark, eval-config hash), one record per item.

Each record keeps the prompt, every sampled completion, its score and the judges' raw outputs, so
tables re-render without regenerating and a reviewer can inspect any sample. The file is rewritten
atomically (temp file + ``os.replace``) after every batch: a crash loses at most the batch in flight,
and a reader never sees half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from care_rl.atomic import write_text_atomic
from care_rl.config import ConfigError

Record = dict[str, Any]


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


class ResultStore:
    """The records of one benchmark run, keyed by item id, persisted after every batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, Record] = self._read()

    def _read(self) -> dict[str, Record]:
        if not self.path.is_file():
            return {}
        records: dict[str, Record] = {}
        for lineno, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(
                    f"{self.path}:{lineno}: corrupt results line ({e}); delete the file to rerun"
                ) from e
            records[rec["id"]] = rec
        return records

    def has(self, item_id: str) -> bool:
        return item_id in self.records

    def add(self, batch: list[Record]) -> None:
        """Add one batch's records and persist the whole file atomically."""
        for rec in batch:
            self.records[rec["id"]] = rec
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records.values())
        write_text_atomic(self.path, text)
