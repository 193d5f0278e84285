"""Beyond the paper: the historical basis kept as rank-one factors, never materialised.

Every historical direction is rank one, d_j = u_j v_jᵀ with u_j ∈ R^m, v_j ∈ R^n (unit for SVD directions). Their Gram
matrix is G_ij = ⟨d_i, d_j⟩_F = (u_iᵀu_j)(v_iᵀv_j), i.e. G = (UᵀU) ∘ (VᵀV). Pivoted Cholesky of G,
Πᵀ G Π = L Lᵀ, is the pivoted QR of D = [vec d_j] without forming D: R = Lᵀ, the pivots are chosen
by the same rule (largest remaining residual norm, near-ties to the lowest index, see basis.py),
and the kept basis is Q_k = Σ_j C_kj d_{π(j)} with C = L_rr⁻¹ (lower triangular, K x K).
So per step
    c = C d,   d_j = u_{π(j)}ᵀ ΔW v_{π(j)}            (no m·n·K basis read from memory)
    Σ_k w_k Q_k = U_π diag(Cᵀ w) V_πᵀ
and memory is O(K(m+n) + K²) instead of O(K·m·n).

Sign anchoring is the same as the materialised basis: ⟨Q_k, d_{π(k)}⟩ = L_kk > 0 by construction,
and is checked explicitly.

Numerical caveat: the residual diagonal of G is formed by subtraction, so its absolute error is
~eps·|G| and a residual *norm* is only resolved down to ~sqrt(eps) ≈ 1.5e-8 relative. Directions
whose residual norm relative to the first pivot falls below that (near-duplicates of earlier
directions) are indistinguishable from exact duplicates and are dropped; keep tol ≥ 1e-7 (the
default 1e-6 is). Above that threshold both backends agree to float tolerance (tests/dacsp).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from care_rl.dacsp.basis import DEFAULT_TOL, check_directions, choose_pivot
from care_rl.dacsp.directions import matrix_view

RANK_ONE_RTOL = 1e-6


def rank_one_factors(direction: Tensor) -> tuple[Tensor, Tensor]:
    """(u, v) with u unit and u vᵀ = direction's matrix view; errors if the direction is not rank one."""
    m = matrix_view(direction.to(torch.float64))
    j = int(m.norm(dim=0).argmax())
    u = m[:, j] / m[:, j].norm()
    v = m.T @ u
    if (m - torch.outer(u, v)).norm() > RANK_ONE_RTOL * m.norm():
        raise ValueError(
            f"direction of shape {tuple(direction.shape)} is not rank one; the factored basis "
            "only holds rank-one directions u vᵀ (use HistoricalBasis otherwise)"
        )
    return u, v


def pivoted_cholesky(gram: Tensor, tol: float) -> tuple[Tensor, list[int]]:
    """L_rr (lower triangular, K x K) and pivots π with G[π, π] ≈ L_rr L_rrᵀ, stopping at L_kk ≤ tol·L_11."""
    n = gram.shape[0]
    l_full = torch.zeros(n, n, dtype=gram.dtype)
    residual = gram.diagonal().clone()
    remaining = torch.ones(n, dtype=torch.bool)
    pivots: list[int] = []
    first = None
    for k in range(n):
        j = choose_pivot(residual, remaining)
        l_kk = residual[j].clamp(min=0).sqrt()
        first = l_kk if first is None else first
        if l_kk <= tol * first:
            break
        l_full[:, k] = (gram[:, j] - l_full[:, :k] @ l_full[j, :k]) / l_kk
        l_full[j, k] = l_kk
        l_full[~remaining, k] = 0.0
        remaining[j] = False
        residual -= l_full[:, k] ** 2
        pivots.append(j)
    return l_full[pivots][:, : len(pivots)], pivots


