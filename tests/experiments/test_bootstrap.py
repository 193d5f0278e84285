"""Paired bootstrap: covers a known shift, is seeded-deterministic, and refuses unpaired inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.bootstrap import bootstrap_table, main, paired_bootstrap, total_avg
from experiments.results import load_samples


def synthetic(rng: np.random.Generator, difficulty: dict[str, np.ndarray], shift: float) -> pd.DataFrame:
    """Binary scores, 4 samples per prompt: P(correct) = prompt difficulty + shift (percent scale)."""
    rows = []
    for column, p in difficulty.items():
        wins = rng.random((len(p), 4)) < np.clip(p + shift, 0, 1)[:, None]
        for i, k in np.ndindex(wins.shape):
            rows.append((column, f"q{i}", k, 100.0 * wins[i, k]))
    return pd.DataFrame(rows, columns=["column", "item", "sample", "score"])


@pytest.fixture(scope="module")
def difficulty() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {c: rng.uniform(0.1, 0.8, 120) for c in ("MATH", "GSM", "IFE")}


def test_ci_covers_a_known_shift(difficulty):
    """Shift of +10 points on the same prompts: over 20 independent datasets the 95% CI must cover
    the true difference in (nearly) all of them and exclude 0 in all of them."""
    rng = np.random.default_rng(7)
    covered = 0
    for rep in range(20):
        a, b = synthetic(rng, difficulty, 0.10), synthetic(rng, difficulty, 0.0)
        r = paired_bootstrap(a, b, n_resamples=400, seed=rep)
        covered += r.ci_low <= 10.0 <= r.ci_high
        assert r.ci_low > 0 and r.p_boot == 0.0
        assert r.diff == pytest.approx(total_avg(a) - total_avg(b))
    assert covered >= 17  # binomial(20, 0.95): P(covered < 17) < 2%


def test_no_shift_is_not_significant(difficulty):
    rng = np.random.default_rng(3)
    a, b = synthetic(rng, difficulty, 0.0), synthetic(rng, difficulty, 0.0)
    r = paired_bootstrap(a, b, n_resamples=400, seed=0)
    assert r.ci_low < 0 < r.ci_high and 0.025 < r.p_boot < 0.975


def test_seeded_determinism(difficulty):
    rng = np.random.default_rng(5)
    a, b = synthetic(rng, difficulty, 0.05), synthetic(rng, difficulty, 0.0)
    assert paired_bootstrap(a, b, n_resamples=200, seed=11) == paired_bootstrap(
        a, b, n_resamples=200, seed=11
    )
    assert paired_bootstrap(a, b, n_resamples=200, seed=11) != paired_bootstrap(
        a, b, n_resamples=200, seed=12
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=3, max_size=3), st.floats(-20, 20))
def test_constant_offset_gives_a_degenerate_interval(prompt_scores, offset):
    """Every sample of a prompt scores the same and b = a - offset: whatever prompts and samples a
    replicate draws, the difference is exactly the offset."""
    a = pd.DataFrame(
        [("GSM", f"q{i}", k, s) for i, s in enumerate(prompt_scores) for k in range(4)],
        columns=["column", "item", "sample", "score"],
    )
    b = a.assign(score=a["score"] - offset)
    r = paired_bootstrap(a, b, n_resamples=50, seed=0)
    assert r.diff == pytest.approx(offset, abs=1e-9)
    assert r.ci_low == pytest.approx(offset, abs=1e-9) and r.ci_high == pytest.approx(offset, abs=1e-9)


def test_unpaired_inputs_are_refused(difficulty):
    rng = np.random.default_rng(0)
    a = synthetic(rng, difficulty, 0.0)
    with pytest.raises(ValueError, match="different prompts"):
        paired_bootstrap(a, a[a["item"] != "q3"], n_resamples=10)
    with pytest.raises(ValueError, match="different benchmarks"):
        paired_bootstrap(a, a[a["column"] != "IFE"], n_resamples=10)


def test_missing_samples_are_left_out_as_avg_at_k_does(tmp_path):
    """A missing sample (NaN) drops out of the pooled mean; the CLI reads checkpoints from disk."""
    from tests.experiments.test_results import write_checkpoint

    a = write_checkpoint(
        tmp_path / "care-rl" / "math", {"gsm8k": {"q0": [100, None, 100, 100], "q1": [0, 0, 0, 100]}}
    )
    write_checkpoint(tmp_path / "mgs", {"gsm8k": {"q0": [0, 0, 0, 0], "q1": [0, 0, 100, 0]}})
    frame = load_samples(a)
    assert total_avg(frame) == pytest.approx(400 / 7)
    out = tmp_path / "tables"
    args = [
        "--profile",
        "smoke",
        "--results",
        str(tmp_path),
        "--baselines",
        "mgs",
        "--n-resamples",
        "50",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    table = pd.read_csv(out / "bootstrap.csv")
    assert table.loc[0, "Diff. Total Avg"] == pytest.approx(400 / 7 - 100 / 8, abs=1e-3)


def test_companion_table(difficulty):
    rng = np.random.default_rng(2)
    samples = {"care-rl/math": synthetic(rng, difficulty, 0.1), "mgs": synthetic(rng, difficulty, 0.0)}
    table = bootstrap_table(samples, "care-rl/math", n_resamples=100)
    assert list(table.index) == ["mgs"] and list(table.columns) == [
        "Diff. Total Avg",
        "CI low",
        "CI high",
        "p boot",
    ]
    assert table.loc["mgs", "CI low"] < table.loc["mgs", "Diff. Total Avg"] < table.loc["mgs", "CI high"]


def test_benchmark_without_any_scored_sample_leaves_the_row_blank(difficulty):
    """All judge outputs missing for one benchmark: Total Avg is undefined, never silently computed."""
    rng = np.random.default_rng(3)
    ref, other = synthetic(rng, difficulty, 0.1), synthetic(rng, difficulty, 0.0)
    other.loc[other["column"] == "IFE", "score"] = np.nan
    with pytest.raises(ValueError, match="IFE: no scored sample"):
        paired_bootstrap(ref, other, n_resamples=10)
    missing: list[str] = []
    table = bootstrap_table(
        {"care-rl/math": ref, "mgs": other}, "care-rl/math", n_resamples=10, missing=missing
    )
    assert table.loc["mgs"].isna().all()
    assert len(missing) == 1 and "IFE" in missing[0]


def test_rows_carry_table2_labels(difficulty):
    """The companion table names methods as Table 2 does; a key without a label keeps its key."""
    from experiments.bootstrap import baselines, table2_labels

    labels = table2_labels()
    assert labels["care-rl/math"] == "CARE-RL" and labels["vnv/chat"] == "VNV"
    assert set(baselines()) <= set(labels)
    rng = np.random.default_rng(4)
    samples = {k: synthetic(rng, difficulty, 0.0) for k in ("care-rl/math", "vnv/chat", "extra")}
    table = bootstrap_table(samples, "care-rl/math", n_resamples=10, labels=labels)
    assert list(table.index) == ["VNV", "extra"] and table.index.name == "CARE-RL vs."


def test_baselines_are_table2s_other_rows(monkeypatch):
    """A row added to Table 2 is a baseline of the bootstrap without a second list to edit."""
    from experiments import bootstrap
    from experiments.tables import RowSpec, load_spec

    spec = load_spec("table2")
    grown = spec.model_copy(update={"rows": [*spec.rows, RowSpec(label="New", result="new-method")]})
    monkeypatch.setattr(bootstrap, "load_spec", lambda name: grown)
    others = [row.result for row in spec.rows if row.result != bootstrap.REFERENCE]
    assert bootstrap.baselines() == [*others, "new-method"]
    assert bootstrap.REFERENCE in [row.result for row in spec.rows]


# --- training seeds: the hierarchical bootstrap ------------------------------------------------------
def test_one_seed_reduces_to_the_plain_bootstrap(difficulty):
    """One run per method draws no seed: the numbers are the ones the bootstrap over prompts and
    samples gave before seeds existed (pinned from that implementation), however the runs are given."""
    rng = np.random.default_rng(1)
    small = {c: rng.uniform(0.1, 0.8, 30) for c in ("MATH", "GSM", "IFE")}
    rng = np.random.default_rng(9)
    a, b = synthetic(rng, small, 0.05), synthetic(rng, small, 0.0)
    a.loc[3, "score"] = np.nan
    pinned = (2.626050420168068, -5.65038515406162, 10.61199041763598, 0.25666666666666665)
    for runs_a, runs_b in [(a, b), ({42: a}, {42: b}), ({42: a}, b)]:
        r = paired_bootstrap(runs_a, runs_b, n_resamples=300, seed=5)
        assert (r.diff, r.ci_low, r.ci_high, r.p_boot) == pinned


def constant(prompt_scores: list[float], offset: float) -> pd.DataFrame:
    """Every sample of a prompt scores the same: sample and prompt draws cancel in a paired difference."""
    return pd.DataFrame(
        [("GSM", f"q{i}", k, s + offset) for i, s in enumerate(prompt_scores) for k in range(4)],
        columns=["column", "item", "sample", "score"],
    )


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0, 100), min_size=3, max_size=3),
    st.lists(st.floats(-20, 20), min_size=3, max_size=3, unique=True),
)
def test_the_interval_covers_the_spread_of_the_seeds(prompt_scores, offsets):
    """Seed j of a scores offsets[j] above b on every sample: a replicate's difference is the mean of
    the offsets of the seeds it drew, so the interval lies within the seeds' range and has width
    (each extreme seed is drawn three times in 1/27 > 2.5% of replicates)."""
    a = {seed: constant(prompt_scores, o) for seed, o in zip((42, 43, 44), offsets, strict=True)}
    b = {42: constant(prompt_scores, 0.0)}
    r = paired_bootstrap(a, b, n_resamples=400, seed=0)
    assert r.diff == pytest.approx(np.mean(offsets), abs=1e-9)
    assert min(offsets) - 1e-9 <= r.ci_low < r.ci_high <= max(offsets) + 1e-9


def test_seed_spread_widens_the_interval(difficulty):
    rng = np.random.default_rng(6)
    same = {s: synthetic(rng, difficulty, 0.05) for s in (42, 43, 44)}
    spread = {
        s: synthetic(rng, difficulty, 0.05 + d) for s, d in zip((42, 43, 44), (-0.1, 0.0, 0.1), strict=True)
    }
    b = {s: synthetic(rng, difficulty, 0.0) for s in (42, 43, 44)}
    narrow = paired_bootstrap(same, b, n_resamples=400, seed=0)
    wide = paired_bootstrap(spread, b, n_resamples=400, seed=0)
    assert wide.ci_high - wide.ci_low > 2 * (narrow.ci_high - narrow.ci_low)


def test_methods_with_the_same_seeds_pair_by_seed():
    """At one seed both methods share the cascade's first stage: an effect of the seed that both
    runs of that seed carry cancels when the seeds are drawn once for both, not when drawn apart."""
    prompts = [10.0, 50.0, 90.0]
    shared = dict(zip((42, 43, 44), (-8.0, 0.0, 8.0), strict=True))
    a = {s: constant(prompts, 5.0 + e) for s, e in shared.items()}
    b = {s: constant(prompts, e) for s, e in shared.items()}
    paired = paired_bootstrap(a, b, n_resamples=200, seed=0)
    assert paired.ci_low == pytest.approx(5.0) and paired.ci_high == pytest.approx(5.0)
    apart = paired_bootstrap(a, {s + 100: run for s, run in b.items()}, n_resamples=200, seed=0)
    assert apart.diff == pytest.approx(5.0) and apart.ci_high - apart.ci_low > 5.0


def test_seeded_runs_must_share_prompts_and_benchmarks(difficulty):
    rng = np.random.default_rng(0)
    a = {42: synthetic(rng, difficulty, 0.0), 43: synthetic(rng, difficulty, 0.0)}
    b = synthetic(rng, difficulty, 0.0)
    with pytest.raises(ValueError, match="different prompts"):
        paired_bootstrap({**a, 44: a[42][a[42]["item"] != "q3"]}, b, n_resamples=10)
    with pytest.raises(ValueError, match="different benchmarks"):
        paired_bootstrap({**a, 44: a[42][a[42]["column"] != "IFE"]}, b, n_resamples=10)


def test_seed_keys_expand_table2s_seeded_rows(monkeypatch):
    from experiments import bootstrap
    from experiments.bootstrap import seed_keys
    from experiments.checkpoints import Seeds
    from experiments.tables import load_spec

    shipped = load_spec("table2")  # one seed per method, as the paper's Table 2
    assert seed_keys(["care-rl/math", "mgs"], Seeds(42, (42, 43, 44))) == {
        "care-rl/math": {42: "care-rl/math"},
        "mgs": {42: "mgs"},
    }
    rows = [r.model_copy(update={"seeded": r.result in ("care-rl/math", "nvv/math")}) for r in shipped.rows]
    monkeypatch.setattr(bootstrap, "load_spec", lambda name: shipped.model_copy(update={"rows": rows}))
    keys = seed_keys(["care-rl/math", "nvv/math", "mgs"], Seeds(42, (42, 43, 44)))
    assert keys["care-rl/math"] == {
        42: "care-rl/math",
        43: "seed/43/care-rl/math",
        44: "seed/44/care-rl/math",
    }
    assert keys["nvv/math"][43] == "seed/43/nvv/math"
    assert keys["mgs"] == {42: "mgs"}  # trained once
    assert seed_keys(["care-rl/math"], Seeds(42, (42,))) == {"care-rl/math": {42: "care-rl/math"}}
