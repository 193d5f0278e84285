"""Trainer callbacks: progress lines, and the interference monitor (beyond the paper).

The paper measures cross-domain interference only after each stage. The monitor scores a few held-out
prompts of *every* domain every N optimizer steps (and once before the first step and once after
the last, so the stage's final weights are always scored) with greedy decoding, so a drop of an earlier domain's reward is visible while the later stage trains. Greedy
decoding consumes no random numbers, so monitoring does not change the training trajectory. Rows are
appended to ``state.log_history`` (and so reach the stage's logs.jsonl) as ``monitor/<domain>/reward``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from care_rl.data.records import TrainPrompt

if TYPE_CHECKING:
    from care_rl.rewards.registry import RewardFunc  # annotations only

log = logging.getLogger(__name__)

REWARD_COLUMNS = ("domain", "id", "answer", "ground_truth", "reference")


class ProgressPrinter(TrainerCallback):
    """One line per logged step: stage, step/total, reward, loss, generation rounds, loss-masked groups and
    DACSP's opposing fraction. This line is a stage's console log; every metric of the step is in the stage's
    logs.jsonl (the Trainer's dict printer is removed, see ``console_only_progress``).

    Printed by the main process only (every rank logs the same gathered values)."""

    SHOWN = ("loss", "dynamic_sampling/rounds", "dynamic_sampling/short_groups", "dacsp/opposing")

    def __init__(self, stage: str) -> None:
        self.stage = stage

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or not ("reward" in logs or "loss" in logs) or not state.is_world_process_zero:
            return
        # every reward of the step can be None (a judge that never parses): TRL then logs None
        reward = "" if "reward" not in logs else " reward=" + _number(logs["reward"], ".3f")
        extra = "".join(f" {k.split('/')[-1]}={_number(logs[k], '.3g')}" for k in self.SHOWN if k in logs)
        print(f"  [{self.stage}] step {state.global_step}/{state.max_steps}{reward}{extra}", flush=True)


def _number(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def console_only_progress(trainer: Any) -> Any:
    """Drop the Trainer's printer of raw metric dicts (on whenever tqdm is off, as in our stages): the
    console keeps ``ProgressPrinter``'s line, and the dicts stay in ``state.log_history``, which the
    stage writes to its logs.jsonl."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


class InterferenceMonitor(TrainerCallback):
    """Mean greedy reward on held-out prompts of every domain, every ``every`` optimizer steps."""

    def __init__(
        self,
        heldout: Mapping[str, Sequence[TrainPrompt]],
        rewards: Mapping[str, RewardFunc],
        tokenizer: Any,
        every: int,
        max_new_tokens: Mapping[str, int],
    ) -> None:
        if every <= 0:
            raise ValueError(f"monitor interval must be a positive number of steps, got {every}")
        missing = sorted(set(heldout) - set(rewards))
        if missing:
            raise ValueError(f"interference monitor: no reward for domain(s) {missing}")
        empty = sorted(d for d, ps in heldout.items() if not ps)
        if empty:
            raise ValueError(f"interference monitor: no held-out prompts for domain(s) {empty}")
        self.heldout = {d: list(ps) for d, ps in heldout.items()}
        self.rewards, self.tokenizer, self.every, self.max_new_tokens = (
            rewards,
            tokenizer,
            every,
            max_new_tokens,
        )
        self._last_step: int | None = None

    @torch.no_grad()
    def scores(self, model: Any) -> dict[str, float]:
        """Mean reward per domain (rows the reward returns None for are skipped)."""
        was_training = model.training
        model.eval()
        try:
            return {d: self._score(model, d, ps) for d, ps in self.heldout.items()}
        finally:
            model.train(was_training)

    def _score(self, model: Any, domain: str, prompts: list[TrainPrompt]) -> float:
        texts = [
            self.tokenizer.apply_chat_template(p.messages, add_generation_prompt=True, tokenize=False)
            for p in prompts
        ]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            model.device
        )
        out = model.generate(
            **batch,
            do_sample=False,
            max_new_tokens=self.max_new_tokens[domain],
            pad_token_id=self.tokenizer.pad_token_id,
        )
        completions = self.tokenizer.batch_decode(
            out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
        )
        columns = {c: [getattr(p, c) for p in prompts] for c in REWARD_COLUMNS}
        values = self.rewards[domain](
            completions=[[{"role": "assistant", "content": c}] for c in completions],
            prompts=[p.messages for p in prompts],
            **columns,
        )
        scored = [v for v in values if v is not None]
        return sum(scored) / len(scored) if scored else float("nan")

    def _record(self, state: TrainerState, model: Any) -> None:
        row: dict[str, float] = {f"monitor/{d}/reward": s for d, s in self.scores(model).items()}
        row["step"] = state.global_step
        state.log_history.append(row)
        self._last_step = state.global_step
        log.info("interference monitor at step %d: %s", state.global_step, row)

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if state.global_step == 0:
            self._record(state, model)

    def on_step_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if state.global_step % self.every == 0:
            self._record(state, model)

    def on_train_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if self._last_step != state.global_step:
            self._record(state, model)