@dataclass(frozen=True, eq=False)
class FactoredBasis:
    """Orthonormal basis Q_k = Σ_j coeffs[k, j] u_{π(j)} v_{π(j)}ᵀ of one layer's historical directions.

    ``u`` [m, N], ``v`` [n, N] hold every source direction (float64; kept for extend == rebuild);
    ``pivots`` select the K that span the basis and ``coeffs`` is C (K x K).
    """

    u: Tensor
    v: Tensor
    coeffs: Tensor
    pivots: tuple[int, ...]
    shape: torch.Size
    tol: float

    @classmethod
    def from_factors(
        cls, u: Tensor, v: Tensor, shape: Sequence[int], tol: float = DEFAULT_TOL
    ) -> FactoredBasis:
        """Basis of the directions u_j v_jᵀ (columns of u [m, N] and v [n, N]) for a layer of ``shape``."""
        if not 0.0 < tol < 1.0:
            raise ValueError(f"tol must lie in (0, 1), got {tol!r}")
        shape = torch.Size(shape)
        m, n = matrix_view(torch.empty(shape, device="meta")).shape
        if u.ndim != 2 or v.ndim != 2 or u.shape[1] != v.shape[1] or u.shape[1] == 0:
            raise ValueError(
                f"factors must be u [m, N], v [n, N] with N ≥ 1, got {tuple(u.shape)}, {tuple(v.shape)}"
            )
        if u.shape[0] != m or v.shape[0] != n:
            raise ValueError(
                f"factors {tuple(u.shape)}, {tuple(v.shape)} do not fit layer shape {tuple(shape)} "
                f"(matrix view {m} x {n})"
            )
        u, v = u.detach().to(torch.float64), v.detach().to(torch.float64)
        if not (torch.isfinite(u).all() and torch.isfinite(v).all()):
            raise ValueError("factors contain NaN or Inf")
        if (u.norm(dim=0) == 0).any() or (v.norm(dim=0) == 0).any():
            raise ValueError("a factor pair describes an all-zero direction")
        gram = (u.T @ u) * (v.T @ v)
        l_rr, pivots = pivoted_cholesky(gram, tol)
        coeffs = torch.linalg.solve_triangular(l_rr, torch.eye(len(pivots), dtype=torch.float64), upper=False)
        anchor = (coeffs @ gram[pivots][:, pivots]).diagonal()  # ⟨Q_k, d_{π(k)}⟩
        coeffs = coeffs * torch.where(anchor < 0, -1.0, 1.0).to(coeffs).unsqueeze(1)
        return cls(u, v, coeffs, tuple(pivots), shape, tol)

    @classmethod
    def from_directions(cls, directions: Sequence[Tensor], tol: float = DEFAULT_TOL) -> FactoredBasis:
        """Same constructor as HistoricalBasis: each (materialised) direction must be rank one."""
        stacked = check_directions(directions)
        pairs = [rank_one_factors(d) for d in stacked]
        u = torch.stack([p[0] for p in pairs], 1)
        v = torch.stack([p[1] for p in pairs], 1)
        return cls.from_factors(u, v, stacked.shape[1:], tol)

    def extend_factors(self, u: Tensor, v: Tensor) -> FactoredBasis:
        """The basis after another stage, rebuilt over all sources (extend == rebuild exactly)."""
        return FactoredBasis.from_factors(
            torch.cat([self.u, u.to(self.u)], 1), torch.cat([self.v, v.to(self.v)], 1), self.shape, self.tol
        )

    def extend(self, directions: Sequence[Tensor]) -> FactoredBasis:
        if len(directions) == 0:
            return self
        other = FactoredBasis.from_directions(directions, self.tol)
        return self.extend_factors(other.u, other.v)

    @property
    def rank(self) -> int:
        return self.coeffs.shape[0]

    @property
    def vectors(self) -> Tensor:
        """The materialised Q [K, *shape] (for tests and inspection; O(K·m·n) memory)."""
        return torch.stack([self.combine(row) for row in torch.eye(self.rank, dtype=self.coeffs.dtype)])

    def _pivot_factors(self, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        idx = list(self.pivots)
        return (
            self.u[:, idx].to(dtype=dtype, device=device),
            self.v[:, idx].to(dtype=dtype, device=device),
            self.coeffs.to(dtype=dtype, device=device),
        )

    def coefficients(self, update: Tensor) -> Tensor:
        """c = C d with d_j = u_{π(j)}ᵀ ΔW v_{π(j)}: one (K x m)(m x n) product and a row-wise dot."""
        u, v, c = self._pivot_factors(self.coeffs.dtype, self.coeffs.device)
        dw = matrix_view(update.to(c.dtype))
        return c @ ((u.T @ dw) * v.T).sum(1)

    def combine(self, weights: Tensor) -> Tensor:
        """Σ_k w_k Q_k = U_π diag(Cᵀ w) V_πᵀ, in the layer shape."""
        u, v, c = self._pivot_factors(self.coeffs.dtype, self.coeffs.device)
        s = c.T @ weights.to(c.dtype)
        return ((u * s) @ v.T).reshape(self.shape)

    def coefficients_of_product(self, left: Tensor, right: Tensor) -> Tensor:
        """c_k = ⟨left @ rightᵀ, Q_k⟩ for an update given as factors (left [m, p], right [n, p]), never
        forming the m x n product: d_j = Σ_i (u_jᵀ left_i)(v_jᵀ right_i)."""
        u, v, c = self._pivot_factors(self.coeffs.dtype, self.coeffs.device)
        return c @ ((u.T @ left.to(c.dtype)) * (v.T @ right.to(c.dtype))).sum(1)

    def combine_factors(self, weights: Tensor) -> tuple[Tensor, Tensor]:
        """Σ_k w_k Q_k as factors (left [m, K], right [n, K]): U_π diag(Cᵀ w) and V_π."""
        u, v, c = self._pivot_factors(self.coeffs.dtype, self.coeffs.device)
        return u * (c.T @ weights.to(c.dtype)), v

    @staticmethod
    def stacked(
        bases: Sequence[FactoredBasis | None], shape: torch.Size, dtype: torch.dtype, device: torch.device
    ) -> StackedFactors:
        return StackedFactors(bases, shape, dtype, device)


class StackedFactors:
    """P same-shaped factored bases zero-padded to a common K, for the optimizer hook (batched bmm); a
    ``None`` entry (a tensor without directions yet) is all padding.

    ``vt`` is Vᵀ stored contiguously: the combine bmm is ~20% faster than on the transposed view.
    """

    def __init__(
        self,
        bases: Sequence[FactoredBasis | None],
        shape: torch.Size,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        k_max = max([b.rank for b in bases if b is not None] + [1])
        m, n = matrix_view(torch.empty(shape, device="meta")).shape
        self.u = torch.zeros(len(bases), m, k_max, dtype=dtype, device=device)
        self.v = torch.zeros(len(bases), n, k_max, dtype=dtype, device=device)
        self.c = torch.zeros(len(bases), k_max, k_max, dtype=dtype, device=device)
        for i, b in enumerate(bases):
            if b is not None:
                u, v, c = b._pivot_factors(dtype, device)
                self.u[i, :, : b.rank], self.v[i, :, : b.rank], self.c[i, : b.rank, : b.rank] = u, v, c
        self.vt = self.v.transpose(1, 2).contiguous()
        self.m, self.n = m, n

    def coefficients(self, updates: Tensor) -> Tensor:
        """c = C d, d_j = u_jᵀ ΔW v_j; contracts the longer side of ΔW first (cheaper bmm)."""
        dw = updates.reshape(updates.shape[0], self.m, self.n)
        if self.m <= self.n:
            d = (torch.bmm(dw, self.v) * self.u).sum(1)
        else:
            d = (torch.bmm(self.u.transpose(1, 2), dw) * self.v.transpose(1, 2)).sum(2)
        return torch.bmm(self.c, d.unsqueeze(2)).squeeze(2)

    def combine(self, weights: Tensor, out: Tensor) -> Tensor:
        """Σ_k w_pk Q_pk = U_p diag(C_pᵀ w_p) V_pᵀ written into ``out`` [P, m·n] (a reused buffer, so the
        hook allocates nothing parameter-sized per step); returns ``out``."""
        s = torch.bmm(self.c.transpose(1, 2), weights.unsqueeze(2))  # [P, K, 1]
        # diag(s) goes on the smaller factor: for LoRA one side is the rank r, the other up to 1536.
        u, vt = (self.u * s.transpose(1, 2), self.vt) if self.m <= self.n else (self.u, s * self.vt)
        torch.bmm(u, vt, out=out.view(weights.shape[0], self.m, self.n))
        return out
