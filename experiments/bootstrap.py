"""Paired bootstrap for Total Avg differences (beyond the paper, which reports point estimates only).

Two methods scored on the same prompts differ partly by which prompts happened to be in each
benchmark, which of the four samples came out well and, where a method was trained with several
training seeds (a table's seeded rows, experiments/runner.yaml ``seeds``), which seeds it ran with.
The bootstrap is hierarchical and resamples all three, outermost first:

1. training seeds: each replicate draws a method's seeds with replacement, as many as it has. Two
   methods trained with the same seeds are paired by seed (one draw for both): at one seed they
   share the cascade's first stage (same content key, care_rl.training.cascade_plan) and the seeded
   random streams, so they are not independent runs. Methods with different seeds (a baseline
   trained once) are drawn independently; one trained once keeps its one run, so its interval
   holds no seed variance of its own;
2. prompts: per benchmark, prompts with replacement, the same prompts for every run of both methods
   (every run is evaluated on the same prompts: the pairing);
3. samples: within each drawn run and prompt, that run's samples with replacement (sample k of one
   run has nothing to do with sample k of another).

Each replicate recomputes each method's Total Avg (mean over its drawn seeds of the mean over
benchmarks of the pooled benchmark mean, as the tables average seeds) and their difference; the
spread of the replicate differences gives the 95% percentile interval, and ``p_boot`` is the fraction
of replicates whose difference is <= 0 (the bootstrap's one-sided evidence that the first method is
not better). With one seed per method no seed is drawn, so the random stream, and every number, is
the plain paired bootstrap over prompts and samples.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from care_rl.config import ConfigError, cache_dir
from experiments.checkpoints import Seeds
from experiments.paths import TABLES_DIR, load_named_profile
from experiments.results import load_samples
from experiments.runconfig import load_runner_config
from experiments.tables import load_spec, write_table

REFERENCE = "care-rl/math"  # the method under test: CARE-RL's final checkpoint

#: one method's evaluated runs: a single run, or {training seed: run} (frames from results.load_samples)
Runs = pd.DataFrame | Mapping[int, pd.DataFrame]


def baselines() -> list[str]:
    """What CARE-RL is compared with: every other row of Table 2 (experiments/tables/table2.yaml), by
    result key, in the table's order."""
    return [row.result for row in load_spec("table2").rows if row.result not in (None, REFERENCE)]


def table2_labels() -> dict[str, str]:
    """Result key -> Table 2 row label ("vnv/chat" -> "VNV"), so the companion table names methods
    as Table 2 does (table2.yaml traces a label back to its checkpoint)."""
    return {row.result: row.label for row in load_spec("table2").rows if row.result is not None}


def seed_keys(keys: Sequence[str], seeds: Seeds) -> dict[str, dict[int, str]]:
    """Each compared result key -> {training seed: the result key of that seed's run}: every seed of
    a seeded Table 2 row, the profile's own seed (the plain key) for any other key."""
    seeded = {row.result for row in load_spec("table2").rows if row.seeded}
    return {k: {s: seeds.key(k, s) for s in (seeds.all if k in seeded else (seeds.plain,))} for k in keys}


def load_runs(results: Path, keys: Mapping[str, Mapping[int, str]]) -> dict[str, dict[int, pd.DataFrame]]:
    """The per-sample scores of every run ``seed_keys`` names, under ``results``."""
    return {
        k: {s: load_samples(results / key / "summary.json") for s, key in runs.items()}
        for k, runs in keys.items()
    }


def title(n_resamples: int, seed: int, subject: str, seeded: Sequence[str]) -> str:
    """The companion table's caption; it names the methods whose training seeds were resampled."""
    what = "prompts and samples"
    if seeded:
        what = f"training seeds ({', '.join(seeded)}), {what}"
    return (
        f"Paired bootstrap ({n_resamples} resamples of {what}, seed {seed}): "
        f"Total Avg difference of {subject} vs. each baseline, 95% CI"
    )


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


