"""RLVR-IFeval training verifier: every function on a passing and a failing response."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from care_rl.rewards import rlvr_if
from care_rl.rewards.unscorable import Unscorable

# (func_name, arguments, passing response, failing response)
CASES = [
    (
        "verify_keywords",
        {"keyword_list": ["Apple", "pie"]},
        "I baked an apple PIE.",
        "I baked an apple tart.",
    ),
    ("verify_keyword_frequency", {"word": "cat", "N": 2}, "Cat and cat.", "cat, cat, cats and a CAT"),
    (
        "validate_forbidden_words",
        {"forbidden_words": ["bad", "evil"]},
        "All good here.",
        "Such an EVIL plan.",
    ),
    ("verify_letter_frequency", {"letter": "l", "N": 3}, "hello world", "Hello"),
    (
        "validate_response_language",
        {"language": "de"},
        "Das ist ein ganz normaler deutscher Satz über das Wetter und die Stadt.",
        "This is a perfectly ordinary English sentence about the weather.",
    ),
    (
        "verify_paragraph_count",
        {"N": 2},
        "First part.\n* * *\nSecond part.",
        "First.\n* * *\n\n* * *\nThird.",
    ),
    (
        "validate_word_constraint",
        {"N": 5, "quantifier": "at most"},
        "one two three",
        "one two three four five six",
    ),
    (
        "validate_word_constraint",
        {"N": 20, "quantifier": "around"},
        " ".join(["w"] * 22),
        " ".join(["w"] * 23),
    ),
    ("validate_word_constraint", {"N": 3, "quantifier": "at least"}, "a b c", "a b"),
    (
        "verify_sentence_constraint",
        {"N": 2, "quantifier": "at least"},
        "Hi there. Mr. Smith left!",
        "Hi Mr. Smith.",
    ),
    ("verify_sentence_constraint", {"N": 3, "quantifier": "around"}, "A. B. C. D.", "A. B. C. D. E."),
    (
        "validate_paragraphs",
        {"N": 2, "first_word": "Second", "i": 2},
        "Intro.\n\nSecond one.",
        "Intro.\n\nThird one.",
    ),
    ("verify_postscript", {"postscript_marker": "P.S."}, "Body.\nP.S. see you", "Body.\nP.S."),
    ("validate_placeholders", {"N": 2}, "Dear [name], at [address].", "Dear [name]."),
    ("verify_bullet_points", {"N": 2}, "* one\n- two\ntext", "* one\n* two\n* three"),
    ("validate_title", {}, "<<My Poem>>\nroses", "My Poem\nroses"),
    ("validate_choice", {"options": ["My answer is yes.", "My answer is no."]}, "My answer is no.", "Maybe."),
    ("validate_highlighted_sections", {"N": 2}, "*one* and *two*", "*one* only"),
    (
        "validate_sections",
        {"N": 2, "section_splitter": "Section"},
        "SECTION 1\nx\nSection 2\ny",
        "Section 1\nx",
    ),
    ("validate_json_format", {}, '{"a": [1, 2]}', '```json\n{"a": 1}\n```'),
    (
        "validate_repeat_prompt",
        {"original_prompt": "Write a poem."},
        "Write a poem. Roses...",
        "Sure! Write a poem.",
    ),
    ("validate_two_responses", {}, "First answer.\n******\nSecond answer.", "Same.\n******\nSame."),
    ("validate_uppercase", {}, "ALL CAPS, 123!", "ALL CAPs"),
    ("validate_lowercase", {}, "all lower, 123!", "all Lower"),
    ("validate_frequency_capital_words", {"N": 2, "quantifier": "at least"}, "USA and NASA", "USA and Nasa"),
    ("validate_frequency_capital_words", {"N": 1, "quantifier": "at most"}, "One USA", "USA NASA FBI"),
    (
        "validate_end",
        {"end_phrase": "Any other questions?"},
        "Done. Any other questions?",
        "Any other questions? Bye.",
    ),
    ("validate_quotation", {}, '"quoted whole"', '"quoted" not whole'),
    ("validate_no_commas", {}, "no commas here", "one, two"),
]


def _gt(name: str, args: dict) -> str:
    return json.dumps({"func_name": name, **args})


def test_every_reference_function_is_covered() -> None:
    assert {c[0] for c in CASES} == set(rlvr_if.IF_FUNCTIONS)
    assert len(rlvr_if.IF_FUNCTIONS) == 25  # IF_FUNCTIONS_MAP in open-instruct's if_functions.py


@pytest.mark.parametrize(
    ("name", "args", "good", "bad"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_pass_and_fail(name: str, args: dict, good: str, bad: str) -> None:
    assert rlvr_if.score(good, _gt(name, args)) == 1.0
    assert rlvr_if.score(bad, _gt(name, args)) == 0.0


def test_null_arguments_are_dropped_and_thinking_is_stripped() -> None:
    gt = json.dumps({"func_name": "validate_lowercase", "N": None, "quantifier": None, "keyword_list": None})
    assert rlvr_if.score("<think>Let Me Think</think>\n all lowercase", gt) == 1.0


@pytest.mark.parametrize(
    ("ground_truth", "match"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "func_name"),
        ('{"N": 3}', "func_name"),
        ('{"func_name": "validate_everything"}', "validate_everything"),
        ('{"func_name": "validate_lowercase", "N": 3}', "unexpected arguments \\['N'\\]"),
        ('{"func_name": "validate_word_constraint", "N": 3, "quantifier": "roughly"}', "roughly"),
        ('{"func_name": "verify_letter_frequency", "letter": "ab", "N": 1}', "one character"),
    ],
)
def test_malformed_ground_truth_raises(ground_truth: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rlvr_if.score("some response", ground_truth)


@given(st.text(max_size=200))
def test_case_checks_agree_with_str_methods(text: str) -> None:
    answer = rlvr_if.strip_thinking(text)
    assert rlvr_if.score(text, _gt("validate_lowercase", {})) == float(answer == answer.lower())
    assert rlvr_if.score(text, _gt("validate_no_commas", {})) == float("," not in answer)


@given(st.lists(st.sampled_from(["a", "b", "c d"]), max_size=30), st.integers(0, 40))
def test_word_quantifiers_partition(words: list[str], n: int) -> None:
    """ "at least N" and "at most N-1" are complementary on the same response."""
    text = " ".join(words)
    at_least = rlvr_if.score(text, _gt("validate_word_constraint", {"N": n, "quantifier": "at least"}))
    at_most = rlvr_if.score(text, _gt("validate_word_constraint", {"N": n - 1, "quantifier": "at most"}))
    assert at_least + at_most == 1.0


# --- open-instruct main, function by function (issue 17) ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        # main splits on the literal splitter and wants exactly N pieces (an empty lead piece dropped):
        ("Intro\nSection 1\nHello\nSection 2\nWorld", 2, False),  # intro + 2 sections = 3 pieces
        ("Intro\nSection 1\nHello\nSection 2\nWorld", 3, True),
        ("Section 1\na\nSection 2\nb\nSection 3\nc", 2, False),  # exactly, not at least
        ("Section\nHello\nSection\nWorld", 2, True),  # a bare splitter counts, no number needed
        ("SECTION 1\nx\nSECTION 2\ny", 2, False),  # case-sensitive: "Section" never occurs
    ],
)
def test_validate_sections_is_mains(text: str, n: int, expected: bool) -> None:
    """Open-instruct main's validate_sections, not the (unmerged) numbered/case-insensitive/at-least
    version of its pull request #1767."""
    assert rlvr_if.validate_sections(text, n, "Section") is expected


