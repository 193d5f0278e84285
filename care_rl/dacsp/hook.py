"""DACSP inside any torch optimizer: modulate the optimizer-proposed update, not the gradient.

``optimizer.step()`` computes its update (Adam-preconditioned, weight decay included) and writes it
into the parameters. A step pre-hook snapshots the parameters; a post-hook reads the proposal as the
difference, decomposes it against the historical basis and writes the modulated update instead.

Two kinds of unit, both modulated by the one rule of modulate.py (``correction_weights``):
  * a plain tensor (full-parameter training, a bias, a LoRA factor in ``space: factor``): its update ΔW
    is the paper's, and W_old + ΔW + Σ_k (γ_k - 1) c_k Q_k is written back exactly;
  * a LoRA module (``LoraUnit``, lora.py): in ``space: layer`` the update is the change δW of the
    module's weight W = W_0 + s·B·A, its coefficients come from the factors, and the correction is
    mapped back onto δA, δB by least squares (the unrepresentable part is measured); in
    ``space: factor`` A and B are modulated as two plain tensors.

Telemetry (``handle.telemetry``): one JSON-serialisable dict per step,
    {"step", "space", "layer": {"total", "modules"}, "factor": {"total", "modules"}}
with, per module (a LoRA module, or a plain tensor, for which both spaces coincide) and in total,
the energy fractions of the proposed update that are aligned (Σ_{c>0} c²), opposing (Σ_{c<0} c²) and
orthogonal, its energy, ``change`` = ‖applied - proposed‖ / ‖proposed‖ in that space, the chance levels
(telemetry.py), and in the active space ``residual`` = ‖applied - paper's ΔW'‖ / ‖proposed‖. Both spaces
are measured whichever one is modulated. The step stores one small tensor; the dicts are built when
``telemetry`` is read (no ``.tolist()`` device sync and no dict building inside the step).

Cost: units with the same shapes, dtype and device are stacked with zero-padded bases at attach time,
so a step is a few batched matmuls per group, no Python loop over K, and nothing parameter-sized is
allocated per step (README "Cost", bench/bench_dacsp.py).

Safety: with no bases the optimizer is left untouched. Before every step the hook checks that each
parameter it modulates is still one the optimizer steps and still has the storage the hook reads
(wrapping a model for DDP can swap it); otherwise it raises instead of modulating a stale copy. A
non-finite proposal restores every modulated parameter to its pre-step value and raises
FloatingPointError naming it: DACSP never writes NaN weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn import Parameter

from care_rl.config import DacspSpec
from care_rl.dacsp import telemetry
from care_rl.dacsp.basis import Basis
from care_rl.dacsp.factored import FactoredBasis
from care_rl.dacsp.lora import LayerStack, LoraUnit, check_lora_shapes
from care_rl.dacsp.modulate import correction_weights, energies


def _stack(bases: Sequence[Basis | None], shape: torch.Size, dtype: torch.dtype, device: torch.device) -> Any:
    kinds = {type(b) for b in bases if b is not None}
    if len(kinds) > 1:
        raise ValueError(f"mixed basis types {sorted(k.__name__ for k in kinds)} in one group")
    kind = kinds.pop() if kinds else FactoredBasis
    return kind.stacked(bases, shape, dtype, device)


def _rank(basis: Basis | None) -> int:
    return 0 if basis is None else basis.rank


class _Tensors:
    """P same-shaped tensors with a snapshot buffer (W_old) and a proposal buffer (ΔW), [P, *shape] each
    (possibly views into one shared buffer), reused every step. The live views are made once: the
    optimizer updates parameters in place, and ``check`` makes sure it still does."""

    def __init__(self, params: Sequence[Parameter], names: Sequence[str], old: Tensor, delta: Tensor) -> None:
        self.params, self.names = list(params), list(names)
        self.live = [p.detach() for p in params]
        self.ptrs = [p.data_ptr() for p in params]
        self.old, self.delta = old, delta
        self.old_rows, self.delta_rows = list(old.unbind(0)), list(delta.unbind(0))

    @classmethod
    def own_buffers(cls, params: Sequence[Parameter], names: Sequence[str], compute: torch.dtype) -> _Tensors:
        old = torch.empty(len(params), *params[0].shape, dtype=compute, device=params[0].device)
        return cls(params, names, old, torch.empty_like(old))

    def snapshot(self) -> None:
        torch._foreach_copy_(self.old_rows, self.live)

    def proposal(self) -> Tensor:
        for live, old, delta in zip(self.live, self.old_rows, self.delta_rows, strict=True):
            torch.sub(live, old, out=delta)
        return self.delta

    def restore(self) -> None:
        torch._foreach_copy_(self.live, self.old_rows)

    def check(self, stepped: set[int]) -> None:
        for p, ptr, name in zip(self.params, self.ptrs, self.names, strict=True):
            if id(p) not in stepped:
                raise RuntimeError(
                    f"DACSP: parameter {name!r} is no longer stepped by this optimizer (its param_groups "
                    "changed after attach); re-attach DACSP to the optimizer that trains the model"
                )
            if p.data_ptr() != ptr:
                raise RuntimeError(
                    f"DACSP: parameter {name!r} no longer has the storage DACSP was attached to (e.g. "
                    "wrapping the model for DDP replaced it); re-attach DACSP after the model is prepared"
                )


class _PlainGroup:
    """Same-shaped plain tensors: the paper's ΔW on the tensor itself; layer space == factor space."""

    def __init__(self, params: Sequence[Parameter], names: Sequence[str], bases: Sequence[Basis]) -> None:
        p0 = params[0]
        compute = torch.promote_types(p0.dtype, torch.float32)  # bf16/fp16 weights: ΔW and c in fp32
        self.t = _Tensors.own_buffers(params, names, compute)
        self.stack = _stack(bases, p0.shape, compute, p0.device)
        self.flat = self.t.delta.view(len(params), -1)
        ranks = [b.rank for b in bases]
        chance = torch.tensor([k / p0.numel() for k in ranks], dtype=torch.float64)
        self.chance = {"layer": chance, "factor": chance, "step": chance}

    @property
    def names(self) -> list[str]:
        return self.t.names

    def tensors(self) -> list[_Tensors]:
        return [self.t]

    def step(self, spec: DacspSpec) -> Tensor | str:
        """Modulate in place; returns the [P, telemetry.ROW] numbers, or the name of a non-finite unit."""
        self.t.proposal()
        c = self.stack.coefficients(self.flat)
        bad = ~torch.isfinite(c).all(1)
        if bad.any():
            return self.t.names[int(torch.nonzero(bad)[0, 0])]
        total = torch.linalg.vector_norm(self.flat, dim=1).square()
        aligned, opposing, _ = energies(c, total)
        g = correction_weights(c, spec)
        self.stack.combine(g, out=self.flat)  # ΔW no longer needed: the buffer now holds the correction
        torch._foreach_add_(self.t.live, self.t.delta_rows)
        change = g.square().sum(1)  # ‖Σ g_k Q_k‖², Q orthonormal
        zero = torch.zeros_like(total)
        return torch.stack([aligned, opposing, total, change, zero] * 2, 1).double()


