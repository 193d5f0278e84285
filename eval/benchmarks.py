"""The evaluation suite as data (paper Sec. 4.1): a benchmark is a name, a domain, the dataset the
loaders know it by, a scorer and the metric it reports -- not a class hierarchy (as in lm-eval).

Order is the paper's Table 2 column order (Math, Chat, IF).
"""

from __future__ import annotations

from dataclasses import dataclass

from care_rl.config import ConfigError
from care_rl.data.records import Domain
from eval import scorers
from eval.scorers import Scorer


@dataclass(frozen=True)
class Benchmark:
    """``loader`` is the dataset name for ``care_rl.data.loaders.load_eval``; ``template`` names the
    judge prompt in eval/templates/ for judged benchmarks (None for verifiable ones)."""

    name: str
    label: str
    domain: Domain
    loader: str
    scorer: Scorer
    metric: str
    template: str | None = None


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("math500", "MATH", "math", "math500", scorers.score_math, "accuracy (math-verify)"),
        Benchmark("gsm8k", "GSM", "math", "gsm8k", scorers.score_math, "accuracy (math-verify)"),
        Benchmark("aime", "AIME", "math", "aime2025", scorers.score_math, "accuracy (math-verify)"),
        Benchmark("wildbench", "WB", "chat", "wildbench", scorers.score_wildbench, "WB-Score", "wildbench"),
        Benchmark("cw3", "CW3", "chat", "cw3", scorers.score_cw3, "rubric score 0-100", "cw3"),
        Benchmark(
            "researchqa",
            "RQA",
            "chat",
            "researchqa",
            scorers.score_researchqa,
            "rubric coverage",
            "researchqa",
        ),
        Benchmark("ifbench", "IFB", "if", "ifbench", scorers.score_ifbench, "prompt-level strict acc"),
        Benchmark("ifeval", "IFE", "if", "ifeval", scorers.score_ifeval, "prompt-level strict acc"),
    )
}


def select(names: list[str] | None) -> list[Benchmark]:
    """The named benchmarks (all eight when ``names`` is empty), failing on an unknown name."""
    if not names:
        return list(BENCHMARKS.values())
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ConfigError(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    return [BENCHMARKS[n] for n in names]
