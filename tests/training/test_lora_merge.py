"""Merged-LoRA rollouts (care_rl/lora_merge.py): the same function, and the frozen weights untouched."""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model

from care_rl.lora_merge import merged_lora


def _lora(model, **kwargs):
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, **kwargs)
    return get_peft_model(model, config).eval()


def test_merged_model_computes_the_adapted_function_and_restores_every_weight(smoke_model):
    model = _lora(smoke_model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ids = torch.randint(5, 500, (3, 12))
    with torch.no_grad():
        adapted = model(input_ids=ids).logits
        with merged_lora(model) as merged:
            inside = model(input_ids=ids).logits
            changed = [
                n for n, p in model.named_parameters() if "base_layer" in n and not torch.equal(p, before[n])
            ]
    assert merged
    torch.testing.assert_close(inside, adapted, rtol=1e-5, atol=1e-5)  # floating-point order only
    assert changed  # the frozen weights did hold W + s B A inside
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # bit-identical after
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, adapted, rtol=0, atol=0)  # adapter back on


def test_kept_buffers_follow_the_adapter(smoke_model):
    """Buffers kept between rollouts hold the current update: after the adapter moves, the next merge
    computes the new function, not the old one."""
    model = _lora(smoke_model)
    buffers: dict = {}
    ids = torch.randint(5, 500, (2, 8))
    with torch.no_grad():
        with merged_lora(model, buffers):
            first = model(input_ids=ids).logits
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.05)
        moved = model(input_ids=ids).logits
        with merged_lora(model, buffers) as merged:
            second = model(input_ids=ids).logits
    assert merged and len(buffers) > 0
    assert not torch.allclose(first, moved, atol=1e-3)
    torch.testing.assert_close(second, moved, rtol=1e-5, atol=1e-5)


def test_layers_it_cannot_merge_exactly_are_left_alone(smoke_model):
    model = _lora(smoke_model, use_dora=True)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad(), merged_lora(model) as merged:
        assert not merged
        assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    with merged_lora(smoke_model) as merged:  # not a PEFT model at all
        assert not merged
