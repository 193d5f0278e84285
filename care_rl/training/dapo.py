"""DAPO on TRL: a GRPOConfig built from the profile, and a GRPOTrainer subclass adding what TRL lacks.

DAPO as published (Yu et al.): token-level policy loss (TRL ``loss_type="dapo"``), clip-higher
(ε_low 0.2, ε_high 0.28), no KL term (β = 0), overlong handling and dynamic sampling.
  * Overlong: truncated completions are masked out of the loss (``mask_truncated_completions``), and
    when ``dapo.overlong_buffer > 0`` TRL's soft overlong punishment (DAPO eq. 13) is added to each task
    reward where that reward scores the row (see ``with_overlong_punishment``). Both are profile values.
  * Dynamic sampling (not in TRL): :class:`DapoTrainer` overrides ``_generate_and_score_completions``;
    groups with zero reward variance are dropped and fresh prompt groups are generated, for at most
    ``dapo.dynamic_sampling_max_refills`` extra rounds (see dynamic_sampling.py).
  * DACSP: given a ``DacspSetup``, the trainer attaches it to the optimizer right after creating it
    (``create_optimizer``) and again before the first step, once accelerate has prepared the model
    (see ``training_step``), so it modulates the post-Adam update of every step of the stage.

Batch geometry (the paper's "per-device batch size 1, gradient accumulation 8"): a per-device micro
batch is ``per_device_batch_size`` prompt groups (x G completions); one generation round holds
``prompts_per_step`` prompt groups, split into micro batches; ``gradient_accumulation_steps`` micro
batches make one optimizer step. With the paper's values (1 x 8, 8 prompts) that is one generation
round per optimizer step, on-policy; TRL handles the other ratios (importance weights on old log-probs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer
from trl.rewards import get_soft_overlong_punishment

from care_rl.config import ConfigError, DacspSpec, Profile, StageSpec
from care_rl.dacsp import BasisBank, DacspHandle
from care_rl.data.records import TrainPrompt
from care_rl.training import dynamic_sampling as ds

log = logging.getLogger(__name__)

TRAIN_COLUMNS = ("domain", "id", "answer", "ground_truth", "reference")


def prompts_dataset(prompts: Sequence[TrainPrompt]) -> Dataset:
    """TRL's conversational format: ``prompt`` is the message list, the other fields ride as columns
    (rewards read ``domain``, ``answer``, ``ground_truth``)."""
    if not prompts:
        raise ValueError("a training stage needs at least one prompt (got none)")
    return Dataset.from_list(
        [{"prompt": p.messages, **{c: getattr(p, c) for c in TRAIN_COLUMNS}} for p in prompts]
    )


def dapo_config(
    profile: Profile,
    stage: StageSpec,
    output_dir: str | Path,
    *,
    save_steps: int = 25,
    logging_steps: int = 1,
) -> GRPOConfig:
    """The GRPOConfig of one DAPO stage from profile values; geometry errors name the profile field."""
    dapo = profile.dapo
    group = dapo.per_device_batch_size
    if stage.prompts_per_step % group:
        raise ConfigError(
            f"profile {profile.name!r}: stages.*.prompts_per_step ({stage.prompts_per_step}) must be a multiple of "
            f"dapo.per_device_batch_size ({group}, prompt groups per micro batch)"
        )
    return GRPOConfig(
        output_dir=str(output_dir),
        # DAPO
        loss_type="dapo",
        epsilon=dapo.epsilon_low,
        epsilon_high=dapo.epsilon_high,
        beta=dapo.beta_kl,
        mask_truncated_completions=dapo.mask_truncated_completions,
        activation_checkpointing=dapo.gradient_checkpointing,  # transformers 5's name for it
        scale_rewards="group",
        # geometry
        num_generations=stage.num_generations,
        max_completion_length=stage.max_completion_length,
        per_device_train_batch_size=group * stage.num_generations,
        generation_batch_size=stage.prompts_per_step * stage.num_generations,
        gradient_accumulation_steps=dapo.gradient_accumulation_steps,
        num_train_epochs=1,
        max_steps=stage.max_steps,
        learning_rate=stage.learning_rate,
        # sampling
        temperature=dapo.temperature,
        top_p=dapo.top_p,
        use_vllm=profile.generation_backend == "vllm",
        vllm_mode="colocate",
        # precision, bookkeeping
        bf16=profile.policy.dtype == "bfloat16",
        use_cpu=profile.device == "cpu",
        seed=dapo.seed,
        data_seed=dapo.seed,
        logging_steps=logging_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=1,
        report_to="none",
        disable_tqdm=True,
    )


class OverlongPunished:
    """A task reward plus DAPO's soft overlong punishment (eq. 13; TRL's ``get_soft_overlong_punishment``).

    The punishment shapes a task reward; it never scores a row on its own. Where the task reward is None
    (a row of another domain, a failed PA-GRM judgment) the sum is None too. TRL sums its reward
    functions with nansum and counts a row as unscorable (advantage 0, outside its group's mean and
    std) only when every function returns None, so a punishment passed as a reward function of its
    own would turn a failed judgment into 0 + punishment, the worst reward of its group. The mean
    punishment of the scored rows is logged as ``overlong_punishment/<reward>``.
    """

    def __init__(
        self, task: Callable[..., list[float | None]], punishment: Callable[..., list[float]]
    ) -> None:
        self.task, self.punishment = task, punishment
        self.__name__ = task.__name__  # TRL logs each reward under its function's name

    def __call__(self, completion_ids: list[list[int]], **kwargs: Any) -> list[float | None]:
        task = self.task(completion_ids=completion_ids, **kwargs)
        punishment = self.punishment(completion_ids=completion_ids)
        shaped = [None if r is None else r + p for r, p in zip(task, punishment, strict=True)]
        scored = [p for r, p in zip(task, punishment, strict=True) if r is not None]
        log_metric = kwargs.get("log_metric")
        if log_metric is not None and scored:
            log_metric(f"overlong_punishment/{self.__name__}", sum(scored) / len(scored))
        return shaped


def with_overlong_punishment(
    rewards: Sequence[Callable[..., list[float | None]]], profile: Profile, stage: StageSpec
) -> list[Callable[..., list[float | None]]]:
    """The stage's task rewards, each with DAPO's soft overlong punishment added when the profile sets a
    buffer (``dapo.overlong_buffer > 0``), else unchanged."""
    buffer = profile.dapo.overlong_buffer
    if buffer == 0:
        return list(rewards)
    if buffer >= stage.max_completion_length:
        raise ConfigError(
            f"profile {profile.name!r}: dapo.overlong_buffer ({buffer}) must be below max_completion_length "
            f"({stage.max_completion_length})"
        )
    punishment = get_soft_overlong_punishment(stage.max_completion_length, buffer)
    return [OverlongPunished(reward, punishment) for reward in rewards]


@dataclass(frozen=True)
class DacspSetup:
    """The historical bases and the settings DACSP applies during one stage."""

    bank: BasisBank
    spec: DacspSpec


class DapoTrainer(GRPOTrainer):
    """GRPOTrainer + DAPO dynamic sampling + per-domain reward logging + optional DACSP on the optimizer.

    Subclasses (baselines) can override ``group_filter`` (which groups count as informative) or
    ``refill_prompts`` (where fresh prompts come from) without touching the sampling loop.
    """

    def __init__(
        self, *args: Any, max_refills: int = 0, dacsp: DacspSetup | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if dacsp is not None and (self.is_deepspeed_enabled or self.is_fsdp_enabled):
            raise ConfigError(
                "DACSP modulates the update of the torch optimizer through step hooks; DeepSpeed and FSDP step "
                "sharded copies of the parameters that the hooks never see. Train DACSP stages under DDP "
                "(experiments/accelerate/multi_gpu.yaml)"
            )
        self.max_refills = max_refills
        self.dacsp = dacsp
        self.dacsp_handle: DacspHandle | None = None
        self._dacsp_logged = 0
        self._dacsp_prepared = False
        self._refill_stream: Iterator[int] | None = None

    # --- DACSP -------------------------------------------------------------------------------------
    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        optimizer = super().create_optimizer(model)
        if self.dacsp is not None and len(self.dacsp.bank) and self.dacsp_handle is None:
            self._attach_dacsp(optimizer)
        return optimizer

    def _attach_dacsp(self, optimizer: torch.optim.Optimizer) -> None:
        inner = getattr(optimizer, "optimizer", optimizer)  # unwrap accelerate's wrapper if present
        self.dacsp_handle = self.dacsp.bank.attach(inner, self.model, self.dacsp.spec)
        log.info("DACSP attached: %d parameters, %s", len(self.dacsp.bank), self.dacsp.spec)

    def training_step(
        self, model: torch.nn.Module, inputs: Any, num_items_in_batch: Any = None
    ) -> torch.Tensor:
        """Re-attach DACSP once the model is prepared: wrapping it for DDP can give the parameters new
        storage (it does on CPU/gloo), which would leave the hook reading and writing stale views and
        silently modulating nothing. The first hook saw no step, so no telemetry is lost."""
        if self.dacsp_handle is not None and not self._dacsp_prepared:
            self.dacsp_handle.remove()
            self._attach_dacsp(self.optimizer)
            self._dacsp_prepared = True
        return super().training_step(model, inputs, num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Average the DACSP telemetry of the steps since the last log into the trainer's logs:
        ``dacsp/<part>`` in the modulated space, ``dacsp/<space>/<part>`` in both."""
        if self.dacsp_handle is not None and len(self.dacsp_handle.telemetry) > self._dacsp_logged:
            metrics = self._metrics["train"]
            for entry in self.dacsp_handle.telemetry[self._dacsp_logged :]:
                for space in ("layer", "factor"):
                    total = entry[space]["total"]
                    for part in ("aligned", "opposing", "orthogonal", "change"):
                        metrics[f"dacsp/{space}/{part}"].append(total[part])
                        if space == entry["space"]:
                            metrics[f"dacsp/{part}"].append(total[part])
                metrics["dacsp/residual"].append(entry[entry["space"]]["total"]["residual"])
            self._dacsp_logged = len(self.dacsp_handle.telemetry)
        super().log(logs, start_time)

    # --- rewards per domain ------------------------------------------------------------------------
    def _calculate_rewards(
        self, inputs: list[dict[str, Any]], prompts: list, completions: list, completion_ids_list: list
    ) -> torch.Tensor:
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        mode = "train" if self.model.training else "eval"
        total = (rewards_per_func * self.reward_weights.to(rewards_per_func.device)).nansum(dim=1)
        total[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
        # TRL returns the rewards of every process (gathered for group normalisation): gather the
        # domains alike, in the same rank order.
        domains = gather_object([x.get("domain") for x in inputs])
        for domain in sorted({d for d in domains if d is not None}):
            rows = torch.tensor([d == domain for d in domains], device=total.device)
            mean = torch.nanmean(total[rows]).item()
            self._metrics[mode][f"rewards_by_domain/{domain}/mean"].append(mean)
        return rewards_per_func

    # --- dynamic sampling --------------------------------------------------------------------------
    def group_filter(self, output: dict[str, Any]) -> torch.Tensor:
        """Which prompt groups of a scored round carry learning signal (non-zero advantage)."""
        return ds.informative_groups(output["advantages"], self.num_generations)

    def refill_prompts(self, num_groups: int) -> list[dict[str, Any]]:
        """``num_groups`` fresh prompts from the training set, each repeated G times (TRL's group layout).

        A seeded permutation of the whole training set, cycled, independent of the epoch sampler. Every
        rank advances the same stream by ``num_groups`` x processes (callers pass the same count on every
        rank) and takes its own block, so ranks refill with different prompts and stay in lockstep.
        """
        if self._refill_stream is None:
            self._refill_stream = _cycle_permutations(len(self.train_dataset), self.args.seed + 1)
        block = [next(self._refill_stream) for _ in range(num_groups * self.accelerator.num_processes)]
        mine = block[self.accelerator.process_index * num_groups :][:num_groups]
        rows = [self.train_dataset[i] for i in mine]
        return [dict(row) for row in rows for _ in range(self.num_generations)]

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        if not self.model.training or self.max_refills == 0:
            return output
        target = len(inputs) // self.num_generations
        rounds = [ds.Round(output, self.group_filter(output))]
        refills = 0
        while refills < self.max_refills and (missing := self._global_max_missing(rounds, target)) > 0:
            fresh = super()._generate_and_score_completions(self.refill_prompts(missing))
            rounds.append(ds.Round(fresh, self.group_filter(fresh)))
            refills += 1
        selection = ds.select(rounds, target)
        merged = ds.assemble(rounds, selection, self.num_generations, self._tokenizer.pad_token_id)
        merged["num_items_in_batch"] = self.accelerator.gather(merged["num_items_in_batch"]).sum()
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/zero_variance_frac"].append(
            1.0 - float(rounds[0].informative.float().mean())
        )
        metrics["dynamic_sampling/refills"].append(float(refills))
        metrics["dynamic_sampling/short_groups"].append(float(len(selection.filler)))
        if selection.filler:  # also in the step's progress line (short_groups=) and logs.jsonl
            log.info(
                "dynamic sampling: %d of %d groups still degenerate after %d refills; they are loss-masked",
                len(selection.filler),
                target,
                refills,
            )
        return merged

    def _global_max_missing(self, rounds: list[ds.Round], target: int) -> int:
        """Groups still missing for a full batch, maximised over processes: every rank then runs the same
        refill rounds of the same size (TRL's reward gathering is a collective, so rounds must match)."""
        have = sum(int(r.informative.sum()) for r in rounds)
        missing = torch.tensor([max(target - have, 0)], device=self.accelerator.device)
        return int(self.accelerator.gather(missing).max())


def _cycle_permutations(n: int, seed: int) -> Iterator[int]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield from torch.randperm(n, generator=generator).tolist()
