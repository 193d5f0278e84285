"""Naive Mixing's per-domain advantage normalisation, checked against hand arithmetic."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from care_rl.training.mixing import EPS, per_domain_advantages


def test_hand_arithmetic_two_domains() -> None:
    # math: one group [1, 0, 1, 0] -> centred [.5, -.5, .5, -.5], std (Bessel, n=4) = sqrt(1/3)
    # chat: groups [2, 4] and [10, 10] -> centred [-1, 1, 0, 0], std = sqrt(2/3)
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0, 2.0, 4.0, 10.0, 10.0])
    domains = ["math"] * 4 + ["chat"] * 4
    got = per_domain_advantages(rewards, domains, group_size=2)
    s_math, s_chat = math.sqrt(1 / 3), math.sqrt(2 / 3)
    expected = [
        0.5 / (s_math + EPS),
        -0.5 / (s_math + EPS),
        0.5 / (s_math + EPS),
        -0.5 / (s_math + EPS),
        -1 / (s_chat + EPS),
        1 / (s_chat + EPS),
        0.0,
        0.0,
    ]
    torch.testing.assert_close(got, torch.tensor(expected))


def test_scale_of_a_domain_does_not_change_its_advantages() -> None:
    """Multiplying one domain's rewards by 10 (a 0-10 judge vs a 0-1 verifier) leaves advantages unchanged."""
    rewards = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.3, 0.9, 0.1, 0.5])
    domains = ["if"] * 4 + ["chat"] * 4
    scaled = rewards.clone()
    scaled[4:] *= 10
    a = per_domain_advantages(rewards, domains, group_size=4)
    b = per_domain_advantages(scaled, domains, group_size=4)
    torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)


def test_nan_rewards_are_excluded_and_get_zero_advantage() -> None:
    # group [1, nan, 0]: mean 0.5 over the two scored rows; centred [.5, nan, -.5]; std sqrt(0.5)
    rewards = torch.tensor([1.0, float("nan"), 0.0])
    got = per_domain_advantages(rewards, ["math"] * 3, group_size=3)
    s = math.sqrt(0.5)
    torch.testing.assert_close(got, torch.tensor([0.5 / (s + EPS), 0.0, -0.5 / (s + EPS)]))


def test_a_domain_without_spread_gets_zero_advantages() -> None:
    got = per_domain_advantages(torch.tensor([1.0, 1.0, 0.0, 1.0]), ["if", "if", "math", "math"], 2)
    assert got[:2].tolist() == [0.0, 0.0]
    assert got[2] < 0 < got[3]


@pytest.mark.parametrize(
    ("rewards", "domains", "group_size", "message"),
    [
        (torch.zeros(4), ["math"] * 3, 2, "3 domains for 4 rewards"),
        (torch.zeros(3), ["math"] * 3, 2, "do not split into groups of 2"),
        (torch.zeros(4), ["math", "if", "if", "if"], 2, "mixes domains"),
        (torch.zeros(2, 2), ["math"] * 4, 2, "must be 1-D"),
        (torch.zeros(2), ["math"] * 2, 0, "group_size must be >= 1"),
    ],
)
def test_bad_input_is_named(rewards: torch.Tensor, domains: list[str], group_size: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        per_domain_advantages(rewards, domains, group_size)


@settings(max_examples=50, deadline=None)
@given(
    groups=st.lists(
        st.tuples(
            st.sampled_from(["if", "chat", "math"]),
            st.lists(st.floats(-5, 5, allow_nan=False), min_size=3, max_size=3),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_properties(groups: list[tuple[str, list[float]]]) -> None:
    """Each group's advantages sum to zero; each domain's advantages have unit std unless it has no spread."""
    rewards = torch.tensor([r for _, rs in groups for r in rs], dtype=torch.float64)
    domains = [d for d, rs in groups for _ in rs]
    adv = per_domain_advantages(rewards, domains, group_size=3)
    assert torch.allclose(
        adv.view(-1, 3).sum(dim=1), torch.zeros(len(groups), dtype=torch.float64), atol=1e-9
    )
    for domain in set(domains):
        rows = torch.tensor([d == domain for d in domains])
        centred = (rewards.view(-1, 3) - rewards.view(-1, 3).mean(1, keepdim=True)).view(-1)[rows]
        s = centred.std()
        if s > 1e-2:
            assert torch.allclose(adv[rows].std(), s / (s + EPS), atol=1e-9)


def test_mixed_stage_spec_covers_every_domain(smoke_profile) -> None:
    from care_rl.config import ConfigError
    from care_rl.training.stage_run import mixed_stage_spec

    spec = mixed_stage_spec(smoke_profile, ["if", "chat", "math"])
    stages = [smoke_profile.stages[d] for d in ("if", "chat", "math")]
    assert spec.prompts_per_step == sum(s.prompts_per_step for s in stages)
    assert spec.max_steps == sum(s.max_steps for s in stages)
    assert spec.num_generations == max(s.num_generations for s in stages)
    with pytest.raises(ConfigError, match="code"):
        mixed_stage_spec(smoke_profile, ["code"])
