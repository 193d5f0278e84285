"""Layer-space DACSP for LoRA against a materialised m x n reference (small shapes, float64)."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from care_rl.config import DacspSpec
from care_rl.dacsp import (
    FactoredBasis,
    HistoricalBasis,
    LoraUnit,
    attach_dacsp,
    capability_factors,
    correction_weights,
    lora_directions,
    lora_pairs,
    modulate,
)
from care_rl.dacsp.lora import LayerStack

F64 = torch.float64
CPU = torch.device("cpu")


class TinyLora(nn.Module):
    """W = W_0 + s·B·A, named like PEFT's parameters."""

    def __init__(self, m: int, n: int, r: int, scale: float, seed: int, dtype=F64) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.base = nn.Parameter(torch.randn(m, n, generator=g, dtype=dtype), requires_grad=False)
        self.lora_A = nn.Parameter(torch.randn(r, n, generator=g, dtype=dtype) / n**0.5)
        self.lora_B = nn.Parameter(0.3 * torch.randn(m, r, generator=g, dtype=dtype))
        self.scale = scale

    def weight(self) -> torch.Tensor:
        return self.base + self.scale * self.lora_B @ self.lora_A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight().T


def stage_basis(module: TinyLora, seed: int, size: float = 0.3, tau: float = 0.9) -> FactoredBasis:
    """The layer basis of a simulated earlier stage that moved the module from (B0, A0) to its factors."""
    g = torch.Generator().manual_seed(seed)
    b1, a1 = module.lora_B.detach(), module.lora_A.detach()
    b0 = b1 - size * torch.randn(b1.shape, generator=g, dtype=b1.dtype)
    a0 = a1 - 0.05 * torch.randn(a1.shape, generator=g, dtype=a1.dtype)
    u, v = lora_directions(b0, a0, b1, a1, tau)
    return FactoredBasis.from_factors(u, v, (b1.shape[0], a1.shape[1]))


def random_basis(m: int, n: int, k: int, seed: int) -> FactoredBasis:
    g = torch.Generator().manual_seed(seed)
    u, v = torch.randn(m, k, generator=g, dtype=F64), torch.randn(n, k, generator=g, dtype=F64)
    return FactoredBasis.from_factors(u / u.norm(dim=0), v / v.norm(dim=0), (m, n))


def one_step(module: TinyLora, layer: FactoredBasis, spec: DacspSpec, seed: int = 0, lr: float = 0.05):
    """One SGD step with the hook; returns (proposed δW, applied δW, old W, telemetry record)."""
    opt = torch.optim.SGD([module.lora_A, module.lora_B], lr=lr)
    unit = LoraUnit("lin", module.lora_A, module.lora_B, module.scale, layer, None, None)
    handle = attach_dacsp(opt, {}, spec, lora=[unit])
    g = torch.Generator().manual_seed(seed)
    x, y = (
        torch.randn(16, module.base.shape[1], generator=g, dtype=F64),
        torch.randn(16, module.base.shape[0], generator=g, dtype=F64),
    )
    old_w = module.weight().detach().clone()
    plain = copy.deepcopy(module)
    for mod in (module, plain):
        ((mod(x) - y) ** 2).mean().backward()
    plain_opt = torch.optim.SGD([plain.lora_A, plain.lora_B], lr=lr)
    plain_opt.step()
    opt.step()
    proposed = plain.weight().detach() - old_w
    applied = module.weight().detach() - old_w
    return proposed, applied, old_w, handle.telemetry[0]


def test_lora_pairs_match_peft_parameters_and_state_dict_keys() -> None:
    names = [
        "m.q_proj.lora_A.default.weight",
        "m.q_proj.lora_B.default.weight",
        "m.k_proj.lora_A.weight",
        "m.k_proj.lora_B.weight",
        "m.v_proj.lora_A.default.weight",  # no B: not a pair
        "m.norm.weight",
    ]
    assert lora_pairs(names) == {
        "m.k_proj": ("m.k_proj.lora_A.weight", "m.k_proj.lora_B.weight"),
        "m.q_proj": ("m.q_proj.lora_A.default.weight", "m.q_proj.lora_B.default.weight"),
    }


