"""Regenerate the shipped mini sets (care_rl/data/mini/) from a seed.

    .venv/bin/python scripts/make_mini_data.py [--out DIR] [--seed 42]

Deterministic: the same seed writes byte-identical files (tests/data checks this against the
shipped copies). The files are stand-ins in each real dataset's row schema, not the datasets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from care_rl.atomic import write_text_atomic
from care_rl.data.io import dumps_jsonl
from care_rl.data.loaders import SPECS
from care_rl.data.minigen import chat, instr, preferences
from care_rl.data.minigen import math_problems as mathgen
from care_rl.data.minigen.common import rng_for
from care_rl.data.spec import HELDOUT_DIR, MINI_DIR

# mini file name -> generator(rng) -> rows; names match the DatasetSpec.mini_file of each dataset.
JSONL_SETS = {
    "openr1_math_220k.jsonl": mathgen.openr1_math,
    "aime_1983_2024.jsonl": mathgen.aime_1983_2024,
    "math500.jsonl": mathgen.math500,
    "gsm8k.jsonl": mathgen.gsm8k,
    "aime2025.jsonl": mathgen.aime2025,
    "rlvr_ifeval.jsonl": instr.rlvr_ifeval,
    "ifeval.jsonl": instr.ifeval,
    "ifbench_test.jsonl": instr.ifbench,
    "no_robots.jsonl": chat.no_robots,
    "wildbench_v2.jsonl": chat.wildbench_v2,
    "reward_bench_2.jsonl": preferences.reward_bench_2,
    "judgebench.jsonl": preferences.judgebench,
    "rm_bench.jsonl": preferences.rm_bench,
    "ultrafeedback.jsonl": preferences.ultrafeedback,
    "helpsteer3_preference.jsonl": preferences.helpsteer3_preference,
}
# Held-out (validation) stand-ins for the training sets whose mini pool every profile takes whole
# (n = 8,000 > 200 rows), so that the interference monitor and MOPD's teacher selection score prompts
# no stage trained on. Same generator, own RNG stream; rows whose prompt is a training row's are dropped.
HELDOUT_SETS = ("openr1_math_220k.jsonl", "rlvr_ifeval.jsonl", "no_robots.jsonl")
HELDOUT_ROWS = 16


def _prompts(name: str, rows: list[dict]) -> set[str]:
    """The texts a policy is prompted with, read by the dataset's own loader mapping (``to_records``)."""
    (spec,) = [s for s in SPECS.values() if s.mini_file == name]
    return {rec.text for row in rows for rec in spec.to_records(row)}


def heldout_rows(name: str, train: list[dict], seed: int) -> list[dict]:
    """HELDOUT_ROWS rows of ``name``'s generator whose prompts are not among ``train``'s.

    Drawing len(train) + HELDOUT_ROWS distinct prompts guarantees at least HELDOUT_ROWS new ones
    (no_robots' template space, 217 prompts, leaves exactly 17 beyond its 200 training rows).
    """
    seen = _prompts(name, train)
    rows = JSONL_SETS[name](rng_for(seed, f"heldout/{name}"), len(train) + HELDOUT_ROWS)
    return [r for r in rows if not _prompts(name, [r]) & seen][:HELDOUT_ROWS]


def generate(out: Path, seed: int) -> list[Path]:
    """Write every mini file under ``out``; returns the paths written."""
    written = []
    for name, make in JSONL_SETS.items():
        path = out / name
        rows = make(rng_for(seed, name))
        write_text_atomic(path, dumps_jsonl(rows))
        written.append(path)
        if name in HELDOUT_SETS:
            held = out / HELDOUT_DIR.relative_to(MINI_DIR) / name
            write_text_atomic(held, dumps_jsonl(heldout_rows(name, rows, seed)))
            written.append(held)
    rqa = out / "researchqa_test.json"
    write_text_atomic(
        rqa, json.dumps(chat.researchqa(rng_for(seed, rqa.name)), ensure_ascii=False, indent=1) + "\n"
    )
    prompts = json.dumps(chat.cw3_prompts(rng_for(seed, "cw3")), ensure_ascii=False, indent=2) + "\n"
    criteria, negative = chat.cw3_criteria()
    cw3 = out / "cw3"
    for fname, text in (
        ("creative_writing_prompts_v3.json", prompts),
        ("creative_writing_criteria.txt", criteria),
        ("negative_criteria.txt", negative),
    ):
        write_text_atomic(cw3 / fname, text)
        written.append(cw3 / fname)
    return [*written, rqa]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MINI_DIR, help=f"output folder (default {MINI_DIR})")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    paths = generate(args.out, args.seed)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} files, {total / 1024:.1f} KiB, under {args.out}")


if __name__ == "__main__":
    main()
