"""The optimizer hook equals the manual p_old + modulate(p - p_old), for Adam and AdamW."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from care_rl.config import DacspSpec
from care_rl.dacsp import FactoredBasis, HistoricalBasis, attach_dacsp, modulate
from tests.dacsp.helpers import random_directions


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 6, bias=False), nn.Linear(6, 1))


def loss_of(model: nn.Module, step: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(step)
    x, y = torch.randn(16, 6, generator=g), torch.randn(16, 1, generator=g)
    return ((model(x) - y) ** 2).mean()


def bases_for(model: nn.Module, cls) -> dict[str, object]:
    """Bases for all but the last layer's weight (which stays unmodulated)."""
    out = {}
    for i, (name, p) in enumerate(model.named_parameters()):
        if name != "3.weight":
            out[name] = cls.from_directions(random_directions(tuple(p.shape), 2, seed=i, tau=0.99))
    return out


def run(model: nn.Module, opt_cls, kwargs: dict, bases: dict, hooked: bool, steps: int = 3):
    opt = opt_cls(model.parameters(), **kwargs)
    params = dict(model.named_parameters())
    handle = (
        attach_dacsp(
            opt,
            {params[n]: b for n, b in bases.items()},
            DacspSpec(alpha=1.5, beta=0.25),
            names={params[n]: n for n in bases},
        )
        if hooked
        else None
    )
    for step in range(steps):
        opt.zero_grad()
        loss_of(model, step).backward()
        old = {n: p.detach().clone() for n, p in params.items()}
        opt.step()
        if not hooked:  # the manual computation of section 3.2.3
            with torch.no_grad():
                for n, b in bases.items():
                    params[n].copy_(old[n] + modulate(params[n] - old[n], b, DacspSpec(alpha=1.5, beta=0.25)))
    return handle


