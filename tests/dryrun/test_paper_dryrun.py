"""The paper profile's code path on a CPU: ``make table2 PROFILE=paper-dryrun`` (and Table 6) end to end.

experiments/profiles/paper-dryrun.yaml is qwen3-4b at toy sizes. Here it runs as a user would run the
paper: the plan stops until the PA-GRM adapter exists, the two commands it names build it from a teacher
endpoint, then the runner trains every Table 2 cascade on 4-bit tiny Qwen3 models read through the hub
loader, with data read through the hub loaders, and scores chat with the three-judge panel, all
endpoints being real HTTP servers on 127.0.0.1 (tests/dryrun/endpoints.py). The tests below check what
the issue-18 defects got wrong: an untrained PA-GRM judge (1), chat scored by the training judge (2),
judge thinking read as the verdict (3) and a failed judgment turned into a reward (4).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from care_rl.config import ConfigError
from care_rl.data.spec import MINI_DIR
from tests.dryrun import assets
from tests.dryrun.endpoints import TEACHER, ScriptedEndpoint

pytestmark = pytest.mark.slow  # about a minute of CPU time (the profile's whole Table 2 and Table 6)

# model name -> (API-key variable the profile names, the key this test serves it with)
KEYS = {
    "gemini-2.5-pro": ("GEMINI_API_KEY", "test-key-gemini"),
    "kimi-k2.5": ("MOONSHOT_API_KEY", "test-key-kimi"),
    "qwen3-max": ("DASHSCOPE_API_KEY", "test-key-qwen"),
    TEACHER: ("DEEPSEEK_API_KEY", "test-key-deepseek"),
}
PANEL = ("gemini-2.5-pro", "kimi-k2.5", "qwen3-max")


@dataclass
class DryRun:
    root: Path
    server: ScriptedEndpoint
    refusal: str  # the plan's error before the adapter existed
    paths: list[Path]
    adapter_loads: list[str]  # adapters the local judge loaded, in order


def _run(profile, root: Path, target: str, plan_only: bool = False) -> list[Path]:
    """``make <target> PROFILE=paper-dryrun`` with every output under ``root``."""
    from experiments.run import run
    from experiments.runconfig import RunDirs

    cache = root / "cache"
    dirs = RunDirs(root / "results", root / "tables", root / "figures", cache / "stages", cache / "eval")
    return run(profile, target, dirs, plan_only=plan_only, echo=lambda line: None)


@pytest.fixture(scope="module")
def dryrun(tmp_path_factory, smoke_profile):
    from care_rl.judges.local import LocalBackend
    from care_rl.models import converted_dir
    from care_rl.pagrm.training import collect_traces
    from experiments import pagrm_sft
    from experiments.paths import load_named_profile

    root = tmp_path_factory.mktemp("dryrun")
    base_tokenizer = converted_dir(smoke_profile.tokenizer)  # in the shared cache, before switching it
    with pytest.MonkeyPatch.context() as mp, ScriptedEndpoint({m: k for m, (_, k) in KEYS.items()}) as server:
        mp.setenv("CARE_RL_CACHE", str(root / "cache"))
        mp.setenv("CARE_RL_CW3_DIR", str(MINI_DIR / "cw3"))  # CW3 is not on the hub: its folder by variable
        mp.setenv("CARE_RL_DRYRUN_URL", server.url)
        for var, key in KEYS.values():
            mp.setenv(var, key)
        loads: list[str] = []
        with_adapter = LocalBackend.with_adapter

        def spy(model, path):
            loads.append(str(path))
            return with_adapter(model, path)

        mp.setattr(LocalBackend, "with_adapter", staticmethod(spy))
        assets.build(base_tokenizer)
        profile = load_named_profile("paper-dryrun")

        with pytest.raises(ConfigError) as refusal:  # defect 1: no trained judge, no compute
            _run(profile, root, "table2", plan_only=True)
        assert not (root / "cache" / "stages").exists()

        # the two commands the refusal names, with the paper-scale TRACES_ARGS (the Makefile's paths)
        traces = root / "cache" / "pagrm" / "traces-paper-dryrun.jsonl"
        teacher = ["--teacher", "endpoint", "--base-url", f"{server.url}/v1", "--model", TEACHER]
        key = ["--api-key-env", "DEEPSEEK_API_KEY"]
        collect_traces.main(["--data", "hub", *teacher, *key, "--out", str(traces)])
        pagrm_sft.main(["--traces", str(traces), "--profile", "paper-dryrun"])

        paths = _run(profile, root, "table2") + _run(profile, root, "table6")
        yield DryRun(root, server, str(refusal.value), paths, loads)


def _table(run: DryRun, name: str) -> pd.DataFrame:
    csv = pd.read_csv(run.root / "tables" / f"{name}.csv")
    return csv[csv["source"].str.startswith("ours")].set_index("method")


def _stage_logs(run: DryRun, stage: str) -> list[list[dict]]:
    """The log rows of every trained stage named ``stage`` (metrics.json ``stage``)."""
    out = []
    for metrics in (run.root / "cache" / "stages").glob("*/metrics.json"):
        if json.loads(metrics.read_text())["stage"] == stage:
            out.append(
                [json.loads(line) for line in (metrics.parent / "logs.jsonl").read_text().splitlines()]
            )
    return out


def test_policy_and_judge_load_in_4bit_through_the_hub_loader(dryrun):
    """The paper profiles' loading path: a hub id (read from its local copy), bitsandbytes 4-bit on CPU."""
    import bitsandbytes as bnb

    from care_rl.models import load_policy
    from experiments.paths import load_named_profile

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CARE_RL_CACHE", str(dryrun.root / "cache"))
        model, tokenizer = load_policy(load_named_profile("paper-dryrun"))
    assert isinstance(model.model.layers[0].mlp.down_proj, bnb.nn.Linear4bit)
    assert "enable_thinking" in tokenizer.chat_template  # the Qwen3-style template


