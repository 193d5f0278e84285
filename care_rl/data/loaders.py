"""Datasets by name: the one place that knows which dataset serves which domain or benchmark.

``load_train`` / ``load_eval`` / ``load_judge`` / ``load_pairs`` return records; ``source`` is
``"mini"`` (the shipped stand-ins) or ``"hub"`` (the real datasets). Unknown names raise
``ConfigError`` listing the known ones, so a typo in an experiment YAML fails before compute starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from care_rl.config import ConfigError
from care_rl.data.eval_sets import EVAL_SPECS
from care_rl.data.io import read_rows
from care_rl.data.judge_sets import JUDGE_SPECS, PAIR_SPECS
from care_rl.data.records import EvalItem, JudgeItem, PreferencePair, TrainPrompt
from care_rl.data.selection import math_mix, seeded_sample
from care_rl.data.spec import HELDOUT_DIR, MINI_DIR, DatasetSpec, Kind, check_origin
from care_rl.data.train_sets import TRAIN_SPECS

SPECS: dict[str, DatasetSpec] = {s.name: s for s in (*TRAIN_SPECS, *EVAL_SPECS, *JUDGE_SPECS, *PAIR_SPECS)}
# Paper Sec. 4.1: which training datasets make up each domain's prompts.
DOMAIN_SOURCES: dict[str, tuple[str, ...]] = {
    "math": ("aime_1983_2024", "openr1_math"),
    "chat": ("no_robots",),
    "if": ("rlvr_ifeval",),
}
EVAL_BENCHMARKS = tuple(s.name for s in EVAL_SPECS)
JUDGE_BENCHMARKS = tuple(s.name for s in JUDGE_SPECS)
PAIR_SOURCES = tuple(s.name for s in PAIR_SPECS)


def known_names(kind: Kind) -> list[str]:
    return (
        sorted(DOMAIN_SOURCES) if kind == "train" else sorted(n for n, s in SPECS.items() if s.kind == kind)
    )


def check_names(kind: Kind, names: Iterable[str]) -> None:
    """Config validation: every name must be a known domain (train) or dataset of ``kind``."""
    known = known_names(kind)
    unknown = sorted(set(names) - set(known))
    if unknown:
        label = "domain" if kind == "train" else f"{kind} dataset"
        raise ConfigError(f"unknown {label}(s) {unknown}; known: {known}")


def spec_for(name: str, kind: Kind | None = None) -> DatasetSpec:
    spec = SPECS.get(name)
    if spec is None or (kind is not None and spec.kind != kind):
        known = known_names(kind) if kind and kind != "train" else sorted(SPECS)
        raise ConfigError(f"unknown dataset {name!r}; known: {known}")
    return spec


def load_records(name: str, source: str, kind: Kind | None = None) -> list[Any]:
    """Every record of one dataset, in the dataset's row order."""
    spec = spec_for(name, kind)
    rows = read_rows(spec, check_origin(source))
    return [rec for row in rows for rec in spec.to_records(row)]


def load_train(domain: str, source: str, n: int, seed: int = 42) -> list[TrainPrompt]:
    """The paper's per-domain training prompts: n per domain (8,000 in the paper), seeded."""
    check_names("train", [domain])
    if domain == "math":
        aime, openr1 = (load_records(name, source, "train") for name in DOMAIN_SOURCES["math"])
        return math_mix(aime, openr1, n, seed)
    (name,) = DOMAIN_SOURCES[domain]
    return seeded_sample(load_records(name, source, "train"), n, seed, name)


def _mini_heldout(domain: str) -> list[TrainPrompt]:
    """The shipped validation stand-ins of a domain's training sets (none for AIME, all trained on)."""
    prompts: list[TrainPrompt] = []
    for name in DOMAIN_SOURCES[domain]:
        spec = spec_for(name, "train")
        held = dataclasses.replace(spec, mini_file=str((HELDOUT_DIR / spec.mini_file).relative_to(MINI_DIR)))
        if held.mini_path.is_file():
            prompts += [rec for row in read_rows(held, "mini") for rec in held.to_records(row)]
    return prompts


def load_heldout(domain: str, source: str, n: int, k: int, seed: int = 42) -> list[TrainPrompt]:
    """k validation prompts of a domain, none of them among its n training prompts, seeded.

    The interference monitor, and through it MOPD's choice of teachers, scores these. Candidates are
    the domain's prompts left out of the training selection (selection is nested, so the n + k sample
    minus the n: on the hub, 8,000 of 94k-220k rows are trained on) plus, on the mini origin, the shipped
    validation stand-ins (``mini/heldout/``), because a profile asking for n = 8,000 takes every row of
    a 200-row mini pool. Fewer than k candidates is a ConfigError naming the numbers, so a monitor
    never silently scores nothing (a cpu MOPD once compared its checkpoints on no prompts at all).
    """
    if k <= 0:
        raise ConfigError(f"held-out prompts per domain must be > 0, got {k}")
    train_ids = {p.id for p in load_train(domain, source, n, seed)}
    candidates = [p for p in load_train(domain, source, n + k, seed) if p.id not in train_ids]
    if check_origin(source) == "mini":
        candidates += [p for p in _mini_heldout(domain) if p.id not in train_ids]
    if len(candidates) < k:
        raise ConfigError(
            f"domain {domain!r} ({source}): {k} held-out prompts wanted, only {len(candidates)} are outside "
            f"the {len(train_ids)} training prompts (data.prompts_per_domain = {n}); lower prompts_per_domain "
            "or the monitor's prompt count"
        )
    return seeded_sample(candidates, k, seed, f"{domain} held-out")


def load_eval(benchmark: str, source: str) -> list[EvalItem]:
    return load_records(benchmark, source, "eval")


def load_judge(benchmark: str, source: str) -> list[JudgeItem]:
    return load_records(benchmark, source, "judge")


def load_pairs(source_name: str, source: str) -> list[PreferencePair]:
    return load_records(source_name, source, "pairs")
