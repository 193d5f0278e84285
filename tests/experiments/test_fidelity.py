"""What a paper-scale user runs is the paper's method: the trained PA-GRM judge and the three-judge
evaluation panel, or a refusal before compute; a profile that departs says so in YAML and in its tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from care_rl.config import ConfigError, cache_dir, load_profile
from experiments.checkpoints import Seeds
from experiments.fidelity import UNTRAINED_SUFFIX, table_notes
from experiments.paths import PROFILES_DIR, load_named_profile
from experiments.table_specs import load_spec
from experiments.tables import build

FIXTURES = Path(__file__).parent / "fixtures" / "results"
PAPER_PROFILES = ("qwen3-4b", "qwen2.5-7b")


def derived_profile(tmp_path: Path, name: str = "smoke", **changes) -> object:
    """A copy of a shipped profile with top-level sections replaced (None removes a key)."""
    data = yaml.safe_load((PROFILES_DIR / f"{name}.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_profile(path, check_device=False)


# --- defect 1: PA-GRM on its trained judge ---------------------------------------------------------
@pytest.mark.parametrize("name", PAPER_PROFILES)
def test_paper_profiles_read_the_adapter_that_pagrm_sft_writes(name):
    from care_rl.pagrm.training.sft import default_out

    profile = load_named_profile(name, check_device=False)
    assert profile.judge.adapter is not None and not profile.deviations.untrained_pagrm_judge
    assert cache_dir() / profile.judge.adapter == default_out(profile) / "adapter"


def test_no_adapter_is_refused_before_compute_naming_the_commands(tmp_path):
    from care_rl.training.services import build_reward
    from experiments.judge_study import judge_for
    from experiments.run import run
    from experiments.runconfig import RunDirs

    # smoke without its untrained-judge deviation (its one judge still scores chat, as declared)
    profile = derived_profile(tmp_path, deviations={"chat_eval_by_training_judge": True})
    assert profile.judge.adapter is None
    commands = (
        r"make pagrm-traces PROFILE=smoke TRACES_ARGS=.*--teacher endpoint.*make pagrm-sft PROFILE=smoke"
    )
    dirs = RunDirs(*(tmp_path / d for d in ("r", "t", "f", "s", "e")))
    with pytest.raises(ConfigError, match=commands):
        run(profile, "ablation-components", dirs, plan_only=True)  # CARE-RL's chat stage reads PA-GRM
    assert not (tmp_path / "s").exists()
    for variant in ("pagrm", "holistic", "rubric"):
        with pytest.raises(ConfigError, match=r"judge\.adapter is not set"):
            judge_for(profile, variant, None)
    with pytest.raises(ConfigError, match=r"judge\.adapter is not set"):
        build_reward("pagrm", profile)  # experiments.train refuses too
    assert judge_for(profile, "direct", None)[2] is None  # Direct is the untrained judge by definition


def test_untrained_judge_is_labelled_in_every_row_that_read_it(smoke_profile, tmp_path):
    assert smoke_profile.deviations.untrained_pagrm_judge and smoke_profile.judge.adapter is None
    relabel = {
        t: table_notes(smoke_profile, load_spec(t)).relabel for t in ("table2", "table5", "table6", "table14")
    }
    assert set(relabel["table2"]) == {"CARE-RL"}
    assert set(relabel["table5"]) == {"CARE-RL w/o DACSP", "CARE-RL"}  # w/o PA-GRM trains on Direct
    assert set(relabel["table6"]) == {"Holistic", "Rubric", "PA-GRM"}  # Direct and PA-GRM-DS do not
    assert set(relabel["table14"]) == {
        "Full update",
        "Top only",
        "Random only",
        "Remove top",
        "Remove random",
    }
    build("table2", "smoke", FIXTURES, tmp_path)
    methods = pd.read_csv(tmp_path / "table2.csv")["method"].tolist()
    assert "CARE-RL" + UNTRAINED_SUFFIX in methods and "NVV" in methods
    cpu = load_named_profile("cpu")  # trains its adapter: nothing to label
    assert table_notes(cpu, load_spec("table2")).relabel == {}


# --- defect 2: chat scored by the evaluation panel --------------------------------------------------
@pytest.mark.parametrize("name", PAPER_PROFILES)
def test_paper_profiles_name_the_papers_evaluation_panel(name):
    from eval.panel import judge_specs, scored_by_training_judge

    profile = load_named_profile(name, check_device=False)
    panel = judge_specs(profile)
    assert [j.model_name for j in panel] == ["gemini-2.5-pro", "kimi-k2.5", "qwen3-max"]
    assert all(j.backend == "openai" and j.base_url and j.api_key_env for j in panel)
    assert not scored_by_training_judge(profile) and not profile.deviations.chat_eval_by_training_judge
    assert table_notes(profile, load_spec("table2")).caption == []


def test_training_judge_as_chat_evaluator_is_refused_unless_declared(tmp_path):
    from eval.panel import judge_specs

    no_panel = derived_profile(tmp_path, deviations=None)
    with pytest.raises(ConfigError, match=r"eval_judges is empty.*chat_eval_by_training_judge"):
        judge_specs(no_panel)
    cpu = yaml.safe_load((PROFILES_DIR / "cpu.yaml").read_text())
    same_model = derived_profile(tmp_path, "cpu", deviations=None)  # its one evaluation judge is SmolLM2
    assert same_model.eval_judges[0].model == same_model.judge.model
    with pytest.raises(ConfigError, match="an eval_judges entry is that model"):
        judge_specs(same_model)
    declared = derived_profile(tmp_path, "cpu", deviations=cpu["deviations"])
    assert judge_specs(declared) == declared.eval_judges


@pytest.mark.parametrize("name", ["smoke", "cpu"])
def test_tables_say_when_the_training_judge_scored_chat(name, tmp_path):
    profile = load_named_profile(name)
    for table in ("table2", "table3", "table4", "table5", "table7", "table14"):
        assert any("baselines' training judge" in c for c in table_notes(profile, load_spec(table)).caption)
    assert table_notes(profile, load_spec("table6")).caption == []  # judging accuracy: no chat benchmark
    build("table2", name, FIXTURES, tmp_path, seeds=Seeds(42, (42,)))  # the fixtures hold one seed
    assert "scored by the baselines' training judge" in (tmp_path / "table2.tex").read_text()


def test_endpoint_urls_read_named_environment_variables(monkeypatch):
    from care_rl.config import JudgeSpec
    from eval.judge_endpoints import endpoint_problem

    spec = JudgeSpec(backend="openai", model_name="m", base_url="${PANEL_HOST}/v1")
    monkeypatch.delenv("PANEL_HOST", raising=False)
    with pytest.raises(ConfigError, match=r"unset environment variable\(s\) \['PANEL_HOST'\]"):
        spec.endpoint_url()
    assert "PANEL_HOST" in str(endpoint_problem(spec))  # the check before compute names it too
    monkeypatch.setenv("PANEL_HOST", "http://127.0.0.1:8000")
    assert spec.endpoint_url() == "http://127.0.0.1:8000/v1"
    literal = JudgeSpec(backend="openai", model_name="m", base_url="https://x/v1")
    assert literal.endpoint_url() == "https://x/v1"
