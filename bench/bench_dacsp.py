"""DACSP cost, measured in one run: the optimizer-step overhead in layer and factor space, and its share
of a cpu training step; basis memory at paper scale.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_dacsp

(1) The cpu profile's policy (SmolLM2-135M: 30 layers, hidden 576, intermediate 1536) with its LoRA
    (r=16, alpha 32, all linear layers: 210 modules, 420 tensors, 4.88 M parameters). Every module gets a
    layer-space basis (of its m x n weight) and every factor a factor-space basis, each of rank K from a
    synthetic stage update (rank-K, τ = 1), so both spaces are measured every step as in training. The
    optimizer is the one training uses: dapo.py builds a GRPOConfig without ``optim`` or
    ``weight_decay``, so HF Trainer takes ``adamw_torch_fused`` (torch.optim.AdamW(fused=True), on CPU
    too) with weight_decay 0. Times are medians of interleaved rounds with the same fixed gradients.
(2) In the same run, the training step DACSP is added to: a forward + backward of the cpu model with
    LoRA on one representative micro batch (per_device_train_batch_size = 8 sequences of the mini IF
    prompts, chat-templated, + max_completion_length tokens). A real cpu DAPO step also generates
    (~25-35 s measured, experiments/runner.yaml), so this under-states the step and over-states
    DACSP's share: the share printed is an upper bound. Target: ≤ 1% of a training step. (The old
    ≤ 20%-of-the-optimizer-step target is retired: a post-step hook must snapshot and diff the weights,
    which alone moves most of the bytes a fused AdamW step moves; README "Cost".)
(3) For one Qwen-7B MLP matrix (3584 x 18944): memory of a materialised factor-space basis (computed)
    vs the factored basis (built and measured), at K = 8, 32, 128.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from peft import get_peft_model

from care_rl.config import DacspSpec, Profile
from care_rl.dacsp import (
    FactoredBasis,
    HistoricalBasis,
    LoraUnit,
    attach_dacsp,
    capability_factors,
    lora_pairs,
)
from care_rl.models import lora_config
from experiments.paths import load_named_profile

ROUNDS, STEPS, K = 5, 10, 8
FWD_BWD_REPEATS = 3


def cpu_model(profile: Profile) -> tuple[torch.nn.Module, Any]:
    """The cpu profile's policy with its LoRA, and its tokenizer; refuses to convert the model here."""
    from care_rl.models import converted_dir, load_policy

    folder = converted_dir(profile.policy)
    if not (folder / "model.safetensors").is_file():
        raise SystemExit(
            f"{folder}: the converted cpu model is missing; run `make setup` (or set CARE_RL_CACHE)"
        )
    torch.manual_seed(0)
    model, tokenizer = load_policy(profile)
    return get_peft_model(model, lora_config(profile.lora)), tokenizer


