"""DAPO step time with and without DACSP on the cpu profile (SmolLM2-135M, LoRA r16), in one run.

Run: .venv/bin/python -m bench.bench_train [--steps 3]

1. A plain DAPO run on the IF stage (the cpu profile's values, ``max_steps`` = --steps) from a seeded
   fresh LoRA; its task vector gives a real DACSP basis bank (τ from the profile).
2. The same run from the same start with DACSP attached to the optimizer (profile α, β).
Wall time is taken per optimizer step (generation + loss + backward + optimizer step + DACSP hook);
the first step of each run is warm-up and excluded. Dynamic sampling is off so both runs do the same
number of generation rounds. Throughput ratio = tokens/s with DACSP over tokens/s without (target
≥ 0.98); tokens are TRL's ``num_tokens`` (prompt + completion tokens processed).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from transformers import TrainerCallback, set_seed

from care_rl.dacsp import BasisBank
from care_rl.data.loaders import load_train
from care_rl.rewards.registry import get_reward
from care_rl.training.dapo import DacspSetup, DapoTrainer, dapo_config, prompts_dataset
from experiments.paths import load_named_profile


class StepClock(TrainerCallback):
    """Wall-clock seconds of each optimizer step (time between consecutive step ends)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last = 0.0

    def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
        self._last = time.perf_counter()

    def on_step_end(self, *args: Any, **kwargs: Any) -> None:
        now = time.perf_counter()
        self.times.append(now - self._last)
        self._last = now


def run(profile: Any, stage: Any, prompts: list, bank: BasisBank | None) -> tuple[dict[str, Any], Any]:
    from peft import get_peft_model

    from care_rl.models import load_policy, lora_config

    set_seed(profile.dapo.seed)
    model, tokenizer = load_policy(profile)
    model = get_peft_model(model, lora_config(profile.lora))
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    clock = StepClock()
    with tempfile.TemporaryDirectory() as out:
        trainer = DapoTrainer(
            model=model,
            reward_funcs=[get_reward("if")],
            args=dapo_config(profile, stage, out, save_steps=10**6),
            train_dataset=prompts_dataset(prompts),
            processing_class=tokenizer,
            callbacks=[clock],
            max_refills=0,
            dacsp=DacspSetup(bank, profile.dacsp) if bank is not None else None,
        )
        trainer.train()
    after = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    tokens = max(row.get("num_tokens", 0.0) for row in trainer.state.log_history)
    steps = clock.times[1:]
    per_step_tokens = tokens / len(clock.times)
    result = {
        "step_s": statistics.mean(steps),
        "tokens_per_s": per_step_tokens / statistics.mean(steps),
        "steps": len(clock.times),
        "dacsp_steps": len(trainer.dacsp_handle.telemetry) if trainer.dacsp_handle else 0,
    }
    return result, (before, after)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per run (first is warm-up)")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first step is warm-up)")
    profile = load_named_profile("cpu")
    stage = profile.stages["if"].model_copy(update={"max_steps": args.steps})
    prompts = load_train("if", profile.data.source, stage.prompts_per_step * args.steps, profile.data.seed)

    plain, (before, after) = run(profile, stage, prompts, None)
    bank = BasisBank(profile.dacsp.backend, profile.dacsp.tol)
    added = bank.add_stage(before, after, profile.dacsp.tau)
    with_dacsp, _ = run(profile, stage, prompts, bank)

    print(
        f"cpu profile, IF stage: {stage.prompts_per_step} prompts x {stage.num_generations} completions x "
        f"<= {stage.max_completion_length} tokens per step, {args.steps} steps per run (first excluded)"
    )
    print(
        f"DACSP bank: {len(bank.layer_bases)} LoRA modules, {sum(added['layer'].values())} layer-space directions, "
        f"{sum(added['factor'].values())} factor-space (tau={profile.dacsp.tau}, modulated: {profile.dacsp.space})"
    )
    for name, r in (("plain DAPO", plain), ("DAPO + DACSP", with_dacsp)):
        print(
            f"  {name:<13} step {r['step_s']:.2f} s   {r['tokens_per_s']:.1f} tokens/s   "
            f"(DACSP-modulated steps: {r['dacsp_steps']})"
        )
    ratio = with_dacsp["tokens_per_s"] / plain["tokens_per_s"]
    step_ratio = plain["step_s"] / with_dacsp["step_s"]
    print(
        f"throughput ratio (tokens/s, DACSP / plain): {ratio:.3f}   step-time ratio (plain / DACSP): "
        f"{step_ratio:.3f}   target >= 0.98: {'met' if ratio >= 0.98 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