def test_validate_paragraphs_indexes_as_main() -> None:
    """i = 0 reads the last paragraph (Python's [-1]); i > N raises, which score() counts."""
    assert rlvr_if.validate_paragraphs("Alpha.\n\nBeta.", 2, "Beta", 0) is True
    with pytest.raises(IndexError):
        rlvr_if.validate_paragraphs("Alpha.\n\nBeta.", 2, "Beta", 3)
    with pytest.raises(Unscorable, match="validate_paragraphs raised IndexError"):
        rlvr_if.score("Alpha.\n\nBeta.", _gt("validate_paragraphs", {"N": 2, "first_word": "Beta", "i": 3}))


@pytest.mark.parametrize(
    "check",
    [
        lambda: rlvr_if.validate_word_constraint("a b", 1, "roughly"),
        lambda: rlvr_if.verify_sentence_constraint("A. B.", 1, "roughly"),
        lambda: rlvr_if.validate_frequency_capital_words("USA", 1, "roughly"),
    ],
)
def test_unknown_quantifier_fails_as_on_main(check) -> None:
    assert check() is False


@pytest.mark.parametrize(
    ("completion", "func_name", "expected"),
    [
        ('<think>plan</think><answer>"Quoted whole."</answer>', "validate_quotation", 1.0),
        ('<|assistant|>\n"Quoted whole."', "validate_quotation", 1.0),
        ("<|assistant|><think>Hmm.</think>\n<answer>ALL CAPS</answer>", "validate_uppercase", 1.0),
        ('<answer>{"a": 1}</answer>', "validate_json_format", 1.0),
        ("<think>A, B</think> no commas <answer>here</answer>", "validate_no_commas", 1.0),
    ],
)
def test_answer_cleaned_as_open_instruct(completion: str, func_name: str, expected: float) -> None:
    """open-instruct's remove_thinking_section: drop <|assistant|>, everything up to </think>, and the
    <answer> tags, then strip."""
    assert rlvr_if.score(completion, _gt(func_name, {})) == expected


def test_strip_thinking_removes_every_marker() -> None:
    assert (
        rlvr_if.strip_thinking(" <|assistant|> <think>a</think> <think>b</think> <answer> x </answer> ")
        == "x"
    )
