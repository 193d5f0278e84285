"""Section 3.2.3, direction-aware projection of one optimizer-proposed update ΔW (post-Adam, not a gradient).

    c_k   = ⟨ΔW, Q_k⟩_F
    ΔW_⊥  = ΔW - Σ_k c_k Q_k                                   (orthogonal residual, left unchanged)
    ΔW'   = ΔW_⊥ + Σ_k γ_k c_k Q_k,   γ_k = α if c_k > 0 else β

α = β = 1 is the identity, α = β = 0 the hard orthogonal projection. We compute the equivalent
ΔW' = ΔW + Σ_k (γ_k - 1) c_k Q_k, which never materialises ΔW_⊥ and is exactly ΔW when α = β = 1.
The weights (γ_k - 1) c_k are ``correction_weights``: the only place the rule is written; the
optimizer hook, the sharded path and checkpoint surgery all call it.

Telemetry: aligned energy Σ_{c_k>0} c_k², opposing energy Σ_{c_k<0} c_k², orthogonal energy
|ΔW_⊥|² = |ΔW|² - Σ_k c_k² (Pythagoras, Q orthonormal; clamped at 0 against round-off).

Edge cases: a zero update passes through unchanged (all c_k = 0); a non-finite update or a shape
mismatch raise ValueError (α, β are validated by DacspSpec), so DACSP never writes NaN into weights.
Either backend (HistoricalBasis or FactoredBasis) can be passed as ``basis``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from care_rl.config import DacspSpec
from care_rl.dacsp.basis import Basis


@dataclass(frozen=True)
class Decomposition:
    """ΔW split against a basis: the coefficients c_k and the three energies (0-d tensors)."""

    coefficients: Tensor
    aligned: Tensor
    opposing: Tensor
    orthogonal: Tensor


def correction_weights(c: Tensor, spec: DacspSpec) -> Tensor:
    """(γ_k - 1) c_k with γ_k = α if c_k > 0 else β: ΔW' = ΔW + Σ_k correction_weights_k Q_k.

    c_k = 0 contributes nothing whichever gain it gets."""
    gain = torch.where(c > 0, c.new_tensor(spec.alpha - 1.0), c.new_tensor(spec.beta - 1.0))
    return gain * c


def energies(c: Tensor, total: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(aligned, opposing, orthogonal) energies over the last dim of c, given |ΔW|² ``total``."""
    aligned = c.clamp(min=0).square().sum(-1)
    opposing = c.clamp(max=0).square().sum(-1)
    return aligned, opposing, (total - aligned - opposing).clamp(min=0)


def decompose(update: Tensor, basis: Basis) -> Decomposition:
    """Coefficients and energies of ``update`` against ``basis`` (computed in the basis dtype)."""
    if update.shape != basis.shape:
        raise ValueError(
            f"update of shape {tuple(update.shape)} does not match basis shape {tuple(basis.shape)}"
        )
    if not torch.isfinite(update).all():
        raise ValueError(f"update of shape {tuple(update.shape)} contains NaN or Inf; refusing to modulate")
    c = basis.coefficients(update)
    return Decomposition(c, *energies(c, update.to(c.dtype).square().sum()))


def modulate(update: Tensor, basis: Basis, spec: DacspSpec) -> Tensor:
    """ΔW' = ΔW_⊥ + Σ_k γ_k c_k Q_k (γ from ``spec.alpha``, ``spec.beta``), in the update's dtype."""
    c = decompose(update, basis).coefficients
    return (update.to(c.dtype) + basis.combine(correction_weights(c, spec))).to(update.dtype)
