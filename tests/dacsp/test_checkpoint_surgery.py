"""Appendix C checkpoint surgery (the Ret. Gain metric: tests/experiments/test_paper_numbers.py)."""

from __future__ import annotations

import pytest
import torch

from care_rl.dacsp.checkpoint_surgery import edit_checkpoint


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
