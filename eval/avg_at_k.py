"""avg@k sampling (paper Sec. 4.1): k samples per prompt at T=1.0, top-p 0.95; mean of sample scores.

Two pieces:

* :func:`avg_at_k` -- the arithmetic. ``mean`` is the mean of every sample-level score. ``std`` is
  the *sample* standard deviation (ddof=1) of the k per-sample-set means, where sample set j is the
  j-th sample of every prompt. ddof=1 is not a guess: the paper's Appendix A AIME cells only come out
  with it (30 problems, so set means are multiples of 3.33; "4.2 (3.19)" = sets {0, 3.3, 6.7, 6.7}:
  ddof=1 gives 3.19, ddof=0 gives 2.76; "5.8 (1.67)" = {6.7, 6.7, 6.7, 3.3}: 1.67 vs 1.44).
* :class:`HFGenerator` -- batched transformers sampling: the tokenizer's chat template, left padding,
  k samples per prompt from one shared prompt prefill (row i*k+j is sample j of prompt i, the
  tokens ``num_return_sequences=k`` would give), a seed per batch so a resumed run regenerates a lost
  batch bit-for-bit, and top-k explicitly off (HF's default top_k=50 would silently
  change the paper's sampler). Any object with ``prompt_lengths`` and ``generate`` plugs in instead,
  e.g. :class:`eval.vllm_generator.VLLMGenerator` for the paper profiles.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from care_rl.data.records import Message


@dataclass(frozen=True)
class Completion:
    """One sampled response; ``n_tokens`` counts generated tokens up to and including EOS."""

    text: str
    n_tokens: int


class Generator(Protocol):
    """What the evaluator needs from a sampler (transformers, vLLM, or a scripted test double)."""

    def prompt_lengths(self, conversations: Sequence[list[Message]]) -> list[int]:
        """Prompt length in tokens after the chat template (used to sort batches by length)."""
        ...

    def generate(self, conversations: Sequence[list[Message]], n: int, seed: int) -> list[list[Completion]]:
        """``n`` samples for each conversation, in input order; seeded, so equal inputs give equal outputs."""
        ...


@dataclass(frozen=True)
class AvgAtK:
    """avg@k of one benchmark. Scores are on the table scale (0-100). Missing samples (a judge that
    failed) are excluded from every mean and counted in ``n_missing``."""

    mean: float
    std: float
    n_prompts: int
    k: int
    n_missing: int
    set_means: tuple[float, ...]


def avg_at_k(scores: Sequence[Sequence[float | None]]) -> AvgAtK:
    """avg@k from ``scores[i][j]`` = score of sample j of prompt i (``None`` = missing).

    mean = mean of all present sample scores; std = stdev (ddof=1) of the per-set means over the sets
    that have at least one present score (NaN when fewer than two such sets exist).
    """
    if not scores:
        raise ValueError("avg@k needs at least one prompt's scores, got none")
    k = len(scores[0])
    if k == 0 or any(len(row) != k for row in scores):
        raise ValueError(
            f"avg@k needs the same k >= 1 samples for every prompt, got lengths {sorted({len(r) for r in scores})}"
        )
    present = [s for row in scores for s in row if s is not None]
    set_means = []
    for j in range(k):
        column = [row[j] for row in scores if row[j] is not None]
        if column:
            set_means.append(statistics.fmean(column))
    return AvgAtK(
        mean=statistics.fmean(present) if present else math.nan,
        std=statistics.stdev(set_means) if len(set_means) >= 2 else math.nan,
        n_prompts=len(scores),
        k=k,
        n_missing=sum(s is None for row in scores for s in row),
        set_means=tuple(set_means),
    )


class HFGenerator:
    """Batched sampling with a transformers causal LM (optionally a PEFT model)."""

    def __init__(self, model, tokenizer, *, temperature: float, top_p: float, max_new_tokens: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        eos = model.generation_config.eos_token_id if model.generation_config is not None else None
        eos = tokenizer.eos_token_id if eos is None else eos
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])

    def render(self, conversation: list[Message]) -> str:
        """The prompt exactly as the model was tuned to see it: its chat template plus the assistant cue."""
        return self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)

    def prompt_lengths(self, conversations: Sequence[list[Message]]) -> list[int]:
        texts = [self.render(c) for c in conversations]
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    @torch.inference_mode()
    def generate(self, conversations: Sequence[list[Message]], n: int, seed: int) -> list[list[Completion]]:
        texts = [self.render(c) for c in conversations]
        # The chat template already carries any BOS; left padding keeps every prompt flush with its output.
        enc = self.tokenizer(
            texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False
        ).to(self.model.device)
        if self.temperature > 0:
            sampling, k = (
                {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": 0},
                n,
            )
        else:  # greedy (bench/bench_eval.py compares samplers on identical texts): one path, n copies
            sampling, k = {"do_sample": False}, 1
        ids, mask = enc["input_ids"], enc["attention_mask"]
        inputs: dict = {"input_ids": ids, "attention_mask": mask, "num_return_sequences": k}
        if k > 1 and ids.shape[1] > 1:
            inputs = self._shared_prompt(ids, mask, k)
        torch.manual_seed(seed)
        out = self.model.generate(
            **inputs,
            **sampling,
            max_new_tokens=self.max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new = out[:, ids.shape[1] :].tolist()
        completions = [self._completion(ids) for ids in new]
        return [[completions[i * k + j % k] for j in range(n)] for i in range(len(texts))]

    def _shared_prompt(self, ids: torch.Tensor, mask: torch.Tensor, k: int) -> dict:
        """Inputs for ``generate`` that run each prompt once for its ``k`` samples: the prompt (all but
        its last token) is prefilled into a KV cache that is then repeated k times, so ``generate``
        starts from the last prompt token. ``num_return_sequences=k`` would instead run every prompt k
        times. The samples are the same tokens (tests/eval/test_avg_at_k.py); only the prefill is shared.
        Positions follow ``generate``'s own rule for left padding (cumulative mask, pads at 1)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
        self.model(
            input_ids=ids[:, :-1],
            attention_mask=mask[:, :-1],
            position_ids=positions[:, :-1],
            past_key_values=cache,
            use_cache=True,
        )
        cache.batch_repeat_interleave(k)
        return {
            "input_ids": ids.repeat_interleave(k, dim=0),
            "attention_mask": mask.repeat_interleave(k, dim=0),
            "past_key_values": cache,
        }

    def _completion(self, ids: list[int]) -> Completion:
        end = next((i + 1 for i, t in enumerate(ids) if t in self.eos_ids), len(ids))
        return Completion(self.tokenizer.decode(ids[:end], skip_special_tokens=True), end)
