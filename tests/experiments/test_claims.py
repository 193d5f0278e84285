"""The claims table: statistics of several checkpoints with bootstrap intervals, on synthetic per-sample
frames whose true values are known, and the verdict rule."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import claims as cl
from experiments import metrics as m
from experiments.bootstrap import paired_bootstrap, resample
from experiments.checkpoints import Seeds

ALL = tuple(m.DOMAIN_AVG)
SEEDS = Seeds(42, (42, 43, 44))


def frame(
    rng: np.random.Generator,
    domains: tuple[str, ...] = ALL,
    shift: dict[str, float] | None = None,
    n_items: int = 30,
    difficulty_seed: int = 1,
) -> pd.DataFrame:
    """Continuous scores, 4 samples per prompt: prompt level (fixed by ``difficulty_seed``, so every
    checkpoint shares its prompts' difficulty) + sample noise + a per-domain shift, in points."""
    levels = np.random.default_rng(difficulty_seed).uniform(10, 70, n_items)
    rows = []
    for d in domains:
        for column in m.DOMAIN_BENCHMARKS[d]:
            scores = levels[:, None] + rng.normal(0, 8, (n_items, 4)) + (shift or {}).get(d, 0.0)
            rows += [(column, f"q{i}", k, float(scores[i, k])) for i, k in np.ndindex(scores.shape)]
    return pd.DataFrame(rows, columns=["column", "item", "sample", "score"])


def means(samples: pd.DataFrame) -> dict[str, float]:
    """The averages the tables compute from a checkpoint's benchmark means (pooled over samples)."""
    per_benchmark = samples.dropna(subset=["score"]).groupby("column")["score"].mean().to_dict()
    return {**per_benchmark, **m.averages(per_benchmark)}


def difference_stat(
    column: str, domains: tuple[str, ...], direction: int = +1, seeds: tuple[int, ...] = ()
) -> cl.Statistic:
    """``column`` of checkpoint a minus b; with ``seeds``, each read at those seeds as ``a@<seed>``."""

    def keys(name: str) -> dict[int | None, str]:
        return {s: f"{name}@{s}" for s in seeds} if seeds else {None: name}

    inputs = {name: cl.Input(keys(name), domains) for name in ("a", "b")}
    return cl.Statistic(
        0, f"{column}: a - b", inputs, partial(cl.difference, a="a", b="b", column=column), direction
    )


# --- the verdict rule ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("low", "high", "direction", "threshold", "expected"),
    [
        (0.5, 3.0, +1, 0.0, cl.HOLDS),
        (-3.0, -0.5, +1, 0.0, cl.FAILS),
        (-1.0, 2.0, +1, 0.0, cl.NOT_RESOLVED),
        (-3.0, -0.5, -1, 0.0, cl.HOLDS),
        (0.5, 3.0, -1, 0.0, cl.FAILS),
        (-1.0, 2.0, -1, 0.0, cl.NOT_RESOLVED),
        (0.0, 2.0, +1, 0.0, cl.NOT_RESOLVED),  # an interval touching the threshold does not exclude it
        (0.0, 0.0, +1, 0.0, cl.NOT_RESOLVED),
        (40.0, 70.0, +1, 30.0, cl.HOLDS),  # claim 4: Ret. Gain above the energy share
        (10.0, 25.0, +1, 30.0, cl.FAILS),
        (20.0, 70.0, +1, 30.0, cl.NOT_RESOLVED),
        (math.nan, math.nan, +1, 0.0, cl.NOT_RESOLVED),
    ],
)
def test_verdict_rule(low, high, direction, threshold, expected):
    assert cl.verdict(low, high, direction, threshold) == expected


# --- statistics with known values ----------------------------------------------------------------------
def test_identical_checkpoints_give_an_interval_around_zero():
    a = frame(np.random.default_rng(0))
    stat = difference_stat(m.TOTAL, ALL)
    row = cl.evaluate(stat, {"a": a, "b": a.copy()}, n_resamples=400)
    assert row.estimate == 0.0 and row.low < 0 < row.high and row.verdict == cl.NOT_RESOLVED


