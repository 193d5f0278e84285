"""CLI: LoRA-SFT of the PA-GRM judge on teacher traces (``care_rl.pagrm.training.sft``), for a profile by name.

    python -m experiments.pagrm_sft --traces traces.jsonl --profile cpu [--config YAML] [--out DIR]

The hyper-parameters come from experiments/pagrm_sft.yaml (paper values, scaled per profile); the
adapter goes to ``<cache>/pagrm/<profile>/adapter``, the path a profile's ``judge.adapter`` names.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from care_rl.logs import setup_logging
from care_rl.pagrm.trace import read_traces
from care_rl.pagrm.training.sft import default_out, load_sft_config, train
from experiments.paths import PAGRM_SFT_YAML, load_named_profile


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=Path, required=True)
    ap.add_argument(
        "--profile", default=None, help="profile name or YAML path (default $CARE_RL_PROFILE or cpu)"
    )
    ap.add_argument("--config", type=Path, default=PAGRM_SFT_YAML)
    ap.add_argument("--out", type=Path, default=None, help="default: <cache>/pagrm/<profile>")
    args = ap.parse_args(argv)
    setup_logging(logging.INFO)
    profile = load_named_profile(args.profile)
    config = load_sft_config(args.config).for_profile(profile.name)
    out = args.out or default_out(profile)
    adapter = train(read_traces(args.traces), profile, config, out)
    print(adapter)


if __name__ == "__main__":
    main()
