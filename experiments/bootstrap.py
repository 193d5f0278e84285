"""Paired bootstrap for Total Avg differences (beyond the paper, which reports point estimates only).

Two methods scored on the same prompts differ partly by which prompts happened to be in each
benchmark and which of the four samples came out well. The paired bootstrap resamples both:
per benchmark it draws prompts with replacement (the same prompts for both methods, which is the
pairing) and, within each drawn prompt, that method's samples with replacement (each method's
own samples: sample k of one method has nothing to do with sample k of the other). Each replicate
recomputes Total Avg (mean of the benchmark means) for both methods; the spread of the replicate
differences gives the 95% percentile interval, and ``p_boot`` is the fraction of replicates whose
difference is <= 0 (the bootstrap's one-sided evidence that the first method is not better).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from care_rl.config import ConfigError, cache_dir
from experiments.paths import TABLES_DIR, load_named_profile
from experiments.results import load_samples
from experiments.tables import load_spec, write_table

REFERENCE = "care-rl/math"  # the method under test: CARE-RL's final checkpoint


def baselines() -> list[str]:
    """What CARE-RL is compared with: every other row of Table 2 (experiments/tables/table2.yaml), by
    result key, in the table's order."""
    return [row.result for row in load_spec("table2").rows if row.result not in (None, REFERENCE)]


def table2_labels() -> dict[str, str]:
    """Result key -> Table 2 row label ("vnv/chat" -> "VNV"), so the companion table names methods
    as Table 2 does (table2.yaml traces a label back to its checkpoint)."""
    return {row.result: row.label for row in load_spec("table2").rows if row.result is not None}


@dataclass(frozen=True)
class BootstrapResult:
    diff: float  # observed Total Avg(a) - Total Avg(b), points
    ci_low: float
    ci_high: float
    p_boot: float  # fraction of replicate differences <= 0
    n_resamples: int
    seed: int


def _score_matrix(samples: pd.DataFrame, column: str, items: pd.Index) -> np.ndarray:
    """Items x samples score matrix of one benchmark; NaN marks a missing (unscored) sample."""
    sub = samples[samples["column"] == column]
    return sub.pivot(index="item", columns="sample", values="score").reindex(items).to_numpy(dtype=float)