@pytest.mark.parametrize("first_stage", [True, False])
def test_stage_directions_equal_the_svd_of_the_materialised_change(first_stage) -> None:
    g = torch.Generator().manual_seed(1)
    m, n, r = 11, 8, 3
    b0 = torch.zeros(m, r, dtype=F64) if first_stage else torch.randn(m, r, generator=g, dtype=F64)
    a0 = torch.randn(r, n, generator=g, dtype=F64)
    b1, a1 = (
        b0 + torch.randn(m, r, generator=g, dtype=F64),
        a0 + 0.1 * torch.randn(r, n, generator=g, dtype=F64),
    )
    u, v = lora_directions(b0, a0, b1, a1, 0.95)
    u_ref, v_ref = capability_factors(b1 @ a1 - b0 @ a0, 0.95)
    assert u.shape == u_ref.shape and u.shape[1] >= 1
    for i in range(u.shape[1]):  # u_i v_iᵀ is sign-free
        assert torch.allclose(
            torch.outer(u[:, i], v[:, i]), torch.outer(u_ref[:, i], v_ref[:, i]), atol=1e-10
        )


def test_coefficients_and_energy_are_exact_against_the_materialised_update() -> None:
    g = torch.Generator().manual_seed(2)
    m, n, r, p = 9, 7, 3, 3
    bases = [random_basis(m, n, k, seed=k) for k in (1, 2, 4)]  # ragged K: zero padding
    scale = [2.0, 0.5, 1.0]
    b, a, db, da = (torch.randn(p, *s, generator=g, dtype=F64) for s in ((m, r), (r, n), (m, r), (r, n)))
    stack = LayerStack(bases, (m, n), scale, F64, CPU)
    step = stack.decompose(torch.cat([db, b], 2), torch.cat([a, da], 1))
    for i, basis in enumerate(bases):
        dense = scale[i] * ((b[i] + db[i]) @ (a[i] + da[i]) - b[i] @ a[i])  # second-order term included
        assert torch.allclose(step.c[i, : basis.rank], basis.coefficients(dense), atol=1e-10)
        assert torch.all(step.c[i, basis.rank :] == 0)
        assert torch.isclose(step.energy[i], dense.square().sum())


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(3, 10),
    n=st.integers(3, 10),
    r=st.integers(1, 3),
    k=st.integers(1, 4),
    alpha=st.floats(0.0, 2.0),
    beta=st.floats(0.0, 2.0),
    seed=st.integers(0, 10_000),
)
def test_correction_is_the_minimum_norm_least_squares_step_and_reports_what_it_did(
    m, n, r, k, alpha, beta, seed
) -> None:
    """First order, s(X A' + B' Y) is the projection of E onto the tangent space {X A' + B' Y} and
    (X, Y) the minimum-norm such pair (B'ᵀX = Y A'ᵀ: no component along the gauge (B'G, -G A'));
    the reported residual, applied change and factor change are those of the actual new factors
    (second-order term included)."""
    g = torch.Generator().manual_seed(seed)
    k = min(k, m, n)
    basis = random_basis(m, n, k, seed)
    b, a = torch.randn(m, r, generator=g, dtype=F64), torch.randn(r, n, generator=g, dtype=F64)
    db, da = 0.1 * torch.randn(m, r, generator=g, dtype=F64), 0.1 * torch.randn(r, n, generator=g, dtype=F64)
    s, spec = 1.5, DacspSpec(alpha=alpha, beta=beta)
    stack = LayerStack([basis], (m, n), [s], F64, CPU)
    left, right = torch.cat([db, b], 1)[None], torch.cat([a, da])[None]
    step = stack.decompose(left, right)
    x, y = torch.empty(1, m, r, dtype=F64), torch.empty(1, r, n, dtype=F64)
    done = stack.correction(step, correction_weights(step.c, spec), left, right, x, y)
    x, y = x[0], y[0]
    proposed = s * ((b + db) @ (a + da) - b @ a)
    target = modulate(proposed, basis, spec)
    b1, a1 = b + db, a + da
    applied = s * ((b1 + x) @ (a1 + y) - b @ a)
    scale = 1 + float(proposed.norm())
    assert float((target - applied).norm()) == pytest.approx(float(done.residual[0].sqrt()), abs=1e-6 * scale)
    assert float((applied - proposed).norm()) == pytest.approx(
        float(done.applied[0].sqrt()), abs=1e-6 * scale
    )
    assert float(x.square().sum() + y.square().sum()) == pytest.approx(
        float(done.factor[0]), abs=1e-9 * scale
    )
    p_b, p_a = b1 @ torch.linalg.pinv(b1), torch.linalg.pinv(a1) @ a1
    e = target - proposed
    tangent = p_b @ e + e @ p_a - p_b @ e @ p_a
    assert torch.allclose(s * (x @ a1 + b1 @ y), tangent, atol=1e-8 * scale)
    assert torch.allclose(b1.T @ x, y @ a1.T, atol=1e-8 * scale)  # minimum norm


