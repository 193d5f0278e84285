"""The evaluation suite as data (paper Sec. 4.1): one table, one row per benchmark.

A row is everything the code knows about a benchmark: its name (CLI, results files), its table column
(the paper's Table 2 abbreviation), its domain, the data set its items come from
(``care_rl.data.eval_sets``: hub id, schema, row -> items), the scorer, the metric it reports and, for a
judged benchmark, the judge prompt in eval/templates/. Every other list derives from this table: the
domain averages' columns (experiments/metrics.py), the names a results file may use
(experiments/results.py), the CLI's choices. Adding a benchmark is a data set spec and one row here.

Row order is the paper's Table 2 column order (Math, Chat, IF).
"""

from __future__ import annotations

from dataclasses import dataclass

from care_rl.config import ConfigError
from care_rl.data.eval_sets import AIME2025, CW3, GSM8K, IFBENCH, IFEVAL, MATH500, RESEARCHQA, WILDBENCH
from care_rl.data.records import Domain
from care_rl.data.spec import DatasetSpec
from eval.scorers import (
    Scorer,
    score_cw3,
    score_ifbench,
    score_ifeval,
    score_math,
    score_researchqa,
    score_wildbench,
)

MATH_METRIC = "accuracy (math-verify)"
IF_METRIC = "prompt-level strict acc"


@dataclass(frozen=True)
class Benchmark:
    """``aliases`` are further names a results file may give the benchmark (e.g. lm-eval task names).

    ``scorer_revision`` is hashed into the results file's key (``eval.checkpoint_eval.config_hash``):
    bump it with any change to the scorer or its verifiers that can change a verdict, so that scores
    cached under the old scorer are recomputed instead of served (the scorer's name alone does not
    change when its verifier is fixed).
    """

    name: str
    label: str
    domain: Domain
    data: DatasetSpec
    scorer: Scorer
    metric: str
    template: str | None = None
    aliases: tuple[str, ...] = ()
    scorer_revision: int = 1

    @property
    def loader(self) -> str:
        """The data set's name, as ``care_rl.data.loaders.load_eval`` knows it."""
        return self.data.name


# Revision 2 of every scorer: the verifiers follow their originals (docs/verifier_agreement.md) and every
# scorer reads only the answer after the thinking (care_rl/thinking.py).
TABLE: tuple[Benchmark, ...] = (
    Benchmark("math500", "MATH", "math", MATH500, score_math, MATH_METRIC, scorer_revision=2),
    Benchmark("gsm8k", "GSM", "math", GSM8K, score_math, MATH_METRIC, scorer_revision=2),
    Benchmark(
        "aime", "AIME", "math", AIME2025, score_math, MATH_METRIC, aliases=("aime25",), scorer_revision=2
    ),
    Benchmark(
        "wildbench", "WB", "chat", WILDBENCH, score_wildbench, "WB-Score", "wildbench", scorer_revision=2
    ),
    Benchmark("cw3", "CW3", "chat", CW3, score_cw3, "rubric score 0-100", "cw3", scorer_revision=2),
    Benchmark(
        "researchqa",
        "RQA",
        "chat",
        RESEARCHQA,
        score_researchqa,
        "rubric coverage",
        "researchqa",
        scorer_revision=2,
    ),
    Benchmark("ifbench", "IFB", "if", IFBENCH, score_ifbench, IF_METRIC, scorer_revision=2),
    Benchmark("ifeval", "IFE", "if", IFEVAL, score_ifeval, IF_METRIC, scorer_revision=2),
)

#: The judge-accuracy benchmarks of Table 6 (care_rl.data.judge_sets), name -> table column.
JUDGE_BENCHMARKS: dict[str, str] = {
    "rewardbench2": "RewardBench2",
    "judgebench": "JudgeBench",
    "rmbench": "RM-Bench",
}

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in TABLE}


def columns_by_domain() -> dict[Domain, tuple[str, ...]]:
    """Each domain's table columns, domains and columns in table order."""
    domains = dict.fromkeys(b.domain for b in TABLE)
    return {d: tuple(b.label for b in TABLE if b.domain == d) for d in domains}


def column_names() -> dict[str, str]:
    """Every name a results file may use for a benchmark (its name, its data set's name, its aliases)
    -> its table column; the judge-accuracy benchmarks included."""
    names = {n: b.label for b in TABLE for n in (b.name, b.data.name, *b.aliases)}
    return {**names, **JUDGE_BENCHMARKS}


def select(names: list[str] | None) -> list[Benchmark]:
    """The named benchmarks (all eight when ``names`` is empty), failing on an unknown name."""
    if not names:
        return list(TABLE)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ConfigError(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    return [BENCHMARKS[n] for n in names]