class _LoraGroup:
    """LoRA modules with the same (m, n, r), dtype and device: both spaces measured, one modulated.

    Snapshot and proposal share two buffers, left = [δB | B] [P, m, 2r] and right = [A ; δA] [P, 2r, n],
    so the layer-space algebra (lora.LayerStack) is a few batched matmuls on them."""

    def __init__(self, units: Sequence[LoraUnit], space: str) -> None:
        u0 = units[0]
        m, n, r = check_lora_shapes(u0.name, u0.a, u0.b)
        compute = torch.promote_types(u0.a.dtype, torch.float32)
        device, p = u0.a.device, len(units)
        self.units, self.space = list(units), space
        self.left = torch.empty(p, m, 2 * r, dtype=compute, device=device)
        self.right = torch.empty(p, 2 * r, n, dtype=compute, device=device)
        names = [u.name for u in units]
        self.a = _Tensors(
            [u.a for u in units], [f"{x} (lora_A)" for x in names], self.right[:, :r], self.right[:, r:]
        )
        self.b = _Tensors(
            [u.b for u in units], [f"{x} (lora_B)" for x in names], self.left[:, :, r:], self.left[:, :, :r]
        )
        self.layer = LayerStack([u.layer for u in units], (m, n), [u.scale for u in units], compute, device)
        self.fa = _stack([u.factor_a for u in units], u0.a.shape, compute, device)
        self.fb = _stack([u.factor_b for u in units], u0.b.shape, compute, device)
        self.x = torch.empty(p, m, r, dtype=compute, device=device)  # correction onto δB
        self.y = torch.empty(p, r, n, dtype=compute, device=device)  # correction onto δA
        self.x_rows, self.y_rows = list(self.x.unbind(0)), list(self.y.unbind(0))
        k_factor = [_rank(u.factor_a) + _rank(u.factor_b) for u in units]
        with torch.no_grad():
            b = torch.stack([u.b.detach() for u in units]).to(compute)
            a = torch.stack([u.a.detach() for u in units]).to(compute)
            step_chance = self.layer.random_step_fraction(b, a).cpu()
        self.chance = {
            "layer": torch.tensor([_rank(u.layer) / (m * n) for u in units], dtype=torch.float64),
            "factor": torch.tensor([k / (r * (m + n)) for k in k_factor], dtype=torch.float64),
            "step": step_chance,
        }

    @property
    def names(self) -> list[str]:
        return [u.name for u in self.units]

    def tensors(self) -> list[_Tensors]:
        return [self.a, self.b]

    def step(self, spec: DacspSpec) -> Tensor | str:
        """Modulate in place; returns the [P, telemetry.ROW] numbers, or the name of a non-finite unit."""
        da, db = self.a.proposal(), self.b.proposal()
        layer = self.layer.decompose(self.left, self.right)
        c_a, c_b = self.fa.coefficients(da), self.fb.coefficients(db)
        bad = ~(torch.isfinite(layer.c).all(1) & torch.isfinite(c_a).all(1) & torch.isfinite(c_b).all(1))
        if bad.any():
            return self.units[int(torch.nonzero(bad)[0, 0])].name
        l_al, l_op, _ = energies(layer.c, layer.energy.to(layer.c.dtype))
        e_a, e_b = (torch.linalg.vector_norm(d, dim=(1, 2)).square() for d in (da, db))
        f_al_a, f_op_a, _ = energies(c_a, e_a)
        f_al_b, f_op_b, _ = energies(c_b, e_b)
        if self.space == "layer":
            g = correction_weights(layer.c, spec)
            done = self.layer.correction(layer, g, self.left, self.right, self.x, self.y)
            layer_change, residual, factor_change = done.applied, done.residual, done.factor
        else:
            g_a, g_b = correction_weights(c_a, spec), correction_weights(c_b, spec)
            self.fa.combine(g_a, out=self.y.view(len(self.units), -1))
            self.fb.combine(g_b, out=self.x.view(len(self.units), -1))
            layer_change = self.layer.applied_energy(layer, self.left, self.right, self.x, self.y)
            factor_change = (g_a.square().sum(1) + g_b.square().sum(1)).double()
            residual = torch.zeros_like(layer_change)  # factor space: modulated exactly
        torch._foreach_add_(self.b.live, self.x_rows)
        torch._foreach_add_(self.a.live, self.y_rows)
        rows = [l_al, l_op, layer.energy, layer_change, residual]
        rows += [f_al_a + f_al_b, f_op_a + f_op_b, e_a + e_b, factor_change, torch.zeros_like(residual)]
        return torch.stack([x.double() for x in rows], 1)


