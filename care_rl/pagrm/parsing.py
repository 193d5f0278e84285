"""Turn judge text into validated protocols and scores, or into a named failure.

Judges (especially small ones) emit prose around JSON, code fences, truncated objects, scores out of
range. Each way of failing has a name (``FailureKind``) so the reward function can count it and log the
offending text; nothing here guesses a score. Validation uses the JSON schemas in ``schemas/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import jsonschema

from care_rl.thinking import strip_thinking

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCORE_MIN, SCORE_MAX = 1.0, 10.0

FailureKind = Literal[
    "judge_failed", "empty", "malformed_json", "schema_invalid", "missing_score", "out_of_range_score"
]


class JudgeOutputError(ValueError):
    """A judge output that cannot be used; ``kind`` is the metric it is counted under."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class Protocol:
    """A prompt's evaluation standard: protocol name and its schema items (shared by all its responses)."""

    protocol: Literal["holistic", "rubric"]
    schema: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "schema": self.schema}


@dataclass(frozen=True)
class Score:
    """A parsed scoring trace: raw score on the 1-10 scale and its [0, 1] normalisation."""

    raw: float
    judgments: list[dict[str, Any]] = field(default_factory=list)
    reasoning: str = ""

    @property
    def reward(self) -> float:
        return (self.raw - SCORE_MIN) / (SCORE_MAX - SCORE_MIN)


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def extract_json(text: str | None) -> dict[str, Any]:
    """The first JSON object in the answer part of ``text`` (code fences and surrounding prose are
    tolerated; a Qwen3 thinking block is skipped first, care_rl.thinking, so an object drafted inside
    the thinking is never taken for the verdict)."""
    if text is None:
        raise JudgeOutputError("judge_failed", "the judge call failed (timeout or error after retries)")
    text = strip_thinking(text)
    if not text.strip():
        raise JudgeOutputError("empty", "the judge returned an empty response (or thinking only)")
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            return obj
        start = text.find("{", start + 1)
    raise JudgeOutputError("malformed_json", "no JSON object could be decoded")


def _check(name: str, obj: dict[str, Any]) -> None:
    errors = sorted(_validator(name).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "<root>"
        raise JudgeOutputError("schema_invalid", f"{name} schema, at {where}: {errors[0].message[:200]}")


def parse_protocol(text: str | None, expected: str | None = None) -> Protocol:
    """Parse step 1's output; ``expected`` enforces the forced protocol of the fixed-protocol ablations."""
    obj = extract_json(text)
    _check("protocol", obj)
    if expected is not None and obj["protocol"] != expected:
        raise JudgeOutputError(
            "schema_invalid", f"protocol {obj['protocol']!r} where {expected!r} was required"
        )
    return Protocol(protocol=obj["protocol"], schema=obj["schema"])


def parse_score(text: str | None) -> Score:
    """Parse a scoring trace (or a direct judgment); the score must be a number in [1, 10]."""
    obj = extract_json(text)
    if "score" not in obj or obj["score"] is None:
        raise JudgeOutputError("missing_score", "the JSON object has no 'score'")
    _check("score", obj)
    raw = float(obj["score"])
    if not SCORE_MIN <= raw <= SCORE_MAX:
        raise JudgeOutputError("out_of_range_score", f"score {raw} outside [{SCORE_MIN:g}, {SCORE_MAX:g}]")
    return Score(raw=raw, judgments=list(obj.get("judgments", [])), reasoning=obj["reasoning"])


def judgments_cover(protocol: Protocol, judgments: list[dict[str, Any]]) -> bool:
    """Whether the trace judged every schema item (by name); a gap is counted, the score still used."""
    key = "aspect" if protocol.protocol == "holistic" else "criterion"
    wanted = {item[key].strip().lower() for item in protocol.schema}
    seen = {str(j.get(key, "")).strip().lower() for j in judgments}
    return wanted <= seen
