"""Section 3.2.3: modulate() against its definition, for both backends."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from care_rl.config import DacspSpec
from care_rl.dacsp import FactoredBasis, HistoricalBasis, decompose, modulate
from tests.dacsp.helpers import random_directions

BACKENDS = [HistoricalBasis, FactoredBasis]
coef = st.floats(0.0, 3.0)


def setup(cls, seed: int):
    basis = cls.from_directions(random_directions((6, 5), 2, seed))
    update = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    return basis, update


@pytest.mark.parametrize("cls", BACKENDS)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), alpha=coef, beta=coef)
def test_modulation_matches_definition(cls, seed, alpha, beta) -> None:
    basis, update = setup(cls, seed)
    q = basis.vectors
    c = (q * update).sum((1, 2))
    out = modulate(update, basis, DacspSpec(alpha=alpha, beta=beta))
    new_c = (q * out).sum((1, 2))
    expected = torch.where(c > 0, alpha * c, beta * c)
    assert torch.allclose(new_c, expected, atol=1e-10)  # ⟨ΔW', Q_k⟩ = γ_k c_k
    residual = update - torch.einsum("k,kij->ij", c, q)
    new_residual = out - torch.einsum("k,kij->ij", new_c, q)
    assert torch.allclose(new_residual, residual, atol=1e-10)  # orthogonal part unchanged


@pytest.mark.parametrize("cls", BACKENDS)
def test_identity_and_hard_projection_endpoints(cls) -> None:
    basis, update = setup(cls, 7)
    assert torch.equal(modulate(update, basis, DacspSpec(alpha=1.0, beta=1.0)), update)
    q = basis.vectors
    projected = torch.einsum("k,kij->ij", (q * update).sum((1, 2)), q)
    assert torch.allclose(
        modulate(update, basis, DacspSpec(alpha=0.0, beta=0.0)), update - projected, atol=1e-12
    )


def test_float32_update_keeps_its_dtype_and_matches_float64() -> None:
    basis, update = setup(HistoricalBasis, 3)
    out = modulate(update.float(), basis, DacspSpec(alpha=1.2, beta=0.5))
    assert out.dtype == torch.float32
    assert torch.allclose(out.double(), modulate(update, basis, DacspSpec(alpha=1.2, beta=0.5)), atol=1e-6)


def test_decompose_energies_add_up() -> None:
    basis, update = setup(HistoricalBasis, 11)
    d = decompose(update, basis)
    c = d.coefficients
    assert torch.isclose(d.aligned, (c[c > 0] ** 2).sum())
    assert torch.isclose(d.opposing, (c[c < 0] ** 2).sum())
    residual = update - torch.einsum("k,kij->ij", c, basis.vectors)
    assert torch.isclose(d.orthogonal, residual.square().sum())
    assert torch.isclose(d.aligned + d.opposing + d.orthogonal, update.square().sum())


def test_aligned_update_is_amplified_and_opposing_suppressed() -> None:
    basis = HistoricalBasis.from_directions(random_directions((5, 4), 1, 0))
    q0 = basis.vectors[0]
    assert torch.allclose(modulate(q0, basis, DacspSpec(alpha=1.2, beta=0.5)), 1.2 * q0)
    assert torch.allclose(modulate(-q0, basis, DacspSpec(alpha=1.2, beta=0.5)), -0.5 * q0)


def test_zero_update_passes_through() -> None:
    basis, _ = setup(FactoredBasis, 0)
    zero = torch.zeros(6, 5)
    assert torch.equal(modulate(zero, basis, DacspSpec(alpha=1.2, beta=0.5)), zero)
    d = decompose(zero, basis)
    assert float(d.aligned + d.opposing + d.orthogonal) == 0.0


@pytest.mark.parametrize(
    ("update", "alpha", "beta", "match"),
    [
        (torch.zeros(5, 6), 1.0, 1.0, "does not match"),
        (torch.full((6, 5), float("nan")), 1.0, 1.0, "NaN"),
        (torch.zeros(6, 5), -1.0, 1.0, "alpha"),
        (torch.zeros(6, 5), 1.0, float("inf"), "beta"),
    ],
)
def test_bad_input_raises(update, alpha, beta, match) -> None:
    basis, _ = setup(HistoricalBasis, 0)
    with pytest.raises(ValueError, match=match):
        modulate(update, basis, DacspSpec(alpha=alpha, beta=beta))