def test_alpha_beta_act_by_sign_and_the_orthogonal_part_is_kept_up_to_the_residual() -> None:
    """One optimizer step on a LoRA module whose basis is its previous stage's change: ⟨δW', Q_k⟩ =
    γ_k c_k and δW'_⊥ = δW_⊥, each up to the reported residual ‖R‖ (small: the stage's change lies
    almost inside the factors' spans)."""
    module = TinyLora(10, 8, 3, scale=2.0, seed=0)
    basis = stage_basis(module, seed=1, tau=0.99)
    proposed, applied, _, record = one_step(module, basis, DacspSpec(alpha=1.7, beta=0.3), seed=9)
    q = basis.vectors
    c = (q * proposed).sum((1, 2))
    assert (c > 0).any() and (c < 0).any()  # both branches of γ are exercised
    new_c = (q * applied).sum((1, 2))
    stats = record["layer"]["modules"]["lin"]
    residual = stats["residual"] * float(proposed.norm())
    assert 0 < stats["residual"] < 0.05
    target_c = torch.where(c > 0, 1.7 * c, 0.3 * c)
    assert float((new_c - target_c).norm()) <= residual + 1e-12
    ortho = proposed - torch.einsum("k,kij->ij", c, q)
    new_ortho = applied - torch.einsum("k,kij->ij", new_c, q)
    assert float((new_ortho - ortho).norm()) <= residual + 1e-12
    assert float((new_ortho - ortho).norm()) > 0  # the residual is real here, and bounded


@pytest.mark.parametrize(("alpha", "beta"), [(1.6, 0.2), (0.0, 0.0), (1.0, 1.0)])
def test_representable_correction_is_exact_to_first_order(alpha, beta) -> None:
    """The basis lies in the tangent space (V in the row space of A, which does not move): the applied
    update misses the paper's δW' only by the second-order term s X Y of the factor change."""
    g = torch.Generator().manual_seed(3)
    m, n, r, s = 10, 9, 3, 2.0
    b, a = torch.randn(m, r, generator=g, dtype=F64), torch.randn(r, n, generator=g, dtype=F64)
    u, v = lora_directions(b, a, b + torch.randn(m, r, generator=g, dtype=F64), a, 1.0)
    basis = FactoredBasis.from_factors(u, v, (m, n))
    db, da = 0.1 * torch.randn(m, r, generator=g, dtype=F64), torch.zeros(r, n, dtype=F64)
    stack = LayerStack([basis], (m, n), [s], F64, CPU)
    left, right = torch.cat([db, b], 1)[None], torch.cat([a, da])[None]
    step = stack.decompose(left, right)
    spec = DacspSpec(alpha=alpha, beta=beta)
    x, y = torch.empty(1, m, r, dtype=F64), torch.empty(1, r, n, dtype=F64)
    done = stack.correction(step, correction_weights(step.c, spec), left, right, x, y)
    proposed = s * db @ a
    applied = s * ((b + db + x[0]) @ (a + y[0]) - b @ a)
    second_order = s * x[0] @ y[0]
    assert torch.allclose(applied - second_order, modulate(proposed, basis, spec), atol=1e-12)
    assert float(done.residual[0].sqrt()) == pytest.approx(float(second_order.norm()), abs=1e-7)


