"""Appendix C checkpoint surgery (not MGS's gradient surgery): is the DACSP top subspace where a
stage's gain lives?

For every layer the single-domain update ΔW = W_ft - W_base (matrix view, float64) is split into its
projection onto a k-dimensional subspace spanned by Frobenius-orthonormal rank-one directions and the
rest:  P(ΔW) = Σ_i ⟨ΔW, u_i v_iᵀ⟩ u_i v_iᵀ.  Removing the subspace is DACSP's own modulation at
α = β = 0 (the hard projection ΔW - P(ΔW), modulate.py), keeping it is the difference. Four edits
(Table 14):
  keep_top / remove_top        W_base + P_top(ΔW)  /  W_base + ΔW - P_top(ΔW)
  keep_random / remove_random  the same with a random subspace of equal rank k
P_top uses the DACSP directions (capability_factors with τ), for which P_top(ΔW) = Σ_{i≤k} s_i u_i v_iᵀ.
The random subspace (our choice; the paper only says "random per-layer subspace with equal rank")
is k rank-one directions ũ_i ṽ_iᵀ from random orthonormal Ũ [m, k], Ṽ [n, k] (QR of Gaussians): the
same kind of subspace as the top one (k orthonormal rank-one directions), drawn from a torch.Generator
seeded once and consumed in sorted layer-name order, so an edit is reproducible from its seed.
keep + remove reconstructs the full update exactly (they are P and I - P).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor

from care_rl.config import DacspSpec
from care_rl.dacsp.directions import capability_factors, matrix_view
from care_rl.dacsp.factored import FactoredBasis
from care_rl.dacsp.modulate import modulate
from care_rl.dacsp.stages import task_vectors

Edit = Literal["keep_top", "remove_top", "keep_random", "remove_random"]
EDITS: tuple[str, ...] = ("keep_top", "remove_top", "keep_random", "remove_random")
HARD_PROJECTION = DacspSpec(alpha=0.0, beta=0.0)


def remove_subspace(delta: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """ΔW - Σ_i (u_iᵀ ΔW v_i) u_i v_iᵀ for orthonormal columns u_i, v_i: DACSP's modulation of ``delta``
    at α = β = 0 against the basis {u_i v_iᵀ}."""
    if u.shape[1] == 0:
        return delta
    return modulate(delta, FactoredBasis.from_factors(u, v, delta.shape), HARD_PROJECTION)


def random_factors(m: int, n: int, k: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random orthonormal Ũ [m, k], Ṽ [n, k] (float64)."""
    u = torch.linalg.qr(torch.randn(m, k, generator=generator, dtype=torch.float64))[0]
    v = torch.linalg.qr(torch.randn(n, k, generator=generator, dtype=torch.float64))[0]
    return u, v


def edit_checkpoint(
    base: Mapping[str, Tensor], finetuned: Mapping[str, Tensor], edit: Edit, tau: float, seed: int = 0
) -> dict[str, Tensor]:
    """A state dict W_base + edited ΔW for every layer, in the base dtypes."""
    if edit not in EDITS:
        raise ValueError(f"unknown surgery edit {edit!r}; expected one of {list(EDITS)}")
    generator = torch.Generator().manual_seed(seed)
    deltas = task_vectors(base, finetuned)
    out = {name: t.clone() for name, t in finetuned.items()}
    for name, delta in deltas.items():
        u, v = capability_factors(delta, tau)
        if edit.endswith("random"):
            m, n = matrix_view(delta).shape
            u, v = random_factors(m, n, u.shape[1], generator)
        removed = remove_subspace(delta, u, v)
        kept = delta - removed if edit.startswith("keep") else removed
        out[name] = (base[name].to(torch.float64) + kept).to(base[name].dtype)
    return out
