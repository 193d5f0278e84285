"""Batched transformers sampling for the evaluator (the ``eval.avg_at_k.Generator`` protocol).

The tokenizer's chat template, left padding, k samples per prompt from one shared prompt prefill
(care_rl/prefill.py, as the training rollouts; row i*k+j is sample j of prompt i, the tokens
``num_return_sequences=k`` would give), a seed per batch so a resumed run regenerates a lost batch
bit-for-bit, and top-k explicitly off (HF's default top_k=50 would silently change the paper's sampler).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from care_rl.data.records import Message
from care_rl.prefill import shared_prefill_inputs
from eval.avg_at_k import Completion


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
            inputs = shared_prefill_inputs(self.model, ids, mask, k)
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

    def _completion(self, ids: list[int]) -> Completion:
        end = next((i + 1 for i, t in enumerate(ids) if t in self.eos_ids), len(ids))
        return Completion(self.tokenizer.decode(ids[:end], skip_special_tokens=True), end)
