"""The evaluation items of a run: each benchmark loaded, capped, and decontaminated against training data.

Order of operations follows the paper's sentence ("we cap each evaluation benchmark at 500 examples
and perform train-test decontamination"): the first ``cap`` items in dataset order (``eval.caps`` may set a lower cap per benchmark), then every item
whose prompt matches a training prompt is dropped, and how many were dropped is kept per benchmark.
The training side is every prompt the RL stages train on (each domain's ``load_train`` sample) plus
every prompt of PA-GRM's preference pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

from care_rl.config import DOMAINS, ConfigError, EvalSpec, Profile
from care_rl.data.records import EvalItem
from eval.benchmarks import Benchmark
from eval.decontam import flag_contaminated

DECONTAM_N = 5
DECONTAM_THRESHOLD = 0.8


@dataclass(frozen=True)
class SuiteEntry:
    benchmark: Benchmark
    items: list[EvalItem]
    n_lost_to_decontam: int


def training_texts(profile: Profile) -> list[str]:
    """Every RL training prompt of the profile's data (all domains) and every PA-GRM pair prompt."""
    from care_rl.data.loaders import PAIR_SOURCES, load_pairs, load_train

    data = profile.data
    texts = [p.text for d in DOMAINS for p in load_train(d, data.source, data.prompts_per_domain, data.seed)]
    texts += [pair.prompt for name in PAIR_SOURCES for pair in load_pairs(name, data.source)]
    return texts


def build_suite(
    benchmarks: list[Benchmark], source: str, spec: EvalSpec, train_texts: list[str]
) -> list[SuiteEntry]:
    """Load, cap (``spec.cap_for`` each benchmark) and decontaminate each benchmark."""
    from care_rl.data.loaders import load_eval
    from eval.benchmarks import BENCHMARKS

    unknown = sorted(set(spec.caps) - set(BENCHMARKS))
    if unknown:
        raise ConfigError(f"eval.caps names unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    suite = []
    for bench in benchmarks:
        items = load_eval(bench.loader, source)[: spec.cap_for(bench.name)]
        flags = flag_contaminated([it.text for it in items], train_texts, DECONTAM_N, DECONTAM_THRESHOLD)
        kept = [it for it, bad in zip(items, flags, strict=True) if not bad]
        suite.append(SuiteEntry(bench, kept, len(items) - len(kept)))
    return suite
