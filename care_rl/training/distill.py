"""MOPD's distillation stage in the cascade, and the checkpoint scores that choose its teachers.

A distillation stage is a stage like any other (same directory layout, DONE.json, content-addressed
key): the student continues its parent's LoRA adapter and is distilled on-policy on the training
prompts of every domain trained so far, each domain towards its own teacher checkpoint
(care_rl.training.mopd.MopdTrainer); a teacher shared by several domains, such as the parent itself
for the domains it leads, is loaded once. Decisions (the paper is silent): the stage's sampling length
and learning rate come from the profile's stage settings of its domains (combined as for a mixed
stage), one epoch over their prompts with one completion each (or the combined ``max_steps``); the
DACSP basis bank passes through unchanged (a recovery step adds no capability directions); an
interrupted distillation restarts.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel

from care_rl.atomic import write_text_atomic
from care_rl.config import ConfigError, Profile
from care_rl.judges.factory import judge_adapter
from care_rl.training.callbacks import ProgressPrinter, console_only_progress
from care_rl.training.dapo import prompts_dataset
from care_rl.training.mopd import MopdTrainer, load_teacher, mopd_config, stage_scores
from care_rl.training.services import StageServices
from care_rl.training.stage import (
    begin_stage,
    finish_stage,
    interference_monitor,
    load_bank,
    monitor_settings,
    policy_with_adapter,
)
from care_rl.training.stage_run import DISTILL, VERIFIABLE_REWARDS, StageResult, StageRun, file_sha256

SCORES_DIR = "monitor_scores"  # inside a stage directory, outside its checksummed artefacts


def checkpoint_scores(
    profile: Profile, run: StageRun, result: StageResult, services: StageServices
) -> dict[str, float]:
    """Held-out greedy reward per monitored domain of a stage's final weights.

    Read from the stage's logs (the monitor's last row) when they were taken with ``run``'s monitor
    rewards and prompt count; a stage reused from the cache of a method that monitored differently, or
    not at all, is scored afresh, so that MOPD never compares checkpoints on different yardsticks.
    """
    settings = monitor_settings(run)
    if settings is None:
        raise ConfigError(
            f"stage {run.name!r}: MOPD scores checkpoints with the monitor; set monitor_rewards"
        )
    if result.metrics.get("monitor") == settings:
        return stage_scores(result.dir / "logs.jsonl")
    # scored afresh once, then kept beside the checkpoint: a re-render must not regenerate and re-judge
    cached = result.dir / SCORES_DIR / f"{score_key(profile, settings)}.json"
    if cached.is_file():
        return {d: float(v) for d, v in json.loads(cached.read_text()).items()}
    model, tokenizer = policy_with_adapter(profile, result, trainable=False)
    scores = interference_monitor(run, profile, services, tokenizer, every=1).scores(model)
    write_text_atomic(cached, json.dumps(scores, indent=1, sort_keys=True))
    return scores


def score_key(profile: Profile, settings: Mapping[str, Any]) -> str:
    """What a checkpoint's monitor scores depend on beyond its weights (the stage key): the monitor's
    rewards and prompt count, the data its held-out prompts come from, every domain's generation length
    and, when a chat reward is monitored, the judge (and the digest of its PA-GRM adapter)."""
    judged = [r for r in settings["rewards"].values() if r not in VERIFIABLE_REWARDS]
    adapter = judge_adapter(profile.judge) if any(r != "direct" for r in judged) else None
    content = {
        "monitor": settings,
        "data": profile.data.model_dump(mode="json"),
        "stages": {d: s.model_dump(mode="json") for d, s in sorted(profile.stages.items())},
        "judge": profile.judge.model_dump(mode="json") if judged else None,
        "adapter": file_sha256(adapter / "adapter_model.safetensors") if adapter else None,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def distillation_run(teachers: Mapping[str, str], order: list[str]) -> StageRun:
    """The distillation stage towards ``teachers`` (domain -> stage key), domains in cascade order."""
    return StageRun(
        domains=tuple(d for d in order if d in teachers),
        options={"trainer": DISTILL, "teachers": dict(sorted(teachers.items()))},
    )


def run_distill_stage(
    profile: Profile,
    spec: StageRun,
    parent: StageResult | None,
    out_dir: str | Path,
    *,
    teachers: Mapping[str, StageResult],
    key: str = "",
    services: StageServices | None = None,
) -> StageResult:
    """Distil ``parent``'s checkpoint towards each domain's teacher checkpoint into ``out_dir`` (a teacher
    may be ``parent`` itself)."""
    if spec.trainer != DISTILL:
        raise ConfigError(f"stage {spec.name!r} is not a distillation stage (options.trainer != {DISTILL!r})")
    if parent is None:
        raise ConfigError(f"distillation stage {spec.name!r} needs a parent checkpoint to distil")
    wanted = spec.options["teachers"]
    got = {d: r.key for d, r in teachers.items()}
    if got != wanted:
        raise ConfigError(f"distillation stage {spec.name!r} names teachers {wanted}, was given {got}")
    services = services or StageServices()
    out_dir = Path(out_dir)
    work = begin_stage(out_dir)
    start = time.perf_counter()

    model, tokenizer = policy_with_adapter(profile, parent)
    prompts = [p for d in spec.domains for p in services.load_prompts(d, profile)]
    loaded: dict[str, PreTrainedModel] = {}
    for d in spec.domains:
        if teachers[d].key not in loaded:
            loaded[teachers[d].key] = load_teacher(profile, teachers[d].adapter_dir)
    trainer = MopdTrainer(
        model=model,
        teachers={d: loaded[teachers[d].key] for d in spec.domains},
        args=mopd_config(profile, spec.stage_spec(profile), work),
        train_dataset=prompts_dataset(prompts),
        processing_class=tokenizer,
        callbacks=[ProgressPrinter(spec.name), *services.callbacks],
    )
    console_only_progress(trainer)
    trainer.train()
    metrics = {"global_step": trainer.state.global_step, "parent": parent.key, "teachers": wanted}
    return finish_stage(
        profile,
        spec,
        out_dir,
        key,
        model=model,
        bank=load_bank(profile, parent),
        log_history=trainer.state.log_history,
        metrics=metrics,
        start=start,
    )