def test_a_shift_of_one_domain_is_found_in_that_domain_only():
    """+10 on every IF sample: IF Avg differs by ~10 (holds; fails when the claim is the other way),
    M.Avg by ~0 (not resolved)."""
    rng = np.random.default_rng(1)
    a, b = frame(rng, shift={"if": 10.0}), frame(rng)
    samples = {"a": a, "b": b}
    up = cl.evaluate(difference_stat("IF Avg", ("if",)), samples, n_resamples=400)
    assert up.low < 10 < up.high and up.high - up.low < 6 and up.verdict == cl.HOLDS
    down = cl.evaluate(difference_stat("IF Avg", ("if",), direction=-1), samples, n_resamples=400)
    assert down.verdict == cl.FAILS
    flat = cl.evaluate(difference_stat("M.Avg", ("math",)), samples, n_resamples=400)
    assert flat.low < 0 < flat.high and flat.verdict == cl.NOT_RESOLVED
    assert up.estimate == pytest.approx(means(a)["IF Avg"] - means(b)["IF Avg"])


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(0, 80), min_size=3, max_size=3), st.floats(-20, 20))
def test_a_constant_offset_is_the_interval_and_decides_the_verdict(prompt_scores, offset):
    """Every sample of a prompt scores the same and a = b + offset: every replicate's difference is
    the offset, and the verdict is its sign's."""
    b = pd.DataFrame(
        [(c, f"q{i}", k, s) for c in ("IFB", "IFE") for i, s in enumerate(prompt_scores) for k in range(4)],
        columns=["column", "item", "sample", "score"],
    )
    a = b.assign(score=b["score"] + offset)
    row = cl.evaluate(difference_stat("IF Avg", ("if",)), {"a": a, "b": b}, n_resamples=50)
    assert row.low == pytest.approx(offset, abs=1e-9) and row.high == pytest.approx(offset, abs=1e-9)
    if abs(offset) > 1e-9:  # (a float sum may leave 1e-15 of a zero offset: no verdict to check)
        assert row.verdict == (cl.HOLDS if offset > 0 else cl.FAILS)


def test_one_seed_total_difference_is_the_bootstrap_tables():
    """The Total difference of two one-run methods is what experiments.bootstrap has always printed."""
    rng = np.random.default_rng(9)
    a, b = frame(rng, shift={"math": 3.0}), frame(rng)
    row = cl.evaluate(difference_stat(m.TOTAL, ALL), {"a": a, "b": b}, n_resamples=300, seed=5)
    r = paired_bootstrap(a, b, n_resamples=300, seed=5)
    assert (row.estimate, row.low, row.high) == pytest.approx((r.diff, r.ci_low, r.ci_high), abs=1e-9)


