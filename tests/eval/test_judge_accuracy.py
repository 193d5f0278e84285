"""Table 6 scoring rules on hand-made items with known answers."""

from __future__ import annotations

import pytest

from care_rl.data.records import JudgeItem
from care_rl.pagrm import make_chat_reward
from eval.judge_accuracy import (
    best_of_n_credit,
    judge_accuracy,
    rewardbench2_ties_score,
    sample_items,
    scorer_from_judge,
)
from tests.pagrm.scripted_judge import backend, is_protocol_call


def table(scores):
    """A scorer that reads each response's score from a dict (None = a failed judge call)."""
    return lambda prompts, responses: [scores[r] for r in responses]


def item(bench, id, chosen, rejected, subset="s"):
    return JudgeItem(benchmark=bench, id=id, prompt="p", chosen=chosen, rejected=rejected, subset=subset)


def test_best_of_n_credit():
    assert best_of_n_credit(0.9, [0.1, 0.5, 0.8]) == 1.0
    assert best_of_n_credit(0.8, [0.1, 0.8, 0.8]) == pytest.approx(1 / 3)
    assert best_of_n_credit(0.5, [0.1, 0.9, None]) == 0.0
    assert best_of_n_credit(None, [None, None, None]) == 0.0
    assert best_of_n_credit(0.2, [None, None, None]) == 1.0  # failed rejections cannot win


def test_rewardbench2_best_of_4_and_subsets():
    scores = {"c1": 0.9, "c2": 0.4, "c3": 0.5, "r": 0.5, "x": None}
    items = [
        item("rewardbench2", "1", ["c1"], ["r", "r", "x"], "Focus"),
        item("rewardbench2", "2", ["c2"], ["r", "x", "x"], "Focus"),
        item("rewardbench2", "3", ["c3"], ["r", "c2", "c2"], "Math"),
    ]
    res = judge_accuracy("rewardbench2", items, table(scores))
    assert res.accuracy == pytest.approx((1 + 0 + 0.5) / 3)
    assert res.by_subset == {"Focus": 0.5, "Math": 0.5}
    assert res.official == pytest.approx(0.5) and res.failed_scores == 3


def test_rewardbench2_ties_rule():
    s = {"a": 0.9, "b": 0.8, "w": 0.1, "ra": 0.9, "rw": 0.2}
    items = [
        item("rewardbench2", "tied:1", ["a", "b"], ["w"], "Ties"),
        item("rewardbench2", "ref:1", ["ra"], ["rw"], "Ties"),
    ]
    # both accurate; tied margin 0.7 > spread 0.1; min(ref 0.7, tied 0.7) = 0.7 > 0.1
    expected = 0.3 + 0.3 + 0.2 + 0.2 + 0.01 * float(__import__("numpy").tanh(0.7 / 0.1 - 1))
    scores = [[s[r] for r in [*i.chosen, *i.rejected]] for i in items]
    assert rewardbench2_ties_score(items, scores) == pytest.approx(expected)
    res = judge_accuracy("rewardbench2", items, table(s))
    assert res.by_subset["Ties"] == pytest.approx(expected) and res.accuracy == 1.0
    # a wrong answer scored between the correct ones: the tied prompt is inaccurate, margins fail
    s2 = dict(s, w=0.85)
    assert judge_accuracy("rewardbench2", items, table(s2)).by_subset["Ties"] == pytest.approx(
        0.3 * 0 + 0.3 * 1 + 0 + 0 + 0.01 * float(__import__("numpy").tanh(-0.05 / 0.1 - 1))
    )
    with pytest.raises(ValueError, match="ref:<n>"):
        rewardbench2_ties_score([item("rewardbench2", "7", ["a"], ["w"], "Ties")], [[0.1, 0.2]])


def test_judgebench_both_orders_and_consistency():
    calls = []

    def scorer(prompts, responses):
        calls.append(list(responses))
        fixed = {"good": 0.9, "bad": 0.1, "tie1": 0.5, "tie2": 0.5}
        # "flip*" is scored higher in whichever position it is shown first: an order-dependent judge
        return [
            (1.0 if i % 2 == 0 else 0.0) if r.startswith("flip") else fixed[r]
            for i, r in enumerate(responses)
        ]

    items = [
        item("judgebench", "1", ["good"], ["bad"]),
        item("judgebench", "2", ["tie1"], ["tie2"]),
        item("judgebench", "3", ["flipc"], ["flipr"]),
        item("judgebench", "4", ["bad"], ["good"]),
    ]
    res = judge_accuracy("judgebench", items, scorer)
    assert calls[0][:2] == ["good", "bad"] and calls[1][:2] == ["bad", "good"]  # both orders were asked
    assert res.accuracy == 0.25 and res.extra["inconsistent"] == 1.0


def test_judgebench_one_vote_and_one_tie_is_a_win():
    passes = iter([[0.9, 0.1], [0.5, 0.5]])
    res = judge_accuracy("judgebench", [item("judgebench", "1", ["c"], ["r"])], lambda p, r: next(passes))
    assert res.accuracy == 1.0


def test_rmbench_matrix():
    s = {"c0": 0.5, "c1": 0.6, "c2": 0.9, "r0": 0.4, "r1": 0.7, "r2": 0.8}
    res = judge_accuracy(
        "rmbench", [item("rmbench", "1", ["c0", "c1", "c2"], ["r0", "r1", "r2"], "chat")], table(s)
    )
    # rows chosen i, cols rejected j: [[1,0,0],[1,0,0],[1,1,1]]
    assert res.accuracy == pytest.approx(5 / 9)
    assert res.extra == pytest.approx({"hard": 0.0, "normal": 2 / 3, "easy": 1.0})
    with pytest.raises(ValueError, match="3 chosen"):
        judge_accuracy("rmbench", [item("rmbench", "1", ["c0"], ["r0"])], table(s))


def test_sampling_is_seeded_and_capped():
    items = [item("rmbench", str(i), [], []) for i in range(900)]
    a, b = sample_items(items), sample_items(items)
    assert a == b and len(a) == 500 and len({i.id for i in a}) == 500
    assert sample_items(items, seed=1) != a and len(sample_items(items[:10])) == 10


def test_pagrm_scorer_builds_one_schema_per_prompt_across_both_judgebench_passes():
    judge_backend = backend()
    reward = make_chat_reward("pagrm", judge_backend)
    items = [
        item("judgebench", "1", ["one two three"], ["one"]),
        item("judgebench", "2", ["a b"], ["a b c d"]),
    ]
    res = judge_accuracy("judgebench", items, scorer_from_judge(reward.judge))
    assert res.accuracy == 0.5  # the scripted judge prefers longer answers
    assert sum(is_protocol_call(c) for c in judge_backend.seen) == 1  # both items share prompt "p"
    with pytest.raises(ValueError, match="unknown judge benchmark"):
        judge_accuracy("mtbench", items, scorer_from_judge(reward.judge))
