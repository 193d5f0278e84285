"""DACSP inside any torch optimizer: modulate the optimizer-proposed update, not the gradient.

``optimizer.step()`` computes ΔW (Adam-preconditioned, weight decay included) and writes W + ΔW.
A step pre-hook snapshots W_old; a post-hook reads ΔW = W - W_old and writes
W_old + ΔW' with ΔW' = modulate(ΔW), which equals W + Σ_k (γ_k - 1) c_k Q_k.

Per-step cost: parameters with the same basis type, shape, dtype and device are stacked and their
bases zero-padded to a common K at attach time, so there is no Python loop over K and nothing
parameter-sized is allocated per step. A step makes six passes over the modulated parameters:
the snapshot copy (pre-hook), ΔW = W - W_old written into a reused buffer, ‖ΔW‖² and
c = <ΔW, Q> (one batched matmul) read it, Σ w_k Q_k is written into the same buffer (second batched
matmul) and added in place (torch._foreach_add_, as torch.optim uses). The snapshot stays intact
until the update is known to be finite, which is what makes the restore below exact. The work is
memory-bound: ~1.7x the bytes a fused AdamW step moves with the factored backend (README "Cost").

Telemetry (``handle.telemetry``): one JSON-serialisable dict per step with the energy fractions of
the update that are aligned (Σ_{c>0} c²), opposing (Σ_{c<0} c²) and orthogonal (|ΔW_⊥|²), per
parameter name and in total (fractions are 0 when the update is 0). The step only stores one small
tensor of energies; the dicts are built when ``telemetry`` is read, so the step does no ``.tolist()``
(a device sync on GPU) and no per-parameter dict building.

Edge cases: with no bases the optimizer is left untouched (the first stage trains plainly). If the
optimizer proposes a non-finite update for a modulated parameter, every modulated parameter is
restored to W_old and FloatingPointError names the parameter: DACSP never writes NaN weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import Parameter

from care_rl.config import DacspSpec
from care_rl.dacsp.basis import Basis
from care_rl.dacsp.modulate import correction_weights, energies


@dataclass
class _Group:
    """Same-shaped parameters modulated together; ``old`` (W_old) and ``update`` (ΔW, then the
    correction) are buffers reused every step."""

    params: list[Parameter]
    names: list[str]
    stack: Any
    old: Tensor
    update: Tensor

    def __post_init__(self) -> None:
        # Views made once: the optimizer updates parameters in place, so these stay valid.
        self.live = [p.detach() for p in self.params]
        self.old_rows, self.update_rows = list(self.old.unbind(0)), list(self.update.unbind(0))
        self.flat = self.update.view(len(self.params), -1)


def _group(bases: Mapping[Parameter, Basis], names: Mapping[Parameter, str]) -> list[_Group]:
    by_key: dict[tuple, list[Parameter]] = {}
    for p, basis in bases.items():
        if basis.shape != p.shape:
            raise ValueError(
                f"basis for parameter {names[p]!r} has shape {tuple(basis.shape)}, "
                f"parameter has {tuple(p.shape)}"
            )
        by_key.setdefault((type(basis), p.shape, p.dtype, p.device), []).append(p)
    groups = []
    for (kind, shape, dtype, device), params in by_key.items():
        compute = torch.promote_types(dtype, torch.float32)  # bf16/fp16 weights: ΔW and c in fp32
        stack = kind.stacked([bases[p] for p in params], compute, device)
        old, update = (torch.empty(len(params), *shape, dtype=compute, device=device) for _ in range(2))
        groups.append(_Group(params, [names[p] for p in params], stack, old, update))
    return groups


class DacspHandle:
    """Returned by ``attach_dacsp``; ``remove()`` restores the plain optimizer."""

    def __init__(self, optimizer: torch.optim.Optimizer, groups: list[_Group], spec: DacspSpec) -> None:
        self.groups, self.spec = groups, spec
        self._names = [n for g in groups for n in g.names]
        self._telemetry: list[dict] = []
        self._pending: list[Tensor] = []  # per step: [parameters, 3] energies not yet turned into dicts
        self._hooks = []
        if groups:
            self._hooks = [
                optimizer.register_step_pre_hook(self._snapshot),
                optimizer.register_step_post_hook(self._modulate),
            ]

    @property
    def telemetry(self) -> list[dict]:
        """One dict per step so far (``step``, ``layers`` by name, ``total``); built lazily on read."""
        if self._pending:
            for rows in torch.stack(self._pending).tolist():  # one transfer for all pending steps
                self._record(rows)
            self._pending.clear()
        return self._telemetry

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    @torch.no_grad()
    def _snapshot(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        for g in self.groups:
            torch._foreach_copy_(g.old_rows, g.live)

    @torch.no_grad()
    def _modulate(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        stats = []
        for g in self.groups:
            # ΔW in one pass into the reused buffer; W_old stays intact for an exact restore.
            for live, old, update in zip(g.live, g.old_rows, g.update_rows, strict=True):
                torch.sub(live, old, out=update)
            c = g.stack.coefficients(g.flat)
            if not torch.isfinite(c).all():
                self._restore()
                bad = g.names[int(torch.nonzero(~torch.isfinite(c).all(1))[0, 0])]
                raise FloatingPointError(
                    f"optimizer proposed a non-finite update for {bad!r}; DACSP restored the pre-step weights"
                )
            stats.append(torch.stack(energies(c, torch.linalg.vector_norm(g.flat, dim=1).square()), 1))
            g.stack.combine(correction_weights(c, self.spec), out=g.flat)  # ΔW no longer needed
            torch._foreach_add_(g.live, g.update_rows)
        self._pending.append(torch.cat(stats))

    def _restore(self) -> None:
        for g in self.groups:
            torch._foreach_copy_(g.live, g.old_rows)

    def _record(self, rows: list[list[float]]) -> None:
        layers = {n: _fractions(*row) for n, row in zip(self._names, rows, strict=True)}
        total = _fractions(*(sum(col) for col in zip(*rows, strict=True)))
        self._telemetry.append({"step": len(self._telemetry) + 1, "layers": layers, "total": total})


def _fractions(aligned: float, opposing: float, orthogonal: float) -> dict[str, float]:
    energy = aligned + opposing + orthogonal
    scale = 1.0 / energy if energy > 0 else 0.0
    return {
        "aligned": aligned * scale,
        "opposing": opposing * scale,
        "orthogonal": orthogonal * scale,
        "energy": energy,
    }


def attach_dacsp(
    optimizer: torch.optim.Optimizer,
    bases: Mapping[Parameter, Basis],
    spec: DacspSpec,
    names: Mapping[Parameter, str] | None = None,
) -> DacspHandle:
    """Modulate every step of ``optimizer`` for the parameters in ``bases`` (others are untouched)
    with the gains of ``spec``.

    ``names`` labels telemetry (default: ``param<i>`` in ``bases`` order).
    """
    names = dict(names) if names is not None else {p: f"param{i}" for i, p in enumerate(bases)}
    managed = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for p in bases:
        if p not in names:
            raise ValueError("every parameter in bases needs a name when names is given")
        if id(p) not in managed:
            raise ValueError(f"parameter {names[p]!r} has a basis but is not updated by the optimizer")
    return DacspHandle(optimizer, _group(bases, names), spec)
