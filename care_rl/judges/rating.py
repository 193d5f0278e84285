"""Probability-weighted ("expected") ratings read from a judge's next-token distribution (G-Eval style).

A small judge (SmolLM2-135M) rarely writes a verdict in the format a template asks for, so generating
and parsing loses most samples. Instead the judge reads the prompt up to the answer prefix (for example
``{"score": "``) and we read how it would continue: the probability of each rating string, renormalised
over the scale, gives E[r] = sum_r r p(r) / sum_r p(r). Nothing is generated, so nothing can fail to
parse; the probability mass on the scale says how much the judge actually "meant" a rating.

Ratings are digit strings and the tokenizer must spell every number digit by digit (SmolLM2's does;
``digit_ids`` checks it). Let q(s) be the probability that the reply starts with the digits s. A rating
that is no prefix of another rating gets q(s). A rating that is (for 1-10, "1" is a prefix of "10") gets
q(s) minus the q of its in-scale continuations, so q("1") is split into r=1 and r=10 and the first
digit's mass is never counted twice; continuations off the scale ("11" on 1-10) stay with their prefix,
which keeps the mass on the scale equal to the first-digit mass of the scale. Reading the q of
continuations needs one more forward pass: all continuations of all prompts run as one batch on a copy
of the prompt's KV cache, so any scale costs two passes at most (one for 1-5). A batch whose prompts
share a long token prefix (one response judged per criterion) runs that prefix once more, alone, and
the two passes cover only what differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class Rating:
    """A judge's rating distribution over one scale.

    probs: p(r) renormalised over the scale; mass: the unnormalised probability the judge put on the
    scale (near 0 means the judge wanted to write something else, so ``expected`` is weakly grounded).
    """

    probs: dict[int, float]
    mass: float

    @property
    def expected(self) -> float | None:
        """E[r] over the scale; ``None`` when no probability at all fell on the scale (underflow)."""
        return sum(r * p for r, p in self.probs.items()) if self.mass > 0.0 else None


def check_scale(scale: range) -> list[str]:
    """The ratings of ``scale`` as digit strings; a scale is at least two consecutive integers >= 0."""
    if scale.step != 1 or len(scale) < 2 or scale.start < 0:
        raise ValueError(f"a rating scale is a range of >= 2 consecutive integers >= 0, got {scale!r}")
    return [str(r) for r in scale]


def digit_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids of "0".."9"; each digit must be one token, or numbers would not be read digit by digit."""
    ids = []
    for d in "0123456789":
        tok = tokenizer(d, add_special_tokens=False)["input_ids"]
        if len(tok) != 1:
            raise ValueError(f"expected rating: tokenizer spells digit {d!r} as {len(tok)} tokens {tok}")
        ids.append(tok[0])
    return ids


def check_prefix(tokenizer: PreTrainedTokenizerBase, answer_prefix: str) -> None:
    """Fail unless numbers written right after ``answer_prefix`` are tokenized as prefix + one token a digit.

    If the tokenizer merged digits with each other or with the end of the prefix, the distribution read
    at the end of the prefix would not be the distribution over ratings.
    """
    digits = digit_ids(tokenizer)
    base = tokenizer(answer_prefix, add_special_tokens=False)["input_ids"]
    for number in ("10", "97", "20"):
        got = tokenizer(answer_prefix + number, add_special_tokens=False)["input_ids"]
        if got != base + [digits[int(c)] for c in number]:
            raise ValueError(
                f"expected rating: after the answer prefix {answer_prefix!r} the tokenizer does not spell "
                f"{number!r} digit by digit ({got[max(0, len(base) - 1) :]}); end the prefix before the number"
            )


