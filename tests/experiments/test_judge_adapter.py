"""A missing PA-GRM judge adapter is planned and built before any stage reads it, or refused at plan
time when only the user's teacher endpoint could build it."""

from __future__ import annotations

import pytest
import yaml

from care_rl.config import ConfigError, load_profile
from experiments.judge_adapter import build_adapter, check_buildable, missing_adapter, uses_adapter
from experiments.paths import PROFILES_DIR
from experiments.run import run
from experiments.runconfig import RunDirs


def profile_with_adapter(tmp_path, source: str = "mini"):
    data = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    data["judge"]["adapter"] = str(tmp_path / "pagrm" / "adapter")
    data["data"]["source"] = source
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_profile(str(path))


def test_only_judge_rewards_read_the_adapter():
    assert not uses_adapter(["if", "math", "direct"])
    assert uses_adapter(["math", "pagrm"]) and uses_adapter(["rubric"])


def test_plan_lists_the_missing_adapter_then_build_makes_it(tmp_path):
    profile = profile_with_adapter(tmp_path)
    lines: list[str] = []
    dirs = RunDirs(
        results=tmp_path / "r",
        tables=tmp_path / "t",
        figures=tmp_path / "f",
        stages=tmp_path / "s",
        evals=tmp_path / "e",
    )
    # w/o PA-GRM (direct) and CARE-RL (pagrm) stages
    run(profile, "ablation-components", dirs, plan_only=True, echo=lines.append)
    plan = "\n".join(lines)
    assert f"judge adapter: build {tmp_path / 'pagrm' / 'adapter'}" in plan
    assert not (tmp_path / "s").exists()  # planning trained nothing

    adapter = build_adapter(profile)
    assert (adapter / "adapter_config.json").is_file()
    assert (tmp_path / "pagrm" / "traces.jsonl").stat().st_size > 0
    assert missing_adapter(profile) is None
    lines.clear()
    run(profile, "ablation-components", dirs, plan_only=True, echo=lines.append)
    assert "judge adapter: build" not in "\n".join(lines)


def test_hub_profile_refuses_before_compute_naming_the_commands(tmp_path):
    profile = profile_with_adapter(tmp_path, source="hub")
    path = missing_adapter(profile)
    assert path == tmp_path / "pagrm" / "adapter"
    with pytest.raises(ConfigError, match=r"make pagrm-traces .*--teacher endpoint.*make pagrm-sft"):
        check_buildable(profile, path)
