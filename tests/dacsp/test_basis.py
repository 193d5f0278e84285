"""Section 3.2.2 for both backends: orthonormality, sign anchoring, extend == rebuild, duplicates."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from care_rl.config import DacspSpec
from care_rl.dacsp import FactoredBasis, HistoricalBasis, capability_factors, modulate
from tests.dacsp.helpers import gram, random_directions

BACKENDS = [HistoricalBasis, FactoredBasis]


def projector(basis) -> torch.Tensor:
    flat = basis.vectors.reshape(basis.rank, -1)
    return flat.T @ flat


@pytest.mark.parametrize("cls", BACKENDS)
@settings(max_examples=15, deadline=None)
@given(rows=st.integers(2, 8), cols=st.integers(1, 8), stages=st.integers(1, 3), seed=st.integers(0, 10_000))
@example(rows=2, cols=1, stages=3, seed=2)  # 3 directions in R^2: the last residual rounds below zero
def test_basis_is_orthonormal_signed_and_spans_the_directions(cls, rows, cols, stages, seed) -> None:
    dirs = random_directions((rows, cols), stages, seed)
    basis = cls.from_directions(dirs)
    k = basis.rank
    assert k == torch.linalg.matrix_rank(torch.stack(dirs).reshape(len(dirs), -1))
    assert torch.allclose(gram(basis.vectors), torch.eye(k, dtype=torch.float64), atol=1e-10)
    for q, pivot in zip(basis.vectors, basis.pivots, strict=True):  # sign anchoring
        assert (q * dirs[pivot]).sum() > 0
    for d in dirs:  # every direction lies in the span
        flat = d.reshape(-1)
        assert torch.allclose(projector(basis) @ flat, flat, atol=1e-9)


def test_pivot_choice_survives_all_negative_residuals() -> None:
    """Every remaining residual rounded below zero (the span is already full): still a valid pivot."""
    from care_rl.dacsp.basis import choose_pivot

    residual = torch.tensor([0.0, -9.7e-17, -2e-16], dtype=torch.float64)
    assert choose_pivot(residual, torch.tensor([False, True, True])) == 1
    assert choose_pivot(torch.tensor([1.0, 1.0 - 1e-13, 2.0]), torch.tensor([True, True, False])) == 0


@pytest.mark.parametrize("cls", BACKENDS)
def test_sign_anchor_flips_with_the_source(cls) -> None:
    dirs = random_directions((6, 5), 2, seed=3)
    flipped = [-d for d in dirs]
    a, b = cls.from_directions(dirs), cls.from_directions(flipped)
    assert a.pivots == b.pivots
    assert torch.allclose(a.vectors, -b.vectors, atol=1e-12)


@pytest.mark.parametrize("cls", BACKENDS)
def test_extend_equals_rebuild_and_is_deterministic(cls) -> None:
    first, second = random_directions((7, 4), 1, seed=1), random_directions((7, 4), 2, seed=2)
    extended = cls.from_directions(first).extend(second)
    rebuilt = cls.from_directions(first + second)
    again = cls.from_directions(first + second)
    assert extended.pivots == rebuilt.pivots == again.pivots
    assert torch.equal(extended.vectors, rebuilt.vectors) and torch.equal(rebuilt.vectors, again.vectors)
    assert cls.from_directions(first).extend([]).rank == cls.from_directions(first).rank


@pytest.mark.parametrize("cls", BACKENDS)
def test_exact_duplicates_add_nothing(cls) -> None:
    dirs = random_directions((6, 6), 2, seed=4)
    basis = cls.from_directions(dirs)
    doubled = basis.extend(dirs).extend([-d for d in dirs[:2]])
    assert doubled.rank == basis.rank
    assert torch.allclose(projector(doubled), projector(basis), atol=1e-10)


def test_factored_equals_materialised_in_basis_and_results() -> None:
    dirs = random_directions((12, 9), 3, seed=5) + random_directions((12, 9), 1, seed=6, tau=1.0)
    mat, fac = HistoricalBasis.from_directions(dirs), FactoredBasis.from_directions(dirs)
    assert mat.pivots == fac.pivots
    assert torch.allclose(mat.vectors, fac.vectors, atol=1e-10)
    update = torch.randn(12, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(mat.coefficients(update), fac.coefficients(update), atol=1e-10)
    assert torch.allclose(
        modulate(update, mat, DacspSpec(alpha=1.2, beta=0.5)),
        modulate(update, fac, DacspSpec(alpha=1.2, beta=0.5)),
        atol=1e-10,
    )


def test_factored_from_factors_matches_from_directions_including_1d() -> None:
    delta = torch.randn(8, dtype=torch.float64)
    u, v = capability_factors(delta, 0.9)
    a = FactoredBasis.from_factors(u, v, delta.shape)
    b = HistoricalBasis.from_directions([delta / delta.norm()])
    assert a.shape == b.shape == (8,)
    assert torch.allclose(a.vectors, b.vectors, atol=1e-12)


def test_factored_memory_is_factors_only() -> None:
    u, v = torch.randn(300, 4, dtype=torch.float64), torch.randn(200, 4, dtype=torch.float64)
    basis = FactoredBasis.from_factors(u, v, (300, 200))
    assert basis.rank == 4 and basis.u.numel() + basis.v.numel() + basis.coeffs.numel() == 4 * 500 + 16


@pytest.mark.parametrize("cls", BACKENDS)
@pytest.mark.parametrize(
    ("dirs", "match"),
    [
        ([], "at least one"),
        ([torch.ones(2, 2), torch.ones(3, 2)], "shape"),
        ([torch.zeros(2, 2)], "all zeros"),
        ([torch.full((2, 2), float("inf"))], "finite"),
    ],
)
def test_bad_directions_raise(cls, dirs, match) -> None:
    with pytest.raises(ValueError, match=match):
        cls.from_directions(dirs)


def test_factored_rejects_non_rank_one_and_misfit_factors() -> None:
    with pytest.raises(ValueError, match="rank one"):
        FactoredBasis.from_directions([torch.eye(3)])
    with pytest.raises(ValueError, match="do not fit"):
        FactoredBasis.from_factors(torch.randn(4, 1), torch.randn(3, 1), (4, 5))
    with pytest.raises(ValueError, match="tol"):
        HistoricalBasis.from_directions([torch.eye(3)], tol=0.0)
