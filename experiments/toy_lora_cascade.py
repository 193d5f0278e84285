"""A toy LoRA cascade with a built-in conflict: what DACSP sees and protects in layer vs factor space.

    OMP_NUM_THREADS=1 python -m experiments.toy_lora_cascade

One 64 x 64 linear layer W = W_0 + s·B·A (LoRA r = 8, s = 2, A Kaiming-like, B = 0 at the start), trained
with Adam on a regression task (stage 1: target W_0 + Δ_1, Δ_1 of rank 4), then on a second task
that partly undoes it (stage 2: target W_0 - 0.7 Δ_1 + Δ_2, Δ_2 an independent rank-4 change). Stage 2 runs
plain or with DACSP (this repository's BasisBank and optimizer hook, τ = 0.9) in either space. Printed
per method, mean over 3 seeds: task-1 and task-2 loss after stage 2, and the stage-2 telemetry means in
each space: the opposing fraction of the proposed update's energy against the chance levels (K/D; in
layer space also a random LoRA step), how much DACSP changed the update, and the unrepresentable part.
Seconds on one CPU thread; a check of the mechanism on a conflict we built, not evidence about LLMs.
"""

from __future__ import annotations

import statistics

import torch
from torch import nn

from care_rl.config import DacspSpec
from care_rl.dacsp import BasisBank

DIM, RANK, STEPS, LR, SCALE, SEEDS = 64, 8, 300, 3e-3, 2.0, (0, 1, 2)
METHODS: dict[str, DacspSpec | None] = {
    "plain": None,
    "layer, alpha 1.2 / beta 0.5": DacspSpec(alpha=1.2, beta=0.5, space="layer"),
    "factor, alpha 1.2 / beta 0.5": DacspSpec(alpha=1.2, beta=0.5, space="factor"),
    "layer, hard projection": DacspSpec(alpha=0.0, beta=0.0, space="layer"),
    "factor, hard projection": DacspSpec(alpha=0.0, beta=0.0, space="factor"),
}


class LoraLinear(nn.Module):
    """W_0 + s·B·A with PEFT's parameter names (``lora_A.weight``, ``lora_B.weight``, ``scaling``)."""

    def __init__(self, w0: torch.Tensor, generator: torch.Generator) -> None:
        super().__init__()
        self.register_buffer("w0", w0)
        self.lora_A = nn.Linear(DIM, RANK, bias=False)
        self.lora_B = nn.Linear(RANK, DIM, bias=False)
        with torch.no_grad():
            self.lora_A.weight.copy_(torch.randn(RANK, DIM, generator=generator) / DIM**0.5)
            self.lora_B.weight.zero_()
        self.scaling = {"default": SCALE}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.w0 + SCALE * self.lora_B.weight @ self.lora_A.weight).T


class Model(nn.Module):
    def __init__(self, w0: torch.Tensor, generator: torch.Generator) -> None:
        super().__init__()
        self.lin = LoraLinear(w0, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def loss(model: nn.Module, target: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    x = torch.randn(128, DIM, generator=generator)
    return ((model(x) - x @ target.T) ** 2).mean()


def train(model: nn.Module, target: torch.Tensor, seed: int, bank: BasisBank | None, spec: DacspSpec | None):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    handle = bank.attach(opt, model, spec) if spec is not None else None
    generator = torch.Generator().manual_seed(seed)
    for _ in range(STEPS):
        opt.zero_grad()
        loss(model, target, generator).backward()
        opt.step()
    return handle


def held_out_loss(model: nn.Module, target: torch.Tensor) -> float:
    with torch.no_grad():
        return float(loss(model, target, torch.Generator().manual_seed(999)))


def run(seed: int, spec: DacspSpec | None) -> dict[str, float]:
    g = torch.Generator().manual_seed(seed)
    w0 = torch.randn(DIM, DIM, generator=g) / DIM**0.5
    delta1 = torch.randn(DIM, 4, generator=g) @ torch.randn(4, DIM, generator=g) / DIM**0.5
    delta2 = torch.randn(DIM, 4, generator=g) @ torch.randn(4, DIM, generator=g) / DIM**0.5
    task1, task2 = w0 + delta1, w0 - 0.7 * delta1 + delta2
    model = Model(w0, g)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train(model, task1, seed + 1, None, None)
    bank = BasisBank("factored")
    bank.add_stage(before, {n: p.detach().clone() for n, p in model.named_parameters()}, tau=0.9)
    handle = train(model, task2, seed + 2, bank, spec)
    out = {"task 1 loss": held_out_loss(model, task1), "task 2 loss": held_out_loss(model, task2)}
    if handle is not None:
        steps = handle.telemetry
        for space in ("layer", "factor"):
            totals = [r[space]["total"] for r in steps]
            for key in ("opposing", "chance", "chance_step", "change"):
                if key in totals[0]:
                    out[f"{space} {key}"] = statistics.mean(t[key] for t in totals)
        out["unrepresentable"] = statistics.mean(r[r["space"]]["total"]["residual"] for r in steps)
    return out


def main() -> None:
    torch.set_num_threads(1)
    columns: list[str] = []
    rows = {}
    for name, spec in METHODS.items():
        runs = [run(seed, spec) for seed in SEEDS]
        rows[name] = {k: statistics.mean(r[k] for r in runs) for k in runs[0]}
        columns += [k for k in runs[0] if k not in columns]
    print("| method | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.4g}" if c in row else "" for c in columns) + " |")


if __name__ == "__main__":
    main()
