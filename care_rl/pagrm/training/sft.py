"""PA-GRM supervised distillation from teacher traces (paper 3.1.3), with TRL's SFTTrainer and LoRA.

    python -m experiments.pagrm_sft --traces traces.jsonl --profile cpu [--out DIR]

Each trace becomes the two generations PA-GRM performs at inference, rendered with the very templates
inference uses: (1) protocol prompt -> protocol+schema JSON, once per distinct prompt; (2) scoring
prompt under that schema -> judgments+reasoning+score JSON, once per pair. This trains the decomposed
p(P, S | x) p(J, R, r | x, y, P, S) rather than a direct x, y -> r mapping. Loss is on the completion
only (TRL prompt-completion format). The base is the profile's judge model (4-bit on GPU when its
ModelSpec says so); the output is a PEFT adapter that ``build_backend(..., adapter_path=...)`` loads,
written to ``<cache>/pagrm/<profile>/adapter`` by default -- the path a profile's ``judge.adapter``
(``pagrm/<profile>/adapter``) names.

An example longer than ``max_length`` is an error, not a silent truncation: TRL truncates from the end,
which would cut the very completion (the JSON target) the judge is meant to learn.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from care_rl.atomic import write_text_atomic
from care_rl.config import LoraSpec, Profile, cache_dir, read_yaml, validate
from care_rl.pagrm.templates import protocol_conversation, score_conversation
from care_rl.pagrm.trace import Trace

log = logging.getLogger(__name__)


class SftOverrides(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_length: int | None = Field(None, gt=0)
    gradient_checkpointing: bool | None = None
    gradient_accumulation_steps: int | None = Field(None, gt=0)
    max_steps: int | None = Field(None, ge=-1)
    learning_rate: float | None = Field(None, gt=0)


class SftConfig(BaseModel):
    """Hyper-parameters of PA-GRM SFT; paper values are the defaults, profiles may scale them down."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lora: LoraSpec = LoraSpec(r=32, alpha=64, dropout=0.05)
    max_length: int = Field(4096, gt=0)
    # recomputes activations in the backward pass: saves GPU memory at 4096 tokens, costs ~30% time on CPU
    gradient_checkpointing: bool = True
    per_device_batch_size: int = Field(1, gt=0)
    gradient_accumulation_steps: int = Field(16, gt=0)
    num_train_epochs: float = Field(1.0, gt=0)
    learning_rate: float = Field(1e-4, gt=0)
    max_steps: int = Field(-1, ge=-1)
    seed: int = 42
    profiles: dict[str, SftOverrides] = Field(default_factory=dict)

    def for_profile(self, name: str) -> SftConfig:
        over = self.profiles.get(name)
        if over is None:
            return self
        return self.model_copy(update=over.model_dump(exclude_none=True))


def load_sft_config(path: str | Path) -> SftConfig:
    path = Path(path)
    return validate(SftConfig, read_yaml(path), path)


def sft_examples(traces: list[Trace]) -> list[dict[str, list[dict[str, str]]]]:
    """Prompt-completion examples: one protocol example per distinct prompt, one scoring example per trace."""
    examples, seen = [], set()
    for t in traces:
        if t.protocol == "direct":
            raise ValueError(f"trace {t.pair_id!r} has protocol 'direct': PA-GRM SFT needs protocol traces")
        if t.prompt not in seen:
            seen.add(t.prompt)
            examples.append(
                {
                    "prompt": protocol_conversation(t.prompt, "pagrm"),
                    "completion": [{"role": "assistant", "content": t.protocol_target()}],
                }
            )
        examples.append(
            {
                "prompt": score_conversation(t.prompt, t.protocol, t.schema, t.response),
                "completion": [{"role": "assistant", "content": t.score_target()}],
            }
        )
    return examples


def example_lengths(examples: list[dict[str, Any]], tokenizer: Any) -> list[int]:
    """Token length of each example as the chat template renders prompt + completion."""
    lengths = []
    for ex in examples:
        ids = tokenizer.apply_chat_template(ex["prompt"] + ex["completion"], tokenize=True)
        lengths.append(len(ids["input_ids"] if hasattr(ids, "keys") else ids))
    return lengths


def check_lengths(lengths: list[int], max_length: int) -> None:
    """Refuse to train when TRL would truncate an example (and with it the JSON target)."""
    over = [n for n in lengths if n > max_length]
    if over:
        raise ValueError(
            f"{len(over)} of {len(lengths)} SFT examples exceed max_length={max_length} (longest {max(over)} "
            f"tokens); raise max_length in the SFT config or shorten the traces"
        )


def _save_adapter(model: Any, adapter: Path) -> None:
    """Save into a temporary folder, then swap it in, so a crash never leaves half an adapter."""
    tmp = adapter.with_name(f".{adapter.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if adapter.exists():
        shutil.rmtree(adapter)
    tmp.rename(adapter)


def train(traces: list[Trace], profile: Profile, config: SftConfig, out: Path) -> Path:
    """Fine-tune the profile's judge on the traces; returns the adapter folder."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from care_rl.models import load_model, load_tokenizer, lora_config

    if not traces:
        raise ValueError("no traces to train on")
    judge = profile.judge
    if judge.model is None:
        raise ValueError(
            f"profile {profile.name!r}: judge backend {judge.backend!r} has no local model to train"
        )
    tokenizer = load_tokenizer(profile.tokenizer if judge.model.source == "random" else judge.model)
    examples = sft_examples(traces)
    lengths = example_lengths(examples, tokenizer)
    check_lengths(lengths, config.max_length)
    log.info(
        "%d SFT examples, %d-%d tokens (mean %.0f)",
        len(lengths),
        min(lengths),
        max(lengths),
        sum(lengths) / len(lengths),
    )
    model = load_model(judge.model, tokenizer)
    args = SFTConfig(
        output_dir=str(out / "trainer"),
        max_length=config.max_length,
        activation_checkpointing=config.gradient_checkpointing,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        seed=config.seed,
        completion_only_loss=True,
        packing=False,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=profile.device == "cpu",
        bf16=judge.model.dtype == "bfloat16",
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        peft_config=lora_config(config.lora),
    )
    result = trainer.train()
    adapter = out / "adapter"
    _save_adapter(trainer.model, adapter)
    metrics = {**result.metrics, "n_examples": len(lengths), "tokens": sum(lengths)}
    write_text_atomic(out / "train_metrics.json", json.dumps({**metrics, "log": trainer.state.log_history}))
    return adapter


def default_out(profile: Profile) -> Path:
    """``<cache>/pagrm/<profile>``: its ``adapter`` subfolder is what ``judge.adapter`` names in the profile."""
    return cache_dir() / "pagrm" / profile.name