def _pooled_mean(values: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Mean of the present (non-NaN) scores, as avg@k pools them (eval/avg_at_k.py)."""
    present = ~np.isnan(values)
    return np.where(present, values, 0.0).sum(axis=axes) / present.sum(axis=axes)


def _resampled_means(scores: np.ndarray, item_idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-replicate benchmark mean after resampling prompts (given) and samples within prompt."""
    n_rep, n_items = item_idx.shape
    k = scores.shape[1]
    sample_idx = rng.integers(0, k, size=(n_rep, n_items, k))
    return _pooled_mean(scores[item_idx[..., None], sample_idx], (1, 2))


def total_avg(samples: pd.DataFrame) -> float:
    """Total Avg of per-sample scores: mean over benchmarks of the pooled mean of present samples."""
    return float(samples.dropna(subset=["score"]).groupby("column")["score"].mean().mean())


class UndefinedTotal(ValueError):
    """A benchmark has no scored sample (e.g. every judge output unparseable): no Total Avg to compare."""


def paired_bootstrap(
    a: pd.DataFrame, b: pd.DataFrame, *, n_resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> BootstrapResult:
    """Bootstrap Total Avg(a) - Total Avg(b) over shared prompts (frames from results.load_samples)."""
    if set(a["column"]) != set(b["column"]):
        raise ValueError(
            f"methods cover different benchmarks: {sorted(set(a['column']))} vs {sorted(set(b['column']))}"
        )
    if n_resamples < 1 or not 0 < level < 1:
        raise ValueError(f"need n_resamples >= 1 and 0 < level < 1, got {n_resamples}, {level}")
    rng = np.random.default_rng(seed)
    columns = sorted(set(a["column"]))
    diffs = np.zeros(n_resamples)
    observed = 0.0
    for column in columns:
        items_a = set(a.loc[a["column"] == column, "item"])
        items_b = set(b.loc[b["column"] == column, "item"])
        if items_a != items_b:
            only = sorted(items_a ^ items_b)[:5]
            raise ValueError(f"{column}: the two methods were scored on different prompts, e.g. {only}")
        items = pd.Index(sorted(items_a))
        sa, sb = _score_matrix(a, column, items), _score_matrix(b, column, items)
        if np.isnan(sa).all() or np.isnan(sb).all():
            raise UndefinedTotal(
                f"{column}: no scored sample in one of the methods, so Total Avg is undefined"
            )
        item_idx = rng.integers(0, len(items), size=(n_resamples, len(items)))
        diffs += _resampled_means(sa, item_idx, rng) - _resampled_means(sb, item_idx, rng)
        observed += float(_pooled_mean(sa, (0, 1)) - _pooled_mean(sb, (0, 1)))
    diffs /= len(columns)
    if np.isnan(diffs).any():
        raise ValueError("a replicate drew only missing samples for some benchmark; too few scored samples")
    tail = (1 - level) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    return BootstrapResult(
        diff=observed / len(columns),
        ci_low=float(low),
        ci_high=float(high),
        p_boot=float(np.mean(diffs <= 0)),
        n_resamples=n_resamples,
        seed=seed,
    )


def bootstrap_table(
    samples: dict[str, pd.DataFrame],
    reference: str,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    missing: list[str] | None = None,
    labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The companion table: reference method vs. each other method, one row per baseline.

    ``labels`` maps result keys to display names (rows and the index header); a key without one
    keeps its key. With ``missing`` a comparison whose Total Avg is undefined is left blank and the reason appended
    (as the table builders do); without it the error propagates."""
    if reference not in samples:
        raise ValueError(f"reference method {reference!r} not among {sorted(samples)}")
    rows = {}
    for name, frame in samples.items():
        if name == reference:
            continue
        try:
            r = paired_bootstrap(samples[reference], frame, n_resamples=n_resamples, seed=seed)
        except UndefinedTotal as e:
            if missing is None:
                raise
            missing.append(f"bootstrap {reference} vs {name}: {e}")
            rows[name] = dict.fromkeys(("Diff. Total Avg", "CI low", "CI high", "p boot"), float("nan"))
            continue
        rows[name] = {"Diff. Total Avg": r.diff, "CI low": r.ci_low, "CI high": r.ci_high, "p boot": r.p_boot}
    labels = labels or {}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = [labels.get(k, k) for k in table.index]
    return table.rename_axis(f"{labels.get(reference, reference)} vs.")


def main(argv: list[str] | None = None) -> int:
    """Write tables/bootstrap.{tex,csv}: CARE-RL vs. each baseline, from the checkpoints' per-sample files."""
    parser = argparse.ArgumentParser(prog="python -m experiments.bootstrap", description=main.__doc__)
    parser.add_argument("--reference", default=REFERENCE, help="result key of the method under test")
    parser.add_argument("--baselines", nargs="+", default=None, help="default: Table 2's other rows")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--results", type=Path, default=None, help="folder of <key>/summary.json checkpoints")
    parser.add_argument("--n-resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=TABLES_DIR)
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        profile = load_named_profile(args.profile, check_device=False)
        results = args.results or cache_dir() / "results" / profile.name
        keys = [args.reference, *(args.baselines or baselines())]
        samples = {k: load_samples(results / k / "summary.json") for k in keys}
        labels = table2_labels()
        table = bootstrap_table(
            samples, args.reference, n_resamples=args.n_resamples, seed=args.seed, labels=labels
        )
        paths = write_table(
            "bootstrap",
            table,
            profile.name,
            profile.policy.name_or_path,
            dt.date.today().isoformat(),
            args.out,
            title=f"Paired bootstrap ({args.n_resamples} resamples of prompts and samples, seed {args.seed}): "
            f"Total Avg difference of {labels.get(args.reference, args.reference)} vs. each baseline, 95% CI",
            formats={"p boot": ".3f"},
            wall_time_s=time.monotonic() - start,
        )
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
