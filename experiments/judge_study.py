"""Table 6: judging accuracy of each reward-judge variant on the three judge benchmarks.

Variants: direct (the untrained base judge, as in training's w/o-PA-GRM ablation), holistic, rubric
and pagrm (on the trained PA-GRM adapter when the profile names one, else the base judge), and pagrm_ds
(the PA-GRM protocol on the stronger judge of experiments/runner.yaml's ``judge_ds``; skipped when none
is configured). Each benchmark is sampled with ``sample_items`` (n per profile, seed 42).

Results are cached as one JSON per variant under ``<root>/<profile>-judge-<variant>-<hash>.json``; the
hash covers the judge spec, the adapter's content, the item ids and the judge prompt templates. The
summary is written in the shape experiments.results.load_summary reads (percent).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from care_rl.atomic import write_text_atomic
from care_rl.config import ConfigError, JudgeSpec, Profile
from care_rl.data.records import JudgeItem
from care_rl.revision import git_commit
from eval.benchmarks import JUDGE_BENCHMARKS
from eval.run import adapter_digest


def judge_for(
    profile: Profile, variant: str, judge_ds: JudgeSpec | None
) -> tuple[str, JudgeSpec, Path | None]:
    """(PA-GRM variant, judge spec, adapter) of a Table 6 row."""
    from care_rl.judges.factory import pagrm_adapter

    if variant == "pagrm_ds":
        if judge_ds is None:
            raise ConfigError("variant pagrm_ds needs judge_ds in experiments/runner.yaml for this profile")
        return "pagrm", judge_ds, None
    if variant == "direct":
        return "direct", profile.judge, None
    return variant, profile.judge, pagrm_adapter(profile)


def study_items(profile: Profile, n: int, seed: int) -> dict[str, list[JudgeItem]]:
    from care_rl.data.loaders import load_judge
    from eval.judge_accuracy import sample_items

    return {b: sample_items(load_judge(b, profile.data.source), n, seed) for b in JUDGE_BENCHMARKS}


def result_path(
    root: Path, profile: Profile, variant: str, judge_ds: JudgeSpec | None, items: dict[str, list[JudgeItem]]
) -> Path:
    from care_rl.pagrm.judge import PROTOCOL_PREFILL
    from care_rl.pagrm.templates import TEMPLATE_DIGEST

    mode, spec, adapter = judge_for(profile, variant, judge_ds)
    payload = {
        "mode": mode,
        "judge": spec.model_dump(mode="json"),
        "tokenizer": profile.tokenizer.model_dump(mode="json") if profile.tokenizer else None,
        "adapter": adapter_digest(adapter) if adapter is not None else None,
        "items": {b: [it.id for it in its] for b, its in items.items()},
        "templates": TEMPLATE_DIGEST,
    }
    if mode in ("holistic", "rubric") and spec.backend == "local":  # see PAGRMJudge._protocol_prefill
        payload["protocol_prefill"] = PROTOCOL_PREFILL[mode]
    h = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    return root / f"{profile.name}-judge-{variant}-{h}.json"


def run_variant(
    profile: Profile, variant: str, judge_ds: JudgeSpec | None, items: dict[str, list[JudgeItem]]
) -> dict[str, Any]:
    """Score every benchmark's items with one variant; a load_summary-shaped dict (percent)."""
    from care_rl.judges.factory import build_backend
    from care_rl.pagrm.judge import PAGRMJudge
    from eval.judge_accuracy import judge_accuracy, scorer_from_judge

    mode, spec, adapter = judge_for(profile, variant, judge_ds)
    backend = build_backend(spec, tokenizer_spec=profile.tokenizer, adapter_path=adapter)
    judge = PAGRMJudge(mode, backend)  # type: ignore[arg-type]
    scorer = scorer_from_judge(judge)
    rows = {}
    for bench, its in tqdm(items.items(), desc=f"judge study {variant}", unit="benchmark"):
        r = judge_accuracy(bench, its, scorer)
        rows[bench] = {
            "mean": 100.0 * r.accuracy,
            "std": None,
            "n": r.n_items,
            "official": 100.0 * r.official,
            "by_subset": {k: 100.0 * v for k, v in r.by_subset.items()},
            "extra": r.extra,
            "failed_scores": r.failed_scores,
        }
    return {
        "benchmarks": rows,
        "variant": variant,
        "judge": backend.name,
        "judge_metrics": dict(judge.metrics),
    }


def judge_summary(
    root: Path, profile: Profile, variant: str, judge_ds: JudgeSpec | None, items: dict[str, list[JudgeItem]]
) -> tuple[Path, bool]:
    """The cached result of one variant, computed if missing; (path, computed now)."""
    path = result_path(root, profile, variant, judge_ds, items)
    if path.is_file():
        return path, False
    start = time.monotonic()
    summary = run_variant(profile, variant, judge_ds, items)
    summary |= {"wall_time_s": time.monotonic() - start, "commit": git_commit()}
    write_text_atomic(path, json.dumps(summary, indent=1, sort_keys=True))
    return path, True
