"""A LoRA model's update folded into its frozen weights for a while (rollouts), restored exactly after.

A LoRA Linear computes ``x W^T + s (x A^T) B^T``: three matmuls and a few element-wise ops per layer,
which in token-by-token decoding cost ~10-15% on a CPU. Inside :func:`merged_lora` each such layer's
weight is the tensor ``W + s B A`` and the adapter path is off, so the model computes the same
function with one matmul per layer (equal up to floating-point order: the sum is formed before the
product instead of after). The original weight tensors are kept and put back, never recomputed by
subtracting the update again, so the frozen weights are bit-identical afterwards; the price is one
extra copy of the adapted layers' weights while the context is open. vLLM, the paper profiles'
rollout backend, likewise samples from merged weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


def _lora_layers(model: Any) -> list[Any] | None:
    """The LoRA layers to merge, or None when any of them is not a plain, unmerged Linear LoRA
    (4-bit or other quantised bases, embeddings, DoRA, several active adapters): then nothing merges."""
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    for layer in layers:
        adapters = [a for a in layer.active_adapters if a in layer.lora_A]
        if (
            type(layer.base_layer) is not torch.nn.Linear
            or layer.merged
            or len(adapters) != 1
            or layer.use_dora.get(adapters[0], False)
        ):
            return None
    return layers or None


@contextmanager
def merged_lora(model: Any) -> Iterator[bool]:
    """Run ``model`` (a PEFT LoRA model) with its update merged into the frozen weights; yields whether
    it merged. Call it without gradients: the merged weights are plain tensors."""
    layers = _lora_layers(model) if hasattr(model, "disable_adapter") else None
    if layers is None:
        yield False
        return
    originals = []
    try:
        for layer in layers:
            (adapter,) = [a for a in layer.active_adapters if a in layer.lora_A]
            weight = layer.base_layer.weight
            originals.append((weight, weight.data))
            weight.data = weight.data + layer.get_delta_weight(adapter).to(weight.dtype)
        with model.disable_adapter():
            yield True
    finally:
        for weight, data in originals:
            weight.data = data
