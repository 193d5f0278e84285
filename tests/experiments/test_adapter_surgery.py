"""Table 14's edited adapters load in PEFT and change each module's weight by exactly the edit."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

from care_rl.config import DacspSpec
from care_rl.dacsp.checkpoint_surgery import edit_checkpoint
from experiments.adapter_surgery import edit_name, update_energy, write_edited_adapter

MODULE = "base_model.model.model.layers.0.self_attn.q_proj"


def base_model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
    )
    return LlamaForCausalLM(cfg)


def delta_weight(model, name: str) -> torch.Tensor:
    layer = model.get_submodule(name)
    return layer.get_delta_weight("default")


@pytest.mark.parametrize("edit", ["keep_top", "remove_random"])
def test_layer_space_edit_writes_a_loadable_adapter_with_the_same_scale(tmp_path, edit) -> None:
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], lora_dropout=0.0)
    model = get_peft_model(base_model(), lora)
    init = {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
    g = torch.Generator().manual_seed(1)
    trained = {k: v + 0.2 * torch.randn(v.shape, generator=g) for k, v in init.items()}
    adapter = tmp_path / "adapter"
    model.save_pretrained(str(adapter))
    save_file(trained, str(adapter / "adapter_model.safetensors"))
    spec = DacspSpec(tau=0.6)
    out = write_edited_adapter(adapter, init, edit, spec, 3, tmp_path / "edited")
    config = json.loads((out / "adapter_config.json").read_text())
    edited = edit_checkpoint(init, trained, edit, spec.tau, 3)
    rank = edited[f"{MODULE}.lora_A.weight"].shape[0]
    assert config["r"] == rank and config["lora_alpha"] / config["r"] == 2.0  # s = 8 / 4 kept
    assert rank > 4 if edit == "remove_random" else rank == 4
    loaded = PeftModel.from_pretrained(base_model(), str(out))
    ref = PeftModel.from_pretrained(base_model(), str(adapter))
    full = delta_weight(ref, MODULE).double()
    got = delta_weight(loaded, MODULE).double()
    b, a = (edited[f"{MODULE}.lora_{x}.weight"] for x in "BA")
    assert torch.allclose(got, 2.0 * (b @ a).double(), atol=1e-5)
    assert not torch.allclose(got, full, atol=1e-3)  # the edit changed the module's weight


def test_edit_names_keep_factor_space_names_and_separate_layer_space() -> None:
    factor, layer = DacspSpec(space="factor"), DacspSpec(space="layer")
    digest = hashlib.sha256(b"k|keep_top|0.9|42").hexdigest()[:12]  # the name before layer space existed
    assert edit_name("k", "keep_top", factor, 42) == f"surgery-keep_top-{digest}"
    assert edit_name("k", "keep_top", layer, 42) != edit_name("k", "keep_top", factor, 42)


def test_a_fixed_rank_reaches_the_edit_and_its_energy(tmp_path) -> None:
    """keep_top-k1: every module's update in the written adapter has rank 1 (the energy rule keeps
    more here), and update_energy is the share of the update's energy that rank-1 update holds."""
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    model = get_peft_model(base_model(), lora)
    init = {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
    g = torch.Generator().manual_seed(2)
    trained = {k: v + 0.2 * torch.randn(v.shape, generator=g) for k, v in init.items()}
    adapter = tmp_path / "adapter"
    model.save_pretrained(str(adapter))
    save_file(trained, str(adapter / "adapter_model.safetensors"))
    spec = DacspSpec(tau=0.9)
    out = write_edited_adapter(adapter, init, "keep_top", spec, 0, tmp_path / "k1", rank=1)
    loaded, ref = (
        PeftModel.from_pretrained(base_model(), str(out)),
        PeftModel.from_pretrained(base_model(), str(adapter)),
    )
    kept = full = 0.0
    for module in (MODULE, MODULE.replace("q_proj", "v_proj")):
        got, whole = delta_weight(loaded, module).double(), delta_weight(ref, module).double()
        assert int(torch.linalg.matrix_rank(got, atol=1e-5)) == 1
        assert int(torch.linalg.matrix_rank(whole, atol=1e-5)) > 1
        kept, full = kept + float(got.square().sum()), full + float(whole.square().sum())
    assert update_energy(adapter, init, "keep_top", spec, rank=1) == pytest.approx(
        100 * kept / full, rel=1e-4
    )
    assert update_energy(adapter, init, "keep_top", spec) > 90.0  # the energy rule at tau 0.9


def test_a_fixed_rank_names_its_own_edit() -> None:
    spec = DacspSpec()
    tau = edit_name("k", "keep_top", spec, 42)
    ranks = [edit_name("k", "keep_top", spec, 42, rank=k) for k in (1, 2)]
    assert ranks[0].startswith("surgery-keep_top-k1-") and ranks[1].startswith("surgery-keep_top-k2-")
    assert len({tau, *ranks}) == 3
    # the energy rule does not choose a fixed rank's directions: tau is not part of its name
    assert edit_name("k", "keep_top", DacspSpec(tau=0.5), 42, rank=1) == ranks[0]
