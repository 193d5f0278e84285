"""Appendix C checkpoint surgery (not MGS's gradient surgery): is the DACSP top subspace where a
stage's gain lives?

For every layer the single-domain update ΔW is split into its projection onto a k-dimensional subspace
spanned by Frobenius-orthonormal rank-one directions and the rest:  P(ΔW) = Σ_i ⟨ΔW, u_i v_iᵀ⟩ u_i v_iᵀ.
Removing the subspace is DACSP's own modulation at α = β = 0 (the hard projection ΔW - P(ΔW), through
``correction_weights``), keeping it is the difference. Four edits (Table 14):
  keep_top / remove_top        W_base + P_top(ΔW)  /  W_base + ΔW - P_top(ΔW)
  keep_random / remove_random  the same with a random subspace of equal rank k
P_top uses the DACSP directions (energy rule τ, or the top ``rank`` directions), for which
P_top(ΔW) = Σ_{i≤k} s_i u_i v_iᵀ. The random subspace (our choice; the paper only says "random
per-layer subspace with equal rank") is k rank-one directions ũ_i ṽ_iᵀ from random orthonormal
Ũ [m, k], Ṽ [n, k] (QR of Gaussians): the same kind of subspace as the top one, drawn from a
torch.Generator seeded once and consumed in sorted layer-name order, so an edit is reproducible from
its seed. keep + remove reconstructs the full update exactly (they are P and I - P).

What a layer is follows ``space`` (dacsp.space):
  * layer: a LoRA module's weight, ΔW = s(B_ft A_ft - B_0 A_0) (lora.py), handled as factors and
    never materialised; the edited product B_0 A_0 + edit(ΔW)/s is written back as LoRA factors of
    rank r_e = max(r, largest numerical rank of an edited product), zero-padded (remove_random has
    rank up to r + k, more than r): the adapter's r and lora_alpha change with it, s does not.
    s itself cancels: the edits act on B A. Tensors that are not LoRA factors are edited as themselves.
  * factor: every tensor (each LoRA factor on its own) edited as itself.

By construction (no evaluation involved): the top subspace holds ≥ τ of each layer's ‖ΔW‖² (the energy
rule), and a random subspace of rank k holds k/(mn) of it in expectation. ``energy_held`` reports both
per k, and ``edit_energy`` the share one edit keeps, to set next to the gain each edited checkpoint
retains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor

from care_rl.config import DacspSpec
from care_rl.dacsp.directions import energy_rank, matrix_view
from care_rl.dacsp.factored import FactoredBasis
from care_rl.dacsp.lora import check_lora_shapes, lora_pairs, low_rank_svd, update_factors
from care_rl.dacsp.modulate import correction_weights, modulate
from care_rl.dacsp.stages import task_vectors

Edit = Literal["keep_top", "remove_top", "keep_random", "remove_random"]
EDITS: tuple[str, ...] = ("keep_top", "remove_top", "keep_random", "remove_random")
HARD_PROJECTION = DacspSpec(alpha=0.0, beta=0.0)


class ZeroUpdateError(ValueError):
    """The fine-tuned state equals the base: there is no update whose energy a subspace could hold (a
    stage whose every step was skipped)."""


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


def edit_rank(s: Tensor, tau: float, rank: int | None) -> int:
    """How many directions an edit takes in a layer whose update has singular values ``s``: the energy
    rule at ``tau``, or ``rank`` capped at the layer's numerical rank."""
    return energy_rank(s, tau) if rank is None else min(rank, energy_rank(s, 1.0))


