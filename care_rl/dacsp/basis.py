"""Section 3.2.2, the historical direction basis of one layer (materialised backend).

All capability directions of the previous stages, vectorised, are orthonormalised by a
rank-revealing QR with column pivoting:  D Π = Q R.  Columns are kept while |R_kk| > tol · |R_11|
(relative to the first pivot, whose norm is 1 for unit directions, so tol is effectively absolute
too); pivoting makes |R_kk| non-increasing, so the kept columns are a prefix. Each kept Q_k is then
sign-anchored on its pivot source d_{π(k)}:  Q_k ← sign(⟨Q_k, d_{π(k)}⟩_F) · Q_k,  so that "+Q_k"
is a capability-increasing direction and the sign of a coefficient means aligned vs opposing.

QR flavour: classical Gram–Schmidt with re-orthogonalisation ("twice is enough", CGS2) in float64,
pivoting on the largest residual norm with near-ties (relative 1e-9) broken by the lowest index.
The explicit tie rule makes the pivot order, and therefore the sign-anchored basis, deterministic
and identical to the factored backend's pivoted Cholesky (factored.py), which uses the same rule.

The basis keeps its source directions: with pivoting, adding a stage can change which sources
become pivots, so ``extend`` is defined as rebuilding from all sources (extend == rebuild exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

DEFAULT_TOL = 1e-6
PIVOT_TIE = 1e-9


class Basis(Protocol):
    """What modulate() and the optimizer hook need from either backend."""

    @property
    def shape(self) -> torch.Size: ...
    @property
    def rank(self) -> int: ...
    def coefficients(self, update: Tensor) -> Tensor: ...
    def combine(self, weights: Tensor) -> Tensor: ...


def choose_pivot(residual_sq: Tensor, remaining: Tensor) -> int:
    """Index of the largest remaining residual; near-ties (relative PIVOT_TIE) go to the lowest index.

    Rounding can leave every remaining residual slightly negative (all directions already spanned);
    the tie band is measured from ``|best|`` so the best entry is always inside it."""
    masked = torch.where(remaining, residual_sq, torch.full_like(residual_sq, -torch.inf))
    best = masked.max()
    return int(torch.nonzero(masked >= best - best.abs() * PIVOT_TIE)[0, 0])


def check_directions(directions: Sequence[Tensor]) -> Tensor:
    """Stack directions into float64 [N, *shape], rejecting empty, ragged, non-finite or zero input."""
    if len(directions) == 0:
        raise ValueError("a historical basis needs at least one direction (got an empty list)")
    shape = directions[0].shape
    for i, d in enumerate(directions):
        if d.shape != shape:
            raise ValueError(f"direction {i} has shape {tuple(d.shape)}, expected {tuple(shape)}")
        if not torch.is_floating_point(d) or not torch.isfinite(d).all():
            raise ValueError(f"direction {i} must be a finite floating-point tensor")
    stacked = torch.stack([d.detach().to(torch.float64) for d in directions])
    norms = stacked.reshape(len(directions), -1).norm(dim=1)
    if (norms == 0).any():
        raise ValueError(f"direction {int(torch.nonzero(norms == 0)[0, 0])} is all zeros")
    return stacked


def pivoted_qr(rows: Tensor, tol: float) -> tuple[Tensor, list[int]]:
    """Orthonormal Q [K, M] of the row space of ``rows`` [N, M] and the pivot source of each Q_k."""
    residual = rows.clone()
    remaining = torch.ones(rows.shape[0], dtype=torch.bool)
    q: list[Tensor] = []
    pivots: list[int] = []
    first = None
    for _ in range(rows.shape[0]):
        residual_sq = (residual * residual).sum(1)
        j = choose_pivot(residual_sq, remaining)
        r_kk = residual_sq[j].sqrt()
        first = r_kk if first is None else first
        if r_kk <= tol * first:
            break
        q_k = residual[j] / r_kk
        if q:  # re-orthogonalise against the kept vectors (CGS2)
            kept = torch.stack(q)
            q_k = q_k - kept.T @ (kept @ q_k)
            q_k = q_k / q_k.norm()
        residual -= torch.outer(residual @ q_k, q_k)
        remaining[j] = False
        q.append(q_k)
        pivots.append(j)
    return torch.stack(q), pivots


@dataclass(frozen=True, eq=False)
class HistoricalBasis:
    """Orthonormal basis {Q_k} (``vectors`` [K, *layer_shape]) of one layer's historical directions."""

    vectors: Tensor
    sources: Tensor
    pivots: tuple[int, ...]
    tol: float

    @classmethod
    def from_directions(cls, directions: Sequence[Tensor], tol: float = DEFAULT_TOL) -> HistoricalBasis:
        if not 0.0 < tol < 1.0:
            raise ValueError(f"tol must lie in (0, 1), got {tol!r}")
        sources = check_directions(directions)
        rows = sources.reshape(sources.shape[0], -1)
        q, pivots = pivoted_qr(rows, tol)
        anchor = (q * rows[pivots]).sum(1)  # ⟨Q_k, d_{π(k)}⟩
        q = q * torch.where(anchor < 0, -1.0, 1.0).to(q).unsqueeze(1)
        return cls(q.reshape(len(pivots), *sources.shape[1:]), sources, tuple(pivots), tol)

    def extend(self, directions: Sequence[Tensor]) -> HistoricalBasis:
        """The basis after another stage: a rebuild over all sources, so extend == rebuild exactly."""
        if len(directions) == 0:
            return self
        return HistoricalBasis.from_directions([*self.sources, *directions], self.tol)

    @property
    def shape(self) -> torch.Size:
        return self.vectors.shape[1:]

    @property
    def rank(self) -> int:
        return self.vectors.shape[0]

    def coefficients(self, update: Tensor) -> Tensor:
        """c_k = ⟨ΔW, Q_k⟩_F for all k at once (one matrix-vector product), in the basis dtype."""
        return self.vectors.reshape(self.rank, -1) @ update.reshape(-1).to(self.vectors.dtype)

    def combine(self, weights: Tensor) -> Tensor:
        """Σ_k w_k Q_k, in the layer shape."""
        return (weights.to(self.vectors.dtype) @ self.vectors.reshape(self.rank, -1)).reshape(self.shape)

    @staticmethod
    def stacked(
        bases: Sequence[HistoricalBasis | None], shape: torch.Size, dtype: torch.dtype, device: torch.device
    ) -> StackedVectors:
        return StackedVectors(bases, shape, dtype, device)


