"""DACSP telemetry: does the modulation do anything? Energy fractions against chance, in both spaces.

Per step and per module the hook records, in the layer space (the module's weight W) and in the factor
space (its trainable tensors), for the update the optimizer proposed:
  aligned / opposing   fraction of its energy along +Q_k / -Q_k (Σ_{c>0} c² and Σ_{c<0} c² over ‖·‖²),
  orthogonal           the rest,
  energy               ‖·‖² itself,
  change               ‖applied - proposed‖ / ‖proposed‖: how much DACSP changed the update there,
  residual             (active space only) ‖applied - ΔW'‖ / ‖proposed‖, ΔW' the paper's target; zero
                       except for layer-space LoRA, where it is the part no rank-r change can make,
  chance               K / D: the expected aligned + opposing fraction of an isotropic random update of
                       the space (K basis directions in a D-dimensional space),
  chance_step          (layer space) the same expectation for an isotropic random step of the
                       trainable parameters, the null that matches how LoRA can move W (lora.py).
Totals add energies over modules; a total chance level is the energy-weighted mean of the modules'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SPACES = ("layer", "factor")
# one float per module and step: per space aligned, opposing, energy, change², residual² (absolute)
FIELDS = ("aligned", "opposing", "energy", "change", "residual")
ROW = len(SPACES) * len(FIELDS)


def chance_level(rank: int, dim: int) -> float:
    """K / D: expected fraction of a random update's energy inside a K-dimensional subspace of R^D."""
    if dim <= 0 or not 0 <= rank <= dim:
        raise ValueError(f"need 0 <= K <= D and D > 0, got K={rank}, D={dim}")
    return rank / dim


def chance_levels(bank: Any) -> dict[str, dict[str, float]]:
    """K / D per module of a BasisBank, in both spaces: a LoRA module's layer space is its m x n weight,
    its factor space its A and B together; a plain tensor is its own layer and factor space."""
    from care_rl.dacsp.lora import lora_pairs

    pairs = lora_pairs(bank.bases)
    paired = {name for pair in pairs.values() for name in pair}
    out: dict[str, dict[str, float]] = {"layer": {}, "factor": {}}
    for module, (a_name, b_name) in pairs.items():
        a, b = bank.bases.get(a_name), bank.bases.get(b_name)
        layer = bank.layer_bases.get(module)
        shape_a = a.shape if a is not None else None
        shape_b = b.shape if b is not None else None
        if layer is not None:
            m, n = layer.shape
            out["layer"][module] = chance_level(layer.rank, m * n)
        if shape_a is not None and shape_b is not None:
            dim = math.prod(shape_a) + math.prod(shape_b)
            out["factor"][module] = chance_level(a.rank + b.rank, dim)
    for name, basis in bank.bases.items():
        if name not in paired:
            level = chance_level(basis.rank, math.prod(basis.shape))
            out["layer"][name] = out["factor"][name] = level
    return out


def _entry(row: Sequence[float], chance: float, chance_step: float | None, active: bool) -> dict[str, float]:
    aligned, opposing, energy, change_sq, residual_sq = row
    scale = 1.0 / energy if energy > 0 else 0.0
    entry = {
        "aligned": aligned * scale,
        "opposing": opposing * scale,
        "orthogonal": max(energy - aligned - opposing, 0.0) * scale,
        "energy": energy,
        "change": math.sqrt(max(change_sq, 0.0) * scale),
        "chance": chance,
    }
    if chance_step is not None:
        entry["chance_step"] = chance_step
    if active:
        entry["residual"] = math.sqrt(max(residual_sq, 0.0) * scale)
    return entry


def step_record(
    step: int,
    space: str,
    names: Sequence[str],
    rows: Sequence[Sequence[float]],
    chance: Mapping[str, Sequence[float]],
) -> dict[str, Any]:
    """The telemetry dict of one step from its [modules, ROW] numbers (module order = ``names``)."""
    record: dict[str, Any] = {"step": step, "space": space}
    for s, label in enumerate(SPACES):
        lo = s * len(FIELDS)
        cols = [row[lo : lo + len(FIELDS)] for row in rows]
        levels = chance[label]
        steps = chance["step"] if label == "layer" else None
        modules = {
            name: _entry(col, levels[i], steps[i] if steps is not None else None, label == space)
            for i, (name, col) in enumerate(zip(names, cols, strict=True))
        }
        totals = [sum(col[f] for col in cols) for f in range(len(FIELDS))]
        energy = totals[2]
        weights = [col[2] / energy if energy > 0 else 0.0 for col in cols]
        total_chance = sum(w * c for w, c in zip(weights, levels, strict=True))
        total_step = sum(w * c for w, c in zip(weights, steps, strict=True)) if steps is not None else None
        record[label] = {
            "total": _entry(totals, total_chance, total_step, label == space),
            "modules": modules,
        }
    return record
