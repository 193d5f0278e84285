"""The PA-GRM scoring trace as a record: what the judge decided for one (prompt, response) pair.

One format serves two uses: supervised targets for PA-GRM SFT (a teacher's traces, section 3.1.3) and a
log of the judge's outputs during RL. ``protocol_target`` and ``score_target`` are the two generations
the judge is trained to produce (the paper's decomposition p(P, S | x) p(J, R, r | x, y, P, S)).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from care_rl.pagrm.parsing import JudgeOutputError, parse_protocol, parse_score


@dataclass(frozen=True)
class Trace:
    prompt: str
    response: str
    protocol: str  # "holistic" | "rubric" | "direct"
    schema: list[dict[str, Any]]
    judgments: list[dict[str, Any]]
    reasoning: str
    score: float  # raw, 1-10
    source: str = ""
    pair_id: str = ""
    judge: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def protocol_target(self) -> str:
        """The step-1 generation: protocol and schema as one JSON object."""
        return json.dumps({"protocol": self.protocol, "schema": self.schema}, ensure_ascii=False)

    def score_target(self) -> str:
        """The step-2 generation: local judgments, reasoning, final score."""
        obj = {"judgments": self.judgments, "reasoning": self.reasoning, "score": self.score}
        return json.dumps(obj, ensure_ascii=False)

    def validate(self) -> None:
        """Raise ``JudgeOutputError`` unless both targets parse under the judge's own schemas."""
        if self.protocol != "direct":
            parse_protocol(self.protocol_target())
        parse_score(self.score_target())


def trace_from_dict(row: dict[str, Any], where: str) -> Trace:
    names = {f.name for f in fields(Trace)}
    unknown = sorted(set(row) - names)
    if unknown:
        raise ValueError(f"{where}: unknown trace field(s) {unknown}")
    try:
        trace = Trace(**row)
        trace.validate()
    except (TypeError, JudgeOutputError) as e:
        raise ValueError(f"{where}: invalid trace: {e}") from e
    return trace


def read_traces(path: str | Path) -> list[Trace]:
    """All traces of a JSONL file, each validated; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trace file {path} not found")
    traces = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: malformed JSON: {e}") from e
            traces.append(trace_from_dict(row, f"{path}:{lineno}"))
    return traces


def write_traces(path: str | Path, traces: Iterable[Trace]) -> None:
    """Write a whole trace file atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for t in traces:
                f.write(json.dumps(asdict(t), ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def append_trace(path: str | Path, trace: Trace) -> None:
    """Append one trace as one line in one write (resumable collection and judge logging)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(trace), ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
