"""Judge accuracy (paper Table 6): how often a reward variant recovers each benchmark's gold judgment.

Our judges are pointwise (one score per response, every response to a prompt under one schema), so each
benchmark's rule is applied to scores:

* RewardBench 2 -- best-of-4: one chosen, three rejected. The item is won (credit 1) when the chosen
  score beats every rejected score; a tie at the top among k responses earns 1/k (the convention of the
  rating-based generative evaluation of RewardBench 2); otherwise 0. The Ties subset has its own
  score (``rewardbench2_ties_score``): items come as "ref:<n>" (one correct answer) and "tied:<n>"
  (several correct answers) and the subset score is 0.3 ref accuracy + 0.3 tied accuracy
  + 0.2 P(correct-incorrect margin > spread among correct) + 0.2 the same with the smaller of the ref/tied
  margins + 0.01 tanh margin term -- RewardBench 2's ``process_single_model``, re-implemented.
  ``official`` is the mean of the subset scores (the leaderboard number).
* JudgeBench -- pairwise, judged in both orders. Pass 1 scores (chosen, rejected), pass 2 scores
  (rejected, chosen) as a separate judge call; each pass votes for the higher-scored response (equal
  scores or a failed score: no vote). The final verdict is the response with more votes; an item is
  correct only if that is the chosen response, so inconsistent passes (one vote each) count as wrong.
  With a deterministic judge (temperature 0) both passes agree by construction and a score tie is wrong.
* RM-Bench -- three style variants of the chosen and of the rejected response (concise, detailed,
  detailed+markdown). Item accuracy is the mean of the 3x3 comparisons chosen[i] > rejected[j];
  hard/normal/easy are the upper triangle (chosen less styled than rejected), diagonal and lower triangle.
  Their mean equals the 9-cell mean.

A failed judge score is never a win: it is counted in ``failed_scores``. Items are sampled with
``sample_items`` (500 per benchmark, seed 42, as in the paper).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from care_rl.data.records import JudgeItem
from care_rl.pagrm.judge import PAGRMJudge
from eval.benchmarks import JUDGE_BENCHMARKS

Scorer = Callable[[list[str], list[str]], list[float | None]]  # (prompts, responses) -> scores
BENCHMARKS = tuple(JUDGE_BENCHMARKS)


@dataclass
class AccuracyResult:
    benchmark: str
    n_items: int
    accuracy: float  # mean per-item credit (the paper's "fraction of items")
    official: float  # the benchmark's own aggregate
    by_subset: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    failed_scores: int = 0


def scorer_from_judge(judge: PAGRMJudge) -> Scorer:
    """Scores in [0, 1] from a PA-GRM judge (any variant); one batched call per benchmark pass."""

    def score(prompts: list[str], responses: list[str]) -> list[float | None]:
        return [None if s is None else s.reward for s in judge.score(prompts, responses)]

    return score


def sample_items(items: Sequence[JudgeItem], n: int = 500, seed: int = 42) -> list[JudgeItem]:
    """``n`` items drawn without replacement with a fixed seed (all of them if there are fewer)."""
    return random.Random(seed).sample(list(items), min(n, len(items)))


def _score_items(items: Sequence[JudgeItem], scorer: Scorer, order: str = "chosen_first"):
    prompts, responses, spans = [], [], []
    for item in items:
        group = [*item.chosen, *item.rejected] if order == "chosen_first" else [*item.rejected, *item.chosen]
        spans.append((len(responses), len(group)))
        prompts += [item.prompt] * len(group)
        responses += group
    scores = scorer(prompts, responses)
    per_item = [scores[start : start + size] for start, size in spans]
    if order != "chosen_first":  # back to (chosen..., rejected...) order
        per_item = [
            s[len(it.rejected) :] + s[: len(it.rejected)] for s, it in zip(per_item, items, strict=True)
        ]
    failed = sum(s is None for s in scores)
    return per_item, failed


def _val(s: float | None) -> float:
    return -math.inf if s is None else s


def best_of_n_credit(chosen: float | None, rejected: Sequence[float | None]) -> float:
    """1 if the chosen response strictly wins, 1/k if it ties k-way at the top, else 0."""
    if chosen is None:
        return 0.0
    top = max(_val(r) for r in rejected)
    if chosen > top:
        return 1.0
    if chosen == top:
        return 1.0 / (1 + sum(_val(r) == top for r in rejected))
    return 0.0


def _prompt_stats(correct: Sequence[float], incorrect: Sequence[float]) -> tuple[bool, float | None, float]:
    diff_correct = max(correct) - min(correct) if len(correct) > 1 else None
    margin = min(correct) - max(incorrect)
    return margin > 0, diff_correct, margin


def rewardbench2_ties_score(items: Sequence[JudgeItem], scores: Sequence[Sequence[float | None]]) -> float:
    """RewardBench 2's Ties subset score; items whose scores failed are left out (counted by the caller)."""
    ref, tied = {}, {}
    for item, s in zip(items, scores, strict=True):
        kind, _, pid = item.id.partition(":")
        if kind not in ("ref", "tied") or not pid:
            raise ValueError(f"RewardBench 2 Ties item id {item.id!r}: expected 'ref:<n>' or 'tied:<n>'")
        if any(x is None for x in s):
            continue
        stats = _prompt_stats(s[: len(item.chosen)], s[len(item.chosen) :])
        (ref if kind == "ref" else tied)[pid] = stats
    ref_acc = float(np.mean([v[0] for v in ref.values()])) if ref else 0.0
    tied_acc = float(np.mean([v[0] for v in tied.values()])) if tied else 0.0
    both = sorted(set(ref) & set(tied))
    if not both:
        return 0.3 * tied_acc + 0.3 * ref_acc
    diff = np.array([tied[p][1] for p in both], dtype=float)
    m_tied = np.array([tied[p][2] for p in both], dtype=float)
    m_ref = np.array([ref[p][2] for p in both], dtype=float)
    preferred = float(np.mean(m_tied > diff))
    preferred_hard = float(np.mean(np.minimum(m_ref, m_tied) > diff))
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = np.nan_to_num(np.tanh(np.minimum(m_ref, m_tied) / diff - 1), nan=0.0)
    return (
        0.3 * tied_acc
        + 0.3 * ref_acc
        + 0.2 * preferred
        + 0.2 * preferred_hard
        + 0.01 * float(np.mean(margin))
    )