def test_untrained_judge_stops_the_plan_naming_the_two_commands(dryrun):
    assert "make pagrm-traces PROFILE=paper-dryrun" in dryrun.refusal
    assert (
        "--data hub --teacher endpoint" in dryrun.refusal
        and "make pagrm-sft PROFILE=paper-dryrun" in dryrun.refusal
    )


def test_pagrm_stages_and_table6_rows_use_the_trained_adapter(dryrun):
    adapter = str(dryrun.root / "cache" / "pagrm" / "paper-dryrun" / "adapter")
    assert dryrun.adapter_loads and set(dryrun.adapter_loads) == {adapter}
    # CARE-RL's chat stage, and Table 6's holistic, rubric and PA-GRM rows, each built the judge with it
    assert len(dryrun.adapter_loads) >= 4
    for label in ("CARE-RL",):
        assert label in _table(dryrun, "table2").index  # no "(untrained judge)" label at paper settings
    assert {"Holistic", "Rubric", "PA-GRM"} <= set(_table(dryrun, "table6").index)


def test_chat_is_scored_by_the_three_judge_panel_averaged(dryrun):
    """Each panel judge answered every chat sample with its own key; WB and RQA are the known averages
    of the scripted verdicts (WildBench 6, 8, 4 -> 6 -> WB-Score 20; ResearchQA all 5s -> 100)."""
    for model in PANEL:
        seen = [r for r in dryrun.server.requests if r.model == model]
        assert seen and all(r.api_key == KEYS[model][1] for r in seen)
    counts = {dryrun.server.calls[m] for m in PANEL}
    assert len(counts) == 1  # the same samples went to every judge
    table = _table(dryrun, "table2")
    assert (table["WB"] == 20.0).all() and (table["RQA"] == 100.0).all()
    tex = (dryrun.root / "tables" / "table2.tex").read_text()
    assert "training judge" not in tex  # no deviation to declare


def test_judge_thinking_is_never_read_as_the_verdict(dryrun):
    """Every scripted reply carries an invalid object (or RQA levels of 1) inside <think>: traces were
    collected and the PA-GRM-DS row is scored, so the parsers read the answers."""
    traces = (dryrun.root / "cache" / "pagrm" / "traces-paper-dryrun.jsonl").read_text().splitlines()
    assert traces and all(json.loads(t)["score"] >= 1 for t in traces)
    assert dryrun.server.malformed[TEACHER] > 0  # malformed replies were served, and skipped
    table6 = _table(dryrun, "table6")
    assert not table6.loc["PA-GRM-DS"].isna().any()


def test_failed_judgments_stay_unscored(dryrun):
    """The tiny local judge never writes a parseable verdict in 16 tokens, so no chat row of a
    Direct or PA-GRM stage has a reward: the overlong punishment must not score them on its own."""
    stages = _stage_logs(dryrun, "chat") + _stage_logs(dryrun, "chat+dacsp")
    assert stages
    for logs in stages:
        for row in logs:
            value = row.get("rewards_by_domain/chat/mean")
            assert value is None or math.isnan(value), row
