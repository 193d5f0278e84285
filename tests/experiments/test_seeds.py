"""Training seeds of the seeded table rows: result keys that name a seed, one cascade per seed whose
seed-42 stages are today's, and table cells that are the mean (std) over seeds of per-seed values."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from care_rl.config import ConfigError
from experiments import checkpoints as ck
from experiments import metrics as m
from experiments import tables
from experiments.plan import TABLES, Planner, table_keys
from experiments.produce import Producer
from experiments.runconfig import RunDirs, load_runner_config
from experiments.table_specs import load_spec

SEEDS = ck.Seeds(42, (42, 43, 44))


def dirs(root: Path) -> RunDirs:
    return RunDirs(
        results=root / "results",
        tables=root / "tables",
        figures=root / "figures",
        stages=root / "stages",
        evals=root / "eval",
    )


# --- result keys -------------------------------------------------------------------------------------
def test_a_seeded_key_names_its_seed_and_the_profiles_seed_is_the_plain_key():
    table = ck.load_table()
    c = ck.resolve("seed/43/nvv/if@if", table)
    assert (c.kind, c.method, c.stage, c.domain, c.seed) == ("stage", "nvv", "if", "if", 43)
    assert c.key == "seed/43/nvv/if@if"
    assert ck.resolve("nvv/if@if", table).seed is None
    assert SEEDS.key("nvv/if@if", 43) == "seed/43/nvv/if@if"
    assert SEEDS.key("nvv/if@if", 42) == "nvv/if@if"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("seed/43/base", "only a trained checkpoint"),
        ("seed/43/surgery/math/keep_top", "only a trained checkpoint"),
        ("seed/43/judge/pagrm", "only a trained checkpoint"),
        ("seed/43/seed/44/nvv/math", "only a trained checkpoint"),
        ("seed/x/nvv/math", "expected seed/<training seed>/<key>"),
        ("seed/43", "expected seed/<training seed>/<key>"),
    ],
)
def test_a_bad_seeded_key_fails_naming_it(key, problem):
    with pytest.raises(ConfigError, match=problem):
        ck.resolve(key, ck.load_table())


def test_seeds_must_hold_the_profiles_seed_once():
    with pytest.raises(ConfigError, match=r"including the profile's dapo\.seed 42"):
        ck.Seeds(42, (43, 44))
    with pytest.raises(ConfigError, match="distinct"):
        ck.Seeds(42, (42, 43, 43))


def test_runner_seeds_per_profile(smoke_profile):
    config = load_runner_config()
    assert config.for_profile("smoke").training_seeds(smoke_profile) == ck.Seeds(42, (42,))
    assert config.for_profile("cpu").seeds == [42, 43, 44]
    bad = config.for_profile("smoke").model_copy(update={"seeds": [43, 44]})
    with pytest.raises(ConfigError, match=r"runner.yaml: profiles.smoke.seeds: .*dapo.seed 42"):
        bad.training_seeds(smoke_profile)


def test_every_seeded_row_reads_trained_checkpoints_only():
    """A seeded row's keys at another seed resolve (a seeded Base row would fail here, not only on a
    profile with several seeds) and write back to themselves."""
    table = ck.load_table()
    for name in TABLES:
        plain = set(table_keys(name))
        for key in set(table_keys(name, SEEDS)) - plain:
            c = ck.resolve(key, table)
            assert c.kind == "stage" and c.seed in (43, 44) and c.key == key
        assert plain <= set(table_keys(name, SEEDS))
    spec = load_spec("table7")
    assert all(row.seeded for row in spec.rows)
    assert len(table_keys("table7", SEEDS)) == 3 * len(table_keys("table7"))


# --- the plan ----------------------------------------------------------------------------------------
def test_a_seeded_plan_trains_one_cascade_per_seed_and_keeps_todays_keys(smoke_profile, tmp_path):
    today = Planner(smoke_profile, dirs(tmp_path))
    today.plan("table7")
    seeded = Planner(smoke_profile, dirs(tmp_path))
    seeded.seeds = SEEDS
    plan = seeded.plan("table7")
    methods = {c.method for c in today.cascades.values()}
    assert len(methods) == 5
    for method in methods:
        cascades = {c.seed: c for c in plan.cascades if c.method == method}
        assert sorted(cascades, key=str) == [43, 44, None]
        keys = {seed: [st.key for st in c.stages] for seed, c in cascades.items()}
        assert keys[None] == [st.key for st in today.cascade(method).stages]
        assert len({k for ks in keys.values() for k in ks}) == 3 * len(keys[None])  # no stage shared
        assert cascades[43].profile.dapo.seed == 43 and cascades[None].profile is smoke_profile
        assert cascades[43].profile.eval == smoke_profile.eval  # evaluation seeds stay the profile's
    for seed in (None, 43, 44):  # one seed's cascades share their first stage, as today's do
        assert len({c.stages[0].key for c in plan.cascades if c.seed == seed}) == 1
    assert seeded.cascade("nvv", seed=42) is seeded.cascade("nvv")
    (first,) = [ln for ln in plan.lines if ln.strip().startswith("1. if") and "nvv (seed 43)" in ln]
    assert first.endswith("care-rl (seed 43)")
    assert not any("seed 42" in line for line in plan.lines)


def test_a_replicate_trains_with_its_own_seed(smoke_profile, tmp_path, monkeypatch):
    from experiments import produce

    seen: list[int] = []
    monkeypatch.setattr(
        produce,
        "run_cascade_steps",
        lambda profile, runs, root, verbose, wait=True: seen.append(profile.dapo.seed) or [],
    )
    planner = Planner(smoke_profile, dirs(tmp_path))
    producer = Producer(planner)
    producer.train(planner.cascade("nvv", seed=43))
    producer.train(planner.cascade("nvv"))
    producer.train(planner.cascade("nvv", seed=43))  # once per run
    assert seen == [43, 42]


# --- tables ------------------------------------------------------------------------------------------
def write_summary(path: Path, domain_avgs: dict[str, float]) -> None:
    """Every benchmark at its domain's average; two sample sets 1 point either side (avg@k std √2)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bench = {
        c: {"mean": v, "set_means": [v - 1, v + 1]}
        for d, cols in m.DOMAIN_BENCHMARKS.items()
        for c in cols
        for v in [domain_avgs[d]]
    }
    path.write_text(json.dumps(bench))


