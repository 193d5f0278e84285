"""DAPO on TRL: a GRPOConfig built from the profile, and a GRPOTrainer subclass adding what TRL lacks.

DAPO as published (Yu et al.): token-level policy loss (TRL ``loss_type="dapo"``), clip-higher
(ε_low 0.2, ε_high 0.28), no KL term (β = 0), overlong handling and dynamic sampling.
  * Overlong: truncated completions are masked out of the loss (``mask_truncated_completions``), and
    when ``dapo.overlong_buffer > 0`` TRL's soft overlong punishment (DAPO eq. 13) is added to each task
    reward where that reward scores the row (see ``with_overlong_punishment``). Both are profile values.
  * Dynamic sampling (not in TRL; verl's ``filter_groups``): :class:`DapoTrainer` overrides
    ``_generate_and_score_completions``; groups with zero reward variance are dropped and fresh prompts
    (none already in the step) are generated until the step is full, for at most
    ``dapo.max_generation_rounds`` rounds; then the run stops (``when_rounds_run_out: error``, as verl
    does) or the step is taken on the informative groups found (``partial``, logged). A step without a
    single loss token never reaches the optimizer: AdamW would still move the weights by its momentum
    (and DACSP would modulate that move).
  * Learning rate: linear warmup over ``dapo.warmup_steps``, then constant, as verl's actor optimizer
    (HF's default would decay linearly to zero); ``lr_schedule: linear`` restores HF's.
  * DACSP: given a ``DacspSetup``, the trainer attaches it to the optimizer right after creating it
    (``create_optimizer``) and again before the first step, once accelerate has prepared the model
    (see ``training_step``), so it modulates the post-Adam update of every step of the stage.

Batch geometry: one optimizer step is one generation round of ``prompts_per_step`` prompt groups over
all processes (x G completions each). A micro batch is ``per_device_batch_size`` groups; each of the
P processes accumulates ``prompts_per_step / (per_device_batch_size x P)`` micro batches, all from the
round, so the step is on-policy (TRL then uses the detached current log-probs as the old ones and
skips its extra forward pass) and DAPO's token-mean normaliser is exactly the step's loss-token count
over every process (TRL divides by the gathered count of the round, DDP averages over processes).
The paper's "per-device batch size 1, gradient accumulation 8" on its 2 GPUs is 16 groups per step
(the paper profiles' prompts_per_step): 8 micro batches per process on 2 processes, 16 on one.

Rollouts sample as vLLM (the paper profiles' backend) does: LoRA dropout off, the adapter merged into
the weights (care_rl/lora_merge.py); and each group's prompt is prefilled once for its G samples
(care_rl/prefill.py).
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
from trl.models.utils import unwrap_model_for_generation
from trl.rewards import get_soft_overlong_punishment
from trl.trainer.utils import pad

from care_rl.config import ConfigError, DacspSpec, DapoSpec, Profile, StageSpec
from care_rl.dacsp import BasisBank, DacspHandle
from care_rl.data.records import TrainPrompt
from care_rl.lora_merge import merged_lora
from care_rl.prefill import shared_prefill_inputs
from care_rl.training import distributed
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


LR_SCHEDULERS = {"constant": "constant_with_warmup", "linear": "linear"}


def dapo_config(
    profile: Profile,
    stage: StageSpec,
    output_dir: str | Path,
    *,
    processes: int | None = None,
    save_steps: int = 25,
    logging_steps: int = 1,
) -> GRPOConfig:
    """The GRPOConfig of one DAPO stage from profile values; geometry errors name the profile field.

    ``processes`` defaults to the launcher's process count; one optimizer step is one generation round
    of ``stage.prompts_per_step`` groups over all of them (see the module docstring).
    """
    dapo = profile.dapo
    processes = processes or distributed.launched_processes()
    group = dapo.per_device_batch_size
    if stage.prompts_per_step % (group * processes):
        raise ConfigError(
            f"profile {profile.name!r}: stages.*.prompts_per_step ({stage.prompts_per_step}) must be a multiple of "
            f"dapo.per_device_batch_size ({group}, prompt groups per micro batch) x processes ({processes})"
        )
    accumulation = stage.prompts_per_step // (group * processes)
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
        lr_scheduler_type=LR_SCHEDULERS[dapo.lr_schedule],
        warmup_steps=dapo.warmup_steps,
        # geometry: one generation round per optimizer step
        num_generations=stage.num_generations,
        max_completion_length=stage.max_completion_length,
        per_device_train_batch_size=group * stage.num_generations,
        gradient_accumulation_steps=accumulation,
        steps_per_generation=accumulation,
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


def dynamic_sampling(dapo: DapoSpec) -> ds.Policy | None:
    """The profile's dynamic-sampling policy (None: off, every group of the first round is kept)."""
    if not dapo.dynamic_sampling:
        return None
    return ds.Policy(
        max_rounds=dapo.max_generation_rounds,
        partial=dapo.when_rounds_run_out == "partial",
        oversampling=dapo.oversampling,
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
        self,
        *args: Any,
        sampling: ds.Policy | None = None,
        dacsp: DacspSetup | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if dacsp is not None and (self.is_deepspeed_enabled or self.is_fsdp_enabled):
            raise ConfigError(
                "DACSP modulates the update of the torch optimizer through step hooks; DeepSpeed and FSDP step "
                "sharded copies of the parameters that the hooks never see. Train DACSP stages under DDP "
                "(experiments/accelerate/multi_gpu.yaml)"
            )
        self.sampling = sampling
        self.dacsp = dacsp
        self.dacsp_handle: DacspHandle | None = None
        self._dacsp_logged = 0
        self._dacsp_prepared = False
        self._refill_stream: Iterator[int] | None = None
        self._empty_step = False
        self._merged_weights: dict[int, torch.Tensor] = {}  # rollout weights, reused (lora_merge.py)

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
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self._empty_step:
            # Not one loss token in the step (the count is gathered, so every rank agrees): accelerate's
            # optimizer skips ``step`` while gradients are not synced, so neither AdamW's momentum nor
            # DACSP moves the weights. The learning-rate schedule and the step counter still advance.
            self.accelerator.gradient_state._set_sync_gradients(False)
        return loss

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: Any,
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> torch.Tensor:
        """An empty step's loss is zero whatever the model computes: skip the forward and return a zero
        that reaches every trainable parameter, so backward (and DDP's all-reduce) still see them all."""
        if self._empty_step and model.training:
            return sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

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

    # --- rollouts ----------------------------------------------------------------------------------
    def _generate_single_turn(
        self,
        prompt_ids: list[list[int]],
        images: Any,
        multimodal_fields: dict[str, Any],
        num_generations: int,
        has_tool_images: bool = False,
    ) -> tuple[list[list[int]], list | None]:
        """Rollouts with dropout off and the LoRA merged (as vLLM samples), each group's prompt prefilled
        once for its G samples.

        TRL's own path runs whatever this does not cover: vLLM, continuous batching, images or tools,
        and batches that are not groups of G identical prompts.
        """
        k = num_generations
        grouped = (
            not self.use_vllm
            and not self.use_transformers_continuous_batching
            and images is None
            and not multimodal_fields
            and not has_tool_images
            and k > 1
            and len(prompt_ids) % k == 0
            and all(prompt_ids[i] == prompt_ids[i - i % k] for i in range(len(prompt_ids)))
            and min(len(ids) for ids in prompt_ids) > 1
        )
        model = self.accelerator.unwrap_model(self.model_wrapped)
        was_training = model.training
        model.eval()
        try:
            if grouped:
                return self._sample_groups(prompt_ids[::k], k), None
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        finally:
            model.train(was_training)

    def _sample_groups(self, prompts: list[list[int]], k: int) -> list[list[int]]:
        """k completions of each prompt (row i*k+j: sample j of prompt i, TRL's group layout), each cut
        after its first EOS as TRL cuts them."""
        device = self.accelerator.device
        rows = [torch.tensor(ids) for ids in prompts]
        ids = pad(rows, self._tokenizer.pad_token_id, "left", self.pad_to_multiple_of).to(device)
        mask = pad([torch.ones_like(r) for r in rows], 0, "left", self.pad_to_multiple_of).to(device)
        with (
            unwrap_model_for_generation(
                self.model_wrapped,
                self.accelerator,
                gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                generation_kwargs=self.generation_kwargs,
                gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
            ) as model,
            torch.no_grad(),
            self._dist.summon_full_params(self.model_wrapped, recurse=False),
            merged_lora(model, self._merged_weights),
        ):
            inputs = shared_prefill_inputs(model, ids, mask, k)
            out = model.generate(**inputs, generation_config=self.generation_config)
        eos = set(self.eos_token_ids)
        completions = []
        for row in out[:, ids.shape[1] :].tolist():
            end = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
            completions.append(row[:end])
        return completions

    # --- dynamic sampling --------------------------------------------------------------------------
    def group_filter(self, output: dict[str, Any]) -> torch.Tensor:
        """Which prompt groups of a scored round carry learning signal (non-zero advantage)."""
        return ds.informative_groups(output["advantages"], self.num_generations)

    def refill_prompts(self, num_groups: int, exclude: set[tuple[Any, Any]]) -> list[dict[str, Any]] | None:
        """``num_groups`` fresh prompts from the training set, none in ``exclude``, each repeated G times
        (TRL's group layout); None when the training set has too few prompts left for every process.

        A seeded permutation of the whole training set, cycled, independent of the epoch sampler. Every
        rank advances the same stream by ``num_groups`` x processes distinct prompts (callers pass the
        same count and the same ``exclude`` on every rank) and takes its own block, so ranks refill with
        different prompts and stay in lockstep. The prompts drawn are added to ``exclude``.
        """
        if self._refill_stream is None:
            self._refill_stream = _cycle_permutations(len(self.train_dataset), self.args.seed + 1)
        wanted = num_groups * self.accelerator.num_processes
        block: list[dict[str, Any]] = []
        for _ in range(len(self.train_dataset)):  # one full cycle at most
            if len(block) == wanted:
                break
            row = dict(self.train_dataset[next(self._refill_stream)])
            if prompt_key(row) not in exclude:
                exclude.add(prompt_key(row))
                block.append(row)
        if len(block) < wanted:
            return None
        mine = block[self.accelerator.process_index * num_groups :][:num_groups]
        return [row for row in mine for _ in range(self.num_generations)]

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        if self.sampling is None:
            output = super()._generate_and_score_completions(inputs)
        else:
            output = self._fill_step(inputs, self.sampling)
        self._empty_step = int(output["num_items_in_batch"]) == 0
        self._metrics["train"]["dynamic_sampling/skipped_step"].append(float(self._empty_step))
        if self._empty_step:
            log.warning("no completion of this step carries loss: the optimizer step is skipped")
        return output

    def _fill_step(self, inputs: list[dict[str, Any]], policy: ds.Policy) -> dict[str, Any]:
        """DAPO dynamic sampling: rounds of fresh prompts until the step holds ``target`` informative
        groups. Every round samples ``policy.oversampling`` x the groups still needed; the first one
        holds the step's own prompts (TRL's sampler) first, topped up from the refill stream."""
        target = len(inputs) // self.num_generations
        used = {key for keys in gather_object([[prompt_key(x) for x in inputs]]) for key in keys}
        extra = (
            self.refill_prompts(target * (policy.oversampling - 1), used) if policy.oversampling > 1 else []
        )
        output = super()._generate_and_score_completions(inputs + (extra or []))
        rounds = [ds.Round(output, self.group_filter(output))]
        missing = self._global_max_missing(rounds, target)
        while missing > 0 and len(rounds) < policy.max_rounds:
            prompts = self.refill_prompts(missing * policy.oversampling, used)
            if prompts is None:
                break
            fresh = super()._generate_and_score_completions(prompts)
            rounds.append(ds.Round(fresh, self.group_filter(fresh)))
            missing = self._global_max_missing(rounds, target)
        if missing > 0 and not policy.partial:
            raise ds.RoundsExhausted(
                f"dynamic sampling: {len(rounds)} generation rounds left {missing} of {target} prompt groups "
                "without reward variance on some process (dapo.max_generation_rounds, or too few training "
                "prompts); raise the bound or set dapo.when_rounds_run_out: partial"
            )
        selection = ds.select(rounds, target)
        merged = ds.assemble(rounds, selection, self.num_generations, self._tokenizer.pad_token_id)
        merged["num_items_in_batch"] = self.accelerator.gather(merged["num_items_in_batch"]).sum()
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/zero_variance_frac"].append(
            1.0 - float(rounds[0].informative.float().mean())
        )
        metrics["dynamic_sampling/rounds"].append(float(len(rounds)))
        metrics["dynamic_sampling/short_groups"].append(float(len(selection.filler)))
        if selection.filler:  # also in the step's progress line (short_groups=) and logs.jsonl
            log.info(
                "dynamic sampling: %d of %d groups still without reward variance after %d rounds; the step "
                "is taken on the other %d",
                len(selection.filler),
                target,
                len(rounds),
                len(selection.picks),
            )
        return merged

    def _global_max_missing(self, rounds: list[ds.Round], target: int) -> int:
        """Groups still missing for a full batch, maximised over processes: every rank then runs the same
        refill rounds of the same size (TRL's reward gathering is a collective, so rounds must match)."""
        have = sum(int(r.informative.sum()) for r in rounds)
        missing = torch.tensor([max(target - have, 0)], device=self.accelerator.device)
        return int(self.accelerator.gather(missing).max())


def prompt_key(row: dict[str, Any]) -> tuple[Any, Any]:
    """What makes two training rows the same prompt: its domain and id (see ``prompts_dataset``)."""
    return row.get("domain"), row["id"]


def _cycle_permutations(n: int, seed: int) -> Iterator[int]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield from torch.randperm(n, generator=generator).tolist()