def _draw_seeds(rng: np.random.Generator, n_seeds: int, n_rep: int) -> np.ndarray:
    """Replicates x drawn seed indices; one seed draws nothing (the random stream stays the plain
    bootstrap's)."""
    if n_seeds == 1:
        return np.zeros((n_rep, 1), dtype=np.int64)
    return rng.integers(0, n_seeds, size=(n_rep, n_seeds))


def _resampled_means(
    scores: np.ndarray, seed_idx: np.ndarray, item_idx: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Per-replicate benchmark mean of one method: seeds x items x samples ``scores`` resampled at the
    drawn seeds and prompts (given) and samples within each drawn run and prompt, pooled per seed as
    avg@k pools, then averaged over the drawn seeds."""
    n_rep, n_items = item_idx.shape
    k = scores.shape[2]
    sample_idx = rng.integers(0, k, size=(n_rep, seed_idx.shape[1], n_items, k))
    drawn = scores[seed_idx[:, :, None, None], item_idx[:, None, :, None], sample_idx]
    return _pooled_mean(drawn, (2, 3)).mean(axis=1)


def _seed_mean(scores: np.ndarray) -> float:
    """A method's benchmark mean: the mean over its seeds of each run's pooled mean."""
    return float(np.mean([_pooled_mean(run, (0, 1)) for run in scores]))


def total_avg(samples: pd.DataFrame) -> float:
    """Total Avg of per-sample scores: mean over benchmarks of the pooled mean of present samples."""
    return float(samples.dropna(subset=["score"]).groupby("column")["score"].mean().mean())


class Unscored(ValueError):
    """A run has no scored sample on a benchmark it is resampled on: its mean is undefined."""


class UndefinedTotal(Unscored):
    """A benchmark has no scored sample (e.g. every judge output unparseable): no Total Avg to compare."""


@dataclass(frozen=True)
class Replicates:
    """Benchmark means of several checkpoints under one hierarchical bootstrap: ``observed[name][column]``
    is a checkpoint's mean over its seeds of each run's pooled mean, ``draws[name][column]`` the same
    mean in each replicate (n_resamples values). A statistic of several checkpoints is computed from
    these, replicate by replicate, so every checkpoint in it is resampled at the same seeds (where
    paired) and prompts."""

    observed: dict[str, dict[str, float]]
    draws: dict[str, dict[str, np.ndarray]]


def resample(
    checkpoints: Mapping[str, Mapping[int | None, pd.DataFrame]], *, n_resamples: int = 2000, seed: int = 0
) -> Replicates:
    """The hierarchical bootstrap of the module docstring, for any number of checkpoints, each given as
    {training seed: per-sample scores} (one run: one entry). Checkpoints trained with the same seeds
    (more than one) are paired by seed: one seed draw for all of them, seed i of each being the same
    seed (the cascade they belong to: Reg. compares checkpoints of one run). Every checkpoint that
    scores a benchmark is resampled on the same prompts (they must all hold the same prompts of it);
    a checkpoint may hold only some benchmarks (a one-domain evaluation). Samples are drawn within each
    run and prompt. The random stream is consumed in a fixed order (seed sets in the order they first
    appear, then per benchmark in sorted order its prompts and each checkpoint's samples, in the given
    order), so ``paired_bootstrap``'s numbers are these, bit for bit."""
    if n_resamples < 1:
        raise ValueError(f"need n_resamples >= 1, got {n_resamples}")
    if not checkpoints or any(not runs for runs in checkpoints.values()):
        raise ValueError("a checkpoint without any run")
    rng = np.random.default_rng(seed)
    order: dict[str, list[int | None]] = {}  # each checkpoint's seeds, in its paired group's order
    drawn: dict[frozenset[int | None], tuple[list[int | None], np.ndarray]] = {}
    for name, runs in checkpoints.items():
        key = frozenset(runs)
        if key not in drawn:
            drawn[key] = (list(runs), _draw_seeds(rng, len(runs), n_resamples))
        order[name] = drawn[key][0]
    seed_idx = {name: drawn[frozenset(runs)][1] for name, runs in checkpoints.items()}
    columns = sorted({c for runs in checkpoints.values() for frame in runs.values() for c in frame["column"]})
    observed: dict[str, dict[str, float]] = {name: {} for name in checkpoints}
    draws: dict[str, dict[str, np.ndarray]] = {name: {} for name in checkpoints}
    for column in columns:
        holders = {
            name: [checkpoints[name][s] for s in order[name]]
            for name in checkpoints
            if any((frame["column"] == column).any() for frame in checkpoints[name].values())
        }
        item_sets = {
            (name, i): set(frame.loc[frame["column"] == column, "item"])
            for name, frames in holders.items()
            for i, frame in enumerate(frames)
        }
        first = next(iter(item_sets.values()))
        for (name, _), other in item_sets.items():
            if other != first:
                only = sorted(first ^ other)[:5]
                raise ValueError(f"{column}: {name} was scored on different prompts, e.g. {only}")
        items = pd.Index(sorted(first))
        item_idx = rng.integers(0, len(items), size=(n_resamples, len(items)))
        for name, frames in holders.items():
            scores = np.stack([_score_matrix(frame, column, items) for frame in frames])
            if any(np.isnan(run).all() for run in scores):
                raise Unscored(f"{column}: no scored sample in {name}")
            means = _resampled_means(scores, seed_idx[name], item_idx, rng)
            if np.isnan(means).any():
                raise ValueError(
                    f"{column}: a replicate drew only missing samples of {name}; too few scored samples"
                )
            draws[name][column] = means
            observed[name][column] = _seed_mean(scores)
    return Replicates(observed, draws)


def _by_seed(runs: Runs) -> dict[int | None, pd.DataFrame]:
    """A method's runs by training seed, for ``resample``: a bare frame is one run of no named seed.
    Two methods with the same seeds (more than one) are then paired by seed, any others drawn apart."""
    return {None: runs} if isinstance(runs, pd.DataFrame) else dict(runs)


A, B = "the first method", "the second method"  # paired_bootstrap's two checkpoints, as errors name them


def paired_bootstrap(
    a: Runs, b: Runs, *, n_resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> BootstrapResult:
    """Bootstrap Total Avg(a) - Total Avg(b) over training seeds, shared prompts and samples (module
    docstring). A method is one run or {training seed: run}; two with the same seeds pair by seed."""
    runs_a, runs_b = _by_seed(a), _by_seed(b)
    if not runs_a or not runs_b:
        raise ValueError("a method without any run")
    runs = [*runs_a.values(), *runs_b.values()]
    columns = sorted(set(runs[0]["column"]))
    for frame in runs[1:]:
        if set(frame["column"]) != set(columns):
            raise ValueError(
                f"methods cover different benchmarks: {columns} vs {sorted(set(frame['column']))}"
            )
    if n_resamples < 1 or not 0 < level < 1:
        raise ValueError(f"need n_resamples >= 1 and 0 < level < 1, got {n_resamples}, {level}")
    try:
        rep = resample({A: runs_a, B: runs_b}, n_resamples=n_resamples, seed=seed)
    except Unscored as e:
        raise UndefinedTotal(f"{e}, so Total Avg is undefined") from None
    diffs = np.zeros(n_resamples)
    observed = 0.0
    for column in columns:
        diffs += rep.draws[A][column] - rep.draws[B][column]
        observed += float(rep.observed[A][column] - rep.observed[B][column])
    diffs /= len(columns)
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
    samples: Mapping[str, Runs],
    reference: str,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    missing: list[str] | None = None,
    labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The companion table: reference method vs. each other method, one row per baseline (each method
    one run or {training seed: run}, as ``paired_bootstrap`` takes them).

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
        seeds = load_runner_config().for_profile(profile.name).training_seeds(profile)
        runs = seed_keys([args.reference, *(args.baselines or baselines())], seeds)
        samples = load_runs(results, runs)
        labels = table2_labels()
        seeded = [labels.get(k, k) for k, r in runs.items() if len(r) > 1]
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
            title=title(args.n_resamples, args.seed, labels.get(args.reference, args.reference), seeded),
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
