"""CLI: does a distilled PA-GRM judge work? (``care_rl.pagrm.training.judge_check``, for a profile by name)

    python -m experiments.pagrm_check --profile cpu [--adapter DIR | --no-adapter] [--out FILE]

Parse rate of the chat reward on the profile policy's own responses, agreement with the synthetic
teacher, and pairwise accuracy on held-out preference pairs; written as JSON, summary printed.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from care_rl.atomic import write_text_atomic
from care_rl.config import cache_dir
from care_rl.logs import setup_logging
from care_rl.pagrm.training.judge_check import check
from experiments.paths import load_named_profile


def main(argv: list[str] | None = None) -> None:
    from care_rl.judges.factory import build_backend, judge_adapter

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--profile", default=None, help="profile name or YAML path (default $CARE_RL_PROFILE or cpu)"
    )
    ap.add_argument("--adapter", type=Path, default=None, help="default: the profile's judge.adapter")
    ap.add_argument("--no-adapter", action="store_true", help="the untrained base judge, for comparison")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument(
        "--out", type=Path, default=None, help="default: <cache>/pagrm/<profile>/judge_check.json"
    )
    args = ap.parse_args(argv)
    setup_logging(logging.INFO)
    profile = load_named_profile(args.profile)
    adapter = None if args.no_adapter else (args.adapter or judge_adapter(profile.judge))
    backend = build_backend(profile.judge, tokenizer_spec=profile.tokenizer, adapter_path=adapter)
    result = {"adapter": str(adapter), **check(profile, backend, args.prompts, args.samples)}
    name = "judge_check_base.json" if args.no_adapter else "judge_check.json"
    out = args.out or cache_dir() / "pagrm" / profile.name / name
    write_text_atomic(out, json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "examples"}, indent=1))


if __name__ == "__main__":
    main()