def _left_pad(prompts: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        mask[row, width - len(p) :] = 1
    return ids, mask


def common_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix all ``prompts`` share, short of the shortest prompt's last token.

    The last token of every prompt stays out of the prefix: its logits are the ones we read.
    """
    shortest = min(len(p) for p in prompts)
    first = prompts[0]
    for k in range(shortest - 1):
        if any(p[k] != first[k] for p in prompts[1:]):
            return k
    return max(0, shortest - 1)


@torch.no_grad()
def expected_rating(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Sequence[int]],
    scale: range,
    shared_prefix: int = 0,
) -> list[Rating]:
    """One ``Rating`` per prompt (token ids ending with the answer prefix), from at most two forward passes.

    Prompts are one batch (left padded here); callers batch and sort by length (``LocalBackend.rate``).
    ``shared_prefix`` = L > 0 says all prompts start with the same L tokens (see ``common_prefix``):
    those run once, as a batch of one, and every row continues from a copy of that KV cache. Rubric
    judging asks one question per criterion about the same response (18 for Creative Writing v3), so
    the long shared part (instructions, prompt, response) is paid once instead of once per criterion.
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("expected_rating needs a non-empty list of non-empty prompts")
    if shared_prefix:
        if not 0 < shared_prefix < min(len(p) for p in prompts):
            raise ValueError(
                f"shared_prefix {shared_prefix} must leave every prompt at least one token of its own"
            )
        head = list(prompts[0][:shared_prefix])
        if any(list(p[:shared_prefix]) != head for p in prompts[1:]):
            raise ValueError(f"prompts do not share their first {shared_prefix} tokens")
    ratings = check_scale(scale)
    digits = digit_ids(tokenizer)
    nodes = {r[:k] for r in ratings for k in range(1, len(r) + 1)}  # every digit string worth a probability
    stems = sorted(n for n in nodes if any(m != n and m.startswith(n) for m in nodes))
    device = getattr(model, "device", torch.device("cpu"))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else digits[0]

    n = len(prompts)
    ids, mask = _left_pad([p[shared_prefix:] for p in prompts], pad)
    positions = shared_prefix + (mask.cumsum(-1) - 1).clamp(min=0)
    prefix_cache = None
    if shared_prefix:
        prefix_cache = model(input_ids=torch.tensor([head], device=device), use_cache=True).past_key_values
        prefix_cache.batch_repeat_interleave(n)
        mask = torch.cat([torch.ones((n, shared_prefix), dtype=torch.long), mask], dim=1)
    out = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        past_key_values=prefix_cache,
        use_cache=bool(stems) or prefix_cache is not None,
        logits_to_keep=1,
    )
    first = torch.softmax(out.logits[:, -1].float(), dim=-1)[:, digits].cpu()  # (B, 10)
    q = [{d: float(first[b, int(d)]) for d in nodes if len(d) == 1} for b in range(len(prompts))]

    if stems:
        s, longest = len(stems), max(len(x) for x in stems)
        cont = torch.full((n * s, longest), pad, dtype=torch.long)
        cont_mask = torch.zeros((n * s, longest), dtype=torch.long)
        for j, stem in enumerate(stems):  # row b * s + j: prompt b continued by stem j (right padded)
            cont[j::s, : len(stem)] = torch.tensor([digits[int(c)] for c in stem])
            cont_mask[j::s, : len(stem)] = 1
        cache = out.past_key_values
        cache.batch_repeat_interleave(s)
        start = mask.sum(-1).repeat_interleave(s).unsqueeze(1)
        nxt = model(
            input_ids=cont.to(device),
            attention_mask=torch.cat([mask.repeat_interleave(s, dim=0), cont_mask], dim=1).to(device),
            position_ids=(start + torch.arange(longest)).to(device),
            past_key_values=cache,
            use_cache=True,
        )
        last = torch.tensor([len(stem) - 1 for stem in stems]).repeat(n)
        probs = torch.softmax(nxt.logits[torch.arange(n * s), last.to(device)].float(), dim=-1)
        probs = probs[:, digits].cpu()
        for stem in sorted(stems, key=len):  # q of a longer node needs q of its stem first
            j = stems.index(stem)
            for b in range(n):
                for c in "0123456789":
                    if stem + c in nodes:
                        q[b][stem + c] = q[b][stem] * float(probs[b * s + j, int(c)])
    return [_rating(qb, ratings, nodes) for qb in q]


def _rating(q: dict[str, float], ratings: list[str], nodes: set[str]) -> Rating:
    """Split each node's probability between the rating it spells and its in-scale continuations."""
    p = {}
    for r in ratings:
        children = [r + c for c in "0123456789" if r + c in nodes]
        p[int(r)] = max(0.0, q[r] - sum(q[c] for c in children))
    mass = sum(p.values())
    if mass <= 0.0:
        return Rating({r: 0.0 for r in p}, 0.0)
    return Rating({r: v / mass for r, v in p.items()}, mass)
