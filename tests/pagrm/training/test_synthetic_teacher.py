"""The synthetic teacher: right labels on every family (pass/fail built in), protocol routing, the score rule,
and coverage of the mini pairs and of the No-Robots prompts the cpu judge scores in RL."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from care_rl.data import loaders
from care_rl.data.records import PreferencePair
from care_rl.pagrm.training.synthetic_teacher import FAMILIES, standard, teacher_trace

# family -> (prompt, response meeting everything, [(flawed response, index of the item it must fail)])
CASES = {
    "sum": ("Tell me the sum of 425 and 725.", "The total is 1150.", [("The total is 1151.", 0)]),
    "capital": (
        "Which country has Oslo as its capital city?",
        "Oslo is the capital of Norway.",
        [("Oslo is the capital of Sweden.", 0), ("Norway. " * 12, 1)],
    ),
    "brainstorm": (
        "List three ideas for mountain huts.",
        "1. Map the huts.\n2. Visit a hut.\n- Photograph hut roofs.",
        [("1. Map the huts.\n2. Visit a hut.", 0), ("1. Golf.\n2. Tennis.\n3. Chess.", 1)],
    ),
    "rewrite": (
        "Rewrite this sentence so it sounds more cheerful: 'I guess violins are fine.'",
        "Violins are wonderful!",
        [("Cellos are wonderful!", 0), ("Violins are dull.", 1), ("I guess violins are great.", 2)],
    ),
    "summarize": (
        "Summarize in one sentence: 'We spent the day with ponies. It was calm. Everyone was happy.'",
        "We had a calm day with the ponies.",
        [
            ("We saw ponies. It was calm.", 0),
            ("It was a calm, happy day.", 1),
            ("We spent a calm and happy and very long day together with all of the ponies there", 2),
        ],
    ),
    "classify": (
        "Is this review positive or negative? 'The ferries were disappointing and I would not go again.'",
        "Negative.",
        [("Positive.", 0), ("Negative, but also positive.", 1)],
    ),
    "poem": (
        "Write a three-line poem about comets.",
        "A comet burns,\nthe night sky turns,\nand wonder returns.",
        [("A comet burns,\nthe night sky turns.", 0), ("Rain falls,\nwind calls,\nnight sprawls.", 1)],
    ),
    "open_qa": (
        "Why do many people enjoy marathons?",
        "People enjoy marathons because finishing one feels like a big achievement.",
        [
            ("People enjoy chess because it is calm.", 0),
            ("Marathons are long races.", 1),
            ("Marathons are fun because " + "they are long races and " * 12 + "people run.", 2),
        ],
    ),
    "chat": (
        "Hi! Can you chat with me for a bit about volcanoes?",
        "Sure! What would you like to know about volcanoes?",
        [
            ("Sure! What would you like to know about rivers?", 0),
            ("Volcanoes are mountains.", 1),
            ("Volcanoes " + "are hot and tall and old " * 10 + "?", 2),
        ],
    ),
}
HOLISTIC = {"poem", "open_qa", "chat"}


def _trace(prompt: str, response: str):
    trace = teacher_trace(PreferencePair("test", "id", prompt, response))
    assert trace is not None, prompt
    trace.validate()
    return trace


def _met(trace) -> list[bool]:
    if trace.protocol == "rubric":
        return [j["satisfaction"] == "met" for j in trace.judgments]
    return [j["judgment"].startswith("good") for j in trace.judgments]


@pytest.mark.parametrize("family", sorted(CASES))
def test_each_family_passes_the_good_response_and_fails_each_built_in_flaw(family):
    prompt, good, flaws = CASES[family]
    assert standard(prompt)[0] == family
    best = _trace(prompt, good)
    assert best.protocol == ("holistic" if family in HOLISTIC else "rubric")
    assert all(_met(best)) and best.score == 10 and best.extra["family"] == family
    for bad, item in flaws:
        trace = _trace(prompt, bad)
        assert trace.schema == best.schema  # one schema per prompt, whatever the response
        assert not _met(trace)[item], (bad, trace.judgments)
        assert trace.score < best.score


def test_every_family_has_a_case():
    assert set(CASES) == set(FAMILIES)


def test_unknown_prompts_and_unfixed_labels_get_no_trace():
    for prompt in (
        "Write a haiku about snow.",
        "Which country has Atlantis as its capital?",
        "Give me many ideas related to owls.",
        "Is this review positive or negative? 'The tea was wonderful but disappointing.'",
    ):
        assert teacher_trace(PreferencePair("test", "id", prompt, "Anything.")) is None


@settings(max_examples=60, deadline=None)
@given(family=st.sampled_from(sorted(CASES)), response=st.text(max_size=200))
def test_score_is_the_weighted_share_of_items_met(family, response):
    trace = _trace(CASES[family][0], response)
    weights = [item.get("weight", 1.0) for item in trace.schema]
    share = sum(w for w, met in zip(weights, _met(trace), strict=True) if met) / sum(weights)
    assert trace.score == round(1 + 9 * share) and 1 <= trace.score <= 10
    assert (trace.reasoning == "Meets every point of the standard.") == all(_met(trace))


def test_every_mini_pair_is_judged_and_the_better_response_scores_higher():
    by_prompt: dict[str, list[tuple[float, int]]] = {}
    for source in loaders.PAIR_SOURCES:
        for pair in loaders.load_pairs(source, "mini"):
            trace = _trace(pair.prompt, pair.response)
            by_prompt.setdefault(pair.prompt, []).append((pair.human_score, trace.score))
    families = {standard(p)[0] for p in by_prompt}
    assert families == set(FAMILIES)
    for prompt, rows in by_prompt.items():
        rows.sort()
        assert rows[0][1] < rows[-1][1], (prompt, rows)


def test_teacher_covers_the_no_robots_prompts_without_sharing_their_texts():
    chat = loaders.load_train("chat", "mini", 10_000, 42)
    assert all(standard(p.text) is not None for p in chat)
    assert {standard(p.text)[0] for p in chat} == set(FAMILIES) - {"sum", "capital"}
    pair_prompts = {p.prompt for s in loaders.PAIR_SOURCES for p in loaders.load_pairs(s, "mini")}
    assert not pair_prompts & {p.text for p in chat}