def table4_results(root: Path) -> None:
    """Table 4's checkpoints at seeds 42, 43, 44 (j = 0, 1, 2) with known domain averages."""
    write_summary(root / "base" / "summary.json", {"math": 5.0, "chat": 35.0, "if": 20.0})
    for j, seed in enumerate(SEEDS.all):
        at = {
            "nvv/if": {"math": 5.0, "chat": 35.0, "if": 30.0 + j},
            "nvv/chat": {"math": 5.0, "chat": 40.0 - j, "if": 28.0 + 2 * j},
            "nvv/math": {"math": 10.0 + 3 * j, "chat": 38.0, "if": 27.0},
            "care-rl/math": {"math": 12.0, "chat": 39.0 + 2 * j, "if": 31.0},
        }
        for key, avgs in at.items():
            write_summary(root / SEEDS.key(key, seed) / "summary.json", avgs)


def test_a_seeded_cell_is_the_mean_and_std_over_seeds_of_per_seed_values(tmp_path):
    """Reg. is computed per seed and then averaged: After Math's per-seed Reg. is 2.5 at every seed
    (IF's and Chat's drops move in opposite directions), so its std over seeds is 0, though every
    average it reads varies with the seed."""
    table4_results(tmp_path)
    means, stds = tables.build_table(load_spec("table4"), tmp_path, seeds=SEEDS)
    assert means.loc["After Math", "M.Avg"] == pytest.approx(13.0)
    assert stds.loc["After Math", "M.Avg"] == pytest.approx(3.0)  # std of 10, 13, 16 (ddof=1)
    assert means.loc["After Math", m.REG] == pytest.approx(2.5)
    assert stds.loc["After Math", m.REG] == pytest.approx(0.0)
    assert means.loc["After Chat", m.REG] == pytest.approx(1.0)  # 2, 1, 0
    assert stds.loc["After Chat", m.REG] == pytest.approx(1.0)
    assert means.loc["CARE-RL", "C.Avg"] == pytest.approx(41.0)
    assert stds.loc["CARE-RL", "C.Avg"] == pytest.approx(2.0)
    assert means.loc["Base", "M.Avg"] == 5.0
    assert stds.loc["Base", "M.Avg"] == pytest.approx(2**0.5)  # unseeded: its avg@k std
    plain, plain_stds = tables.build_table(load_spec("table4"), tmp_path)  # no seeds: seed 42 alone
    assert plain.loc["After Math", "M.Avg"] == 10.0
    assert plain_stds.loc["After Math", "M.Avg"] == pytest.approx(2**0.5)


def test_a_missing_seed_leaves_the_cell_blank_with_a_reason(tmp_path):
    table4_results(tmp_path)
    (tmp_path / "seed" / "44" / "nvv" / "math" / "summary.json").unlink()
    missing: list[str] = []
    means, _ = tables.build_table(load_spec("table4"), tmp_path, missing, SEEDS)
    assert means.loc["After Math"].isna().all()  # no mean over fewer seeds
    assert any("seed/44/nvv/math" in note for note in missing)
    assert any("row 'After Math' at training seed 44" in note for note in missing)


def test_a_seeded_table_prints_the_spread_of_seeded_rows_only(tmp_path, monkeypatch):
    table4_results(tmp_path)
    config = load_runner_config()
    config.profiles["smoke"] = {**config.profiles.get("smoke", {}), "seeds": list(SEEDS.all)}
    monkeypatch.setattr(tables, "load_runner_config", lambda: config)
    tables.build("table4", "smoke", tmp_path, tmp_path / "out")
    tex = (tmp_path / "out" / "table4.tex").read_text()
    rows = {line.split(" & ")[0]: line for line in tex.splitlines() if " & " in line}
    assert "13.0 (3.00)" in rows["After Math"] and "2.5 (0.00)" in rows["After Math"]
    assert "(" not in rows["Base"]
    assert "mean (std) over 3 training seeds (42, 43, 44)" in tex and "ddof=1, n=3" in tex
    csv = pd.read_csv(tmp_path / "out" / "table4.csv")
    csv = csv[csv["source"].str.startswith("ours")].set_index("method")  # the paper's rows follow
    assert csv.loc["After Math", "M.Avg std"] == pytest.approx(3.0)
    assert pd.isna(csv.loc["Base", "M.Avg std"])


def test_seeded_rows_need_a_table_without_sample_set_stds():
    from experiments.table_specs import TableSpec

    with pytest.raises(ValueError, match="a cell prints one spread"):
        TableSpec(
            name="t",
            title="t",
            columns=["GSM"],
            show_std=True,
            rows=[{"label": "A", "result": "a", "seeded": True}],
        )