def rewardbench2(items: Sequence[JudgeItem], scorer: Scorer) -> AccuracyResult:
    scores, failed = _score_items(items, scorer)
    credit, by_subset, ties = [], defaultdict(list), []
    for item, s in zip(items, scores, strict=True):
        chosen, rejected = s[: len(item.chosen)], s[len(item.chosen) :]
        if item.subset.lower() == "ties":
            ok = all(c is not None for c in chosen) and min(_val(c) for c in chosen) > max(
                _val(r) for r in rejected
            )
            ties.append((item, s))
            credit.append(float(ok))
            continue
        if len(item.chosen) != 1:
            raise ValueError(f"RewardBench 2 item {item.id!r} ({item.subset}): expected one chosen response")
        credit.append(best_of_n_credit(chosen[0], rejected))
        by_subset[item.subset].append(credit[-1])
    subsets = {k: float(np.mean(v)) for k, v in sorted(by_subset.items())}
    if ties:
        subsets["Ties"] = rewardbench2_ties_score([t[0] for t in ties], [t[1] for t in ties])
    return AccuracyResult(
        "rewardbench2",
        len(items),
        float(np.mean(credit)) if credit else 0.0,
        float(np.mean(list(subsets.values()))) if subsets else 0.0,
        subsets,
        failed_scores=failed,
    )


def _vote(first: float | None, second: float | None) -> int:
    """+1 for the first response, -1 for the second, 0 for a tie or a failed score."""
    if first is None or second is None or first == second:
        return 0
    return 1 if first > second else -1


def judgebench(items: Sequence[JudgeItem], scorer: Scorer) -> AccuracyResult:
    for item in items:
        if len(item.chosen) != 1 or len(item.rejected) != 1:
            raise ValueError(f"JudgeBench item {item.id!r}: expected one chosen and one rejected response")
    forward, failed_f = _score_items(items, scorer, "chosen_first")
    backward, failed_b = _score_items(items, scorer, "rejected_first")
    correct, by_subset, inconsistent = [], defaultdict(list), 0
    for item, f, b in zip(items, forward, backward, strict=True):
        votes = (_vote(f[0], f[1]), _vote(b[0], b[1]))  # both in chosen-vs-rejected terms
        inconsistent += votes[0] * votes[1] < 0
        correct.append(float(sum(votes) > 0))
        by_subset[item.subset].append(correct[-1])
    accuracy = float(np.mean(correct)) if correct else 0.0
    return AccuracyResult(
        "judgebench",
        len(items),
        accuracy,
        accuracy,
        {k: float(np.mean(v)) for k, v in sorted(by_subset.items())},
        extra={"inconsistent": float(inconsistent)},
        failed_scores=failed_f + failed_b,
    )


def rmbench(items: Sequence[JudgeItem], scorer: Scorer) -> AccuracyResult:
    for item in items:
        if len(item.chosen) != 3 or len(item.rejected) != 3:
            raise ValueError(f"RM-Bench item {item.id!r}: expected 3 chosen and 3 rejected style variants")
    scores, failed = _score_items(items, scorer)
    matrices, by_subset = [], defaultdict(list)
    for item, s in zip(items, scores, strict=True):
        c, r = s[:3], s[3:]
        m = np.array(
            [[c[i] is not None and c[i] > _val(r[j]) for j in range(3)] for i in range(3)], dtype=float
        )
        matrices.append(m)
        by_subset[item.subset].append(m.mean())
    mean = np.mean(matrices, axis=0) if matrices else np.zeros((3, 3))
    extra = {
        "hard": float(mean[np.triu_indices(3, 1)].mean()),
        "normal": float(np.diag(mean).mean()),
        "easy": float(mean[np.tril_indices(3, -1)].mean()),
    }
    accuracy = float(mean.mean())
    return AccuracyResult(
        "rmbench",
        len(items),
        accuracy,
        accuracy,
        {k: float(np.mean(v)) for k, v in sorted(by_subset.items())},
        extra=extra,
        failed_scores=failed,
    )


def judge_accuracy(benchmark: str, items: Sequence[JudgeItem], scorer: Scorer) -> AccuracyResult:
    """Accuracy of ``scorer`` on one benchmark's items (sample them first with ``sample_items``)."""
    rules = {"rewardbench2": rewardbench2, "judgebench": judgebench, "rmbench": rmbench}
    if benchmark not in rules:
        raise ValueError(f"unknown judge benchmark {benchmark!r}; expected one of {list(BENCHMARKS)}")
    return rules[benchmark](items, scorer)
