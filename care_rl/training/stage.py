"""One cascade stage: load the policy, continue the parent's LoRA adapter, train DAPO, write artefacts.

Decisions (the paper is silent):
  * One LoRA adapter ("default") is carried through the whole cascade: stage t starts from stage t-1's
    adapter weights, so stage t's change of each LoRA module's weight is s(B_t A_t - B_{t-1} A_{t-1})
    (layer space, the paper's layer) and of each factor A_t - A_{t-1}, B_t - B_{t-1} (factor space);
    the bank keeps both (see care_rl/dacsp/stages.py) and ``dacsp.space`` picks the one modulated.
  * The basis bank is updated at the end of *every* stage (with this stage's directions, at the
    profile's or the stage's τ), whether or not DACSP was active in it, so any later stage of any
    method sharing this prefix can turn DACSP on, in either space.
  * A stage directory is valid only with a DONE.json whose checksums match the files; anything else
    is incomplete or corrupt and is recomputed from scratch (TRL checkpoints under ``work/`` are used
    to resume an interrupted stage and deleted once the stage is done).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from care_rl.atomic import staged_dir, write_text_atomic
from care_rl.config import ConfigError, Profile
from care_rl.revision import git_commit
from care_rl.training import distributed
from care_rl.training.dapo import (
    DacspSetup,
    DapoTrainer,
    dapo_config,
    dynamic_sampling,
    prompts_dataset,
    with_overlong_punishment,
)
from care_rl.training.mgs import MgsTrainer
from care_rl.training.mixing import NaiveMixingTrainer
from care_rl.training.services import StageServices
from care_rl.training.stage_run import (
    DISTILL,
    DONE,
    MIX_TRAINERS,
    StageResult,
    StageRun,
    file_sha256,
    load_done,
)

log = logging.getLogger(__name__)

# The RL trainers ``StageRun.options["trainer"]`` names (care_rl.training.stage_run.MIX_TRAINERS).
RL_TRAINERS: dict[str, type[DapoTrainer]] = dict(
    zip(MIX_TRAINERS, (NaiveMixingTrainer, MgsTrainer), strict=True)
)


# --- atomic files and the DONE marker --------------------------------------------------------------
def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, sort_keys=True, default=float) + "\n" for r in rows)


def _files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.name != DONE and "work" not in p.relative_to(root).parts
    )


def _clear_outputs(out_dir: Path) -> None:
    """Remove DONE.json first, then any artefacts of an earlier attempt; TRL checkpoints in work/ stay."""
    (out_dir / DONE).unlink(missing_ok=True)
    if out_dir.is_dir():
        for child in out_dir.iterdir():
            if child.name != "work":
                shutil.rmtree(child) if child.is_dir() else child.unlink()


def write_done(out_dir: Path, key: str, wall_time_s: float) -> None:
    """Checksum every artefact and write DONE.json last: its presence means the stage is complete."""
    files = {str(p.relative_to(out_dir)): file_sha256(p) for p in _files(out_dir)}
    write_text_atomic(
        out_dir / DONE, json.dumps({"key": key, "wall_time_s": wall_time_s, "files": files}, indent=1)
    )


# --- the stage ---------------------------------------------------------------------------------------
def _trainable(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def policy_with_adapter(
    profile: Profile, parent: StageResult | None, trainable: bool = True
) -> tuple[Any, Any]:
    """The profile's policy continuing ``parent``'s LoRA adapter (a fresh seeded one for the first stage)."""
    from peft import PeftModel, get_peft_model
    from transformers import set_seed

    from care_rl.models import load_policy, lora_config

    set_seed(profile.dapo.seed)  # fresh LoRA A matrices are random: seed them
    model, tokenizer = load_policy(profile)
    if parent is None:
        return get_peft_model(model, lora_config(profile.lora)), tokenizer
    adapter = str(parent.adapter_dir)
    return PeftModel.from_pretrained(model, adapter, is_trainable=trainable), tokenizer


def load_bank(profile: Profile, parent: StageResult | None) -> Any:
    from care_rl.dacsp import BasisBank

    model = profile.policy.identity()
    if parent is None:
        return BasisBank(profile.dacsp.backend, profile.dacsp.tol, model)
    bank = BasisBank.load(parent.bank_path)
    bank.check_model(model, parent.bank_path)
    bank.model = model  # a bank written before banks recorded their model is bound from here on
    return bank


def _save_adapter(model: Any, out_dir: Path) -> None:
    with staged_dir(out_dir / "adapter") as tmp:
        model.save_pretrained(str(tmp))


def interference_monitor(
    spec: StageRun, profile: Profile, services: StageServices, tokenizer: Any, every: int
) -> Any:
    """The monitor over ``spec.monitor_rewards`` on ``spec.monitor_prompts`` held-out prompts per domain."""
    from care_rl.training.callbacks import InterferenceMonitor

    heldout = {d: services.load_heldout(d, profile, spec.monitor_prompts) for d in spec.monitor_rewards}
    rewards = {d: services.build_reward(r, profile) for d, r in spec.monitor_rewards.items()}
    max_new = {d: profile.stages[d].max_completion_length if d in profile.stages else 64 for d in heldout}
    return InterferenceMonitor(heldout, rewards, tokenizer, every, max_new)


def monitor_settings(spec: StageRun) -> dict[str, Any] | None:
    """What the monitor rows of a stage's logs measured (None: no monitor): recorded in metrics.json so
    that MOPD compares checkpoints only on scores taken with the same rewards and prompts."""
    if not spec.monitor_every or not spec.monitor_rewards:
        return None
    return {"prompts": spec.monitor_prompts, "rewards": dict(sorted(spec.monitor_rewards.items()))}


def begin_stage(out_dir: Path) -> Path:
    """Clear an earlier attempt's outputs (keeping TRL checkpoints) and return the work directory.

    Multi-process: the main process clears, every rank waits for it before looking for checkpoints.
    """
    work = out_dir / "work"
    if distributed.is_main():
        _clear_outputs(out_dir)
        work.mkdir(parents=True, exist_ok=True)
    distributed.barrier()
    return work


def finish_stage(
    profile: Profile,
    spec: StageRun,
    out_dir: Path,
    key: str,
    *,
    model: Any,
    bank: Any,
    log_history: list[dict[str, Any]],
    metrics: dict[str, Any],
    start: float,
) -> StageResult:
    """Write the adapter, bank, logs, metrics and resolved config, then DONE.json; drop the work dir.

    Multi-process: the ranks first check that they hold identical weights (recorded in metrics.json),
    the main process writes, and every other rank waits and returns the stage as read from disk, so
    all ranks continue from the same files.
    """
    digests = distributed.agreed_trainable_sha256(model)
    if not distributed.is_main():
        distributed.barrier()
        done = load_done(out_dir)
        if done is None:
            raise RuntimeError(
                f"rank {distributed.rank()}: the main process left no valid stage in {out_dir}"
            )
        return done
    _save_adapter(model, out_dir)
    bank.save(out_dir / "bank.safetensors")
    write_text_atomic(out_dir / "logs.jsonl", _jsonl(log_history))
    wall = time.perf_counter() - start
    last = log_history[-1] if log_history else {}
    metrics = {
        "stage": spec.name,
        "wall_time_s": wall,
        "commit": git_commit(),
        **metrics,
        "train": {k: v for k, v in last.items() if isinstance(v, int | float)},
        "ranks": {"world_size": len(digests), "trainable_sha256": digests},
    }
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=1, sort_keys=True))
    write_text_atomic(out_dir / "config.yaml", yaml.safe_dump(spec.resolved(profile), sort_keys=True))
    write_done(out_dir, key, wall)
    shutil.rmtree(out_dir / "work", ignore_errors=True)
    distributed.barrier()
    return StageResult(key=key, dir=out_dir, metrics=metrics)


def run_stage(
    profile: Profile,
    spec: StageRun,
    parent: StageResult | None,
    out_dir: str | Path,
    *,
    key: str = "",
    services: StageServices | None = None,
) -> StageResult:
    """Train one RL stage into ``out_dir`` (resuming a TRL checkpoint there if any) and return it."""
    from transformers.trainer_utils import get_last_checkpoint

    from care_rl.training.callbacks import ProgressPrinter, console_only_progress

    if spec.trainer == DISTILL:
        raise ConfigError(
            f"stage {spec.name!r} is a distillation stage: run it with distill.run_distill_stage"
        )
    services = services or StageServices()
    out_dir = Path(out_dir)
    work = begin_stage(out_dir)
    start = time.perf_counter()
    stage = spec.stage_spec(profile)
    dacsp = spec.dacsp_spec(profile)

    bank = load_bank(profile, parent)  # before the model: a bank made on another model fails fast
    if spec.dacsp and not len(bank):
        raise ConfigError(
            f"stage {spec.name!r} turns DACSP on but no earlier stage left capability directions"
        )
    model, tokenizer = policy_with_adapter(profile, parent)
    prompts = [p for d in spec.domains for p in services.load_prompts(d, profile)]
    rewards = with_overlong_punishment(
        [services.build_reward(r, profile) for r in spec.rewards], profile, stage
    )
    monitor = monitor_settings(spec)
    trainer = RL_TRAINERS.get(spec.trainer or "", DapoTrainer)(
        model=model,
        reward_funcs=rewards,
        args=dapo_config(profile, stage, work),
        train_dataset=prompts_dataset(prompts),
        processing_class=tokenizer,
        callbacks=[
            ProgressPrinter(spec.name),
            *(
                [interference_monitor(spec, profile, services, tokenizer, spec.monitor_every)]
                if monitor
                else []
            ),
            *services.callbacks,
        ],
        sampling=dynamic_sampling(profile.dapo),
        dacsp=DacspSetup(bank, dacsp) if spec.dacsp else None,
    )
    console_only_progress(trainer)
    before = _trainable(model)
    trainer.train(resume_from_checkpoint=get_last_checkpoint(str(work)))
    if trainer.dacsp_handle is not None:
        trainer.dacsp_handle.remove()
        if distributed.is_main():
            write_text_atomic(out_dir / "dacsp.jsonl", _jsonl(trainer.dacsp_handle.telemetry))
    added = bank.add_stage(before, _trainable(model), dacsp.tau)
    metrics = {
        "global_step": trainer.state.global_step,
        "dacsp_active": trainer.dacsp_handle is not None,
        "dacsp_steps": len(trainer.dacsp_handle.telemetry) if trainer.dacsp_handle is not None else 0,
        "directions_added": sum(n for space in added.values() for n in space.values()),
        "directions_added_by_space": {space: sum(n.values()) for space, n in added.items()},
        "basis_layers": len(bank),
        "monitor": monitor,
    }
    return finish_stage(
        profile,
        spec,
        out_dir,
        key,
        model=model,
        bank=bank,
        log_history=trainer.state.log_history,
        metrics=metrics,
        start=start,
    )
