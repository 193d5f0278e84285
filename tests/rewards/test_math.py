"""The math reward: math-verify answer matching, bounded in time by a worker process."""

from __future__ import annotations

import threading

import pytest

from care_rl.rewards import math as math_reward
from care_rl.rewards.unscorable import Unscorable


@pytest.mark.parametrize(
    ("completion", "gold", "expected"),
    [
        ("So the total is \\boxed{18}.", "18", 1.0),  # boxed
        ("So the total is \\boxed{17}.", "18", 0.0),
        ("The answer is 42.", "42", 1.0),  # plain
        ("The answer is 41.", "42", 0.0),
        ("Half of it: \\boxed{\\frac{1}{2}}", "\\frac{1}{2}", 1.0),  # fraction, LaTeX gold
        ("It is 0.5", "\\frac12", 1.0),  # decimal vs LaTeX fraction
        ("We get \\boxed{3/4}", "3/4", 1.0),  # numeric fraction gold
        ("We get \\boxed{2/3}", "3/4", 0.0),
        ("$\\boxed{\\frac{\\sqrt{2}}{2}}$", "\\frac{1}{\\sqrt{2}}", 1.0),  # symbolic equivalence
        ("\\boxed{1,000}", "1000", 1.0),
        ("First 7, then finally \\boxed{9}", "7", 0.0),  # boxed preferred over earlier numbers
        ("I do not know.", "42", 0.0),  # no answer at all
        ("\\boxed{\\frac{1}{", "\\frac{1}{2}", 0.0),  # malformed LaTeX in the completion
        ("", "5", 0.0),
    ],
)
def test_score(completion: str, gold: str, expected: float) -> None:
    assert math_reward.score(completion, gold) == expected


def test_empty_gold_raises() -> None:
    with pytest.raises(ValueError, match="empty"):
        math_reward.score("\\boxed{1}", "  ")


def test_pathological_completion_returns_and_is_counted() -> None:
    """A huge nested expression must not hang: it returns 0.0 within the limit and counts a timeout
    (or is scored normally if math-verify happens to be fast), and the worker still works after."""
    before = math_reward.timeout_count()
    nested = "\\boxed{" + "(" * 4000 + "1" + ")" * 4000 + "}"
    result = math_reward.score(nested, "2", timeout=1.0)
    assert result == 0.0
    assert math_reward.timeout_count() in (before, before + 1)
    assert math_reward.score("\\boxed{2}", "2") == 1.0


def test_forced_timeout_scores_zero_and_counts() -> None:
    before = math_reward.timeout_count()
    slow = "\\boxed{" + "+".join(f"x_{{{i}}}^{{{i}}}" for i in range(3000)) + "}"
    assert math_reward.score(slow, "1", timeout=0.01) == 0.0
    assert math_reward.timeout_count() == before + 1


def test_works_from_threads() -> None:
    """math-verify's signal.alarm timeouts would raise off the main thread; ours must not."""
    results: list[float] = []
    threads = [
        threading.Thread(target=lambda: results.append(math_reward.score("\\boxed{4}", "4")))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("completion", "gold"),
    [
        # MATH-500 stores three golds with an escaped dollar sign; "$" in the text is not a delimiter
        ("The price is \\boxed{18.90}.", "\\$18.90"),
        ("\\boxed{32348}", "\\$32,\\!348"),
        ("So \\boxed{36} dollars.", "\\$36"),
        # an unclosed \boxed{ gold falls back to the expression extractor, as math-verify's test helper does
        ("x=5", "\\boxed{x=5"),
        ("The answer is 5.", "\\boxed{ 5"),
    ],
)
def test_golds_math_verify_reads(completion: str, gold: str) -> None:
    assert math_reward.score(completion, gold) == 1.0


@pytest.mark.parametrize("gold", ["  ", "\\boxed{}", "$"])
def test_unparseable_gold_is_unscorable_not_zero(gold: str) -> None:
    """A gold math-verify cannot read is reported (Unscorable, with a reason the callers count), never
    scored 0 against the completion; the worker keeps serving afterwards."""
    with pytest.raises(Unscorable, match="math gold"):
        math_reward.score("\\boxed{1}", gold)
    assert math_reward.score("\\boxed{1}", "1") == 1.0