def synthetic_factors(
    shape: tuple[int, int], k: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Directions of a synthetic stage update of rank k with a decaying spectrum (τ = 1 keeps all k)."""
    m, n = shape
    s = torch.logspace(0, -1, k, dtype=torch.float64)
    delta = (torch.randn(m, k, generator=g, dtype=torch.float64) * s) @ torch.randn(
        k, n, generator=g, dtype=torch.float64
    )
    return capability_factors(delta, 1.0)


def units(model: torch.nn.Module, materialised: bool) -> list[LoraUnit]:
    g = torch.Generator().manual_seed(1)
    params = dict(model.named_parameters())
    out = []
    for module, (a_name, b_name) in lora_pairs(params).items():
        a, b = params[a_name], params[b_name]
        layer = FactoredBasis.from_factors(
            *synthetic_factors((b.shape[0], a.shape[1]), K, g), (b.shape[0], a.shape[1])
        )
        factor = []
        for p in (a, b):
            u, v = synthetic_factors(tuple(p.shape), K, g)
            if materialised:
                factor.append(
                    HistoricalBasis.from_directions([torch.outer(u[:, i], v[:, i]) for i in range(K)])
                )
            else:
                factor.append(FactoredBasis.from_factors(u, v, p.shape))
        scale = float(model.get_submodule(module).scaling["default"])
        out.append(LoraUnit(module, a, b, scale, layer, factor[0], factor[1]))
    return out


def time_steps(opt: torch.optim.Optimizer) -> float:
    start = time.perf_counter()
    for _ in range(STEPS):
        opt.step()
    return (time.perf_counter() - start) / STEPS


def bench_optimizer_step(model: torch.nn.Module) -> dict[str, float]:
    """Median seconds of a fused AdamW step: bare, and with DACSP in each space (both spaces measured)."""
    params = [p for p in model.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(2)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    configs = {
        "layer space (factored)": (units(model, False), DacspSpec(space="layer")),
        "factor space (factored)": (units(model, False), DacspSpec(space="factor")),
        "factor space (materialised)": (units(model, True), DacspSpec(space="factor")),
    }
    opt = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.0, fused=True)
    times: dict[str, list[float]] = {"bare": [], **{name: [] for name in configs}}
    time_steps(opt)  # warm-up: allocates Adam state
    for _ in range(ROUNDS):
        times["bare"].append(time_steps(opt))
        for name, (lora, spec) in configs.items():
            handle = attach_dacsp(opt, {}, spec, lora=lora)
            time_steps(opt)  # warm-up of this path's buffers
            times[name].append(time_steps(opt))
            handle.telemetry  # noqa: B018 - build the records, as the trainer does at each log
            handle.remove()
    return {name: statistics.median(t) for name, t in times.items()}


def representative_batch(profile: Profile, tokenizer: Any) -> torch.Tensor:
    """One micro batch of the cpu IF stage: its longest prompt chat-templated + max_completion_length
    tokens, for each of its per_device_train_batch_size sequences."""
    from care_rl.data.loaders import load_train

    stage = profile.stages["if"]
    rows = profile.dapo.per_device_batch_size * stage.num_generations
    prompts = load_train("if", profile.data.source, rows, profile.data.seed)
    lengths = [
        len(
            tokenizer.apply_chat_template(p.messages, add_generation_prompt=True, return_dict=True)[
                "input_ids"
            ]
        )
        for p in prompts[:rows]
    ]
    length = max(lengths) + stage.max_completion_length
    return torch.randint(0, tokenizer.vocab_size, (rows, length), generator=torch.Generator().manual_seed(3))


def bench_forward_backward(model: torch.nn.Module, batch: torch.Tensor) -> float:
    model.train()
    times = []
    for _ in range(FWD_BWD_REPEATS + 1):
        start = time.perf_counter()
        model(input_ids=batch, labels=batch).loss.backward()
        times.append(time.perf_counter() - start)
    model.zero_grad(set_to_none=True)
    return statistics.median(times[1:])  # the first pass is warm-up


def bench_memory() -> None:
    m, n = 3584, 18944
    g = torch.Generator().manual_seed(4)
    print(
        f"(3) basis memory for one Qwen-7B MLP matrix {m} x {n} ({m * n / 1e6:.1f} M entries), float64 as stored"
    )
    print("    K    materialised (computed: K vectors + K sources)   factored (measured)   ratio")
    for k in (8, 32, 128):
        u = torch.randn(m, k, generator=g, dtype=torch.float64)
        v = torch.randn(n, k, generator=g, dtype=torch.float64)
        basis = FactoredBasis.from_factors(u / u.norm(dim=0), v / v.norm(dim=0), (m, n))
        factored = sum(t.numel() * t.element_size() for t in (basis.u, basis.v, basis.coeffs))
        materialised = 2 * k * m * n * 8
        print(
            f"    {k:<4d} {materialised / 2**30:10.2f} GiB {'':33s} {factored / 2**20:8.2f} MiB"
            f"{'':10s}{materialised / factored:8.0f}x"
        )


def main() -> None:
    torch.set_num_threads(1)  # the 2 cores are shared with other jobs; 1 thread gives stable medians
    profile = load_named_profile("cpu", check_device=False)
    model, tokenizer = cpu_model(profile)
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(
        f"cpu profile policy (converted SmolLM2-135M-Instruct), LoRA r={profile.lora.r}: {len(lora_pairs(dict(model.named_parameters())))} "
        f"modules, {len(trainable)} tensors, {sum(p.numel() for p in trainable) / 1e6:.2f} M parameters; "
        f"K = {K} per basis; torch threads = {torch.get_num_threads()}"
    )
    batch = representative_batch(profile, tokenizer)
    train_step = bench_forward_backward(model, batch)
    steps = bench_optimizer_step(model)
    bare = steps["bare"]
    print(f"(1) fused AdamW step, median of {ROUNDS} x {STEPS}: bare {bare * 1e3:.2f} ms")
    print(
        f"(2) training step (lower bound): forward + backward of {batch.shape[0]} x {batch.shape[1]} tokens "
        f"= {train_step:.2f} s (median of {FWD_BWD_REPEATS}; a real cpu DAPO step also generates)"
    )
    print(
        f"    {'DACSP':<28} {'step':>9} {'overhead':>10} {'/ optimizer step':>17} {'/ training step (target <= 1%)':>31}"
    )
    for name in ("layer space (factored)", "factor space (factored)", "factor space (materialised)"):
        over = steps[name] - bare
        share = over / (train_step + bare)
        print(
            f"    {name:<28} {steps[name] * 1e3:7.2f} ms {over * 1e3:7.2f} ms {over / bare:16.2f}x "
            f"{100 * share:28.3f} % {'met' if share <= 0.01 else 'NOT met'}"
        )
    layer, factor = steps["layer space (factored)"] - bare, steps["factor space (factored)"] - bare
    print(f"    layer / factor overhead ratio: {layer / factor:.2f}")
    bench_memory()


if __name__ == "__main__":
    main()
