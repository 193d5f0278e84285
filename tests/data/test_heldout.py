"""Held-out prompts (the interference monitor's and MOPD's validation set) never overlap training.

The cpu profile asks for n = 8,000 prompts per domain and so takes every row of the 200-row mini
pools; a first cpu MOPD run therefore scored its checkpoints on no prompts and never distilled. These
tests pin the fix: k disjoint prompts at every n, and a ConfigError (not an empty monitor) when the
data cannot supply them.
"""

from __future__ import annotations

import pytest

from care_rl.config import ConfigError
from care_rl.data import loaders
from care_rl.data.records import TrainPrompt
from care_rl.data.selection import seeded_sample
from care_rl.training.callbacks import InterferenceMonitor
from care_rl.training.cascade import check_heldout
from care_rl.training.stage import StageRun


@pytest.mark.parametrize("domain", ["math", "chat", "if"])
@pytest.mark.parametrize("n", [16, 8000])  # the smoke and cpu profiles' prompts_per_domain
def test_mini_heldout_is_disjoint_from_training_and_seeded(domain, n):
    train = loaders.load_train(domain, "mini", n, 42)
    held = loaders.load_heldout(domain, "mini", n, 4, 42)
    assert len(held) == 4 and len({p.id for p in held}) == 4
    assert not {p.id for p in held} & {p.id for p in train}
    assert not {p.text for p in held} & {p.text for p in train}
    assert all(p.domain == domain for p in held)
    assert [p.id for p in loaders.load_heldout(domain, "mini", n, 4, 42)] == [p.id for p in held]
    assert [p.id for p in loaders.load_heldout(domain, "mini", n, 4, 7)] != [p.id for p in held]


def test_too_few_heldout_prompts_is_a_config_error_naming_the_numbers():
    # no_robots' stand-in pool: 200 training rows, 16 validation rows
    assert len(loaders.load_heldout("chat", "mini", 8000, 16, 42)) == 16
    with pytest.raises(ConfigError, match=r"17 held-out prompts wanted, only 16 .*prompts_per_domain = 8000"):
        loaders.load_heldout("chat", "mini", 8000, 17, 42)
    with pytest.raises(ConfigError, match="must be > 0"):
        loaders.load_heldout("chat", "mini", 8000, 0, 42)


def _prompts(n: int) -> list[TrainPrompt]:
    return [
        TrainPrompt(domain="if", id=f"p{i}", source="t", messages=[{"role": "user", "content": f"q{i}"}])
        for i in range(n)
    ]


def test_hub_heldout_is_the_k_prompts_ranked_after_the_training_selection(monkeypatch):
    pool = _prompts(50)
    monkeypatch.setattr(loaders, "load_train", lambda d, s, n, seed=42: seeded_sample(pool, n, seed))
    ranked = [p.id for p in seeded_sample(pool, 50, 42)]
    held = loaders.load_heldout("if", "hub", 20, 5, 42)
    assert sorted(p.id for p in held) == sorted(ranked[20:25])
    with pytest.raises(ConfigError, match="only 0 are outside the 50 training prompts"):
        loaders.load_heldout("if", "hub", 50, 5, 42)


def test_check_heldout_fails_before_compute_for_any_monitored_domain(smoke_profile):
    run = StageRun(
        domains=("if",),
        rewards=("if",),
        monitor_every=1,
        monitor_prompts=3,
        monitor_rewards={"if": "if", "math": "math"},
    )
    asked: list[tuple[str, int]] = []

    def load(domain, profile, k):
        asked.append((domain, k))
        return _prompts(k if domain == "if" else k - 1)

    with pytest.raises(ConfigError, match="fewer than 3 held-out 'math' prompts"):
        check_heldout(smoke_profile, [run, run], load)
    assert asked == [("if", 3), ("math", 3)]  # each (domain, k) once, before any stage
    check_heldout(smoke_profile, [StageRun(domains=("if",), rewards=("if",))], load)  # unmonitored: nothing


def test_monitor_refuses_a_domain_without_prompts():
    with pytest.raises(ValueError, match=r"no held-out prompts for domain\(s\) \['math'\]"):
        InterferenceMonitor(
            {"if": _prompts(2), "math": []}, {"if": len, "math": len}, None, 1, {"if": 8, "math": 8}
        )