def test_seed_spread_widens_the_interval():
    rng = np.random.default_rng(6)
    same = {s: frame(rng, shift={"if": 5.0}) for s in (42, 43, 44)}
    spread = {s: frame(rng, shift={"if": 5.0 + d}) for s, d in zip((42, 43, 44), (-8, 0, 8), strict=True)}
    b = {s: frame(rng) for s in (42, 43, 44)}
    stat = difference_stat("IF Avg", ("if",), seeds=(42, 43, 44))

    def samples(a: dict[int, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        return {**{f"a@{s}": f for s, f in a.items()}, **{f"b@{s}": f for s, f in b.items()}}

    narrow = cl.evaluate(stat, samples(same), n_resamples=400)
    wide = cl.evaluate(stat, samples(spread), n_resamples=400)
    assert wide.high - wide.low > 2 * (narrow.high - narrow.low)
    assert narrow.seeds == wide.seeds == "3"


# --- the claims' own statistics, read from the table specs ---------------------------------------------
def test_reg_equals_metrics_regression_on_the_means():
    """Table 4's Reg. after Math: the stage after IF keeps IF at +12 over the base, the last stage
    loses 7 of it; the statistic is metrics.regression of the checkpoints' averages."""
    rng = np.random.default_rng(2)
    samples = {
        "nvv/if": frame(rng, shift={"if": 12.0}),
        "nvv/chat": frame(rng, shift={"if": 9.0, "chat": 6.0}),
        "nvv/math": frame(rng, shift={"if": 5.0, "chat": 4.0, "math": 8.0}),
    }
    stats = {s.name: s for s in cl.claim1(None)}
    row = cl.evaluate(stats["Reg. after Math, nvv"], samples, n_resamples=300)
    expected = m.regression(
        means(samples["nvv/math"]), {"if": means(samples["nvv/if"]), "chat": means(samples["nvv/chat"])}
    )
    assert row.estimate == pytest.approx(expected, abs=1e-9)
    assert row.low < row.estimate < row.high and row.verdict == cl.HOLDS
    only_if = cl.evaluate(stats["Reg. after Math (IF only), nvv"], samples, n_resamples=300)
    assert only_if.estimate == pytest.approx(
        means(samples["nvv/if"])["IF Avg"] - means(samples["nvv/math"])["IF Avg"]
    )


def test_reg_reads_one_domain_evaluations_and_pairs_the_prompts():
    """Table 7's Reg. reads `@<domain>` checkpoints, which hold one domain's benchmarks: a checkpoint
    whose IF scores equal the final one's on every sample gives Reg. 0 in every replicate only because
    both are resampled on the same prompts and samples are drawn per checkpoint."""
    rng = np.random.default_rng(3)
    final = frame(rng)
    after_if = final[final["column"].isin(m.DOMAIN_BENCHMARKS["if"])].copy()
    after_if["score"] = after_if.groupby("item")["score"].transform("mean")
    final.loc[final["column"].isin(m.DOMAIN_BENCHMARKS["if"]), "score"] = after_if["score"].to_numpy()
    stat = cl.Statistic(
        1,
        "Reg.",
        {"final": cl.Input({None: "final"}, ("if",)), "after": cl.Input({None: "after"}, ("if",))},
        partial(cl.regression, final="final", after={"if": "after"}),
        +1,
    )
    row = cl.evaluate(stat, {"final": final, "after": after_if}, n_resamples=200)
    assert row.estimate == pytest.approx(0.0, abs=1e-9)
    assert row.low == pytest.approx(0.0, abs=1e-9) and row.high == pytest.approx(0.0, abs=1e-9)


def test_reg_pairs_seeds_within_a_cascade():
    """Seed s's cascade carries its own IF level through both checkpoints: drawn together they cancel
    in Reg. (interval = the true 4-point drop), drawn apart they would not."""
    rng = np.random.default_rng(4)
    samples = {}
    for s, level in zip((42, 43, 44), (-15.0, 0.0, 15.0), strict=True):
        base = frame(rng)
        base["score"] = base.groupby(["column", "item"])["score"].transform("mean") + level
        samples[SEEDS.key("nvv/if", s)] = base
        samples[SEEDS.key("nvv/math", s)] = base.assign(score=base["score"] - 4.0)
    stat = {s.name: s for s in cl.claim1(SEEDS)}["Reg. after Math (IF only), nvv"]
    row = cl.evaluate(stat, samples, n_resamples=200)
    assert row.low == pytest.approx(4.0) and row.high == pytest.approx(4.0) and row.seeds == "3"


def test_ood_change_is_metrics_ood_change():
    rng = np.random.default_rng(5)
    samples = {"base": frame(rng), "math-only": frame(rng, shift={"math": 9.0, "if": -6.0, "chat": -2.0})}
    stats = {s.name: s for s in cl.claim3(None)}
    row = cl.evaluate(stats["OOD Change: math-only"], samples, n_resamples=300)
    expected = m.ood_change(means(samples["math-only"]), means(samples["base"]), "math")
    assert row.estimate == pytest.approx(expected, abs=1e-9) and row.verdict == cl.HOLDS
    only_if = cl.evaluate(stats["OOD Change (IF only): math-only"], samples, n_resamples=300)
    assert only_if.estimate == pytest.approx(
        means(samples["math-only"])["IF Avg"] - means(samples["base"])["IF Avg"]
    )
    gain = cl.evaluate(stats["M.Avg: math-only - base"], samples, n_resamples=300)
    assert gain.verdict == cl.HOLDS and gain.low < 9 < gain.high
    unjudged = samples["math-only"].assign(score=lambda f: f["score"].where(f["column"] != "CW3"))
    samples = {**samples, "math-only": unjudged}  # no chat score: only the rows reading chat are undefined
    assert cl.evaluate(stats["M.Avg: math-only - base"], samples, n_resamples=50).verdict == cl.HOLDS
    assert cl.evaluate(stats["OOD Change: math-only"], samples, n_resamples=50).verdict == cl.UNDEFINED


def ret_gain_samples(edited_shift: float, full_shift: float) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    return {
        "base": frame(rng, ("if",)),
        "if-only": frame(rng, ("if",), shift={"if": full_shift}),
        "surgery/if/keep_top-k1": frame(rng, ("if",), shift={"if": edited_shift}),
    }


def test_ret_gain_against_the_energy_share():
    """The top edit keeps 15 of a 20-point gain (75%): above an energy share of 30% it holds, below
    95% it fails; without the energy the row is missing, and Ret. Gain is metrics.retained_gain."""
    stat = next(s for s in cl.claim4() if s.energy_key == "surgery/if/keep_top-k1")
    samples = ret_gain_samples(15.0, 20.0)
    high = cl.evaluate(stat, samples, {"surgery/if/keep_top-k1": 30.0}, n_resamples=300)
    expected = m.retained_gain(
        *({"if": means(samples[k])["IF Avg"]} for k in ("surgery/if/keep_top-k1", "base", "if-only"))
    )
    assert high.estimate == pytest.approx(expected) and high.low < 75 < high.high
    assert high.verdict == cl.HOLDS and high.claimed == "> 30.0 (energy)"
    assert cl.evaluate(stat, samples, {"surgery/if/keep_top-k1": 95.0}, n_resamples=300).verdict == cl.FAILS
    none = cl.evaluate(stat, samples, {}, n_resamples=300)
    assert none.verdict == cl.MISSING and "energy of surgery/if/keep_top-k1" in none.record()["note"]


def test_ret_gain_without_a_gain_is_undefined_and_a_doubtful_gain_has_no_interval():
    stat = next(s for s in cl.claim4() if s.energy_key == "surgery/if/keep_top-k1")
    energy = {"surgery/if/keep_top-k1": 30.0}
    lost = cl.evaluate(stat, ret_gain_samples(0.0, -5.0), energy, n_resamples=200)
    assert lost.verdict == cl.UNDEFINED and "did not raise" in lost.record()["note"]
    doubtful = cl.evaluate(stat, ret_gain_samples(0.5, 1.0), energy, n_resamples=200)
    assert math.isnan(doubtful.low) and doubtful.verdict == cl.NOT_RESOLVED
    assert "of replicates" in doubtful.record()["note"]


# --- the table ------------------------------------------------------------------------------------------
def test_missing_results_leave_their_rows_missing_and_the_rest_computed():
    rng = np.random.default_rng(8)
    samples = {"base": frame(rng), "math-only": frame(rng, shift={"math": 6.0})}
    table = cl.claims_table(cl.statistics(SEEDS), samples, {}, n_resamples=50)
    assert list(table.columns) == cl.COLUMNS
    rows = table.set_index("statistic")
    assert rows.loc["M.Avg: math-only - base", "verdict"] == cl.HOLDS
    assert rows.loc["Reg. after Math, nvv", "verdict"] == cl.MISSING
    assert rows.loc["Reg. after Math, nvv", "note"].startswith("missing: nvv/math, seed/43/nvv/math")
    assert rows.loc["Total: care-rl-no-pagrm - nvv (Table 5)", "n seeds"] == "care-rl-no-pagrm 1, nvv 3"
    assert set(table["claim"]) == {1, 2, 3, 4}


def test_a_benchmark_without_a_scored_sample_makes_the_row_undefined():
    rng = np.random.default_rng(9)
    a, b = frame(rng), frame(rng)
    a.loc[a["column"] == "WB", "score"] = np.nan
    row = cl.evaluate(difference_stat(m.TOTAL, ALL), {"a": a, "b": b}, n_resamples=20)
    assert row.verdict == cl.UNDEFINED and "WB: no scored sample in a" in row.record()["note"]
    short = cl.evaluate(difference_stat(m.TOTAL, ALL), {"a": a[a["column"] != "WB"], "b": b}, n_resamples=20)
    assert short.verdict == cl.UNDEFINED and "a has no WB" in short.record()["note"]


def test_every_claim_key_resolves_and_the_target_plans_them():
    from experiments import checkpoints as ck
    from experiments.plan import expand, required_keys
    from experiments.runconfig import load_runner_config

    table = ck.load_table()
    keys = cl.claim_keys(SEEDS)
    for key in keys:
        ck.resolve(key, table)
    work = expand("claims", load_runner_config().for_profile("cpu"))
    assert work.claims and not work.tables and required_keys(work, SEEDS) == keys
    assert {"seed/44/care-rl/chat@chat", "surgery/if/keep_top-k1", "care-rl-no-pagrm/math"} <= set(keys)
    assert "seed/43/care-rl-no-pagrm/math" not in keys  # not a seeded row of Table 5
    assert not expand("all", load_runner_config().for_profile("cpu")).claims  # golden plans unchanged


def test_cli_writes_the_table_from_what_is_produced(tmp_path):
    from tests.experiments.test_results import write_checkpoint

    scores = {"ifeval": {"q0": [100, 0, 100, 100], "q1": [0, 0, 0, 100]}, "ifbench": {"q0": [0, 0, 100, 0]}}
    write_checkpoint(tmp_path / "results" / "nvv" / "if", scores)
    write_checkpoint(
        tmp_path / "results" / "nvv" / "chat", {**scores, "ifeval": {"q0": [0] * 4, "q1": [0] * 4}}
    )
    out = tmp_path / "tables"
    args = [
        "--profile",
        "smoke",
        "--results",
        str(tmp_path / "results"),
        "--no-energy",
        "--n-resamples",
        "50",
    ]
    assert cl.main([*args, "--out", str(out)]) == 0
    table = pd.read_csv(out / "claims.csv").set_index("statistic")
    # IF Avg after IF: (IFE 50 + IFB 25) / 2; after Chat: (0 + 25) / 2; Reg. is the drop
    assert table.loc["Reg. after Chat, nvv", "estimate"] == pytest.approx(37.5 - 12.5)
    assert table.loc["Reg. after Math, nvv", "verdict"] == cl.MISSING
    assert (out / "claims.tex").read_text().count("missing") >= 1
    assert (out / "claims.provenance.json").is_file()


def test_resample_refuses_checkpoints_scored_on_different_prompts():
    rng = np.random.default_rng(0)
    a = frame(rng, ("if",))
    with pytest.raises(ValueError, match="different prompts"):
        resample({"a": {None: a}, "b": {None: a[a["item"] != "q3"]}}, n_resamples=10)


def test_the_cli_reads_energies_only_of_trained_stages(tmp_path, monkeypatch):
    """Rendering while runs are incomplete trains nothing: an untrained stage leaves claim 4 missing."""
    monkeypatch.setenv("CARE_RL_CACHE", str(tmp_path))
    assert cl.cached_energies("smoke") == {}
