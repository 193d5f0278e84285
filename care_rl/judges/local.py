"""A judge that is a transformers causal LM on this machine (the cpu profile's PA-GRM, or a 4-bit judge on GPU).

Conversations are rendered with the tokenizer's chat template, sorted by length so each batch pads as
little as possible, generated greedily (temperature 0) or by sampling, and returned in input order.
An optional PEFT adapter (the trained PA-GRM LoRA) is merged into the base weights once at load time,
so scoring costs the same as the plain model.

``rate`` is the parse-free alternative for small judges: the reply is started with an answer prefix
and the expected rating is read from the next-token distribution (care_rl/judges/rating.py).
``scoring`` records which of the two the profile asked for, so evaluation can pick the path per judge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from care_rl.judges.base import Conversation, JudgeStats, validate_conversations
from care_rl.judges.rating import Rating, check_prefix, check_scale, common_prefix, expected_rating
from care_rl.thinking import JUDGE_TEMPLATE_KWARGS

T = TypeVar("T")

log = logging.getLogger(__name__)

# A batch's common prefix is run once when it is at least this long (shorter ones save less than the
# extra forward pass costs); ratings sort rows into length buckets of LENGTH_BUCKET tokens.
MIN_SHARED_PREFIX = 32
LENGTH_BUCKET = 64


class LocalBackend:
    """Batched chat generation with a local model; a batch that raises is answered with ``None``s."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str = "local",
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        batch_size: int = 8,
        seed: int = 42,
        scoring: str = "generate",
    ) -> None:
        if tokenizer.chat_template is None:
            raise ValueError(f"judge {name!r}: tokenizer has no chat template; a chat judge needs one")
        if batch_size <= 0 or max_new_tokens <= 0:
            raise ValueError(f"judge {name!r}: batch_size and max_new_tokens must be > 0")
        if scoring not in ("generate", "expected_rating"):
            raise ValueError(
                f"judge {name!r}: scoring must be 'generate' or 'expected_rating', got {scoring!r}"
            )
        self.name = name
        self.stats = JudgeStats()
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.batch_size = batch_size
        self.seed = seed
        self.scoring = scoring
        self._max_positions = getattr(model.config, "max_position_embeddings", None)

    @staticmethod
    def with_adapter(model: PreTrainedModel, adapter_path: str | Path) -> PreTrainedModel:
        """Apply a trained LoRA adapter and merge it (scoring then runs at the base model's speed)."""
        from peft import PeftModel

        path = Path(adapter_path)
        if not (path / "adapter_config.json").is_file():
            raise FileNotFoundError(
                f"judge adapter {path}: no adapter_config.json (not a PEFT adapter folder)"
            )
        return PeftModel.from_pretrained(model, str(path)).merge_and_unload()

    def _prompt_text(self, conv: Conversation) -> str:
        """The chat-template rendering a reply continues; judges never think (care_rl.thinking)."""
        return self.tokenizer.apply_chat_template(
            conv, add_generation_prompt=True, tokenize=False, **JUDGE_TEMPLATE_KWARGS
        )

    def _render(self, conv: Conversation) -> list[int]:
        return self.tokenizer(self._prompt_text(conv), add_special_tokens=False)["input_ids"]

    def complete(
        self, conversations: list[Conversation], max_new_tokens: int | None = None
    ) -> list[str | None]:
        validate_conversations(conversations)
        budget = max_new_tokens or self.max_new_tokens
        rendered = [self._render(c) for c in conversations]
        return self._batched(rendered, budget, "generation", lambda batch: self._generate(batch, budget))

    def complete_from(
        self, conversations: list[Conversation], answer_prefix: str, max_new_tokens: int | None = None
    ) -> list[str | None]:
        """Like ``complete``, with every reply begun by ``answer_prefix`` (returned prefix included).

        A prefix pins what a small judge must not choose for itself, such as the protocol of PA-GRM's
        forced-protocol ablations; an endpoint cannot be prefilled portably, so only local judges have
        this method."""
        validate_conversations(conversations)
        budget = max_new_tokens or self.max_new_tokens
        rendered = []
        for conv in conversations:
            text = self._prompt_text(conv) + answer_prefix
            rendered.append(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        out = self._batched(rendered, budget, "generation", lambda batch: self._generate(batch, budget))
        return [None if text is None else answer_prefix + text for text in out]

    def rate(
        self, conversations: list[Conversation], answer_prefix: str | Sequence[str], scale: range
    ) -> list[Rating | None]:
        """The judge's rating distribution over ``scale`` per conversation, its reply begun with ``answer_prefix``
        (one string for all, or one per conversation: PA-GRM's reply so far, its generated trace).

        Rendered with the chat template (generation prompt, then the prefix) and run in left-padded
        batches; ``None`` for a conversation too long for the model or whose batch raised. Rows are
        ordered by 64-token length bucket, then by their tokens, so the prompts that differ only at the
        end (one response, several criteria) share a batch, and a batch's common token prefix of at
        least ``MIN_SHARED_PREFIX`` tokens is computed once (``expected_rating(shared_prefix=...)``).
        """
        validate_conversations(conversations)
        longest = len(check_scale(scale)[-1])
        per_row = not isinstance(answer_prefix, str)
        if per_row:
            prefixes = list(answer_prefix)
            if len(prefixes) != len(conversations):
                raise ValueError(f"{len(prefixes)} answer prefixes for {len(conversations)} conversations")
        else:
            check_prefix(self.tokenizer, answer_prefix)  # one template's prefix: a bad one is a bug
            prefixes = [answer_prefix] * len(conversations)
        rendered, keep = [], []
        for i, (conv, prefix) in enumerate(zip(conversations, prefixes, strict=True)):
            if per_row:
                try:  # a generated prefix (a PA-GRM trace) that breaks digit tokenization fails its row only
                    check_prefix(self.tokenizer, prefix)
                except ValueError as e:
                    log.warning("judge %s: conversation %d: rating prefix rejected: %s", self.name, i, e)
                    self.stats.add(calls=1, failures=1)
                    continue
            rendered.append(
                self.tokenizer(self._prompt_text(conv) + prefix, add_special_tokens=False)["input_ids"]
            )
            keep.append(i)

        def run(batch: list[list[int]]) -> list[Rating]:
            out: list[Rating] = []
            for group, shared in prefix_groups(batch):
                out += expected_rating(self.model, self.tokenizer, group, scale, shared_prefix=shared)
            return out

        rated = self._batched(
            rendered, longest, "rating", run, order=lambda ids: (len(ids) // LENGTH_BUCKET, ids)
        )
        out: list[Rating | None] = [None] * len(conversations)
        for i, rating in zip(keep, rated, strict=True):
            out[i] = rating
        return out

    def _batched(
        self,
        rendered: list[list[int]],
        extra_tokens: int,
        what: str,
        run: Callable[[list[list[int]]], list[T]],
        order: Callable[[list[int]], Any] = len,
    ) -> list[T | None]:
        """Run ``run`` over batches sorted by ``order`` (default: length, the least padding); rows too
        long for the model or in a failed batch are None.

        Every such row is counted as a failure in ``stats`` and logged: a judge never crashes the run.
        """
        out: list[T | None] = [None] * len(rendered)
        self.stats.add(calls=len(rendered))
        runnable = []
        for i, ids in enumerate(rendered):
            if self._max_positions is not None and len(ids) + extra_tokens > self._max_positions:
                log.warning(
                    "judge %s: conversation %d has %d prompt tokens + %d new > %d positions; skipped",
                    self.name,
                    i,
                    len(ids),
                    extra_tokens,
                    self._max_positions,
                )
                self.stats.add(failures=1)
            else:
                runnable.append(i)
        runnable.sort(key=lambda i: order(rendered[i]))
        for start in range(0, len(runnable), self.batch_size):
            batch = runnable[start : start + self.batch_size]
            try:
                results = run([rendered[i] for i in batch])
            except (RuntimeError, ValueError) as e:  # OOM, shape errors: fail these rows, keep the run
                log.warning("judge %s: %s failed for %d conversations: %s", self.name, what, len(batch), e)
                self.stats.add(failures=len(batch))
                continue
            for i, result in zip(batch, results, strict=True):
                out[i] = result
        return out

    @torch.no_grad()
    def _generate(self, batch: list[list[int]], max_new_tokens: int) -> list[str]:
        pad = self.tokenizer.pad_token_id
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):  # left padding: generation continues from the last column
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        device = self.model.device
        sampling = self.temperature > 0
        kwargs = {"do_sample": True, "temperature": self.temperature} if sampling else {"do_sample": False}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            generated = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                max_new_tokens=max_new_tokens,
                pad_token_id=pad,
                **kwargs,
            )
        return self.tokenizer.batch_decode(generated[:, width:], skip_special_tokens=True)


def _shared(group: list[list[int]]) -> int:
    shared = common_prefix(group) if len(group) > 1 else 0
    return shared if shared >= MIN_SHARED_PREFIX else 0


def _cost(group: list[list[int]]) -> int:
    """Token positions one ``expected_rating`` call computes: the shared prefix once, then padded rows."""
    shared = _shared(group)
    return shared + len(group) * (max(len(ids) for ids in group) - shared)


def prefix_groups(batch: list[list[int]]) -> list[tuple[list[list[int]], int]]:
    """Split a sorted batch into consecutive groups, each with its shared prefix length (0: none).

    A row joins the current group when that computes fewer token positions than running it apart, so
    one unrelated row does not cut the prefix that five criteria of the same response share.
    """
    groups: list[list[list[int]]] = []
    for ids in batch:
        if groups and _cost([*groups[-1], ids]) <= _cost(groups[-1]) + len(ids):
            groups[-1].append(ids)
        else:
            groups.append([ids])
    return [(g, _shared(g)) for g in groups]
