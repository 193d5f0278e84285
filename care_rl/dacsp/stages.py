"""Stage bookkeeping: task vectors -> capability directions -> historical bases, in both spaces.

Every stage adds its directions to two sets of bases, so that either space can be modulated later and
both can be measured:
  * factor space, ``bases``: one basis per named trainable tensor (each LoRA factor on its own, and
    every plain tensor, e.g. in full-parameter training);
  * layer space, ``layer_bases``: one basis per LoRA module, of the change of its weight
    W = W_0 + s·B·A (lora.py), found by pairing ``<module>.lora_A…weight`` with ``<module>.lora_B…``.
A plain tensor's layer space is the tensor itself: its basis is the factor-space one.
Before/after state dicts are keyed by parameter name; PEFT adapter state dicts
(``get_peft_model_state_dict``, adapter name stripped from keys) bind too, see ``BasisBank.resolve``.

``BasisBank.save`` writes one safetensors file atomically (tmp + os.replace) holding every basis's
source directions (or factors) plus JSON metadata; ``load`` rebuilds the bases deterministically, so
a loaded bank equals the saved one. Banks of format 1 (factor space only) are refused: the layer-space
directions of their stages cannot be recovered from the bank.

A bank is bound to the base model its directions were extracted on (``model``, an identity string such
as ``ModelSpec.identity()``): capability directions are coordinates of one checkpoint's weight space and
do not carry over to another checkpoint, even one of the same shape, so ``check_model`` refuses them
and the directions must be recomputed by training the stages on the new model.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from care_rl.config import DacspSpec
from care_rl.dacsp.basis import DEFAULT_TOL, Basis, HistoricalBasis
from care_rl.dacsp.directions import capability_directions, capability_factors
from care_rl.dacsp.factored import FactoredBasis
from care_rl.dacsp.hook import DacspHandle, attach_dacsp
from care_rl.dacsp.lora import LoraUnit, check_lora_shapes, lora_directions, lora_pairs

Backend = Literal["materialized", "factored"]
FORMAT = "care-rl-dacsp-bank/2"


def task_vectors(before: Mapping[str, Tensor], after: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """τ_l = W_after - W_before per layer name (float64); both state dicts must have the same keys/shapes."""
    missing, extra = sorted(set(before) - set(after)), sorted(set(after) - set(before))
    if missing or extra:
        raise ValueError(f"state dicts differ: only before {missing[:5]}, only after {extra[:5]}")
    out = {}
    for name in sorted(before):
        a, b = before[name], after[name]
        if a.shape != b.shape:
            raise ValueError(
                f"layer {name!r}: shape {tuple(a.shape)} before the stage, {tuple(b.shape)} after"
            )
        if torch.is_floating_point(a):
            out[name] = b.detach().to(torch.float64) - a.detach().to(torch.float64)
    return out


class BasisBank:
    """name -> historical basis, grown one stage at a time."""

    def __init__(
        self, backend: Backend = "materialized", tol: float = DEFAULT_TOL, model: str | None = None
    ) -> None:
        if backend not in ("materialized", "factored"):
            raise ValueError(f"unknown DACSP backend {backend!r}; expected 'materialized' or 'factored'")
        self.backend, self.tol, self.model = backend, tol, model
        self.bases: dict[str, Basis] = {}  # factor space: trainable tensor name -> basis
        self.layer_bases: dict[str, FactoredBasis] = {}  # layer space: LoRA module name -> basis of ΔW

    def check_model(self, model: str, source: str | Path = "bank") -> None:
        """Raise if the bank was extracted on another base model (a bank without a model is unbound:
        banks written before the field existed)."""
        if self.model is not None and self.model != model:
            raise ValueError(
                f"{source}: DACSP directions were extracted on model {self.model!r}, this run's model is "
                f"{model!r}; directions do not transfer between checkpoints, re-train the stages on it"
            )

    def __len__(self) -> int:
        return len(self.bases) + len(self.layer_bases)

    def add_stage(
        self, before: Mapping[str, Tensor], after: Mapping[str, Tensor], tau: float
    ) -> dict[str, dict[str, int]]:
        """Extend every basis with the stage's directions; returns the directions added per tensor
        (``factor``) and per LoRA module (``layer``)."""
        added: dict[str, dict[str, int]] = {"factor": {}, "layer": {}}
        for name, delta in task_vectors(before, after).items():
            try:
                added["factor"][name] = self._add_layer(name, delta, tau)
            except ValueError as e:
                raise ValueError(f"layer {name!r}: {e}") from e
        for module, (a, b) in lora_pairs(before).items():
            try:
                added["layer"][module] = self._add_module(
                    module, before[b], before[a], after[b], after[a], tau
                )
            except ValueError as e:
                raise ValueError(f"LoRA module {module!r}: {e}") from e
        return added

    def _add_module(self, module: str, b0: Tensor, a0: Tensor, b1: Tensor, a1: Tensor, tau: float) -> int:
        m, n, _ = check_lora_shapes(module, a0, b0)
        u, v = lora_directions(b0, a0, b1, a1, tau)
        old = self.layer_bases.get(module)
        if old is not None and tuple(old.shape) != (m, n):
            raise ValueError(f"weight shape {(m, n)} differs from basis shape {tuple(old.shape)}")
        if u.shape[1]:
            self.layer_bases[module] = (
                old.extend_factors(u, v)
                if old is not None
                else FactoredBasis.from_factors(u, v, (m, n), self.tol)
            )
        return u.shape[1]

    def _add_layer(self, name: str, delta: Tensor, tau: float) -> int:
        old = self.bases.get(name)
        if old is not None and old.shape != delta.shape:
            raise ValueError(
                f"task vector shape {tuple(delta.shape)} differs from basis shape {tuple(old.shape)}"
            )
        if self.backend == "factored":
            u, v = capability_factors(delta, tau)
            if u.shape[1]:
                self.bases[name] = (
                    old.extend_factors(u, v)
                    if old is not None
                    else FactoredBasis.from_factors(u, v, delta.shape, self.tol)
                )
            return u.shape[1]
        directions = capability_directions(delta, tau)
        if directions:
            self.bases[name] = (
                old.extend(directions)
                if old is not None
                else HistoricalBasis.from_directions(directions, self.tol)
            )
        return len(directions)

    def save(self, path: str | Path) -> None:
        """One safetensors file (sources per layer + JSON metadata), written atomically."""
        path = Path(path)
        tensors, layers = {}, []
        for i, (name, basis) in enumerate(sorted(self.bases.items())):
            layers.append({"name": name, "shape": list(basis.shape)})
            if isinstance(basis, FactoredBasis):
                tensors[f"{i}.u"], tensors[f"{i}.v"] = basis.u.contiguous(), basis.v.contiguous()
            else:
                tensors[f"{i}.sources"] = basis.sources.contiguous()
        modules = []
        for i, (name, basis) in enumerate(sorted(self.layer_bases.items())):
            modules.append({"name": name, "shape": list(basis.shape)})
            tensors[f"module{i}.u"], tensors[f"module{i}.v"] = basis.u.contiguous(), basis.v.contiguous()
        meta = {
            "format": FORMAT,
            "backend": self.backend,
            "tol": self.tol,
            "model": self.model,
            "layers": layers,
            "modules": modules,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"dacsp": json.dumps(meta)})
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: str | Path) -> BasisBank:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: DACSP basis bank not found")
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("dacsp")
        meta = json.loads(raw) if raw else {}
        if meta.get("format") == "care-rl-dacsp-bank/1":
            raise ValueError(
                f"{path}: DACSP bank of format 1 (factor space only, written before layer-space DACSP); "
                "the layer-space directions of its stages are not in it: delete the stage directory that "
                "holds it so the stage is trained again"
            )
        if meta.get("format") != FORMAT:
            raise ValueError(
                f"{path}: not a DACSP basis bank (format {meta.get('format')!r}, expected {FORMAT!r})"
            )
        tensors = load_file(str(path))
        bank = cls(meta["backend"], meta["tol"], meta.get("model"))
        for i, layer in enumerate(meta["layers"]):
            if bank.backend == "factored":
                basis = FactoredBasis.from_factors(
                    tensors[f"{i}.u"], tensors[f"{i}.v"], layer["shape"], bank.tol
                )
            else:
                basis = HistoricalBasis.from_directions(list(tensors[f"{i}.sources"]), bank.tol)
            bank.bases[layer["name"]] = basis
        for i, module in enumerate(meta["modules"]):
            bank.layer_bases[module["name"]] = FactoredBasis.from_factors(
                tensors[f"module{i}.u"], tensors[f"module{i}.v"], module["shape"], bank.tol
            )
        return bank

    def resolve(self, model: nn.Module, adapter_name: str = "default") -> dict[str, nn.Parameter]:
        """Factor-space name -> model parameter; a name matches exactly or with PEFT's ``.<adapter>.``
        removed."""
        params = dict(model.named_parameters())
        aliases = {n.replace(f".{adapter_name}.", "."): p for n, p in params.items()}
        out = {}
        for name in self.bases:
            p = params.get(name, aliases.get(name))
            if p is None:
                raise KeyError(
                    f"DACSP basis {name!r} matches no parameter of {type(model).__name__} "
                    f"(e.g. {list(params)[:3]})"
                )
            out[name] = p
        return out

    def bind(self, model: nn.Module, adapter_name: str = "default") -> dict[nn.Parameter, Basis]:
        """Parameter -> factor-space basis."""
        return {p: self.bases[name] for name, p in self.resolve(model, adapter_name).items()}

    def units(
        self, model: nn.Module, adapter_name: str = "default"
    ) -> tuple[dict[nn.Parameter, Basis], dict[nn.Parameter, str], list[LoraUnit]]:
        """What attach_dacsp takes: the plain tensors (parameter -> basis, parameter -> name) and the LoRA
        modules (both spaces; s from the module's PEFT ``scaling``, 1 without one)."""
        params = dict(model.named_parameters())
        pairs = lora_pairs(params)
        resolved = self.resolve(model, adapter_name)
        by_param = {id(p): name for name, p in resolved.items()}
        unknown = sorted(set(self.layer_bases) - set(pairs))
        if unknown:
            raise KeyError(
                f"DACSP layer basis {unknown[0]!r} matches no LoRA module of {type(model).__name__} "
                f"(e.g. {list(pairs)[:3]})"
            )
        lora, paired = [], set()
        for module, (a_name, b_name) in pairs.items():
            a, b = params[a_name], params[b_name]
            factor_a = self.bases.get(by_param.get(id(a), ""))
            factor_b = self.bases.get(by_param.get(id(b), ""))
            layer = self.layer_bases.get(module)
            if layer is None and factor_a is None and factor_b is None:
                continue
            paired |= {id(a), id(b)}
            scaling = getattr(model.get_submodule(module), "scaling", {})
            scale = float(scaling.get(adapter_name, 1.0)) if isinstance(scaling, dict) else 1.0
            lora.append(LoraUnit(module, a, b, scale, layer, factor_a, factor_b))
        plain = {p: self.bases[name] for name, p in resolved.items() if id(p) not in paired}
        names = {p: name for name, p in resolved.items() if id(p) not in paired}
        return plain, names, lora

    def attach(
        self,
        optimizer: torch.optim.Optimizer,
        model: nn.Module,
        spec: DacspSpec,
        adapter_name: str = "default",
    ) -> DacspHandle:
        """Bind by name and attach DACSP to ``optimizer`` in ``spec.space``; telemetry is labelled with
        LoRA module names and the bank's tensor names."""
        plain, names, lora = self.units(model, adapter_name)
        return attach_dacsp(optimizer, plain, spec, names=names, lora=lora)