def test_identity_at_one_and_hard_projection_at_zero() -> None:
    module = TinyLora(10, 8, 3, scale=2.0, seed=3)
    basis = stage_basis(module, seed=4)
    plain = copy.deepcopy(module)
    _, _, _, record = one_step(module, basis, DacspSpec(alpha=1.0, beta=1.0))
    one_step(plain, None, DacspSpec(alpha=1.0, beta=1.0))  # no basis: nothing to do
    assert torch.equal(module.lora_A, plain.lora_A) and torch.equal(module.lora_B, plain.lora_B)
    assert record["layer"]["modules"]["lin"]["change"] == 0.0

    module = TinyLora(10, 8, 3, scale=2.0, seed=3)
    proposed, applied, _, record = one_step(module, basis, DacspSpec(alpha=0.0, beta=0.0))
    residual = record["layer"]["modules"]["lin"]["residual"] * float(proposed.norm())
    q = basis.vectors
    assert float((q * applied).sum((1, 2)).norm()) <= residual + 1e-12  # hard projection, up to R
    projected = proposed - torch.einsum("k,kij->ij", (q * proposed).sum((1, 2)), q)
    assert float((applied - projected).norm()) <= residual + 1e-12


def test_telemetry_matches_the_materialised_decomposition_in_both_spaces() -> None:
    module = TinyLora(9, 7, 2, scale=1.5, seed=5)
    layer = random_basis(9, 7, 3, seed=6)
    fa = FactoredBasis.from_factors(*capability_factors(torch.randn(2, 7, dtype=F64), 1.0), (2, 7))
    fb = FactoredBasis.from_factors(*capability_factors(torch.randn(9, 2, dtype=F64), 1.0), (9, 2))
    a_old, b_old = module.lora_A.detach().clone(), module.lora_B.detach().clone()
    opt = torch.optim.SGD([module.lora_A, module.lora_B], lr=0.1)
    unit = LoraUnit("lin", module.lora_A, module.lora_B, 1.5, layer, fa, fb)
    handle = attach_dacsp(opt, {}, DacspSpec(alpha=1.2, beta=0.5), lora=[unit])
    module.lora_A.grad = torch.randn(2, 7, dtype=F64, generator=torch.Generator().manual_seed(0))
    module.lora_B.grad = torch.randn(9, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    da, db = -0.1 * module.lora_A.grad, -0.1 * module.lora_B.grad
    opt.step()
    rec = handle.telemetry[0]
    proposed = 1.5 * ((b_old + db) @ (a_old + da) - b_old @ a_old)
    applied = 1.5 * (module.lora_B.detach() @ module.lora_A.detach() - b_old @ a_old)
    c = (layer.vectors * proposed).sum((1, 2))
    energy = float(proposed.square().sum())
    lay = rec["layer"]["modules"]["lin"]
    assert lay["energy"] == pytest.approx(energy)
    assert lay["aligned"] == pytest.approx(float(c.clamp(min=0).square().sum()) / energy)
    assert lay["opposing"] == pytest.approx(float(c.clamp(max=0).square().sum()) / energy)
    assert lay["change"] == pytest.approx(float((applied - proposed).norm()) / energy**0.5)
    assert lay["chance"] == pytest.approx(3 / 63)
    ca, cb = (fa.vectors * da).sum((1, 2)), (fb.vectors * db).sum((1, 2))
    f_energy = float(da.square().sum() + db.square().sum())
    fac = rec["factor"]["modules"]["lin"]
    assert fac["energy"] == pytest.approx(f_energy)
    assert fac["aligned"] == pytest.approx(
        float(ca.clamp(min=0).square().sum() + cb.clamp(min=0).square().sum()) / f_energy
    )
    applied_factors = torch.cat(
        [(module.lora_A.detach() - a_old).reshape(-1), (module.lora_B.detach() - b_old).reshape(-1)]
    )
    assert fac["change"] == pytest.approx(
        float((applied_factors - torch.cat([da.reshape(-1), db.reshape(-1)])).norm()) / f_energy**0.5
    )
    assert fac["chance"] == pytest.approx((fa.rank + fb.rank) / (2 * 7 + 9 * 2))
    assert "residual" in lay and "residual" not in fac  # the active space carries the residual
    assert rec["layer"]["total"]["energy"] == pytest.approx(energy)


def test_random_step_chance_is_the_expectation_over_isotropic_factor_steps() -> None:
    """E⟨Q_k, δB A + B δA⟩² over iid δA, δB, computed exactly from the materialised Q_k."""
    module = TinyLora(8, 6, 2, scale=1.0, seed=7)
    basis = stage_basis(module, seed=8)
    a, b = module.lora_A.detach(), module.lora_B.detach()
    stack = LayerStack([basis], (8, 6), [1.0], F64, CPU)
    got = float(stack.random_step_fraction(b[None], a[None])[0])
    q = basis.vectors
    numerator = sum(float((qk @ a.T).square().sum() + (b.T @ qk).square().sum()) for qk in q)
    expected = numerator / (8 * float(a.square().sum()) + 6 * float(b.square().sum()))
    assert got == pytest.approx(expected)
    assert got > basis.rank / (8 * 6)  # Q lies in LoRA's tangent space: far above K / (mn)


def test_factor_space_lora_equals_the_two_factors_as_plain_tensors() -> None:
    a_mod, b_mod = TinyLora(9, 7, 2, 1.5, seed=9), TinyLora(9, 7, 2, 1.5, seed=9)
    fa = HistoricalBasis.from_directions([torch.randn(2, 7, dtype=F64)])
    fb = HistoricalBasis.from_directions([torch.randn(9, 2, dtype=F64)])
    spec = DacspSpec(alpha=1.4, beta=0.2, space="factor")
    layer = random_basis(9, 7, 2, seed=10)
    for module, lora, plain in (
        (a_mod, [LoraUnit("lin", a_mod.lora_A, a_mod.lora_B, 1.5, layer, fa, fb)], {}),
        (b_mod, [], {b_mod.lora_A: fa, b_mod.lora_B: fb}),
    ):
        opt = torch.optim.Adam([module.lora_A, module.lora_B], lr=0.05)
        attach_dacsp(opt, plain, spec, lora=lora)
        for step in range(2):
            opt.zero_grad()
            x = torch.randn(4, 7, dtype=F64, generator=torch.Generator().manual_seed(step))
            module(x).square().mean().backward()
            opt.step()
    assert torch.allclose(a_mod.lora_A, b_mod.lora_A, atol=1e-12)
    assert torch.allclose(a_mod.lora_B, b_mod.lora_B, atol=1e-12)


@pytest.mark.parametrize("space", ["layer", "factor"])
def test_plain_linear_is_modulated_on_its_own_weight_in_both_spaces(space) -> None:
    """Full-parameter training: the layer is the weight itself, exactly the paper's formula."""
    model = nn.Linear(6, 5, bias=False).double()
    basis = random_basis(5, 6, 2, seed=11)
    spec = DacspSpec(alpha=1.3, beta=0.4, space=space)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    attach_dacsp(opt, {model.weight: basis}, spec)
    old = model.weight.detach().clone()
    step = torch.randn(5, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    model.weight.grad = -step
    opt.step()
    assert torch.allclose(model.weight - old, modulate(step, basis, spec), atol=1e-12)


def test_non_finite_lora_update_restores_both_factors() -> None:
    module = TinyLora(6, 5, 2, 1.0, seed=12)
    before = (module.lora_A.detach().clone(), module.lora_B.detach().clone())
    opt = torch.optim.SGD([module.lora_A, module.lora_B], lr=1.0)
    attach_dacsp(
        opt,
        {},
        DacspSpec(),
        lora=[LoraUnit("lin", module.lora_A, module.lora_B, 1.0, random_basis(6, 5, 1, 0), None, None)],
    )
    module.lora_A.grad = torch.full((2, 5), float("nan"), dtype=F64)
    module.lora_B.grad = torch.zeros(6, 2, dtype=F64)
    with pytest.raises(FloatingPointError, match="'lin'"):
        opt.step()
    assert torch.equal(module.lora_A, before[0]) and torch.equal(module.lora_B, before[1])


@pytest.mark.parametrize("lora", [False, True])
def test_hook_refuses_parameters_the_optimizer_no_longer_steps(lora) -> None:
    """The stale-tensor case after DDP prepare: a parameter whose storage was swapped after attach, or
    an optimizer whose param_groups no longer hold it, fails loudly instead of modulating a stale copy."""
    for swap in ("storage", "param_groups"):
        module = TinyLora(6, 5, 2, 1.0, seed=13)
        opt = torch.optim.SGD([module.lora_A, module.lora_B], lr=0.1)
        basis = random_basis(6, 5, 1, 0)
        if lora:
            attach_dacsp(
                opt,
                {},
                DacspSpec(),
                lora=[LoraUnit("lin", module.lora_A, module.lora_B, 1.0, basis, None, None)],
            )
        else:
            attach_dacsp(
                opt,
                {
                    module.lora_B: FactoredBasis.from_factors(
                        *capability_factors(torch.randn(6, 2, dtype=F64), 1.0), (6, 2)
                    )
                },
                DacspSpec(),
                names={module.lora_B: "B"},
            )
        if swap == "storage":
            module.lora_B.data = module.lora_B.data.clone()
            match = "no longer has the storage"
        else:
            opt.param_groups[0]["params"] = [
                torch.nn.Parameter(p.detach().clone()) for p in opt.param_groups[0]["params"]
            ]
            match = "no longer stepped"
        module(torch.randn(3, 5, dtype=F64)).sum().backward()
        for p in opt.param_groups[0]["params"]:
            p.grad = torch.zeros_like(p)
        with pytest.raises(RuntimeError, match=match):
            opt.step()


def test_a_rank_deficient_factor_leaves_an_honest_residual() -> None:
    """B' with two equal columns (rank r - 1): the direction it lacks is not inverted (no blow-up) and
    the reported residual is still the distance to the paper's target."""
    g = torch.Generator().manual_seed(5)
    m, n, r, s = 8, 7, 3, 1.0
    b = torch.randn(m, r, generator=g, dtype=F64)
    b[:, 2] = b[:, 1]
    a = torch.randn(r, n, generator=g, dtype=F64)
    db, da = torch.zeros(m, r, dtype=F64), 0.1 * torch.randn(r, n, generator=g, dtype=F64)
    basis = random_basis(m, n, 3, seed=6)
    stack = LayerStack([basis], (m, n), [s], F64, CPU)
    left, right = torch.cat([db, b], 1)[None], torch.cat([a, da])[None]
    step = stack.decompose(left, right)
    spec = DacspSpec(alpha=0.0, beta=0.0)
    x, y = torch.empty(1, m, r, dtype=F64), torch.empty(1, r, n, dtype=F64)
    done = stack.correction(step, correction_weights(step.c, spec), left, right, x, y)
    proposed = s * b @ da
    applied = s * ((b + x[0]) @ (a + da + y[0]) - b @ a)
    assert torch.isfinite(x).all() and torch.isfinite(y).all()
    assert float(y.norm()) < 10 * float(proposed.norm())
    error = float((modulate(proposed, basis, spec) - applied).norm())
    assert error == pytest.approx(float(done.residual[0].sqrt()), abs=1e-7)
