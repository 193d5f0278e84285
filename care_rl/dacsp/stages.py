"""Stage bookkeeping: task vectors -> capability directions -> one historical basis per layer.

A "layer" is one named trainable tensor. With LoRA that is each factor matrix (lora_A and lora_B
separately), not the merged product B·A: the optimizer changes A and B, so a modulated update must
live in (A, B) space to stay exactly representable, and "the update the optimizer proposes" is
exactly the pair (ΔA, ΔB). A merged-product basis would describe changes the trainable parameters
cannot make. Before/after state dicts are therefore keyed by parameter name; PEFT adapter state dicts
(``get_peft_model_state_dict``, adapter name stripped from keys) bind too, see ``BasisBank.bind``.

``BasisBank.save`` writes one safetensors file atomically (tmp + os.replace) holding every layer's
source directions (or factors) plus JSON metadata; ``load`` rebuilds the bases deterministically, so
a loaded bank equals the saved one.

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

Backend = Literal["materialized", "factored"]
FORMAT = "care-rl-dacsp-bank/1"


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
        self.bases: dict[str, Basis] = {}

    def check_model(self, model: str, source: str | Path = "bank") -> None:
        """Raise if the bank was extracted on another base model (a bank without a model is unbound:
        banks written before the field existed)."""
        if self.model is not None and self.model != model:
            raise ValueError(
                f"{source}: DACSP directions were extracted on model {self.model!r}, this run's model is "
                f"{model!r}; directions do not transfer between checkpoints, re-train the stages on it"
            )

    def __len__(self) -> int:
        return len(self.bases)

    def add_stage(
        self, before: Mapping[str, Tensor], after: Mapping[str, Tensor], tau: float
    ) -> dict[str, int]:
        """Extend every layer's basis with the stage's directions; returns directions added per layer."""
        added = {}
        for name, delta in task_vectors(before, after).items():
            try:
                added[name] = self._add_layer(name, delta, tau)
            except ValueError as e:
                raise ValueError(f"layer {name!r}: {e}") from e
        return added

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
        meta = {
            "format": FORMAT,
            "backend": self.backend,
            "tol": self.tol,
            "model": self.model,
            "layers": layers,
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
        return bank

    def resolve(self, model: nn.Module, adapter_name: str = "default") -> dict[str, nn.Parameter]:
        """Bank name -> model parameter; a name matches exactly or with PEFT's ``.<adapter>.`` removed."""
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
        """Parameter -> basis, the mapping attach_dacsp takes."""
        return {p: self.bases[name] for name, p in self.resolve(model, adapter_name).items()}

    def attach(
        self,
        optimizer: torch.optim.Optimizer,
        model: nn.Module,
        spec: DacspSpec,
        adapter_name: str = "default",
    ) -> DacspHandle:
        """Bind by name and attach DACSP to ``optimizer``; telemetry is labelled with bank names."""
        resolved = self.resolve(model, adapter_name)
        bases = {p: self.bases[name] for name, p in resolved.items()}
        return attach_dacsp(optimizer, bases, spec, names={p: n for n, p in resolved.items()})
