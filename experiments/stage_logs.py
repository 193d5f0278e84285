"""Training logs of a whole cascade as one series: each stage's steps continue the previous stage's.

Stage directories keep TRL's ``log_history`` (logs.jsonl) and DACSP telemetry (dacsp.jsonl) with steps
counted from 1 in every stage; the reward-curve and DACSP-energy figures plot the cascade end to end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from experiments.figures import read_jsonl, telemetry_rows


def global_step(stage_dir: Path) -> int:
    return int(json.loads((stage_dir / "metrics.json").read_text())["global_step"])


def reward_rows(stage_dirs: Sequence[Path]) -> list[dict]:
    rows, offset = [], 0
    for d in stage_dirs:
        stage = [r for r in read_jsonl(d / "logs.jsonl") if "step" in r]
        rows += [{**r, "step": r["step"] + offset} for r in stage]
        offset += global_step(d)
    return rows


def energy_rows(stage_dirs: Sequence[Path]) -> tuple[list[dict], int]:
    """Per-step, per-space DACSP telemetry totals over the cascade (figures.telemetry_rows), and how
    many steps had no update (zero energy: e.g. every group of the step was degenerate) and were left out."""
    rows, offset, idle = [], 0, 0
    for d in stage_dirs:
        if (d / "dacsp.jsonl").is_file():
            stage, skipped = telemetry_rows(read_jsonl(d / "dacsp.jsonl"), offset)
            rows += stage
            idle += skipped
        offset += global_step(d)
    return rows, idle
