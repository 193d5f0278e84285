"""DACSP for row-sharded parameters (FSDP2-style, possibly uneven shards along dim 0).

Each rank holds rows [start, stop) of a parameter, of its update and of its basis. The coefficients
are sums over rows, c_k = Σ_ranks ⟨ΔW_s, Q_k,s⟩_F, so each rank computes its partial inner products
and one ``all_reduce(SUM)`` of a K-vector per layer gives the full c; the modulation Σ_k w_k Q_k,s is
then local. Every rank ends with exactly its rows of the unsharded result.

Dim 0 is the row axis for every parameter because the matrix view (directions.py) is
[shape[0], -1] for N-D and an N x 1 column for 1-D tensors. A factored basis shards U by rows and
replicates V and C (they are O(K·n) and O(K²)).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from care_rl.config import DacspSpec
from care_rl.dacsp.basis import Basis, HistoricalBasis
from care_rl.dacsp.directions import matrix_view
from care_rl.dacsp.factored import FactoredBasis
from care_rl.dacsp.modulate import correction_weights


class MaterialisedShard:
    """Rows [start, stop) of every Q_k."""

    def __init__(self, basis: HistoricalBasis, start: int, stop: int) -> None:
        self.vectors = basis.vectors[:, start:stop]
        self.shape = self.vectors.shape[1:]

    def partial_coefficients(self, update: Tensor) -> Tensor:
        return self.vectors.reshape(self.vectors.shape[0], -1) @ update.reshape(-1).to(self.vectors.dtype)

    def combine(self, weights: Tensor) -> Tensor:
        return (weights @ self.vectors.reshape(self.vectors.shape[0], -1)).reshape(self.shape)


class FactoredShard:
    """Rows [start, stop) of U_π; V_π and C replicated."""

    def __init__(self, basis: FactoredBasis, start: int, stop: int) -> None:
        idx = list(basis.pivots)
        self.u, self.v, self.c = basis.u[start:stop][:, idx], basis.v[:, idx], basis.coeffs
        self.shape = torch.Size([stop - start, *basis.shape[1:]])

    def partial_coefficients(self, update: Tensor) -> Tensor:
        dw = matrix_view(update.to(self.c.dtype))
        return self.c @ ((self.u.T @ dw) * self.v.T).sum(1)

    def combine(self, weights: Tensor) -> Tensor:
        return ((self.u * (self.c.T @ weights)) @ self.v.T).reshape(self.shape)


def shard_rows(basis: Basis, start: int, stop: int) -> MaterialisedShard | FactoredShard:
    """This rank's rows of ``basis`` (dim 0 of the parameter)."""
    if not 0 <= start <= stop <= basis.shape[0]:
        raise ValueError(f"row range [{start}, {stop}) outside a parameter with {basis.shape[0]} rows")
    if isinstance(basis, FactoredBasis):
        return FactoredShard(basis, start, stop)
    if isinstance(basis, HistoricalBasis):
        return MaterialisedShard(basis, start, stop)
    raise TypeError(f"unsupported basis type {type(basis).__name__}")


def modulate_sharded(
    update: Tensor,
    shard: MaterialisedShard | FactoredShard,
    spec: DacspSpec,
    group: dist.ProcessGroup | None = None,
) -> Tensor:
    """This rank's rows of modulate(ΔW): local partial c, all_reduce(SUM), local recombination."""
    if update.shape != shard.shape:
        raise ValueError(
            f"update shard of shape {tuple(update.shape)} does not match basis shard {tuple(shard.shape)}"
        )
    c = shard.partial_coefficients(update)
    dist.all_reduce(c, op=dist.ReduceOp.SUM, group=group)
    if not torch.isfinite(c).all():
        raise ValueError("a shard of the update contains NaN or Inf; refusing to modulate")
    return (update.to(c.dtype) + shard.combine(correction_weights(c, spec))).to(update.dtype)