def _subspace(
    u: Tensor, s: Tensor, v: Tensor, edit: str, tau: float, rank: int | None, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """The k directions an edit acts on, from the SVD (u, s, v) of the layer's update."""
    k = edit_rank(s, tau, rank)
    if edit.endswith("random"):
        return random_factors(u.shape[0], v.shape[0], k, generator)
    return u[:, :k], v[:, :k]


def _edit_lora(
    b0: Tensor,
    a0: Tensor,
    b1: Tensor,
    a1: Tensor,
    edit: str,
    tau: float,
    rank: int | None,
    g: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Factors (B_e [m, ρ], A_e [ρ, n]) with B_e A_e = B_0 A_0 + edit(B_1 A_1 - B_0 A_0), ρ its rank."""
    left, right = update_factors(b0, a0, b1, a1)  # ΔW / s = left @ rightᵀ
    u, v = _subspace(*low_rank_svd(left, right), edit, tau, rank, g)
    if u.shape[1]:
        basis = FactoredBasis.from_factors(u, v, (left.shape[0], right.shape[0]))
        c = basis.coefficients_of_product(left, right)
        corr_left, corr_right = basis.combine_factors(correction_weights(c, HARD_PROJECTION))
    else:
        corr_left, corr_right = left[:, :0], right[:, :0]
    if edit.startswith("remove"):  # ΔW + Σ_k (0 - 1) c_k Q_k
        left, right = torch.cat([left, corr_left], 1), torch.cat([right, corr_right], 1)
    else:  # ΔW - removed = P(ΔW)
        left, right = -corr_left, corr_right
    u, s, v = low_rank_svd(torch.cat([b0, left], 1), torch.cat([a0.T, right], 1))
    rho = energy_rank(s, 1.0)  # the numerical rank: round-off singular values are not kept
    root = s[:rho].sqrt()
    return u[:, :rho] * root, (v[:, :rho] * root).T


def edit_checkpoint(
    base: Mapping[str, Tensor],
    finetuned: Mapping[str, Tensor],
    edit: Edit,
    tau: float,
    seed: int = 0,
    space: Literal["layer", "factor"] = "layer",
    rank: int | None = None,
) -> dict[str, Tensor]:
    """A state dict W_base + edited ΔW for every layer (``space``), in the base dtypes; ``rank`` fixes
    the number of top directions per layer instead of the energy rule (capped at the layer's rank).

    In layer space LoRA factors come back with rank r_e (module docstring); read it from the shapes."""
    if edit not in EDITS:
        raise ValueError(f"unknown surgery edit {edit!r}; expected one of {list(EDITS)}")
    if space not in ("layer", "factor"):
        raise ValueError(f"unknown DACSP space {space!r}; expected 'layer' or 'factor'")
    generator = torch.Generator().manual_seed(seed)
    deltas = task_vectors(base, finetuned)
    for name, delta in deltas.items():
        if not torch.isfinite(delta).all():
            raise ValueError(f"layer {name!r}: the update contains NaN or Inf")
    pairs = lora_pairs(deltas) if space == "layer" else {}
    paired = {name: module for module, names in pairs.items() for name in names}
    out = {name: t.clone() for name, t in finetuned.items()}
    factors: dict[str, tuple[Tensor, Tensor]] = {}
    for name in sorted({paired.get(n, n) for n in deltas}):  # layers in sorted order: seeded draws
        if name in pairs:
            a_name, b_name = pairs[name]
            check_lora_shapes(name, base[a_name], base[b_name])
            ab = [t[x].to(torch.float64) for x in (b_name, a_name) for t in (base, finetuned)]
            factors[name] = _edit_lora(ab[0], ab[2], ab[1], ab[3], edit, tau, rank, generator)
            continue
        delta = deltas[name]
        u, s, v = torch.linalg.svd(matrix_view(delta), full_matrices=False)
        u, v = _subspace(u, s, v.T, edit, tau, rank, generator)
        removed = remove_subspace(delta, u, v)
        kept = delta - removed if edit.startswith("keep") else removed
        out[name] = (base[name].to(torch.float64) + kept).to(base[name].dtype)
    if factors:
        r_e = max(
            [base[pairs[mod][0]].shape[0] for mod in factors] + [b.shape[1] for b, _ in factors.values()]
        )
        for module, (b, a) in factors.items():
            a_name, b_name = pairs[module]
            pad = r_e - b.shape[1]
            out[b_name] = torch.nn.functional.pad(b, (0, pad)).to(base[b_name].dtype)
            out[a_name] = torch.nn.functional.pad(a, (0, 0, 0, pad)).to(base[a_name].dtype)
    return out


def _spectra(
    base: Mapping[str, Tensor], finetuned: Mapping[str, Tensor], space: Literal["layer", "factor"]
) -> list[tuple[Tensor, int, int]]:
    """Per layer (``space``, as ``edit_checkpoint`` splits them): the singular values of its update,
    descending, and the layer's shape m, n. Refuses a zero update: it has no energy to hold."""
    deltas = task_vectors(base, finetuned)
    pairs = lora_pairs(deltas) if space == "layer" else {}
    paired = {name for names in pairs.values() for name in names}
    spectra = []
    for a_name, b_name in pairs.values():
        ab = [t[x].to(torch.float64) for x in (b_name, a_name) for t in (base, finetuned)]
        _, s, _ = low_rank_svd(*update_factors(ab[0], ab[2], ab[1], ab[3]))
        spectra.append((s, ab[0].shape[0], ab[2].shape[1]))
    for name, delta in deltas.items():
        if name not in paired:
            view = matrix_view(delta.to(torch.float64))
            spectra.append((torch.linalg.svdvals(view), *view.shape))
    if sum(float(s.square().sum()) for s, _, _ in spectra) == 0:
        raise ZeroUpdateError("the update is zero: no energy to hold")
    return spectra


def energy_held(
    base: Mapping[str, Tensor],
    finetuned: Mapping[str, Tensor],
    ranks: Sequence[int],
    space: Literal["layer", "factor"] = "layer",
) -> dict[int, dict[str, float]]:
    """For each k: the fraction of the update's energy Σ_layers ‖ΔW‖² that each layer's top-k directions
    hold (``top``), and that a random rank-k subspace holds in expectation, Σ k/(mn)‖ΔW‖² / Σ‖ΔW‖² (k
    capped at min(m, n))
    (``random``). Both are facts about the update, not about capability: the gain an edited checkpoint
    retains is the evidence to set beside them."""
    spectra = [(s.square(), m, n) for s, m, n in _spectra(base, finetuned, space)]
    total = sum(float(s.sum()) for s, _, _ in spectra)
    return {
        k: {
            "top": sum(float(s[:k].sum()) for s, _, _ in spectra) / total,
            "random": sum(min(k, m, n) / (m * n) * float(s.sum()) for s, m, n in spectra) / total,
        }
        for k in ranks
    }


def edit_energy(
    base: Mapping[str, Tensor],
    finetuned: Mapping[str, Tensor],
    edit: Edit | None,
    tau: float,
    space: Literal["layer", "factor"] = "layer",
    rank: int | None = None,
) -> float:
    """The fraction of the update's energy Σ_layers ‖ΔW‖² that ``edit_checkpoint`` with the same
    arguments keeps: keep_top the top directions' share (≥ τ under the energy rule), keep_random a
    random subspace's expected share k/(mn) per layer; the remove edits the rest (keep and remove are
    P and I - P, so their energies add up to the whole). ``edit`` None: the unedited update, all of it.
    A zero update has no energy to share out (ZeroUpdateError)."""
    if edit is not None and edit not in EDITS:
        raise ValueError(f"unknown surgery edit {edit!r}; expected one of {list(EDITS)}")
    spectra = _spectra(base, finetuned, space)
    if edit is None:
        return 1.0
    kept = total = 0.0
    for s, m, n in spectra:
        energy = s.square()
        k = edit_rank(s, tau, rank)
        kept += float(energy[:k].sum()) if edit.endswith("top") else k / (m * n) * float(energy.sum())
        total += float(energy.sum())
    return kept / total if edit.startswith("keep") else 1.0 - kept / total