@pytest.mark.parametrize("cls", [HistoricalBasis, FactoredBasis])
@pytest.mark.parametrize(
    ("opt_cls", "kwargs"),
    [
        (torch.optim.Adam, {"lr": 1e-2}),
        (torch.optim.Adam, {"lr": 1e-2, "weight_decay": 0.1}),
        (torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.0}),
        (torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.1}),
        (torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.1, "fused": True}),  # what HF Trainer uses
    ],
)
def test_hook_equals_manual_modulation(cls, opt_cls, kwargs) -> None:
    base = tiny_model()
    hooked, manual, plain = base, copy.deepcopy(base), copy.deepcopy(base)
    bases = bases_for(base, cls)
    handle = run(hooked, opt_cls, kwargs, bases, hooked=True)
    run(manual, opt_cls, kwargs, bases, hooked=False)
    run(plain, opt_cls, kwargs, {}, hooked=False)
    for (name, a), b, c in zip(
        hooked.named_parameters(), manual.parameters(), plain.parameters(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), name
        if name in bases:
            assert not torch.allclose(a, c, atol=1e-4), f"{name}: modulation had no effect"
    assert len(handle.telemetry) == 3
    json.dumps(handle.telemetry)
    rec = handle.telemetry[-1]
    assert set(rec["layer"]["modules"]) == set(bases)
    for frac in [rec["layer"]["total"], *rec["layer"]["modules"].values()]:
        assert frac["aligned"] + frac["opposing"] + frac["orthogonal"] == pytest.approx(1.0)
    for name in bases:  # a plain tensor is its own layer: both spaces see the same numbers
        factor = {k: v for k, v in rec["factor"]["modules"][name].items() if k != "residual"}
        layer = {
            k: v for k, v in rec["layer"]["modules"][name].items() if k not in ("residual", "chance_step")
        }
        assert factor == layer


def test_telemetry_matches_decomposition_of_the_update() -> None:
    model = nn.Linear(4, 3, bias=False)
    basis = HistoricalBasis.from_directions(random_directions((3, 4), 1, seed=0))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    handle = attach_dacsp(opt, {model.weight: basis}, DacspSpec(alpha=1.0, beta=1.0))
    target = 2.0 * basis.vectors[0].float() - 1.0 * basis.vectors[1].float() + 0.5 * torch.ones(3, 4)
    ortho = target - sum((target.double() * q).sum() * q for q in basis.vectors).float()
    model.weight.grad = -target  # SGD lr=1: update = target
    opt.step()
    rec = handle.telemetry[0]["layer"]["modules"]["param0"]
    coeffs = (basis.vectors * target.double()).sum((1, 2))
    energy = float(target.square().sum())
    assert rec["energy"] == pytest.approx(energy, rel=1e-5)
    assert rec["aligned"] == pytest.approx(float((coeffs.clamp(min=0) ** 2).sum()) / energy, rel=1e-5)
    assert rec["opposing"] == pytest.approx(float((coeffs.clamp(max=0) ** 2).sum()) / energy, rel=1e-5)
    assert rec["orthogonal"] == pytest.approx(float(ortho.square().sum()) / energy, rel=1e-4)


def test_telemetry_read_between_steps_keeps_one_entry_per_step() -> None:
    model = tiny_model()
    bases = bases_for(model, FactoredBasis)
    params = dict(model.named_parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    handle = attach_dacsp(opt, {params[n]: b for n, b in bases.items()}, DacspSpec(alpha=1.5, beta=0.25))
    seen = []
    for step in range(3):
        opt.zero_grad()
        loss_of(model, step).backward()
        opt.step()
        if step != 1:  # read after steps 1 and 3 only: the dicts are built from pending steps on read
            seen.append(len(handle.telemetry))
    assert seen == [1, 3]
    assert [rec["step"] for rec in handle.telemetry] == [1, 2, 3]
    assert handle.telemetry[0]["layer"]["total"] != handle.telemetry[1]["layer"]["total"]


@pytest.mark.parametrize("cls", [HistoricalBasis, FactoredBasis])
@pytest.mark.parametrize("shape", [(5, 9), (9, 5)])  # both contraction orders of the factored stack
def test_stacked_combine_into_buffer_equals_per_basis_combine(cls, shape) -> None:
    bases = [cls.from_directions(random_directions(shape, stages, seed=stages)) for stages in (1, 2)]
    assert bases[0].rank != bases[1].rank  # exercises the zero padding to a common K
    stack = cls.stacked(bases, torch.Size(shape), torch.float64, torch.device("cpu"))
    weights = torch.randn(
        2, max(b.rank for b in bases), generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    weights[0, bases[0].rank :] = 0.0  # padded slots carry c = 0 in the hook
    out = torch.full((2, shape[0] * shape[1]), float("nan"), dtype=torch.float64)
    assert stack.combine(weights, out=out) is out
    for i, b in enumerate(bases):
        assert torch.allclose(out[i].view(shape), b.combine(weights[i, : b.rank]), atol=1e-12)


def test_remove_restores_plain_behaviour() -> None:
    a, b = tiny_model(), tiny_model()
    bases = bases_for(a, HistoricalBasis)
    opt_a = torch.optim.AdamW(a.parameters(), lr=1e-2)
    params = dict(a.named_parameters())
    attach_dacsp(opt_a, {params[n]: x for n, x in bases.items()}, DacspSpec(alpha=0.0, beta=0.0)).remove()
    opt_b = torch.optim.AdamW(b.parameters(), lr=1e-2)
    for model, opt in ((a, opt_a), (b, opt_b)):
        loss_of(model, 0).backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_non_finite_update_restores_weights_and_names_parameter() -> None:
    model = nn.Linear(3, 2)
    basis = HistoricalBasis.from_directions(random_directions((2, 3), 1, seed=0))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    attach_dacsp(opt, {model.weight: basis}, DacspSpec(alpha=1.2, beta=0.5), names={model.weight: "w"})
    before = model.weight.detach().clone()
    model.weight.grad = torch.full((2, 3), float("nan"))
    model.bias.grad = torch.zeros(2)
    with pytest.raises(FloatingPointError, match="'w'"):
        opt.step()
    assert torch.equal(model.weight, before)


def test_attach_rejects_bad_bindings() -> None:
    model, other = nn.Linear(3, 2), nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    good = HistoricalBasis.from_directions(random_directions((2, 3), 1, seed=0))
    wrong = HistoricalBasis.from_directions(random_directions((3, 2), 1, seed=0))
    with pytest.raises(ValueError, match="not updated by the optimizer"):
        attach_dacsp(opt, {other.weight: good}, DacspSpec(alpha=1.0, beta=1.0))
    with pytest.raises(ValueError, match="shape"):
        attach_dacsp(opt, {model.weight: wrong}, DacspSpec(alpha=1.0, beta=1.0))
    with pytest.raises(ValueError, match="alpha"):
        attach_dacsp(opt, {model.weight: good}, DacspSpec(alpha=-0.1, beta=1.0))


def test_bfloat16_parameters_are_modulated_in_float32() -> None:
    model = nn.Linear(6, 5, bias=False).to(torch.bfloat16)
    basis = HistoricalBasis.from_directions(random_directions((5, 6), 2, seed=0))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    attach_dacsp(opt, {model.weight: basis}, DacspSpec(alpha=1.5, beta=0.25))
    old = model.weight.detach().clone()
    step = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    model.weight.grad = (-step).to(torch.bfloat16)
    opt.step()
    proposed = (old + step.to(torch.bfloat16)).float() - old.float()  # what SGD wrote, exactly in fp32
    expected = (old.float() + modulate(proposed, basis, DacspSpec(alpha=1.5, beta=0.25))).to(torch.bfloat16)
    assert model.weight.dtype == torch.bfloat16
    assert torch.allclose(model.weight.float(), expected.float(), atol=1e-2)
    assert not torch.allclose(model.weight.float(), (old + step.to(torch.bfloat16)).float(), atol=1e-2)
