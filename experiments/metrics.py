"""The paper's metrics, defined once, checked against the paper's own numbers (tests/experiments).

Scores are percentages. Column names are the paper's benchmark abbreviations (Table 2):
MATH GSM AIME | WB CW3 RQA | IFB IFE, plus the judge-study columns of Table 6; both come from the
benchmark table in eval/benchmarks.py.

Definitions, and how each was pinned down from the paper's tables:
- a domain average (M.Avg, C.Avg, IF Avg) is the mean of that domain's benchmarks;
- Total Avg is the mean over all eight benchmarks, *not* the mean of the three domain averages
  (Table 2, Qwen3-4B Base: benchmark mean 41.4 as printed, domain-average mean 40.0);
- OOD Change (Table 3) is the mean change of the two non-target domain averages vs. the base model;
- Reg. (Tables 4, 7) is the mean drop of each previously trained domain's average from its value
  right after its own stage; with no previously trained domain it is 0.0 (Table 4 prints 0.0);
- Ret. Gain (Table 14) is the mean over domains of (edited - base) / (full - base), in percent,
  defined only when the full update raised every domain;
- M.Energy, C.Energy, IF Energy (the rank sweep, beyond the paper) are the percent of a domain's
  single-domain update energy Σ‖ΔW‖² that a row's directions hold, computed from the adapters when a
  run renders the table (experiments.adapter_surgery.update_energy); a fact about the update, not a
  score, so never bold;
- a std is the sample std (ddof=1) of the four per-sample-set means: the paper's AIME stds (30
  problems) only come out that way, e.g. set means 0, 3.33, 6.67, 6.67 -> mean 4.2, std 3.19.
  The std of a domain average is the std of the per-set domain averages (set k averages each
  benchmark's set-k mean), which keeps the correlation between benchmarks. It can give every C.Avg
  std and 9 of the 14 M.Avg stds the paper prints, but not the rows where AIME's std is 3.19 (there
  an equal-weight set average's std cannot fall below ~0.75, the paper prints 0.46-0.66). No
  candidate gives all 14: a size-weighted set average reaches 2, formulas in the benchmark stds
  alone reach at most 2 (tests/experiments/test_paper_numbers.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from eval.benchmarks import JUDGE_BENCHMARKS, columns_by_domain

Domain = str  # "math" | "chat" | "if", as care_rl.config.DOMAINS

#: Each domain's benchmark columns, from the benchmark table (eval/benchmarks.py).
DOMAIN_BENCHMARKS: dict[Domain, tuple[str, ...]] = columns_by_domain()
BENCHMARK_COLUMNS: tuple[str, ...] = tuple(c for cols in DOMAIN_BENCHMARKS.values() for c in cols)
JUDGE_COLUMNS: tuple[str, ...] = tuple(JUDGE_BENCHMARKS.values())
DOMAIN_AVG: dict[Domain, str] = {"math": "M.Avg", "chat": "C.Avg", "if": "IF Avg"}
TOTAL = "Total Avg"
OOD = "OOD Change"
REG = "Reg."
RET_GAIN = "Ret. Gain (%)"
ENERGY: dict[Domain, str] = {"math": "M.Energy (%)", "chat": "C.Energy (%)", "if": "IF Energy (%)"}

#: Columns where a smaller value is better; every other ranked column is higher-is-better.
LOWER_IS_BETTER: frozenset[str] = frozenset({REG})
#: Columns that are not scores: no best value, never bold.
UNRANKED: frozenset[str] = frozenset(ENERGY.values())
#: Every column a table may ask for.
KNOWN_COLUMNS: frozenset[str] = frozenset(
    (*BENCHMARK_COLUMNS, *JUDGE_COLUMNS, *DOMAIN_AVG.values(), TOTAL, OOD, REG, RET_GAIN, *UNRANKED)
)


class Undefined(ValueError):
    """A metric the given scores do not define (a column they lack, a gain that is not one); the
    message says why in words, for the notes a table prints under itself."""


def _require(scores: Mapping[str, float], columns: Sequence[str], what: str) -> list[float]:
    missing = [c for c in columns if c not in scores]
    if missing:
        raise Undefined(f"{what} needs benchmark column(s) {missing}; have {sorted(scores)}")
    return [float(scores[c]) for c in columns]


def _lacking(checkpoints: Mapping[str, Mapping[str, float]], columns: Sequence[str]) -> None:
    """Raise Undefined naming each checkpoint that lacks one of ``columns`` (a domain average is
    absent when one of its benchmarks has no score, e.g. a chat judge that never parsed)."""
    gaps = {name: [c for c in columns if c not in s] for name, s in checkpoints.items()}
    gaps = {name: cols for name, cols in gaps.items() if cols}
    if gaps:
        said = "; ".join(f"{name} has no {', '.join(cols)}" for name, cols in gaps.items())
        raise Undefined(f"needs {list(columns)}: {said}")


def domain_average(scores: Mapping[str, float], domain: Domain) -> float:
    """Mean of one domain's benchmark scores."""
    return float(np.mean(_require(scores, DOMAIN_BENCHMARKS[domain], DOMAIN_AVG[domain])))