class StackedVectors:
    """P same-shaped bases zero-padded to a common K: the optimizer hook's batched path (two bmm per step).

    A zero-padded row gives c = 0 and contributes nothing, so padding does not change any result; a
    ``None`` entry (a tensor without directions yet) is all padding.
    """

    def __init__(
        self,
        bases: Sequence[HistoricalBasis | None],
        shape: torch.Size,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        k_max = max([b.rank for b in bases if b is not None] + [1])
        self.vectors = torch.zeros(len(bases), k_max, shape.numel(), dtype=dtype, device=device)
        for i, b in enumerate(bases):
            if b is not None:
                self.vectors[i, : b.rank] = b.vectors.reshape(b.rank, -1).to(dtype=dtype, device=device)

    def coefficients(self, updates: Tensor) -> Tensor:
        """[P, *shape] -> c [P, K]."""
        return torch.bmm(self.vectors, updates.reshape(updates.shape[0], -1, 1)).squeeze(2)

    def combine(self, weights: Tensor, out: Tensor) -> Tensor:
        """w [P, K] -> Σ_k w_pk Q_pk written into ``out`` [P, numel] (the hook's reused buffer); returns ``out``."""
        torch.bmm(weights.unsqueeze(1), self.vectors, out=out.view(weights.shape[0], 1, -1))
        return out
