"""experiments.run: targets resolve to checkpoints, a real smoke run writes tables/figures with
provenance, and a second run is served entirely from the caches (no training, no evaluation)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from care_rl.config import ConfigError, load_profile
from experiments import checkpoints as ck
from experiments.paths import METHODS_DIR, PROFILES_DIR, REPO_ROOT
from experiments.plan import TABLES, Planner, expand, figure_tables, required_keys, table_keys
from experiments.produce import Producer
from experiments.run import main, run
from experiments.runconfig import RunDirs, load_runner_config


@pytest.fixture(scope="module")
def lean_profile(tmp_path_factory):
    """The smoke profile with the smallest eval and one step per stage: same code path, less CPU."""
    data = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    data["eval"].update(samples_per_prompt=2, cap=1, max_new_tokens=4, batch_size=8)
    data["judge"]["max_new_tokens"] = 8
    for stage in data["stages"].values():
        stage["max_steps"] = 1
    path = tmp_path_factory.mktemp("profile") / "smoke.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_profile(str(path))


def dirs(root: Path) -> RunDirs:
    return RunDirs(
        results=root / "results",
        tables=root / "tables",
        figures=root / "figures",
        stages=root / "cache" / "stages",
        evals=root / "cache" / "eval",
    )


def test_every_table_key_resolves():
    table = ck.load_table()
    for name in TABLES:
        for key in table_keys(name):
            assert ck.resolve(key, table).key == key
    assert ck.resolve("surgery/chat/remove_top", table).method == "chat-only"
    assert ck.resolve("nvv/chat", table).stage == "chat"
    restricted = ck.resolve("nvv/chat@chat", table)
    assert (restricted.kind, restricted.stage, restricted.domain) == ("stage", "chat", "chat")
    assert ck.resolve("base@math", table).domain == "math"
    with pytest.raises(ConfigError, match="unknown domain 'code'"):
        ck.resolve("nvv/chat@code", table)
    with pytest.raises(ConfigError, match="only base and stage"):
        ck.resolve("surgery/chat/remove_top@chat", table)


def test_surgery_rank_keys_round_trip_and_bad_ranks_fail_at_parse_time():
    table = ck.load_table()
    for key in table_keys("surgery_rank"):
        assert ck.resolve(key, table).key == key
    c = ck.resolve("surgery/if/keep_top-k4", table)
    assert (c.kind, c.method, c.domain, c.edit, c.rank) == ("surgery", "if-only", "if", "keep_top", 4)
    assert ck.resolve("surgery/math/keep_random-k12", table).rank == 12
    assert ck.resolve("surgery/math/keep_top", table).rank is None  # Table 14's keys are as they were
    for bad in ("k0", "k-1", "kx", "k04", "k", "k4-k2"):
        with pytest.raises(ConfigError, match=f"result key 'surgery/math/keep_top-{bad}'.*positive integer"):
            ck.resolve(f"surgery/math/keep_top-{bad}", table)


def test_surgery_rank_is_its_own_target_outside_all_and_figures():
    """The rank sweep (beyond the paper) trains nothing new but evaluates ten edits: `make all` and
    `make figures` stay the paper's, the sweep draws its figure when its own target runs."""
    settings = load_runner_config().for_profile("cpu")
    work = expand("surgery-rank", settings)
    assert work.tables == ["surgery_rank"] and figure_tables(work) == ["surgery_rank"]
    for target in ("all", "figures"):
        assert "surgery_rank" not in figure_tables(expand(target, settings))
        assert not any("-k" in key for key in required_keys(expand(target, settings)))


def test_one_name_per_experiment():
    """A table row's result key is its method file's name (plus the stage's domain), parsed into a
    typed value and written back from it."""
    table = ck.load_table()
    for name in TABLES:
        for key in table_keys(name):
            c = ck.resolve(key, table)
            assert c.method is None or (METHODS_DIR / f"{c.method}.yaml").is_file()
    c = ck.resolve("dacsp-hard-projection/chat@chat", table)
    assert (c.method, c.stage, c.domain) == ("dacsp-hard-projection", "chat", "chat")
    assert (
        ck.Checkpoint("stage", method="care-rl", order=("math", "if", "chat")).key
        == "order/care-rl/math-if-chat"
    )
    with pytest.raises(ConfigError, match="no method 'hard_projection'"):
        ck.resolve("hard_projection/math", table)


