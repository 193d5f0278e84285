"""One Qwen3 thinking policy everywhere (care_rl/thinking.py): the policy thinks, every scorer and judge
parser reads the answer only, and local judges are asked not to think.

Each case puts a decoy in the thinking that would change the result if it were read."""

from __future__ import annotations

import json

import pytest

from care_rl.data.records import EvalItem
from care_rl.judges import ScriptedBackend
from care_rl.pagrm import make_chat_reward
from care_rl.pagrm.parsing import JudgeOutputError, extract_json, parse_protocol, parse_score
from care_rl.rewards import math as math_reward
from care_rl.rewards import rlvr_if
from care_rl.thinking import strip_thinking
from eval import scorers

THINK = "<think>\nMaybe 5? {draft}\n</think>\n\n"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("<think>\nplan\n</think>\n\nThe answer.", "The answer."),
        ("<think>a</think>b</think> c", "c"),  # the last close ends the thinking (open-instruct, lm-eval)
        ("<think>\nstill thinking when the budget ran out", ""),  # no answer was written
        ("  <think>x", ""),
        ("No thinking at all, kept as is.  ", "No thinking at all, kept as is.  "),
        ("I <think> mid-sentence is text, not thinking", "I <think> mid-sentence is text, not thinking"),
    ],
)
def test_strip_thinking_rule(text, answer):
    assert strip_thinking(text) == answer


def test_math_reads_the_answer_not_the_thinking():
    completion = "<think>\nIs it \\boxed{5}? No.\n</think>\n\nSo the answer is \\boxed{7}."
    assert math_reward.score(completion, "7") == 1.0
    assert math_reward.score(completion, "5") == 0.0
    assert math_reward.score("<think>\n\\boxed{5} and then I ran out of tokens", "5") == 0.0


def test_training_if_reward_reads_the_answer():
    lowercase = json.dumps({"func_name": "validate_lowercase"})
    assert rlvr_if.score("<think>I Must Write In Lowercase</think>all lowercase here", lowercase) == 1.0
    keyword = json.dumps({"func_name": "verify_keywords", "keyword_list": ["banana"]})
    assert rlvr_if.score("<think>say banana", keyword) == 0.0  # unfinished thinking: no answer to verify


def _item(benchmark: str, domain: str, reference: dict) -> EvalItem:
    return EvalItem(benchmark, domain, f"{benchmark}-1", [{"role": "user", "content": "prompt"}], reference)


@pytest.mark.parametrize("scorer", [scorers.score_ifeval, scorers.score_ifbench])
def test_eval_if_scorers_read_the_answer(scorer):
    ref = {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}], "prompt": "No commas."}
    if scorer is scorers.score_ifbench:
        ref = {"instruction_id_list": ["count:numbers"], "kwargs": [{"N": 2}], "prompt": "Two numbers."}
    text = "I ate 3 apples and 4 pears" if scorer is scorers.score_ifbench else "no commas in this answer"
    item = _item("ifbench" if scorer is scorers.score_ifbench else "ifeval", "if", ref)
    decoy = "<think>\nHmm, 1, 2, 3, 5, 8, 13.\n</think>\n\n"  # commas and numbers only in the thinking
    out = scorer([(item, decoy + text), (item, text)])
    assert [s.score for s in out] == [100.0, 100.0]


def test_eval_math_scorer_reads_the_answer():
    item = _item("gsm8k", "math", {"answer": "18"})
    out = scorers.score_math(
        [(item, "<think>\\boxed{18}?</think> It is \\boxed{17}."), (item, "\\boxed{18}")]
    )
    assert [s.score for s in out] == [0.0, 100.0]


def test_chat_judges_see_the_answer_and_their_own_thinking_is_skipped():
    """The judged response has no thinking in it; a judge's reply is parsed after its thinking (the
    ResearchQA parser keeps an item's first level, so the decoy 1s would win if read)."""
    item = _item(
        "researchqa",
        "chat",
        {"rubric": [{"rubric_item": "a", "type": "t"}, {"rubric_item": "b", "type": "t"}]},
    )
    judge = ScriptedBackend(lambda conv: "<think>\n1: 1\n2: 1\n</think>\n\n1: 5\n2: 5", name="thinking-judge")
    out = scorers.score_researchqa([(item, "<think>SECRET PLAN</think>The response.")], [judge])
    assert out[0].score == 100.0
    prompt = judge.seen[0][-1]["content"]
    assert "The response." in prompt and "SECRET PLAN" not in prompt and "<think>" not in prompt


def test_pagrm_parsers_skip_a_json_object_drafted_in_the_thinking():
    draft = json.dumps({"protocol": "rubric", "schema": []})  # schema-invalid: taken, it would fail
    answer = json.dumps({"protocol": "holistic", "schema": [{"aspect": "a", "guidance": "g"}]})
    assert parse_protocol(THINK.format(draft=draft) + answer).protocol == "holistic"
    score = parse_score(
        THINK.format(draft='{"reasoning": "r", "score": 99}') + '{"reasoning": "ok", "score": 7}'
    )
    assert score.raw == 7.0
    with pytest.raises(JudgeOutputError) as err:
        extract_json('<think>\n{"score": 7} but the budget ran out')
    assert err.value.kind == "empty"


def test_pagrm_reward_judges_the_answer_only():
    seen: list[str] = []

    def reply(conv):
        seen.append(conv[-1]["content"])
        return '{"reasoning": "ok", "score": 10}'

    reward = make_chat_reward("direct", ScriptedBackend(reply))
    completion = [{"role": "assistant", "content": "<think>\nSECRET PLAN\n</think>\n\nHello there."}]
    assert reward([completion], prompts=["Say hello."]) == [1.0]
    assert "Hello there." in seen[0] and "SECRET PLAN" not in seen[0]


def test_local_judge_renders_without_thinking(smoke_profile):
    """A Qwen3-style template opens an empty think block when asked not to think; the judge asks."""
    from care_rl.judges.local import LocalBackend
    from care_rl.models import load_model, load_tokenizer
    from tests.dryrun.assets import QWEN3_STYLE_TEMPLATE

    tokenizer = load_tokenizer(smoke_profile.tokenizer)
    tokenizer.chat_template = QWEN3_STYLE_TEMPLATE
    judge = LocalBackend(load_model(smoke_profile.judge.model, tokenizer), tokenizer, max_new_tokens=2)
    conv = [{"role": "user", "content": "Rate this."}]
    assert judge._prompt_text(conv).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    rendered = tokenizer.decode(judge._render(conv))
    assert rendered.endswith("<think>\n\n</think>\n\n")
    # the policy's generation prompt keeps the template's default: thinking on, nothing prefilled
    policy = tokenizer.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
    assert policy.endswith("<|im_start|>assistant\n")
