"""MOPD baseline (Nemotron-Cascade 2, Yang et al. 2026b): multi-domain on-policy distillation in a cascade.

After each RL stage, every domain trained so far takes its best checkpoint so far as its teacher, and
the student (the latest checkpoint) is distilled on-policy on *every* such domain's prompts, each
towards its own domain's teacher, before the next stage: the student samples completions and
minimises the per-token reverse KL KL(pi_student || pi_teacher(domain)) on its own sampled tokens. A
domain whose best checkpoint is the student itself is distilled towards the student's starting
weights, which anchors it while the others are pulled back; when that holds for every domain the
distillation would start and stay at KL 0 and is skipped.

The reference, NVIDIA-NeMo/RL's MOPD (``OPDAdvantageEstimator``, ``adv_estimator: opd``), routes each
sample to one teacher by its environment (here: its domain) and trains with a REINFORCE loss on the
token advantage sg[log pi_teacher(y_t) - log pi_student(y_t)] of the sampled token, a token mean over
the batch. TRL's ``DistillationTrainer`` at ``beta=1.0`` (reverse KL, exact over the vocabulary,
chunked) has the same gradient in expectation over the sampled token and a lower variance
(tests/training/test_mopd.py checks this); :class:`MopdTrainer` routes each row to its domain's
teacher. Teachers are LoRA checkpoints of the same base: each is loaded as the base with its adapter
merged (:func:`load_teacher`), an ordinary frozen model.

Teacher selection (the paper is silent on the validation signal): a checkpoint's score for a domain is
the interference monitor's held-out greedy reward at the end of its stage (``monitor/<domain>/reward``,
the last such row of the stage's logs.jsonl, see :func:`stage_scores`). :func:`best_checkpoints` keeps
the earlier checkpoint unless a later one scores higher by more than the profile's
``mopd.tolerance``: a held-out set of a few prompts cannot tell smaller differences from noise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from transformers import PreTrainedModel
from trl import DistillationConfig, DistillationTrainer

from care_rl.config import DOMAINS, ConfigError, Profile, StageSpec
from care_rl.training.dynamic_sampling import DOMAIN_KEY
from care_rl.training.mixing import row_domain

MONITOR_PREFIX = "monitor/"
MONITOR_SUFFIX = "/reward"


def best_checkpoints(history: Sequence[Mapping[str, Any]], tolerance: float) -> dict[str, str]:
    """Per domain, the teacher: the first scored checkpoint, replaced by a later one only if that one
    scores higher by more than ``tolerance``.

    ``history`` lists checkpoints in cascade order as ``{"stage_key": str, "scores": {domain: float}}``;
    a domain missing from (or NaN in) an entry's scores is not a candidate there.
    """
    if tolerance < 0:
        raise ValueError(f"the teacher tolerance must be >= 0, got {tolerance}")
    best: dict[str, tuple[float, str]] = {}
    for i, entry in enumerate(history):
        key, scores = entry.get("stage_key"), entry.get("scores")
        if not isinstance(key, str) or not isinstance(scores, Mapping):
            raise ValueError(
                f"history[{i}] must be {{'stage_key': str, 'scores': {{domain: float}}}}, got {entry!r}"
            )
        for domain, score in scores.items():
            if domain not in DOMAINS:
                raise ValueError(
                    f"history[{i}] ({key}): unknown domain {domain!r}; expected one of {DOMAINS}"
                )
            if score is None or math.isnan(float(score)):
                continue
            if domain not in best or float(score) > best[domain][0] + tolerance:
                best[domain] = (float(score), key)
    return {domain: key for domain, (_, key) in sorted(best.items())}


def mopd_teachers(history: Sequence[Mapping[str, Any]], tolerance: float) -> dict[str, str]:
    """The teacher (stage key) of every domain scored so far, or nothing when every teacher is the latest
    checkpoint, ``history[-1]`` (the distillation would start and stay at KL 0)."""
    if not history:
        raise ValueError("teacher selection needs at least one scored checkpoint")
    current = history[-1]["stage_key"]
    teachers = best_checkpoints(history, tolerance)
    return teachers if any(key != current for key in teachers.values()) else {}


def stage_scores(logs_jsonl: Path) -> dict[str, float]:
    """The last held-out monitor reward of each domain in a stage's logs.jsonl (TRL log_history rows)."""
    if not logs_jsonl.is_file():
        raise FileNotFoundError(f"{logs_jsonl}: no stage logs to read validation scores from")
    scores: dict[str, float] = {}
    for line_no, line in enumerate(logs_jsonl.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{logs_jsonl}:{line_no}: not JSON ({e})") from e
        for name, value in row.items():
            if name.startswith(MONITOR_PREFIX) and name.endswith(MONITOR_SUFFIX):
                scores[name[len(MONITOR_PREFIX) : -len(MONITOR_SUFFIX)]] = float(value)
    if not scores:
        raise ValueError(
            f"{logs_jsonl}: no '{MONITOR_PREFIX}<domain>{MONITOR_SUFFIX}' rows; MOPD needs the interference "
            "monitor on (StageRun.monitor_every > 0) to score checkpoints"
        )
    return scores


def load_teacher(profile: Profile, adapter_dir: Path) -> PreTrainedModel:
    """A frozen teacher: the profile's base policy with a stage's LoRA adapter merged in."""
    from peft import PeftModel

    from care_rl.models import load_policy

    if not (adapter_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter_dir}: not a LoRA adapter directory (no adapter_config.json)")
    base, _ = load_policy(profile)
    teacher = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    teacher.eval().requires_grad_(False)
    return teacher


def mopd_config(profile: Profile, stage: StageSpec, output_dir: str | Path) -> DistillationConfig:
    """TRL distillation settings for one MOPD stage: reverse KL, fully on-policy, the stage's sampling
    length and learning rate, one completion per prompt, the profile's batch geometry."""
    dapo = profile.dapo
    return DistillationConfig(
        output_dir=str(output_dir),
        beta=1.0,  # generalised JSD at beta=1 is KL(student || teacher)
        temperature=dapo.temperature,
        top_p=dapo.top_p,
        max_completion_length=stage.max_completion_length,
        learning_rate=stage.learning_rate,
        per_device_train_batch_size=dapo.per_device_batch_size * stage.num_generations,
        gradient_accumulation_steps=dapo.gradient_accumulation_steps,
        num_train_epochs=1,
        max_steps=stage.max_steps,
        use_vllm=profile.generation_backend == "vllm",
        bf16=profile.policy.dtype == "bfloat16",
        use_cpu=profile.device == "cpu",
        seed=dapo.seed,
        data_seed=dapo.seed,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )


def _rows(inputs: dict[str, Any], keep: Tensor) -> dict[str, Any]:
    batch = keep.numel()
    return {
        k: v[keep] if isinstance(v, Tensor) and v.dim() > 0 and v.shape[0] == batch else v
        for k, v in inputs.items()
    }


class MopdTrainer(DistillationTrainer):
    """On-policy reverse-KL distillation with one teacher per domain (rows routed by their ``domain``;
    domains may share a teacher model, which is then prepared once)."""

    def __init__(self, *args: Any, teachers: Mapping[str, PreTrainedModel], **kwargs: Any) -> None:
        if not teachers:
            raise ValueError("MopdTrainer needs at least one domain teacher")
        unknown = sorted(set(teachers) - set(DOMAINS))
        if unknown:
            raise ValueError(f"teachers for unknown domain(s) {unknown}; expected a subset of {DOMAINS}")
        domains = sorted(teachers)
        super().__init__(*args, teacher_model=teachers[domains[0]], **kwargs)
        if self.beta != 1.0:
            raise ConfigError(
                f"MOPD distils with reverse KL: DistillationConfig.beta must be 1.0, got {self.beta}"
            )
        prepared = {id(teachers[domains[0]]): self.teacher_model}  # a model shared by domains once
        for d in domains[1:]:
            if id(teachers[d]) not in prepared:
                prepared[id(teachers[d])] = self.accelerator.prepare_model(teachers[d], evaluation_mode=True)
        self.teachers = {d: prepared[id(teachers[d])] for d in domains}

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        domains = [row_domain(x) for x in inputs]
        missing = sorted(set(domains) - set(self.teachers))
        if missing:
            raise ValueError(f"rows of domain(s) {missing} but teachers only for {sorted(self.teachers)}")
        output[DOMAIN_KEY] = torch.tensor(
            [DOMAINS.index(d) for d in domains], device=output["prompt_ids"].device
        )
        return output

    def _compute_loss(self, unwrapped_student: Any, inputs: dict[str, Any], num_items_in_batch: Any) -> Any:
        """Sum of TRL's chunked reverse-KL loss over each domain's rows against that domain's teacher.

        TRL divides the token sum by the batch-wide ``num_items_in_batch``, so the per-domain parts add up
        to the loss of the whole micro batch.
        """
        domain_index = inputs[DOMAIN_KEY]
        if num_items_in_batch is None:  # evaluation: TRL would take the mean over this micro batch's tokens
            mask = inputs["completion_mask"] * inputs.get("tool_mask", 1)
            num_items_in_batch = mask.sum().clamp(min=1)
        loss = entropy = n_valid = None
        default_teacher = self.teacher_model
        try:
            for index in domain_index.unique().tolist():
                self.teacher_model = self.teachers[DOMAINS[index]]
                part = super()._compute_loss(
                    unwrapped_student, _rows(inputs, domain_index == index), num_items_in_batch
                )
                loss, entropy, n_valid = (
                    part if loss is None else (loss + part[0], entropy + part[1], n_valid + part[2])
                )
        finally:
            self.teacher_model = default_teacher
        return loss, entropy, n_valid
