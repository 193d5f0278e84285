"""A LoRA model's update folded into its frozen weights for a while (rollouts), restored exactly after.

A LoRA Linear computes ``x W^T + s (x A^T) B^T``: three matmuls and a few element-wise ops per layer,
which in token-by-token decoding cost ~10-15% on a CPU. Inside :func:`merged_lora` each such layer's
weight is the tensor ``W + s B A`` and the adapter path is off, so the model computes the same
function with one matmul per layer (equal up to floating-point order: the sum is formed before the
product instead of after). The original weight tensors are kept and put back, never recomputed by
subtracting the update again, so the frozen weights are bit-identical afterwards. The merged weights
are written into buffers the caller may keep between calls (one per adapted layer, the size of its
weight), which spares a fresh allocation of that memory at every rollout. vLLM, the paper profiles'
rollout backend, likewise samples from merged weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


def _lora_layers(model: Any) -> list[tuple[Any, str]] | None:
    """(layer, adapter) for every LoRA layer, or None when any of them is not a plain, unmerged Linear
    LoRA with one active adapter (4-bit or other quantised bases, embeddings, DoRA, fan-in-fan-out
    layouts): then nothing merges."""
    from peft.tuners.lora import LoraLayer

    layers = []
    for layer in (m for m in model.modules() if isinstance(m, LoraLayer)):
        adapters = [a for a in layer.active_adapters if a in layer.lora_A]
        if (
            type(layer.base_layer) is not torch.nn.Linear
            or layer.merged
            or len(adapters) != 1
            or layer.use_dora.get(adapters[0], False)
            or layer.fan_in_fan_out
        ):
            return None
        layers.append((layer, adapters[0]))
    return layers or None


@contextmanager
def merged_lora(model: Any, buffers: dict[int, torch.Tensor] | None = None) -> Iterator[bool]:
    """Run ``model`` (a PEFT LoRA model) with its update merged into the frozen weights; yields whether
    it merged. ``buffers`` (kept by the caller between calls) receive the merged weights. Call it
    without gradients: the merged weights are plain tensors."""
    layers = _lora_layers(model) if hasattr(model, "disable_adapter") else None
    if layers is None:
        yield False
        return
    buffers = {} if buffers is None else buffers
    originals = []
    try:
        for layer, adapter in layers:
            weight = layer.base_layer.weight
            merged = buffers.get(id(layer))
            if merged is None or merged.shape != weight.shape or merged.dtype != weight.dtype:
                merged = buffers[id(layer)] = torch.empty_like(weight.data)
            a, b = layer.lora_A[adapter].weight, layer.lora_B[adapter].weight
            torch.addmm(
                weight.data, b.to(weight.dtype), a.to(weight.dtype), alpha=layer.scaling[adapter], out=merged
            )
            originals.append((weight, weight.data))
            weight.data = merged
        with model.disable_adapter():
            yield True
    finally:
        for weight, data in originals:
            weight.data = data
