"""TRL-style reward wrappers: one mixed-domain batch, None outside each reward's domain."""

from __future__ import annotations

import json

import pytest

from care_rl.rewards import registry

LOWER = json.dumps({"func_name": "validate_lowercase", "N": None})
BATCH = {
    "domain": ["math", "if", "chat", "math", "if"],
    "answer": ["4", None, None, "\\frac{1}{2}", None],
    "ground_truth": [None, LOWER, None, None, LOWER],
}
COMPLETIONS = ["2+2 = \\boxed{4}", "all lowercase", "A chat reply.", "It is 0.3", "Not Lowercase"]


def test_math_reward_scores_only_math_rows() -> None:
    assert registry.get_reward("math")(COMPLETIONS, **BATCH) == [1.0, None, None, 0.0, None]


def test_if_reward_scores_only_if_rows() -> None:
    assert registry.get_reward("if")(COMPLETIONS, **BATCH) == [None, 1.0, None, None, 0.0]


def test_conversational_completions() -> None:
    conversational = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    assert registry.get_reward("if")(conversational, **BATCH) == [None, 1.0, None, None, 0.0]


def test_reward_names_for_trl_logging() -> None:
    assert registry.get_reward("math").__name__ == "math_reward"


def test_unknown_reward_lists_known() -> None:
    with pytest.raises(KeyError, match=r"unknown reward 'kl'.*'if'.*'math'"):
        registry.get_reward("kl")


def test_register_factory_with_settings_and_duplicates() -> None:
    def factory(bonus: float) -> registry.RewardFunc:
        return registry.domain_reward("chat_test", "chat", "reference", lambda text, ref: bonus)

    registry.register_factory("chat_test", factory)
    try:
        reward = registry.get_reward("chat_test", bonus=0.5)
        assert reward(["x", "y"], domain=["chat", "math"], reference=["r", None]) == [0.5, None]
        with pytest.raises(ValueError, match="already registered"):
            registry.register_factory("chat_test", factory)
    finally:
        registry._FACTORIES.pop("chat_test")


def test_missing_column_and_missing_reference_raise() -> None:
    with pytest.raises(KeyError, match="'answer'"):
        registry.get_reward("math")(["\\boxed{1}"], domain=["math"])
    with pytest.raises(ValueError, match="row 0"):
        registry.get_reward("math")(["\\boxed{1}"], domain=["math"], answer=[None])
    with pytest.raises(ValueError, match="2 rows for 1 completions"):
        registry.get_reward("math")(["\\boxed{1}"], domain=["math", "if"], answer=["1", None])


def test_bad_completion_type() -> None:
    with pytest.raises(TypeError, match="completion"):
        registry.completion_text([{"role": "user", "content": "hi"}])


def test_unscorable_rows_get_none_and_are_counted() -> None:
    """A gold math-verify cannot parse, or a ground truth its check cannot take, says nothing about the
    completion: the row gets None (TRL gives it no advantage), is counted, and the batch goes on."""
    bad_letter = json.dumps({"func_name": "verify_letter_frequency", "letter": "ab", "N": 1})
    batch = {
        "domain": ["math", "math", "if", "if"],
        "answer": ["\\boxed{}", "4", None, None],
        "ground_truth": [None, None, bad_letter, LOWER],
    }
    completions = ["\\boxed{4}", "\\boxed{4}", "abc", "abc"]
    before = registry.unscorable_counts()
    assert registry.get_reward("math")(completions, **batch) == [None, 1.0, None, None]
    assert registry.get_reward("if")(completions, **batch) == [None, None, None, 1.0]
    after = registry.unscorable_counts()
    math_key = ("math", "math gold cannot be parsed by math-verify")
    if_key = ("if", "verify_letter_frequency raised ValueError")
    assert after[math_key] == before.get(math_key, 0) + 1
    assert after[if_key] == before.get(if_key, 0) + 1
