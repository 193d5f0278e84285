"""avg@k sampling (paper Sec. 4.1): k samples per prompt at T=1.0, top-p 0.95; mean of sample scores.

Two pieces:

* :func:`avg_at_k` -- the arithmetic. ``mean`` is the mean of every sample-level score. ``std`` is
  the *sample* standard deviation (ddof=1) of the k per-sample-set means, where sample set j is the
  j-th sample of every prompt. ddof=1 is not a guess: the paper's Appendix A AIME cells only come out
  with it (30 problems, so set means are multiples of 3.33; "4.2 (3.19)" = sets {0, 3.3, 6.7, 6.7}:
  ddof=1 gives 3.19, ddof=0 gives 2.76; "5.8 (1.67)" = {6.7, 6.7, 6.7, 3.3}: 1.67 vs 1.44).
* :class:`Generator` -- what the evaluator needs from a sampler: ``prompt_lengths`` and ``generate``.
  :class:`eval.hf_generator.HFGenerator` (transformers) and :class:`eval.vllm_generator.VLLMGenerator`
  (the paper profiles) implement it; neither is imported here, so the arithmetic stays cheap to import.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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
