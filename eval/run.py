"""Command line: evaluate a checkpoint on the suite and print a per-benchmark table.

    python -m eval.run --profile cpu --checkpoint base [--adapter PATH] [--benchmarks ...] [--out DIR]

``--checkpoint base`` is the profile's policy; ``--adapter PATH`` puts a PEFT LoRA adapter on it. The
checkpoint key (results folder name) is ``<profile>-<checkpoint>`` plus, with an adapter, a hash of the
adapter's files, so retraining an adapter in place never reuses stale results.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

from care_rl.config import ConfigError, JudgeSpec, Profile, cache_dir
from eval.avg_at_k import Generator, HFGenerator
from eval.benchmarks import select
from eval.checkpoint_eval import evaluate_suite, format_table
from eval.suite import build_suite, training_texts
from experiments.paths import load_named_profile

log = logging.getLogger(__name__)


def adapter_digest(adapter: Path) -> str:
    """Content hash of an adapter folder (config + weights)."""
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"--adapter {adapter}: not a PEFT adapter folder (no adapter_config.json)")
    h = hashlib.sha256()
    for f in sorted(p for p in adapter.iterdir() if p.is_file() and p.name.startswith("adapter_")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def checkpoint_key(profile: Profile, checkpoint: str, adapter: Path | None) -> str:
    key = f"{profile.name}-{checkpoint}"
    return f"{key}-adapter-{adapter_digest(adapter)}" if adapter is not None else key


def build_generator(profile: Profile, adapter: Path | None) -> Generator:
    """The profile's sampler: vLLM for the paper profiles, transformers otherwise (a YAML value)."""
    spec = profile.eval
    if profile.generation_backend == "vllm":
        from care_rl.models import model_path_for_trainer
        from eval.vllm_generator import VLLMGenerator

        return VLLMGenerator(
            model_path_for_trainer(profile.policy),
            temperature=spec.temperature,
            top_p=spec.top_p,
            max_new_tokens=spec.max_new_tokens,
            adapter_path=str(adapter) if adapter else None,
            seed=spec.seed,
        )
    from care_rl.models import load_policy

    model, tokenizer = load_policy(profile)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return HFGenerator(
        model, tokenizer, temperature=spec.temperature, top_p=spec.top_p, max_new_tokens=spec.max_new_tokens
    )


def judge_specs(profile: Profile) -> list[JudgeSpec]:
    """The evaluation judge panel: ``eval_judges`` if the profile lists any, else its single judge."""
    return list(profile.eval_judges) or [profile.judge]


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m eval.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", default=None, help="profile name or YAML path (default: $CARE_RL_PROFILE or cpu)"
    )
    parser.add_argument("--checkpoint", default="base", help="checkpoint name; 'base' = the profile's policy")
    parser.add_argument(
        "--adapter", type=Path, default=None, help="PEFT LoRA adapter folder applied on the policy"
    )
    parser.add_argument(
        "--benchmarks", nargs="*", default=None, help="subset of benchmarks (default: all eight)"
    )
    parser.add_argument("--out", type=Path, default=None, help="results root (default: <cache>/eval)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    profile = load_named_profile(args.profile)
    if args.adapter is not None and not args.adapter.is_dir():
        raise ConfigError(f"--adapter {args.adapter}: folder not found")
    benchmarks = select(args.benchmarks)
    key = checkpoint_key(profile, args.checkpoint, args.adapter)
    out_dir = (args.out or cache_dir() / "eval") / key

    suite = build_suite(benchmarks, profile.data.source, profile.eval.cap, training_texts(profile))
    for entry in suite:
        log.info(
            "%s: %d items (%d lost to decontamination)",
            entry.benchmark.name,
            len(entry.items),
            entry.n_lost_to_decontam,
        )
    specs = judge_specs(profile)
    judges = []
    if any(b.template is not None for b in benchmarks):
        from care_rl.judges import build_backend

        judges = [build_backend(s, tokenizer_spec=profile.tokenizer or profile.policy) for s in specs]
    config = {
        "profile": profile.model_dump(mode="json"),
        "checkpoint": args.checkpoint,
        "adapter": str(args.adapter) if args.adapter else None,
        "checkpoint_key": key,
        "benchmarks": [b.name for b in benchmarks],
    }
    generator = build_generator(profile, args.adapter)
    summary = evaluate_suite(
        suite, generator, judges, specs, profile.eval, out_dir, config, progress=not args.no_progress
    )
    print(f"\n{key}  (avg@{profile.eval.samples_per_prompt}; results in {out_dir})")
    print(format_table({b.name: summary[b.name] for b in benchmarks}))
    return summary


if __name__ == "__main__":
    main()
