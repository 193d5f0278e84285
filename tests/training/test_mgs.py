"""MGS: PCGrad on each parameter tensor (the official code's granularity), checked against hand-computed
projections."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from care_rl.training.mgs import NORM_SQ_EPS, gradient_surgery, transformer_module_of


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_two_domains_in_conflict_are_projected_to_orthogonal() -> None:
    g_a, g_b = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # <g_a, g_b> = -1
    merged, stats = gradient_surgery({"if": {"m.w": g_a}, "math": {"m.w": g_b}}, _gen())
    # g_a' = g_a - (-1/2) g_b = [0.5, 0.5]; g_b' = g_b - (-1/1) g_a = [0, 1]
    torch.testing.assert_close(merged["m.w"], torch.tensor([0.5, 1.5]))
    assert stats["m.w"].projections == 2 and stats["m.w"].conflicts == 1
    assert stats["m.w"].cosines[("if", "math")] == pytest.approx(-1 / 2**0.5)


def test_no_conflict_means_plain_sum() -> None:
    grads = {"if": {"m.w": torch.tensor([1.0, 2.0])}, "chat": {"m.w": torch.tensor([0.5, 0.0])}}
    merged, stats = gradient_surgery(grads, _gen())
    torch.testing.assert_close(merged["m.w"], torch.tensor([1.5, 2.0]))
    assert stats["m.w"].projections == 0 and stats["m.w"].conflicts == 0


def test_each_tensor_is_projected_on_its_own() -> None:
    """Two tensors of one module (say q_proj's lora_A and lora_B), PCGrad by hand on each.

    m.a: <[1, 0], [-1, 1]> = -1 < 0, so g_if' = [1, 0] + 1/2 [-1, 1] = [0.5, 0.5] and
         g_math' = [-1, 1] + 1/1 [1, 0] = [0, 1]: merged [0.5, 1.5].
    m.b: <[2, 1], [1, 1]> = 3 > 0: merged [3, 2].
    Concatenated, the module's gradients agree (<[1, 0, 2, 1], [-1, 1, 1, 1]> = 2 > 0), so PCGrad over the
    whole module (or the whole model) would project nothing: [0, 1, 3, 2].
    """
    grads = {
        "if": {"m.a": torch.tensor([1.0, 0.0]), "m.b": torch.tensor([2.0, 1.0])},
        "math": {"m.a": torch.tensor([-1.0, 1.0]), "m.b": torch.tensor([1.0, 1.0])},
    }
    merged, stats = gradient_surgery(grads, _gen())
    torch.testing.assert_close(merged["m.a"], torch.tensor([0.5, 1.5]))
    torch.testing.assert_close(merged["m.b"], torch.tensor([3.0, 2.0]))
    assert (stats["m.a"].projections, stats["m.b"].projections) == (2, 0)
    assert stats["m.b"].cosines[("if", "math")] == pytest.approx(3 / (5**0.5 * 2**0.5))


def test_a_vanishing_gradient_is_not_projected_onto() -> None:
    """As in the reference: a conflict with a gradient of squared norm <= 1e-12 is counted, not projected
    (dividing by that norm would blow the other gradient up); the tiny gradient itself is projected."""
    grads = {"if": {"m.w": torch.tensor([1.0, 0.0])}, "math": {"m.w": torch.tensor([-1e-7, 0.0])}}
    merged, stats = gradient_surgery(grads, _gen())
    torch.testing.assert_close(merged["m.w"], torch.tensor([1.0, 0.0]))  # g_if untouched, g_math' = 0
    assert stats["m.w"].projections == 2
    zero = {"if": {"m.w": torch.tensor([1.0, 0.0])}, "math": {"m.w": torch.zeros(2)}}
    assert gradient_surgery(zero, _gen())[1]["m.w"].cosines[("if", "math")] == 0.0


def _three_conflicting() -> dict[str, dict[str, torch.Tensor]]:
    return {
        "if": {"m.w": torch.tensor([1.0, 0.0, 0.2])},
        "chat": {"m.w": torch.tensor([-0.6, 1.0, 0.0])},
        "math": {"m.w": torch.tensor([-0.5, -0.9, 0.3])},
    }


def test_order_is_seeded() -> None:
    a, _ = gradient_surgery(_three_conflicting(), _gen(1))
    b, _ = gradient_surgery(_three_conflicting(), _gen(1))
    torch.testing.assert_close(a["m.w"], b["m.w"], rtol=0, atol=0)
    outcomes = {tuple(gradient_surgery(_three_conflicting(), _gen(s))[0]["m.w"].tolist()) for s in range(16)}
    assert len(outcomes) > 1  # with three domains the projection order matters, and seeds reach both orders


def test_inputs_are_not_modified() -> None:
    grads = _three_conflicting()
    before = {d: g["m.w"].clone() for d, g in grads.items()}
    gradient_surgery(grads, _gen())
    for d in grads:
        torch.testing.assert_close(grads[d]["m.w"], before[d], rtol=0, atol=0)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="at least one domain"):
        gradient_surgery({}, _gen())
    with pytest.raises(ValueError, match="different parameters"):
        gradient_surgery({"if": {"a.w": torch.ones(1)}, "math": {"b.w": torch.ones(1)}}, _gen())
    with pytest.raises(ValueError, match="different shapes"):
        gradient_surgery({"if": {"a.w": torch.ones(1)}, "math": {"a.w": torch.ones(2)}}, _gen())


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("base_model.model.model.layers.3.self_attn.q_proj.lora_A.default.weight", "layers.3.self_attn"),
        ("base_model.model.model.layers.3.mlp.down_proj.lora_B.default.weight", "layers.3.mlp"),
        ("model.layers.12.input_layernorm.weight", "layers.12.input_layernorm"),
        ("model.embed_tokens.weight", "embed_tokens"),
        ("base_model.model.lm_head.weight", "lm_head"),
        ("model.norm.weight", "norm"),
    ],
)
def test_transformer_module_of(name: str, module: str) -> None:
    assert transformer_module_of(name) == module


vectors = st.lists(st.floats(-3, 3, allow_nan=False, width=32), min_size=4, max_size=4)


@settings(max_examples=60, deadline=None)
@given(a=vectors, b=vectors)
@example(
    a=[1.1754943508222875e-38, 0.0, 0.0, 0.0], b=[-1.0, 0.0, 0.0, 0.0]
)  # g_a vanishes: no projection onto it
def test_two_domain_properties(a: list[float], b: list[float]) -> None:
    """Merged = sum of PCGrad projections; each projected g_i is orthogonal to the g_j it conflicted with,
    so the merged update never opposes either domain's gradient."""
    g_a, g_b = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    merged, _ = gradient_surgery({"x": {"m.w": g_a}, "y": {"m.w": g_b}}, _gen())

    def project(g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        # the official code does not project onto a vanishing gradient (||h||^2 <= NORM_SQ_EPS)
        return g - g.dot(h) / h.dot(h) * h if g.dot(h) < 0 and h.dot(h) > NORM_SQ_EPS else g

    torch.testing.assert_close(merged["m.w"], project(g_a, g_b) + project(g_b, g_a))
    assert project(g_a, g_b).dot(g_b) >= -1e-9
    assert merged["m.w"].dot(g_a) >= -1e-9 and merged["m.w"].dot(g_b) >= -1e-9


def test_mgs_trainer_step_on_a_mixed_batch(smoke_profile, tmp_path) -> None:
    """One real DAPO step of MgsTrainer on the smoke model: both domains' gradients are surgically merged
    tensor by tensor (statistics are logged per module) and the LoRA weights move."""
    import math

    from datasets import Dataset
    from peft import get_peft_model

    from care_rl.models import load_policy, lora_config
    from care_rl.training.dapo import dapo_config
    from care_rl.training.mgs import MgsTrainer
    from care_rl.training.stage_run import mixed_stage_spec

    profile = smoke_profile.model_copy(
        update={"dapo": smoke_profile.dapo.model_copy(update={"mask_truncated_completions": False})}
    )
    model, tokenizer = load_policy(profile)
    model = get_peft_model(model, lora_config(profile.lora))
    stage = mixed_stage_spec(profile, ["if", "math"]).model_copy(update={"max_steps": 1})
    rows = [
        {"prompt": [{"role": "user", "content": f"q{i}"}], "domain": d}
        for i, d in enumerate(["if", "math"] * 2)
    ]

    def reward(completions: list, domain: list, **_: object) -> list[float]:
        return [
            float(len(c[0]["content"]) % (2 if d == "if" else 3))
            for c, d in zip(completions, domain, strict=True)
        ]

    trainer = MgsTrainer(
        model=model,
        reward_funcs=[reward],
        args=dapo_config(profile, stage, tmp_path),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    trainer.train()
    logged = next(row for row in trainer.state.log_history if "mgs/domains" in row)
    assert logged["mgs/domains"] == 2.0
    cosines = [v for k, v in logged.items() if k.startswith("mgs/cosine/layers.")]
    assert len(cosines) == 4 and all(
        -1.0 <= c <= 1.0 and not math.isnan(c) for c in cosines
    )  # 2 layers x 2 blocks
    moved = sum(
        float((p.detach() - before[n]).abs().sum()) for n, p in model.named_parameters() if p.requires_grad
    )
    assert moved > 0