def _groups(
    plain: Mapping[Parameter, Basis], names: Mapping[Parameter, str], lora: Sequence[LoraUnit], space: str
) -> list[_PlainGroup | _LoraGroup]:
    by_key: dict[tuple, list[Parameter]] = {}
    for p, basis in plain.items():
        if basis.shape != p.shape:
            raise ValueError(
                f"basis for parameter {names[p]!r} has shape {tuple(basis.shape)}, parameter has {tuple(p.shape)}"
            )
        by_key.setdefault((type(basis), p.shape, p.dtype, p.device), []).append(p)
    groups: list[_PlainGroup | _LoraGroup] = [
        _PlainGroup(params, [names[p] for p in params], [plain[p] for p in params])
        for params in by_key.values()
    ]
    by_shape: dict[tuple, list[LoraUnit]] = {}
    for unit in lora:
        m, n, r = check_lora_shapes(unit.name, unit.a, unit.b)
        for label, basis, shape in (
            ("layer", unit.layer, (m, n)),
            ("lora_A", unit.factor_a, tuple(unit.a.shape)),
            ("lora_B", unit.factor_b, tuple(unit.b.shape)),
        ):
            if basis is not None and tuple(basis.shape) != shape:
                raise ValueError(
                    f"LoRA module {unit.name!r}: {label} basis has shape {tuple(basis.shape)}, expected {shape}"
                )
        kinds = tuple(type(b).__name__ for b in (unit.factor_a, unit.factor_b) if b is not None)
        key = (m, n, r, unit.a.dtype, unit.a.device, kinds[:1])
        by_shape.setdefault(key, []).append(unit)
    groups += [_LoraGroup(units, space) for units in by_shape.values()]
    return groups


