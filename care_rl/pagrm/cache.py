"""Per-prompt protocol cache: memory first, then an optional JSONL file that survives restarts.

The paper generates the protocol and schema once per prompt and reuses it for every response to that
prompt (3.1.3). Across RL steps and epochs the same prompts return, so the cache also saves judge calls.
Keys hash the protocol mode, the template digest, the judge's name and the prompt text: a different
template or judge never reads another's schema. Each new entry is appended as one line in one write
(flushed and fsync'ed); a torn last line from a crash is skipped with a warning on the next load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from care_rl.pagrm.parsing import Protocol

log = logging.getLogger(__name__)


def protocol_key(mode: str, template_digest: str, judge: str, prompt: str) -> str:
    payload = json.dumps([mode, template_digest, judge, prompt], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class ProtocolCache:
    """A dict of key -> Protocol, mirrored to ``path`` (JSONL) when one is given."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._items: dict[str, Protocol] = {}
        self._lock = threading.Lock()
        if self.path is not None and self.path.is_file():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                self._items[row["key"]] = Protocol(protocol=row["protocol"], schema=row["schema"])
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                log.warning(
                    "%s:%d: skipping unreadable protocol cache line (%s): %.120s", path, lineno, e, line
                )

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> Protocol | None:
        return self._items.get(key)

    def put(self, key: str, protocol: Protocol) -> None:
        with self._lock:
            self._items[key] = protocol
            if self.path is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"key": key, **protocol.to_json()}, ensure_ascii=False) + "\n"
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