def total_average(scores: Mapping[str, float]) -> float:
    """Mean over all eight benchmarks (the paper's Total Avg)."""
    return float(np.mean(_require(scores, BENCHMARK_COLUMNS, TOTAL)))


def averages(scores: Mapping[str, float]) -> dict[str, float]:
    """Every domain average and Total Avg that ``scores`` has the benchmarks for."""
    out = {
        DOMAIN_AVG[d]: domain_average(scores, d)
        for d, cols in DOMAIN_BENCHMARKS.items()
        if all(c in scores for c in cols)
    }
    if all(c in scores for c in BENCHMARK_COLUMNS):
        out[TOTAL] = total_average(scores)
    return out


def set_std(set_means: Sequence[float]) -> float:
    """Sample std (ddof=1) across sample sets, the paper's convention; NaN with fewer than two sets."""
    values = np.asarray(set_means, dtype=float)
    return float(np.std(values, ddof=1)) if values.size > 1 else float("nan")


def average_stds(set_means: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Std of each domain average and of Total Avg, from the benchmarks' per-sample-set means.

    Set k of an average is the average of the benchmarks' set-k means, so every benchmark must
    have the same number of sets.
    """
    lengths = {len(v) for v in set_means.values()}
    if len(lengths) > 1:
        raise ValueError(
            f"benchmarks have different numbers of sample sets: { {k: len(v) for k, v in set_means.items()} }"
        )
    per_set = [dict(zip(set_means, values, strict=True)) for values in zip(*set_means.values(), strict=True)]
    if not per_set:
        return {}
    by_set = [averages(scores) for scores in per_set]
    return {name: set_std([s[name] for s in by_set]) for name in by_set[0]}


def ood_change(scores: Mapping[str, float], base: Mapping[str, float], target: Domain) -> float:
    """Mean change, vs. base, of the domain averages of the two domains that were not trained."""
    if target not in DOMAIN_AVG:
        raise ValueError(f"unknown target domain {target!r}; expected one of {list(DOMAIN_AVG)}")
    others = [d for d in DOMAIN_AVG if d != target]
    _lacking({"the checkpoint": scores, "the base": base}, [DOMAIN_AVG[d] for d in others])
    return float(np.mean([scores[DOMAIN_AVG[d]] - base[DOMAIN_AVG[d]] for d in others]))


def regression(scores: Mapping[str, float], after_stage: Mapping[Domain, Mapping[str, float]]) -> float:
    """Mean drop of each previously trained domain's average since right after its own stage.

    ``after_stage[d]`` holds the averages of the checkpoint saved right after domain d's stage.
    A rise counts as a negative drop (the paper's "average drop"); no earlier domain gives 0.0.
    """
    if not after_stage:
        return 0.0
    for d, ref in after_stage.items():
        col = DOMAIN_AVG[d]
        _lacking({"the checkpoint": scores, f"the checkpoint after the {d} stage": ref}, [col])
    return float(np.mean([ref[DOMAIN_AVG[d]] - scores[DOMAIN_AVG[d]] for d, ref in after_stage.items()]))


def retained_gain(
    edited: Mapping[Domain, float], base: Mapping[Domain, float], full: Mapping[Domain, float]
) -> float:
    """Percent of the full single-domain gain an edited checkpoint keeps, averaged over domains.

    Defined only where the full update gained: over a loss the ratio flips its meaning (an edit that
    keeps all of a drop would read 100%), so a domain whose full update did not raise its average
    makes the metric undefined rather than silently inverted."""
    _lacking({"the base": base, "the full update": full}, list(edited))
    fractions = []
    for d, value in edited.items():
        gain = full[d] - base[d]
        if gain <= 0:
            raise Undefined(
                f"Ret. Gain undefined for domain {d!r}: the full update did not raise it "
                f"(base {base[d]:.4g}, full update {full[d]:.4g})"
            )
        fractions.append((value - base[d]) / gain)
    return 100.0 * float(np.mean(fractions))