class DacspHandle:
    """Returned by ``attach_dacsp``; ``remove()`` restores the plain optimizer."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, groups: list[_PlainGroup | _LoraGroup], spec: DacspSpec
    ) -> None:
        self.optimizer, self.groups, self.spec = optimizer, groups, spec
        self.names = [n for g in groups for n in g.names]
        self.chance = {
            key: torch.cat([g.chance[key] for g in groups]).tolist() if groups else []
            for key in ("layer", "factor", "step")
        }
        self._telemetry: list[dict] = []
        self._pending: list[Tensor] = []  # per step: [units, ROW] numbers not yet turned into dicts
        self._hooks = []
        if groups:
            self._hooks = [
                optimizer.register_step_pre_hook(self._snapshot),
                optimizer.register_step_post_hook(self._modulate),
            ]

    @property
    def telemetry(self) -> list[dict]:
        """One dict per step so far; built lazily on read."""
        if self._pending:
            for rows in torch.stack(self._pending).tolist():  # one transfer for all pending steps
                step = len(self._telemetry) + 1
                self._telemetry.append(
                    telemetry.step_record(step, self.spec.space, self.names, rows, self.chance)
                )
            self._pending.clear()
        return self._telemetry

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    @torch.no_grad()
    def _snapshot(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        stepped = {id(p) for group in optimizer.param_groups for p in group["params"]}
        for g in self.groups:
            for t in g.tensors():
                t.check(stepped)
                t.snapshot()

    @torch.no_grad()
    def _modulate(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        rows = []
        for g in self.groups:
            out = g.step(self.spec)
            if isinstance(out, str):
                self._restore()
                raise FloatingPointError(
                    f"optimizer proposed a non-finite update for {out!r}; DACSP restored the pre-step weights"
                )
            rows.append(out)
        self._pending.append(torch.cat(rows))

    def _restore(self) -> None:
        for g in self.groups:
            for t in g.tensors():
                t.restore()


def attach_dacsp(
    optimizer: torch.optim.Optimizer,
    bases: Mapping[Parameter, Basis],
    spec: DacspSpec,
    names: Mapping[Parameter, str] | None = None,
    lora: Sequence[LoraUnit] = (),
) -> DacspHandle:
    """Modulate every step of ``optimizer``: the plain tensors in ``bases`` on themselves, the LoRA
    modules in ``lora`` in ``spec.space`` (layer: the module's weight; factor: A and B as plain
    tensors). Other parameters are untouched.

    ``names`` labels the plain tensors in telemetry (default: ``param<i>`` in ``bases`` order).
    """
    names = dict(names) if names is not None else {p: f"param{i}" for i, p in enumerate(bases)}
    stepped = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for p in bases:
        if p not in names:
            raise ValueError("every parameter in bases needs a name when names is given")
    labelled = [(names[p], p) for p in bases]
    labelled += [(f"{u.name} (lora_{w})", getattr(u, w.lower())) for u in lora for w in ("A", "B")]
    for name, p in labelled:
        if id(p) not in stepped:
            raise ValueError(f"parameter {name!r} has a basis but is not updated by the optimizer")
    return DacspHandle(optimizer, _groups(bases, names, lora, spec.space), spec)
