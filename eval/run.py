"""Command line: evaluate a checkpoint on the suite and print a per-benchmark table.

    python -m eval.run --profile cpu --checkpoint base [--adapter PATH] [--benchmarks ...] [--out DIR]

``--checkpoint base`` is the profile's policy; ``--adapter PATH`` puts a PEFT LoRA adapter on it. The
checkpoint key (results folder name) is ``<profile>-<checkpoint>`` plus, with an adapter, a hash of the
adapter's files, so retraining an adapter in place never reuses stale results.

Everything a user can get wrong -- arguments, the profile, benchmark names, the adapter folder, judge
endpoints -- is checked before torch or transformers are imported, and answered with one ``error:``
line and exit status 2. Judgments that failed during the run (a judge went down) exit with status 1,
saying how many and why; a rerun retries exactly those.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from care_rl.config import ConfigError, Profile, cache_dir
from care_rl.logs import setup_logging
from eval.benchmarks import select
from eval.checkpoint_eval import evaluate_suite, format_table
from eval.judge_endpoints import check_judge_endpoints, judge_failure_report
from eval.panel import judge_specs
from eval.suite import build_suite, training_texts
from experiments.paths import load_named_profile

if TYPE_CHECKING:
    from eval.avg_at_k import Generator

log = logging.getLogger("eval.run")  # not __name__: that is "__main__" under ``python -m``


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
    from eval.hf_generator import HFGenerator

    model, tokenizer = load_policy(profile)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return HFGenerator(
        model, tokenizer, temperature=spec.temperature, top_p=spec.top_p, max_new_tokens=spec.max_new_tokens
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
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
    return parser.parse_args(argv)


def evaluate(profile: Profile, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Evaluate and print the table; returns the summary rows of the benchmarks asked for."""
    if args.adapter is not None and not args.adapter.is_dir():
        raise ConfigError(f"--adapter {args.adapter}: folder not found")
    benchmarks = select(args.benchmarks)
    key = checkpoint_key(profile, args.checkpoint, args.adapter)
    out_dir = (args.out or cache_dir() / "eval") / key
    specs = judge_specs(profile)
    judged = any(b.template is not None for b in benchmarks)
    if judged:
        check_judge_endpoints(specs)
    suite = build_suite(benchmarks, profile.data.source, profile.eval, training_texts(profile))
    for entry in suite:
        log.info(
            "%s: %d items (%d lost to decontamination)",
            entry.benchmark.name,
            len(entry.items),
            entry.n_lost_to_decontam,
        )
    from care_rl.threads import configure_threads  # the models load from here on

    configure_threads(profile.device)
    judges = []
    if judged:
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
        suite,
        generator,
        judges,
        specs,
        profile.eval,
        out_dir,
        config,
        progress=not args.no_progress,
        prompt_format=profile.prompt_format,
    )
    print(f"\n{key}  (avg@{profile.eval.samples_per_prompt}; results in {out_dir})")
    print(format_table({b.name: summary[b.name] for b in benchmarks}))
    return {b.name: summary[b.name] for b in benchmarks}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(logging.WARNING, "%(message)s")
    log.setLevel(logging.INFO)  # this command's own notes; libraries speak only when something is wrong
    try:
        profile = load_named_profile(args.profile)
        failures = judge_failure_report(evaluate(profile, args), judge_specs(profile))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if failures:
        print(f"error: {failures}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
