"""DACSP cost, measured: per-step optimizer overhead on SmolLM2-135M-shaped LoRA, and basis memory.

Run: .venv/bin/python -m bench.bench_dacsp

(1) Builds the cpu profile's architecture (SmolLM2-135M: 30 layers, hidden 576, intermediate 1536,
    9 heads / 3 kv heads, head dim 64) from a LlamaConfig with random weights, adds PEFT LoRA r=16 on
    q,k,v,o,gate,up,down, gives every LoRA factor a basis of rank K from a synthetic stage update
    (rank-K task vector, τ = 1), and times optimizer.step() with and without DACSP (same fixed
    gradients, interleaved rounds, median). The optimizer is the one training uses: care_rl/training/
    dapo.py (dapo_config) builds a GRPOConfig without setting ``optim`` or ``weight_decay``, and
    neither TRL's GRPOConfig nor stage.py overrides them, so HF Trainer takes its defaults for
    torch >= 2.8 (transformers/training_args.py, ``default_optim``): ``adamw_torch_fused``, i.e.
    torch.optim.AdamW(fused=True) on CPU too (trainer_optimizer.py, _get_adamw_torch), with
    weight_decay 0.0 (checked for transformers 5.23, trl in .venv). torch's default for-loop AdamW
    (fused=None, foreach=None on CPU) is timed as a reference row. Targets: overhead ≤ 20% of the
    bare step and ≤ 1% of a ~22 s training step (DESIGN.md, measured on this machine class).
(2) For one Qwen-7B MLP matrix (3584 x 18944): memory of the materialised basis (computed: allocating
    it is infeasible here) vs the factored basis (built and measured), at K = 8, 32, 128.
"""

from __future__ import annotations

import statistics
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from care_rl.config import DacspSpec
from care_rl.dacsp import FactoredBasis, HistoricalBasis, attach_dacsp, capability_factors

TRAIN_STEP_S = 22.0
ROUNDS, STEPS = 5, 10


def lora_model() -> torch.nn.Module:
    cfg = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        head_dim=64,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    return get_peft_model(LlamaForCausalLM(cfg), lora)


def synthetic_factors(shape: torch.Size, k: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Directions of a synthetic stage update of rank k with a decaying spectrum (τ = 1 keeps all k)."""
    m, n = shape
    s = torch.logspace(0, -1, k, dtype=torch.float64)
    delta = (torch.randn(m, k, generator=g, dtype=torch.float64) * s) @ torch.randn(
        k, n, generator=g, dtype=torch.float64
    )
    return capability_factors(delta, 1.0)


def time_steps(opt: torch.optim.Optimizer) -> float:
    start = time.perf_counter()
    for _ in range(STEPS):
        opt.step()
    return (time.perf_counter() - start) / STEPS


def bench_overhead(k: int) -> None:
    model = lora_model()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    g = torch.Generator().manual_seed(1)
    for p in params.values():
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    numel = sum(p.numel() for p in params.values())
    factors = {n: synthetic_factors(p.shape, k, g) for n, p in params.items()}
    bases = {
        "materialized": {
            p: HistoricalBasis.from_directions([torch.outer(u[:, i], v[:, i]) for i in range(k)])
            for (n, p), (u, v) in zip(params.items(), factors.values(), strict=True)
        },
        "factored": {
            p: FactoredBasis.from_factors(u, v, p.shape)
            for (n, p), (u, v) in zip(params.items(), factors.values(), strict=True)
        },
    }
    names = {p: n for n, p in params.items()}
    print(
        f"(1) LoRA r=16 on SmolLM2-135M shapes: {len(params)} trainable tensors, {numel / 1e6:.2f} M parameters, "
        f"K = {k} per tensor, torch threads = {torch.get_num_threads()}, median of {ROUNDS} x {STEPS} steps"
    )
    for label, fused in (("fused AdamW (training)", True), ("for-loop AdamW (ref.) ", None)):
        opt = torch.optim.AdamW(params.values(), lr=2e-4, weight_decay=0.0, fused=fused)
        times: dict[str, list[float]] = {"bare": [], "materialized": [], "factored": []}
        time_steps(opt)  # warm-up: allocates Adam state
        for _ in range(ROUNDS):
            times["bare"].append(time_steps(opt))
            for backend, b in bases.items():
                handle = attach_dacsp(opt, b, DacspSpec(alpha=1.2, beta=0.5), names=names)
                time_steps(opt)  # warm-up of this path's buffers
                times[backend].append(time_steps(opt))
                handle.remove()
        bare = statistics.median(times["bare"])
        print(f"    {label} bare                  {bare * 1e3:8.2f} ms")
        for backend in ("materialized", "factored"):
            t = statistics.median(times[backend])
            over = t - bare
            print(
                f"    {label} + DACSP [{backend:12s}] {t * 1e3:8.2f} ms  overhead {over * 1e3:7.2f} ms = "
                f"{100 * over / bare:6.1f}% of bare step (target ≤ 20%), "
                f"{100 * over / TRAIN_STEP_S:.3f}% of a {TRAIN_STEP_S:.0f} s train step (target ≤ 1%)"
            )


def tensor_bytes(*tensors: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def bench_memory() -> None:
    m, n = 3584, 18944
    g = torch.Generator().manual_seed(2)
    print(
        f"(2) basis memory for one Qwen-7B MLP matrix {m} x {n} ({m * n / 1e6:.1f} M entries), float64 as stored"
    )
    print(
        "    K    materialised (computed: K vectors + K sources)   factored (measured)   ratio   coeff+combine (factored, fp32, 1 thread)"
    )
    for k in (8, 32, 128):
        u = torch.randn(m, k, generator=g, dtype=torch.float64)
        v = torch.randn(n, k, generator=g, dtype=torch.float64)
        basis = FactoredBasis.from_factors(u / u.norm(dim=0), v / v.norm(dim=0), (m, n))
        factored = tensor_bytes(basis.u, basis.v, basis.coeffs)
        materialised = 2 * k * m * n * 8
        stack = FactoredBasis.stacked([basis], torch.float32, torch.device("cpu"))
        update = torch.randn(1, m * n, generator=g)
        start = time.perf_counter()
        stack.combine(stack.coefficients(update), out=update)
        elapsed = time.perf_counter() - start
        print(
            f"    {k:<4d} {materialised / 2**30:10.2f} GiB {'':33s} {factored / 2**20:8.2f} MiB"
            f"{'':10s}{materialised / factored:8.0f}x   {elapsed * 1e3:7.1f} ms"
        )


def main() -> None:
    torch.set_num_threads(1)  # the 2 cores are shared with other jobs; 1 thread gives stable medians
    bench_overhead(k=8)
    bench_memory()


if __name__ == "__main__":
    main()
