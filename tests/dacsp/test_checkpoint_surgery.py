"""Appendix C checkpoint surgery (the Ret. Gain metric: tests/experiments/test_paper_numbers.py)."""

from __future__ import annotations

import pytest
import torch

from care_rl.dacsp.checkpoint_surgery import EDITS, edit_checkpoint, edit_energy, energy_held, random_factors


def states(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    base = {
        "w": torch.randn(8, 6, generator=g, dtype=torch.float64),
        "b": torch.randn(6, generator=g, dtype=torch.float64),
        "steps": torch.tensor(3),
    }
    low = torch.randn(8, 2, generator=g, dtype=torch.float64) @ torch.randn(
        2, 6, generator=g, dtype=torch.float64
    )
    ft = {
        "w": base["w"] + low + 0.01 * torch.randn(8, 6, generator=g, dtype=torch.float64),
        "b": base["b"] + 0.1,
        "steps": torch.tensor(3),
    }
    return base, ft


@pytest.mark.parametrize("kind", ["top", "random"])
def test_keep_plus_remove_reconstructs_full_update(kind) -> None:
    base, ft = states()
    keep = edit_checkpoint(base, ft, f"keep_{kind}", tau=0.9, seed=1)
    remove = edit_checkpoint(base, ft, f"remove_{kind}", tau=0.9, seed=1)
    for name in ("w", "b"):
        assert torch.allclose(keep[name] + remove[name] - base[name], ft[name], atol=1e-12)
    assert torch.equal(keep["steps"], ft["steps"])


def test_top_subspace_is_truncated_svd_and_random_is_equal_rank_and_seeded() -> None:
    base, ft = states()
    delta = ft["w"] - base["w"]
    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    top = edit_checkpoint(base, ft, "keep_top", tau=0.9)["w"] - base["w"]
    k = int(torch.linalg.matrix_rank(top))
    assert torch.allclose(top, (u[:, :k] * s[:k]) @ vh[:k], atol=1e-12)
    rand = edit_checkpoint(base, ft, "keep_random", tau=0.9, seed=5)["w"] - base["w"]
    assert int(torch.linalg.matrix_rank(rand)) == k
    assert torch.equal(rand, edit_checkpoint(base, ft, "keep_random", tau=0.9, seed=5)["w"] - base["w"])
    assert not torch.equal(rand, edit_checkpoint(base, ft, "keep_random", tau=0.9, seed=6)["w"] - base["w"])
    assert top.norm() > 5 * rand.norm()  # the low-rank update lives in its top subspace


def test_bad_inputs_raise() -> None:
    base, ft = states()
    with pytest.raises(ValueError, match="unknown surgery edit"):
        edit_checkpoint(base, ft, "keep_all", tau=0.9)


def lora_states(seed: int = 0, m: int = 9, n: int = 7, r: int = 3):
    """A fresh PEFT-style adapter (B = 0) and a trained one, plus a plain tensor, keyed as PEFT saves."""
    g = torch.Generator().manual_seed(seed)
    a0 = torch.randn(r, n, generator=g, dtype=torch.float64) / n**0.5
    base = {
        "m.q.lora_A.weight": a0,
        "m.q.lora_B.weight": torch.zeros(m, r, dtype=torch.float64),
        "m.norm.weight": torch.ones(n, dtype=torch.float64),
    }
    ft = {
        "m.q.lora_A.weight": a0 + 0.05 * torch.randn(r, n, generator=g, dtype=torch.float64),
        "m.q.lora_B.weight": torch.randn(m, r, generator=g, dtype=torch.float64)
        * torch.tensor([1.0, 0.3, 0.1]),
        "m.norm.weight": base["m.norm.weight"] + 0.1 * torch.randn(n, generator=g, dtype=torch.float64),
    }
    return base, ft


def product(state) -> torch.Tensor:
    return state["m.q.lora_B.weight"] @ state["m.q.lora_A.weight"]


@pytest.mark.parametrize("edit", EDITS)
def test_layer_space_edits_act_on_the_module_weight(edit) -> None:
    """The edited adapter's B_e A_e equals B_0 A_0 + edit(ΔW) computed on the materialised m x n update."""
    base, ft = lora_states()
    delta = product(ft) - product(base)
    out = edit_checkpoint(base, ft, edit, tau=0.9, seed=3)
    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    k = 1 + int((torch.cumsum(s**2, 0) / (s**2).sum() < 0.9).sum())
    if edit.endswith("top"):
        basis_u, basis_v = u[:, :k], vh[:k].T
    else:
        g = torch.Generator().manual_seed(3)
        random_factors(7, 1, 1, g)  # layers draw in sorted order: "m.norm.weight" comes first
        basis_u, basis_v = random_factors(9, 7, k, g)
    part = sum(
        (basis_u[:, i] @ delta @ basis_v[:, i]) * torch.outer(basis_u[:, i], basis_v[:, i]) for i in range(k)
    )
    expected = part if edit.startswith("keep") else delta - part
    assert torch.allclose(product(out) - product(base), expected, atol=1e-12)
    r_e = out["m.q.lora_A.weight"].shape[0]
    assert out["m.q.lora_B.weight"].shape == (9, r_e)
    assert r_e == (3 + k if edit == "remove_random" else 3)  # rank r + k does not fit in r
    assert torch.allclose(  # a tensor that is not a LoRA factor is edited as itself
        out["m.norm.weight"],
        edit_checkpoint(base, ft, edit, tau=0.9, seed=3, space="factor")["m.norm.weight"],
    )


def test_layer_space_keep_plus_remove_is_the_full_update_and_rank_fixes_k() -> None:
    base, ft = lora_states(seed=1)
    full = product(ft) - product(base)
    for kind in ("top", "random"):
        keep = edit_checkpoint(base, ft, f"keep_{kind}", tau=0.9, seed=2, rank=2)
        remove = edit_checkpoint(base, ft, f"remove_{kind}", tau=0.9, seed=2, rank=2)
        assert torch.allclose(product(keep) + product(remove) - 2 * product(base), full, atol=1e-12)
        assert int(torch.linalg.matrix_rank(product(keep) - product(base))) == 2


def test_energy_held_top_meets_tau_and_random_is_k_over_d() -> None:
    base, ft = lora_states(seed=4)
    delta = product(ft) - product(base)
    s2 = torch.linalg.svdvals(delta).square()
    norm = ft["m.norm.weight"] - base["m.norm.weight"]
    total = float(s2.sum() + norm.square().sum())
    held = energy_held(base, ft, [1, 2, 3])
    for k in (1, 2, 3):  # the 1-D norm has one direction: any k >= 1 holds all of it
        assert held[k]["top"] == pytest.approx((float(s2[:k].sum()) + float(norm.square().sum())) / total)
        expected_random = (k / 63 * float(s2.sum()) + float(norm.square().sum()) / 7) / total
        assert held[k]["random"] == pytest.approx(expected_random)
    k_tau = 1 + int((torch.cumsum(s2, 0) / s2.sum() < 0.9).sum())
    top_only = float(s2[:k_tau].sum() / s2.sum())
    assert top_only >= 0.9  # by construction of the energy rule
    g = torch.Generator().manual_seed(0)  # and a random equal-rank subspace holds ~K/D, also by construction
    draws = []
    for _ in range(200):
        u, v = random_factors(9, 7, k_tau, g)
        draws.append(float(((u.T @ delta @ v).diagonal() ** 2).sum() / s2.sum()))
    assert sum(draws) / len(draws) == pytest.approx(k_tau / 63, rel=0.25)


@pytest.mark.parametrize("rank", [None, 1, 2])
def test_edit_energy_is_the_energy_the_edited_update_keeps(rank) -> None:
    """Measured on edit_checkpoint's output: ‖edited ΔW‖² / ‖ΔW‖² over the LoRA module and the plain
    tensor equals edit_energy for the top edits (orthogonal projections), and keep + remove = 1."""
    base, ft = lora_states(seed=5)

    def energy(state) -> float:
        module = float((product(state) - product(base)).square().sum())
        return module + float((state["m.norm.weight"] - base["m.norm.weight"]).square().sum())

    full = energy(ft)
    for edit in EDITS:
        held = edit_energy(base, ft, edit, tau=0.9, rank=rank)
        if edit.endswith("top"):
            assert held == pytest.approx(energy(edit_checkpoint(base, ft, edit, 0.9, rank=rank)) / full)
        other = {"keep": "remove", "remove": "keep"}[edit.split("_")[0]] + "_" + edit.split("_")[1]
        assert held + edit_energy(base, ft, other, tau=0.9, rank=rank) == pytest.approx(1.0)  # type: ignore[arg-type]
    if rank is not None:
        assert edit_energy(base, ft, "keep_top", 0.9, rank=rank) == pytest.approx(
            energy_held(base, ft, [rank])[rank]["top"]
        )
        assert edit_energy(base, ft, "keep_random", 0.9, rank=rank) == pytest.approx(
            energy_held(base, ft, [rank])[rank]["random"]
        )
    else:  # the energy rule holds at least tau of every layer's energy, so of the whole
        assert edit_energy(base, ft, "keep_top", 0.9) >= 0.9
    with pytest.raises(ValueError, match="unknown surgery edit 'keep_all'"):
        edit_energy(base, ft, "keep_all", 0.9)  # type: ignore[arg-type]
