"""Stage bookkeeping: task vectors, the per-layer basis bank, save/load, binding to a PEFT LoRA model."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
from transformers import LlamaConfig, LlamaForCausalLM

from care_rl.config import DacspSpec
from care_rl.dacsp import BasisBank, HistoricalBasis, capability_directions, task_vectors


def tiny_lora_model():
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"], lora_dropout=0.0)
    return get_peft_model(LlamaForCausalLM(cfg), config)


def perturbed(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: v + 0.1 * torch.randn(v.shape, generator=g) for k, v in state.items()}


def adapter_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


@pytest.mark.parametrize("backend", ["materialized", "factored"])
def test_bank_extends_per_layer_like_direct_construction(backend) -> None:
    s0 = {"a": torch.zeros(5, 4), "b": torch.zeros(3)}
    s1, s2 = perturbed(s0, 1), perturbed(s0, 2)
    s2["b"] = s1["b"].clone()  # layer b unchanged in stage 2
    bank = BasisBank(backend)
    first = bank.add_stage(s0, s1, tau=0.9)["factor"]
    second = bank.add_stage(s1, s2, tau=0.9)["factor"]
    assert second["b"] == 0 and first["b"] == 1
    d1, d2 = s1["a"].double() - s0["a"].double(), s2["a"].double() - s1["a"].double()
    dirs = capability_directions(d1, 0.9) + capability_directions(d2, 0.9)
    assert len(dirs) == first["a"] + second["a"]
    direct = HistoricalBasis.from_directions(dirs)
    assert torch.allclose(bank.bases["a"].vectors, direct.vectors, atol=1e-10)


@pytest.mark.parametrize("backend", ["materialized", "factored"])
def test_save_load_round_trip(tmp_path, backend) -> None:
    s0 = {"x.lora_A.weight": torch.zeros(4, 6), "x.lora_B.weight": torch.zeros(6, 4), "norm": torch.zeros(6)}
    bank = BasisBank(backend, tol=1e-5)
    bank.add_stage(s0, perturbed(s0, 1), tau=0.8)
    bank.add_stage(s0, perturbed(s0, 2), tau=0.8)
    path = tmp_path / "sub" / "bank.safetensors"
    bank.save(path)
    loaded = BasisBank.load(path)
    assert (loaded.backend, loaded.tol, set(loaded.bases)) == (backend, 1e-5, set(bank.bases))
    for name, basis in bank.bases.items():
        assert loaded.bases[name].pivots == basis.pivots
        assert torch.equal(loaded.bases[name].vectors, basis.vectors)
    assert set(loaded.layer_bases) == set(bank.layer_bases) == {"x"}  # the LoRA module's layer space
    for name, basis in bank.layer_bases.items():
        assert loaded.layer_bases[name].pivots == basis.pivots
        assert torch.equal(loaded.layer_bases[name].vectors, basis.vectors)
    assert [p.name for p in path.parent.iterdir()] == ["bank.safetensors"]  # no temp file left


@pytest.mark.parametrize("space", ["layer", "factor"])
def test_peft_adapter_state_binds_and_attaches(space) -> None:
    model = tiny_lora_model()
    before = adapter_state(model)
    bank = BasisBank()
    bank.add_stage(before, perturbed(before, 3), tau=0.9)
    assert len(bank.bases) == 4  # q_proj and down_proj, lora_A and lora_B each
    modules = {
        "base_model.model.model.layers.0.self_attn.q_proj",
        "base_model.model.model.layers.0.mlp.down_proj",
    }
    assert set(bank.layer_bases) == modules  # one layer-space basis per LoRA module
    bound = bank.bind(model)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert len(bound) == 4 and all(id(p) in trainable for p in bound)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    handle = bank.attach(opt, model, DacspSpec(alpha=1.2, beta=0.5, space=space))
    model(input_ids=torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]])).loss.backward()
    opt.step()
    record = handle.telemetry[0]
    assert record["space"] == space
    assert set(record["layer"]["modules"]) == set(record["factor"]["modules"]) == modules


def test_bad_inputs_raise_with_names(tmp_path) -> None:
    with pytest.raises(ValueError, match="only before"):
        task_vectors({"a": torch.zeros(2)}, {"b": torch.zeros(2)})
    with pytest.raises(ValueError, match="'a'"):
        task_vectors({"a": torch.zeros(2)}, {"a": torch.zeros(3)})
    with pytest.raises(ValueError, match="backend"):
        BasisBank("dense")
    bank = BasisBank()
    bank.add_stage({"a": torch.zeros(2, 2)}, {"a": torch.eye(2)}, 0.9)
    with pytest.raises(ValueError, match="layer 'a'"):
        bank.add_stage({"a": torch.zeros(2, 2)}, {"a": torch.full((2, 2), float("nan"))}, 0.9)
    with pytest.raises(KeyError, match="'a' matches no parameter"):
        bank.bind(torch.nn.Linear(2, 2))
    with pytest.raises(FileNotFoundError, match="not found"):
        BasisBank.load(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file

    save_file({"t": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a DACSP basis bank"):
        BasisBank.load(tmp_path / "other.safetensors")


def test_bank_is_bound_to_its_base_model(tmp_path, smoke_profile) -> None:
    """Directions are coordinates of one checkpoint's weights: a bank saved for one model is refused
    for another, even with matching shapes; a bank from before the binding existed stays usable."""
    from care_rl.training.stage import StageResult, load_bank

    bank = BasisBank(model="hub:org/model-a")
    bank.add_stage({"a": torch.zeros(3, 2)}, {"a": torch.ones(3, 2)}, 0.9)
    parent = StageResult("k", tmp_path, {})
    bank.save(parent.bank_path)
    assert BasisBank.load(parent.bank_path).model == "hub:org/model-a"
    with pytest.raises(ValueError, match=r"model-a.*random:smoke-llama"):
        load_bank(smoke_profile, parent)

    unbound = BasisBank()
    unbound.add_stage({"a": torch.zeros(3, 2)}, {"a": torch.ones(3, 2)}, 0.9)
    unbound.save(parent.bank_path)
    loaded = load_bank(smoke_profile, parent)
    assert loaded.model == smoke_profile.policy.identity() and set(loaded.bases) == {"a"}
    assert load_bank(smoke_profile, None).model == smoke_profile.policy.identity()


def test_model_identity_ignores_loading_options(smoke_profile) -> None:
    spec = smoke_profile.policy
    assert spec.model_copy(update={"dtype": "bfloat16"}).identity() == spec.identity()
    assert spec.model_copy(update={"seed": spec.seed + 1}).identity() != spec.identity()
    changed = {**spec.random_config, "num_hidden_layers": spec.random_config.get("num_hidden_layers", 2) + 1}
    assert spec.model_copy(update={"random_config": changed}).identity() != spec.identity()


def test_chance_levels_are_k_over_d_per_module_in_both_spaces() -> None:
    from care_rl.dacsp import chance_levels

    s0 = {"x.lora_A.weight": torch.zeros(4, 6), "x.lora_B.weight": torch.zeros(6, 4), "norm": torch.zeros(6)}
    bank = BasisBank("factored")
    bank.add_stage(s0, perturbed(s0, 1), tau=0.8)
    levels = chance_levels(bank)
    a, b = bank.bases["x.lora_A.weight"], bank.bases["x.lora_B.weight"]
    assert levels["layer"]["x"] == pytest.approx(bank.layer_bases["x"].rank / 36)  # W is 6 x 6
    assert levels["factor"]["x"] == pytest.approx((a.rank + b.rank) / 48)  # A and B: 24 + 24 entries
    assert (
        levels["layer"]["norm"] == levels["factor"]["norm"] == pytest.approx(1 / 6)
    )  # a vector: one direction


def test_a_bank_without_the_layer_space_is_refused(tmp_path) -> None:
    import json

    from safetensors.torch import save_file

    meta = {"format": "care-rl-dacsp-bank/1", "backend": "factored", "tol": 1e-6, "model": None, "layers": []}
    save_file({"t": torch.zeros(1)}, str(tmp_path / "old.safetensors"), metadata={"dacsp": json.dumps(meta)})
    with pytest.raises(ValueError, match=r"format 1 .*trained again"):
        BasisBank.load(tmp_path / "old.safetensors")
