"""Each scorer on fixtures (judges scripted); failed or unparseable judge output is missing, not 0."""

from __future__ import annotations

import pytest

from care_rl.data.records import EvalItem
from care_rl.judges import ScriptedBackend
from eval import scorers
from eval.benchmarks import BENCHMARKS, select
from eval.judging import render


def _item(benchmark: str, domain: str, reference: dict, text: str = "prompt") -> EvalItem:
    return EvalItem(benchmark, domain, f"{benchmark}-1", [{"role": "user", "content": text}], reference)


def test_math_is_binary_answer_matching_on_0_100():
    item = _item("gsm8k", "math", {"answer": "18"})
    out = scorers.score_math([(item, "So the total is \\boxed{18}."), (item, "The answer is 17.")])
    assert [s.score for s in out] == [100.0, 0.0]


def test_ifeval_is_prompt_level_strict():
    ref = {
        "instruction_id_list": ["change_case:english_lowercase", "punctuation:no_comma"],
        "kwargs": [{}, {}],
        "prompt": "Write in lowercase without commas.",
    }
    item = _item("ifeval", "if", ref)
    out = scorers.score_ifeval(
        [
            (item, "all lowercase and no commas here"),
            (item, "this answer is written in plain lowercase english, with one comma"),
        ]
    )
    assert [s.score for s in out] == [100.0, 0.0]  # second follows 1 of 2 instructions: prompt-level 0
    assert out[1].detail["inst_strict"] == [True, False]


def test_ifbench_uses_its_own_verifiers():
    ref = {
        "instruction_id_list": ["count:numbers"],
        "kwargs": [{"N": 2}],
        "prompt": "Include exactly 2 numbers.",
    }
    item = _item("ifbench", "if", ref)
    out = scorers.score_ifbench([(item, "I ate 3 apples and 4 pears."), (item, "I ate 3 apples.")])
    assert [s.score for s in out] == [100.0, 0.0]


def test_unscorable_inputs_are_missing_and_say_why():
    """A gold math-verify cannot read, an instruction id the verifier does not know: the sample is
    missing (None, out of the mean) with its reason, not a 0 and not an exception."""
    bad_gold = _item("math500", "math", {"answer": "\\boxed{}"})
    out = scorers.score_math([(bad_gold, "\\boxed{1}")])
    assert out[0].score is None
    assert out[0].detail["unscorable"] == "math gold cannot be parsed by math-verify"
    ref = {"instruction_id_list": ["count:nonsense"], "kwargs": [{}], "prompt": "p"}
    out = scorers.score_ifbench([(_item("ifbench", "if", ref), "x")])
    assert out[0].score is None
    assert out[0].detail["unscorable"] == "IFBench: unknown instruction id"


def test_wildbench_wb_score_and_judge_average():
    item = EvalItem(
        "wildbench",
        "chat",
        "w1",
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "plan?"},
        ],
        {"checklist": ["Is it a plan?", "Is it short?"]},
    )
    j1 = ScriptedBackend(['{"strengths": "x", "weaknesses": "y", "score": "8"}'], name="j1")
    j2 = ScriptedBackend(['{"strengths": "x", "weaknesses": "y", "score": 6}'], name="j2")
    (out,) = scorers.score_wildbench([(item, "Step 1 ...")], [j1, j2])
    assert out.score == pytest.approx(((8 - 5) * 20 + (6 - 5) * 20) / 2)  # 60 and 20 -> 40
    prompt = j1.seen[0][0]["content"]
    assert (
        "- Is it short?" in prompt
        and "plan?" in prompt
        and "ASSISTANT: hello" in prompt
        and "Step 1" in prompt
    )
    assert scorers.parse_wildbench('{"score": "11"}') is None and scorers.parse_wildbench("no score") is None


def test_cw3_inverts_negative_criteria_and_scales_to_100():
    item = _item("cw3", "chat", {"criteria": ["Imagery", "Coherent"], "negative_criteria": ["Purple Prose"]})
    reply = (
        "[Analysis]\nVivid: 3 images.\n\n[Scores]\nImagery: 16\nCoherent: 12\nPurple Prose: 4\nBogus: 19\n"
    )
    (out,) = scorers.score_cw3([(item, "story")], [ScriptedBackend([reply])])
    assert out.score == pytest.approx(5 * (16 + 12 + (20 - 4)) / 3)
    assert scorers.parse_cw3("[Scores]\nNothing: 3", ["Imagery"], []) is None


def test_researchqa_rubric_coverage():
    rubric = [{"rubric_item": "Defines X", "type": "general"}, {"rubric_item": "Cites Y", "type": "citation"}]
    item = _item("researchqa", "chat", {"rubric": rubric})
    (out,) = scorers.score_researchqa([(item, "answer")], [ScriptedBackend(["1: 5\n2: 3"])])
    assert out.score == pytest.approx(100 * (1.0 + 0.5) / 2)
    assert scorers.parse_researchqa("1: 5", 2) is None  # an unrated item makes the output unusable
    assert scorers.parse_researchqa("1: 9\n2: 3", 2) is None


def test_failed_and_unparseable_judges_are_excluded_and_counted():
    item = _item("wildbench", "chat", {"checklist": ["ok?"]})
    failing = ScriptedBackend([None, None], name="down")
    babbling = ScriptedBackend(["I think it is fine", '{"score": "7"}'], name="babble")
    out = scorers.score_wildbench([(item, "a"), (item, "b")], [failing, babbling])
    assert out[0].score is None  # no judge scored it: missing, not 0
    assert out[0].detail["n_judges_missing"] == 2
    assert [v["status"] for v in out[0].detail["judges"]] == ["failed", "unparseable"]
    assert out[1].score == 40.0 and out[1].detail["n_judges_missing"] == 1
    assert failing.stats.failures == 2


def test_registry_and_templates():
    assert list(BENCHMARKS) == [
        "math500",
        "gsm8k",
        "aime",
        "wildbench",
        "cw3",
        "researchqa",
        "ifbench",
        "ifeval",
    ]
    assert [b.name for b in select(["ifeval"])] == ["ifeval"]
    from care_rl.config import ConfigError

    with pytest.raises(ConfigError, match="mmlu"):
        select(["mmlu"])
    with pytest.raises(KeyError, match=r"\$response"):
        render("cw3", {"writing_prompt": "p", "criteria": "c"})