def test_plan_counts_a_shared_checkpoint_once_and_reg_checkpoints_on_their_domain(
    capsys, tmp_path, monkeypatch
):
    """Table 7: five variants share the IF stage; Reg. needs only its IF benchmarks."""
    monkeypatch.setenv("CARE_RL_CACHE", str(tmp_path))  # nothing cached: every evaluation is listed
    assert main(["table7", "--profile", "smoke", "--plan"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "->" in ln]
    if_stage = [ln for ln in lines if "/if@if" in ln]
    assert len(if_stage) == 1  # one evaluation of the shared IF checkpoint, on IF only
    assert not any(ln.split()[0].endswith("/if") for ln in lines)  # never a full evaluation of it


def test_plan_names_checkpoints_by_what_they_are(capsys, tmp_path, monkeypatch):
    """Table 2 evaluates 7 checkpoints: NVV's final one is nvv/math, and MOPD's is its own, known only
    once MOPD has trained (it once showed NVV's checkpoint as mopd/math and counted 6); every stage
    is one line naming the cascades that train it and whether it is cached."""
    monkeypatch.setenv("CARE_RL_CACHE", str(tmp_path))
    assert main(["table2", "--profile", "smoke", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "checkpoints: 7 to evaluate, 0 cached" in out
    lines = [ln.strip() for ln in out.splitlines()]
    (nvv,) = [ln for ln in lines if ln.startswith("nvv/math")]
    (mopd,) = [ln for ln in lines if ln.startswith("mopd/math")]
    assert nvv.startswith("nvv/math -> smoke-stage-") and "decided" not in nvv
    assert mopd.startswith("mopd/math -> decided by training")
    stages = [ln for ln in lines if re.match(r"\d\. ", ln)]
    assert len(stages) == 9 and all("train ~" in ln and "; for " in ln for ln in stages)
    (first,) = [ln for ln in stages if ln.startswith("1. if ")]
    assert first.endswith("for vnv, nvv, mopd (then MOPD distillation if a domain regressed), care-rl")


def test_unknown_target_and_key_fail_clearly(capsys):
    settings = load_runner_config().for_profile("smoke")
    with pytest.raises(ConfigError, match="unknown target 'table99'"):
        expand("table99", settings)
    assert main(["table99", "--profile", "smoke"]) == 2
    assert "known targets" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="result key 'nvv/code'"):
        ck.resolve("nvv/code", ck.load_table())


def test_targets_expand():
    settings = load_runner_config().for_profile("qwen3-4b")
    assert expand("tables-expanded", settings).tables == ["table11", "table12", "table13"]
    assert expand("ablation-dacsp", settings).tables == ["table7"]
    all_ = expand("all", settings)
    assert all_.tables == TABLES and all_.figures and all_.bootstrap
    assert "judge/pagrm" in required_keys(expand("table6", settings))


def test_unknown_method_fails_naming_it(smoke_profile, tmp_path):
    with pytest.raises(ConfigError, match="unknown method 'no-such-method'"):
        Planner(smoke_profile, dirs(tmp_path)).cascade("no-such-method")


def test_stage_without_that_domain_fails(smoke_profile, tmp_path):
    with pytest.raises(ConfigError, match="has no 'chat' stage"):
        Planner(smoke_profile, dirs(tmp_path)).cascade("math-only").index("chat")


@pytest.fixture(scope="module")
def stagewise(lean_profile, tmp_path_factory) -> tuple[Path, list[str], list[Path]]:
    """``stagewise`` run cold by one process: its folder, its lines and the files it wrote."""
    root = tmp_path_factory.mktemp("stagewise")
    lines: list[str] = []
    paths = run(lean_profile, "stagewise", dirs(root), echo=lines.append)
    return root, lines, paths


def test_table4_end_to_end_then_all_cached(lean_profile, stagewise, monkeypatch):
    tmp_path, lines, paths = stagewise
    lines = list(lines)
    out = "\n".join(lines)
    assert "plan: stagewise" in out and "estimate:" in out
    assert out.index("plan:") < out.index("train:")  # the plan comes before any compute
    tex = tmp_path / "tables" / "table4.tex"
    assert tex in paths and tex.is_file()
    assert tmp_path / "figures" / "stagewise.pdf" in paths  # the table's own figure comes with it
    assert not (tmp_path / "figures" / "surgery.pdf").exists()
    prov = json.loads((tmp_path / "tables" / "table4.provenance.json").read_text())
    assert prov["profile"] == "smoke" and prov["commit"] and prov["started_at"]
    stage_walls = [json.loads(p.read_text())["wall_time_s"] for p in tmp_path.rglob("DONE.json")]
    assert stage_walls and prov["wall_time_s"] > sum(stage_walls)  # the run's, not the render's
    # the compute behind the numbers: the 5 stages of both cascades and the 5 evaluations, all timed
    compute = prov["compute"]
    assert compute["untimed"] == [] and compute["commits"] == [prov["commit"]]
    assert sum(n.startswith("stage ") for n in compute["parts"]) == len(stage_walls) == 5
    assert sum(n.startswith("eval ") for n in compute["parts"]) == 5
    assert sum(stage_walls) < compute["wall_time_s"] < prov["wall_time_s"]
    for key in ("base", "nvv/if", "nvv/chat", "nvv/math", "care-rl/math"):
        summary = json.loads((tmp_path / "results" / key / "summary.json").read_text())
        assert summary["ifeval"]["n"] == 1  # the lean profile's cap
    assert (tmp_path / "results" / "nvv" / "math").resolve().name.startswith("smoke-stage-")

    # second run: nothing may train or evaluate
    import care_rl.training.stage as stage
    import experiments.evaluation as evaluation

    def forbidden(*a, **k):
        raise AssertionError("a cached run trained or evaluated")

    monkeypatch.setattr(stage, "run_stage", forbidden)
    monkeypatch.setattr(evaluation, "evaluate_suite", forbidden)
    monkeypatch.setattr(evaluation, "build_generator", forbidden)
    before = tex.read_bytes()
    lines.clear()
    run(lean_profile, "stagewise", dirs(tmp_path), echo=lines.append)
    assert "0 to train" in "\n".join(lines) and "0 to evaluate" in "\n".join(lines)
    assert tex.read_bytes() == before
    # a re-render names the same compute, and its own (short) wall time beside it
    again_prov = json.loads((tmp_path / "tables" / "table4.provenance.json").read_text())
    assert again_prov["compute"] == compute
    assert again_prov["wall_time_s"] < compute["wall_time_s"]


def test_two_workers_make_what_one_process_makes(lean_profile, stagewise, tmp_path, capfd):
    """--jobs 2 on a cold cache: the same stages and evaluations, byte-identical tables, the same compute
    in the provenance, and every line of a worker names it."""
    serial, _, _ = stagewise
    lines: list[str] = []
    run(lean_profile, "stagewise", dirs(tmp_path), jobs=2, echo=lines.append)
    printed = capfd.readouterr().out  # the workers print from their own processes
    assert "produce: 2 worker processes, one torch thread each" in lines
    for worker in ("[worker 1/2] ", "[worker 2/2] "):
        assert f"{worker}done: 5 result keys" in printed
    assert re.search(r"\[worker [12]/2\] stage 1/\d if: training into", printed)

    def entries(root: Path) -> list[str]:
        return sorted(p.name for p in (root / "cache" / "stages").iterdir() if not p.name.startswith("."))

    def evaluations(root: Path) -> list[str]:
        return sorted(p.name for p in (root / "cache" / "eval").iterdir() if not p.name.startswith("."))

    assert entries(tmp_path) == entries(serial) and len(entries(serial)) == 5
    assert evaluations(tmp_path) == evaluations(serial) and len(evaluations(serial)) == 5
    assert (tmp_path / "tables" / "table4.csv").read_bytes() == (
        serial / "tables" / "table4.csv"
    ).read_bytes()
    prov, serial_prov = (
        json.loads((root / "tables" / "table4.provenance.json").read_text()) for root in (tmp_path, serial)
    )
    assert sorted(prov["compute"]["parts"]) == sorted(serial_prov["compute"]["parts"])
    assert prov["compute"]["untimed"] == []


def test_jobs_are_checked_before_any_compute(lean_profile, tmp_path, monkeypatch):
    import experiments.run as runner

    monkeypatch.setattr(runner, "available_cores", lambda: 2)
    with pytest.raises(ConfigError, match="--jobs 3: this process may run on 2 core"):
        run(lean_profile, "stagewise", dirs(tmp_path), jobs=3)
    with pytest.raises(ConfigError, match="--jobs 0: a run needs at least one process"):
        run(lean_profile, "stagewise", dirs(tmp_path), jobs=0)
    gpu = lean_profile.model_copy(update={"device": "cuda"})
    with pytest.raises(ConfigError, match="worker processes are for the CPU"):
        run(gpu, "stagewise", dirs(tmp_path), jobs=2)
    assert not (tmp_path / "cache").exists()


def test_surgery_reconstructs_the_initial_adapter(lean_profile, tmp_path):
    """The fresh LoRA rebuilt for surgery is the one the first stage started from: one step at lr 1e-3
    moves each A entry by ~1e-3, far less than the entries themselves."""
    from experiments.adapter_surgery import initial_adapter, read_adapter

    planner = Planner(lean_profile, dirs(tmp_path))
    first = Producer(planner).train(planner.cascade("if-only"))[0].checkpoint
    init, trained = initial_adapter(lean_profile), read_adapter(first.adapter_dir)
    assert set(init) == set(trained)
    a = next(k for k in init if "lora_A" in k)
    assert (trained[a] - init[a]).abs().max() < 0.01 < init[a].abs().max()


@pytest.mark.slow
def test_surgery_rank_end_to_end_measures_each_rows_energy(lean_profile, tmp_path):
    """make surgery-rank PROFILE=smoke: the rank sweep's edits are written with their rank, and the
    energy columns come from the adapters: none for Base, all for the full update, non-decreasing in k,
    at least tau for the energy rule. A one-step stage whose step was skipped has no update: its
    cells stay empty and the run says why."""
    import pandas as pd

    lines: list[str] = []
    paths = run(lean_profile, "surgery-rank", dirs(tmp_path), echo=lines.append)
    assert {"surgery_rank.tex", "surgery_rank.pdf"} <= {p.name for p in paths}
    edited = (tmp_path / "results" / "surgery" / "if" / "keep_top-k2").resolve()
    assert edited.name.startswith("smoke-surgery-keep_top-k2-")
    table = pd.read_csv(tmp_path / "tables" / "surgery_rank.csv").set_index("method")
    measured = []
    for domain, col in (("math", "M.Energy (%)"), ("if", "IF Energy (%)")):
        energy = table[col]
        assert energy["Base"] == 0.0
        if energy.drop(index="Base").isna().all():
            note = f"note: table surgery_rank: {domain}-only: {domain}-only's the update is zero"
            assert any(line.startswith(note) for line in lines)
            continue
        ks = energy[["Top k=1", "Top k=2", "Top k=4", "Top k=8"]].tolist()
        assert energy["Full update"] == 100.0
        assert ks[0] > 0 and ks == sorted(ks) and ks[-1] <= 100.0 + 1e-9
        assert energy["Top (tau)"] >= 100 * lean_profile.dacsp.tau - 1e-6
        measured.append(domain)
    assert measured  # at least one stage moved its weights


@pytest.mark.slow
def test_make_claims_end_to_end(lean_profile, tmp_path):
    """make claims PROFILE=smoke: every input produced, then one row per statistic with the rank
    sweep's energies as claim 4's thresholds (a stage whose one step was skipped has no update: its
    rows say so), and the provenance beside the table."""
    import pandas as pd

    from experiments import claims as cl

    paths = run(lean_profile, "claims", dirs(tmp_path), echo=lambda _: None)
    assert {p.name for p in paths} == {"claims.csv", "claims.tex", "claims.provenance.json"}
    table = pd.read_csv(tmp_path / "tables" / "claims.csv")
    assert len(table) == len(cl.statistics(None))
    missing = table[table["verdict"] == cl.MISSING]
    assert (missing["claim"] == 4).all() and missing["note"].str.startswith("missing: energy of").all()
    with_energy = table[(table["claim"] == 4) & (table["verdict"] != cl.MISSING)]
    assert with_energy["claimed"].str.endswith("(energy)").all()


@pytest.mark.slow
def test_all_targets_smoke(lean_profile, tmp_path):
    """make all PROFILE=smoke, in tmp dirs: every table and figure (minutes on a shared 2-core CPU)."""
    paths = run(lean_profile, "all", dirs(tmp_path))
    names = {p.name for p in paths}
    assert {f"{t}.tex" for t in TABLES} <= names
    assert {"stagewise.pdf", "surgery.pdf", "rewards.pdf", "bootstrap.tex"} <= names


def test_compute_of_a_distilled_checkpoint_names_its_rl_stage_too(smoke_profile, tmp_path):
    """MOPD's checkpoint after a stage can be a distillation stage: its compute is that stage *and* the
    RL stage it continued, as the cascade reports them (a Table 2 re-render once listed only the
    distillation, labelled 'math')."""
    from care_rl.training.cascade import CascadeStep
    from care_rl.training.stage_run import StageResult

    planner = Planner(smoke_profile, dirs(tmp_path))
    cascade = planner.cascade("mopd")
    first = cascade.stages[0].run.name
    rl = StageResult("rl-key", tmp_path / "rl-key", {"wall_time_s": 30.0, "commit": "a", "stage": first})
    distilled = StageResult(
        "mopd-key", tmp_path / "mopd-key", {"wall_time_s": 5.0, "commit": "b", "stage": "mopd:if"}
    )
    producer = Producer(planner)
    producer.trained[cascade.name] = [CascadeStep((rl, distilled))]
    parts = {p.name: p.wall_time_s for p in producer.stage_parts(cascade, 1)}
    assert parts == {f"stage rl-key ({first})": 30.0, "stage mopd-key (mopd:if)": 5.0}


def test_a_warm_render_does_not_import_the_trainers():
    """Rendering from the cache needs no trainer: the runner, its producer and renderer import neither
    TRL nor PEFT nor transformers until a stage trains (a warm re-render took twice as long when they
    did). A fresh interpreter, since this test process has imported them long ago."""
    code = (
        "import sys; import experiments.run, experiments.produce, experiments.render; "
        "print(sorted(m for m in ('trl', 'peft', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert out.stdout.strip() == "[]"
