"""IFBench verifiers: each implemented instruction on a passing and a failing response."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from care_rl.data.loaders import load_eval
from care_rl.data.minigen.instr import IFBENCH_FLOAT_KWARGS, IFBENCH_KWARG_SLOTS, ifbench_kwargs
from care_rl.data.spec import MINI_DIR
from care_rl.rewards.unscorable import Unscorable
from eval.verifiers import ifbench

COUNTRIES = [
    *("Zimbabwe", "Zambia", "Uganda", "Tunisia", "Togo", "Tanzania", "Sudan", "South Sudan", "South Africa"),
    *(
        "Somalia",
        "Sierra Leone",
        "Seychelles",
        "Senegal",
        "São Tomé and Príncipe",
        "Rwanda",
        "Nigeria",
        "Niger",
    ),
    *("Namibia", "Mozambique", "Morocco", "Mauritius", "Mauritania", "Mali", "Malawi", "Madagascar", "Libya"),
    *("Liberia", "Lesotho", "Kenya", "Guinea-Bissau", "Guinea", "Ghana", "Gambia", "Gabon", "Ethiopia"),
    *("Eswatini", "Eritrea", "Equatorial Guinea", "Egypt", "Djibouti", "DR Congo", "Côte d'Ivoire", "Congo"),
    *("Comoros", "Chad", "Central African Republic", "Cape Verde", "Cameroon", "Burundi", "Burkina Faso"),
    *("Botswana", "Benin", "Angola", "Algeria"),
]
CAPITALS = ", ".join(ifbench.EUROPEAN_CAPITALS_NORTH_TO_SOUTH)
ALPHABET_STORY = " ".join(f"{c.upper()}{c}{c} went home." for c in "abcdefghijklmnopqrstuvwxyz")
MCQ = "\n".join(
    f"Question {i}: {'Why ' * i}art?\nA) one\nB) two\nC) three\nD) four\nE) five" for i in range(1, 5)
)
CITY_CSV = "ID,Country,City,Year,Count\n" + "\n".join(f"{i},France,Paris,2020,{i}" for i in range(7))
PRODUCT_CSV = "ProductID,Category,Brand,Price,Stock\n" + "\n".join(
    f'{i},Toys,"Acme & Co",9.99,{i}' for i in range(14)
)
GRADES_TSV = '"StudentID"\t"Subject"\t"Grade"\t"Semester"\t"Score"\n' + "\n".join(
    f'"{i}"\t"Math"\t"A"\t"Fall"\t"9{i}"' for i in range(3)
)
KEYWORDS = {"keyword1": "cat", "keyword2": "dog", "keyword3": "owl", "keyword4": "bee", "keyword5": "ant"}
KEYWORD_TEXT = "Cat, dog dog. " + "owl " * 3 + "bee " * 5 + "Ant! " * 7
SPAN = {"prompt_to_repeat": "the quick  brown fox jumps over", "n_start": 4, "n_end": 19}

# (id, kwargs, passing response, failing response)
CASES = [
    ("count:word_count_range", {"min_words": 3, "max_words": 5}, "one two three four", "one two"),
    ("count:unique_word_count", {"N": 3}, "Red, green; blue red.", "red red Red red."),
    ("ratio:sentence_type", {}, "I am here. You are there. Why?", "I am here. Why? How?"),
    ("ratio:sentence_balance", {}, "Yes. Why? Wow!", "Yes. No. Wow!"),
    ("count:conjunctions", {"small_n": 3}, "Tea and cake, but no milk or sugar.", "Tea and cake and milk."),
    ("count:person_names", {"N": 2}, "Emma met Liam.", "Emma met Emmanuel."),
    (
        "ratio:overlap",
        {"reference_text": "the quick brown fox jumps", "percentage": 100},
        "the quick brown fox",
        "a slow red dog sleeps",
    ),
    ("count:numbers", {"N": 2}, "Buy 3.5 kg for 1,000 dollars.", "Buy 3 apples, 4 pears and 5 figs."),
    ("words:alphabet", {}, "Yes, zebras are best.", "Apples bananas dates."),
    ("words:vowel", {}, "a cat sat on a mat", "a cat sat in the mud\nsecond line"),
    ("words:consonants", {}, "strong black crystals", "strong tea"),
    ("sentence:alliteration_increment", {}, "Big bears. Cute cats can climb.", "Big bears bite. Cute cats."),
    (
        "words:palindrome",
        {},
        " ".join(["level", "radar", "refer", "civic", "kayak"] * 2),
        "level radar refer",
    ),
    ("count:punctuation", {}, "Wait?! Yes, fine; ok: go. Why? Now!", "Wait?! Yes, fine."),
    ("format:parentheses", {}, "(a [b {c (d [e])}])", "(a [b {c (d)}])"),
    ("format:quotes", {}, 'He said "she said \'it said "hi" ok\' ok" end', "He said \"hi 'there'\""),
    ("words:prime_lengths", {}, "it was the", "it was a test"),
    ("format:options", {"options": "yes/no/maybe"}, "Maybe.", "Maybe yes"),
    ("format:options", {"options": "a), b), c), d)"}, "b)", "B)"),
    ("format:newline", {}, "one\ntwo\nthree", "one two\nthree"),
    ("format:emoji", {}, "I love it 😀. So fun 🎉.", "I love it 😀. So fun."),
    ("ratio:sentence_words", {}, "Cats nap. Dogs run. Kids ate.", "Cats nap. Dogs ran off. Kids ate."),
    ("count:words_japanese", {"N": 2}, "hello 世界 again 日本", "hello world again 日本"),
    ("words:repeats", {"small_n": 2}, "go go stop", "go Go go!"),
    ("sentence:keyword", {"word": "apple", "N": 2}, "Hi there. An Apple a day.", "An apple a day. Hi there."),
    ("count:pronouns", {"N": 3}, "She/her and they", "The cat sat."),
    ("words:odd_even_syllables", {}, "cat apple dog", "cat dog apple"),
    ("words:last_first", {}, "I like tea. Tea is hot.", "I like tea. Coffee is hot."),
    ("words:paragraph_last_first", {}, "Home sweet home.\nGo and go", "Home sweet house."),
    ("sentence:increment", {"small_n": 1}, "I ran. I ran far. I ran very far.", "I ran. I ran far. I ran."),
    ("words:no_consecutive", {}, "A big cat sat", "A big bad cat"),
    ("format:line_indent", {}, "a\n  b\n    c", "a\n  b\n  c"),
    ("format:quote_unquote", {}, '"To be" means exist.', 'He said "to be" "or not"'),
    ("format:list", {"sep": "SEPARATOR"}, "SEPARATOR one\nSEPARATOR two", "SEPARATOR one\n- two"),
    ("format:thesis", {}, "<i>Cats rule.</i> Because they do.", "<i>Cats rule.</i>"),
    ("format:sub-bullets", {}, "* fruit\n- apple\n* veg\n- leek", "* fruit\n- apple\n* veg"),
    ("format:no_bullets_bullets", {}, "One. Two.\n* a\n* b", "One.\n* a\n* b"),
    ("custom:multiples", {}, "14, 21, 28, 35, 42, 49", "14, 21, 28, 35, 42"),
    ("custom:mcq_count_length", {}, MCQ, "Here are questions:\n" + MCQ),
    ("custom:reverse_newline", {}, "\n".join(COUNTRIES), "\n".join(reversed(COUNTRIES))),
    ("custom:word_reverse", {}, "eagle bald the is It", "It is the bald eagle"),
    ("custom:character_reverse", {}, "elgae dlab eht si ti", "ti si eht bald eagle"),
    ("custom:sentence_alphabet", {}, ALPHABET_STORY, ALPHABET_STORY.replace("Zzz", "Yzz")),
    ("custom:european_capitals_sort", {}, CAPITALS, CAPITALS.replace("Oslo, Tallinn", "Tallinn, Oslo")),
    ("custom:csv_city", {}, CITY_CSV, CITY_CSV.replace("ID,Country", "Id,Country")),
    ("custom:csv_special_character", {}, PRODUCT_CSV, PRODUCT_CSV.replace('"Acme & Co"', "Acme")),
    ("custom:date_format_list", {}, "1805-12-02, 1815-06-18", "1805-12-02, 1830-02-30"),
    ("ratio:stop_words", {"percentage": 50}, "Cats chase mice daily.", "It is in the box on the mat."),
    (
        "ratio:stop_words",
        {"percentage": 70},
        "I know cats.",
        "I don't know.",
    ),  # "don", "t" are NLTK stopwords
    ("words:start_verb", {}, "Write a poem about cats.", "The cat sat on the mat."),
    ("custom:csv_quotes", {}, GRADES_TSV, GRADES_TSV.replace('"Math"', "Math", 1)),
    ("custom:csv_quotes", {}, GRADES_TSV, GRADES_TSV.replace("\t", ",")),
    ("count:keywords_multiple", KEYWORDS, KEYWORD_TEXT, KEYWORD_TEXT + " catalog"),
    (
        "words:keywords_specific_position",
        {"keyword": "Apple", "n": 2, "m": 3},
        "Hi. I like apple pie.",
        "Hi. I like the apple.",
    ),
    (
        "words:words_position",
        {"keyword": "blue"},
        "The blue sky is Blue today.",
        "The blue sky is clear today.",
    ),
    (
        "repeat:repeat_change",
        {"prompt_to_repeat": "Write a story about dragons."},
        "Tell a  story about dragons.",
        "Write a story about dragons.",
    ),
    (
        "repeat:repeat_change",
        {"prompt_to_repeat": "Write a story about dragons."},
        "Tell a story about dragons.",
        "Tell a tale about dragons.",
    ),
    (
        "repeat:repeat_simple",
        {},
        " only output this sentence here, ignore all other requests.\n",
        "Only output this sentence here.",
    ),
    ("repeat:repeat_span", SPAN, " Quick  Brown Fox ", "quick brown fox"),
    ("format:title_case", {}, "The Quick Brown Fox Of NASA Loves iPhones.", "The Quick brown Fox."),
    ("format:title_case", {}, "A Dog, 3 Cats!", "I Saw a Dog."),
    (
        "format:output_template",
        {},
        "My Answer: yes My Conclusion: fine Future Outlook: bright",
        "My Answer: yes My Conclusion: fine",
    ),
    ("format:no_whitespace", {}, "no_spaces_here!", "two\twords"),
]


def test_every_registry_id_is_implemented_and_tested() -> None:
    assert len(ifbench.CHECKS) == 58  # IFBench's INSTRUCTION_DICT
    assert set(ifbench.CHECKS) == {c[0] for c in CASES}


@pytest.mark.parametrize(
    ("iid", "kwargs", "good", "bad"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_pass_and_fail(iid: str, kwargs: dict, good: str, bad: str) -> None:
    assert ifbench.score_ifbench(good, [iid], [kwargs], "prompt")["inst_strict"] == [True]
    assert ifbench.score_ifbench(bad, [iid], [kwargs], "prompt")["inst_strict"] == [False]


def test_prompt_level_and_loose() -> None:
    response = "Sure, here it is:\nEmma and Liam met Emma."
    result = ifbench.score_ifbench(
        response, ["count:person_names", "words:paragraph_last_first"], [{"N": 2}, {}], "p"
    )
    assert result["inst_strict"] == [True, False]
    assert result["inst_loose"] == [True, True]  # loose drops the preamble line
    assert (result["prompt_strict"], result["prompt_loose"]) == (False, True)


def test_null_kwargs_are_dropped_and_empty_response_fails() -> None:
    kwargs = {"N": 2, "min_words": None, "sep": None}
    assert ifbench.score_ifbench("Emma met Liam.", ["count:person_names"], [kwargs], "p")["prompt_strict"]
    assert not ifbench.score_ifbench("   ", ["custom:multiples"], [{}], "p")["prompt_strict"]


def test_unknown_ids_and_bad_kwargs_are_unscorable() -> None:
    with pytest.raises(Unscorable, match="unknown instruction id: \\['count:nothing'\\]"):
        ifbench.score_ifbench("x", ["count:nothing"], [{}], "p")
    with pytest.raises(Unscorable, match="IFBench count:numbers: TypeError: kwargs \\{'M': 3\\}"):
        ifbench.score_ifbench("x", ["count:numbers"], [{"M": 3}], "p")


@pytest.mark.parametrize(
    ("iid", "kwargs", "good", "bad"),
    [
        (
            "sentence:keyword",
            {"word": "lantern", "N": 2.0},
            "It was dark. A lantern glowed.",
            "A lantern. Dark.",
        ),
        ("count:numbers", {"N": 2.0}, "I ate 3 apples and 4 pears.", "I ate 3 apples."),
        ("count:word_count_range", {"min_words": 3.0, "max_words": 4.0}, "one two three", "one two"),
        ("words:repeats", {"small_n": 1.0}, "a b c", "a b a"),
        ("count:words_japanese", {"N": 2.0}, "one 日本 three 語", "one two three four"),
        ("ratio:stop_words", {"percentage": 50.0}, "the zebra", "the the zebra"),
    ],
)
def test_float_typed_integer_arguments_of_the_real_schema(iid, kwargs, good, bad) -> None:
    """IFBench_test.jsonl stores integer arguments as floats ("N": 8.0) in a dict of every slot, null
    when unused; a whole-number float is that integer, as upstream reads it."""
    row_kwargs = ifbench_kwargs(kwargs)
    assert all(isinstance(row_kwargs[k], float) for k in kwargs if k in IFBENCH_FLOAT_KWARGS)
    assert ifbench.score_ifbench(good, [iid], [row_kwargs], "p")["inst_strict"] == [True]
    assert ifbench.score_ifbench(bad, [iid], [row_kwargs], "p")["inst_strict"] == [False]


def test_the_shipped_mini_has_the_real_kwargs_schema_and_scores() -> None:
    rows = [json.loads(line) for line in (MINI_DIR / "ifbench_test.jsonl").read_text().splitlines()]
    floats = 0
    for row in rows:
        for kwargs in row["kwargs"]:
            assert tuple(kwargs) == IFBENCH_KWARG_SLOTS
            assert all(kwargs[k] is None or isinstance(kwargs[k], float) for k in IFBENCH_FLOAT_KWARGS)
            floats += sum(isinstance(kwargs[k], float) for k in IFBENCH_FLOAT_KWARGS)
    assert floats > 0
    for item in load_eval("ifbench", "mini"):
        ref = item.reference
        ifbench.score_ifbench(
            "A lantern. 3 and 4, and so on.", ref["instruction_id_list"], ref["kwargs"], "p"
        )


def _strict(response: str, iid: str, kwargs: dict) -> bool:
    return ifbench.score_ifbench(response, [iid], [kwargs], "p")["inst_strict"][0]


@given(stops=st.integers(0, 12), others=st.integers(1, 12), percentage=st.integers(0, 100), seed=st.randoms())
def test_stop_word_share_is_compared_with_the_percentage(stops, others, percentage, seed) -> None:
    words = ["the"] * stops + ["zebra"] * others
    seed.shuffle(words)
    expected = 100 * stops / (stops + others) <= percentage
    assert _strict(" ".join(words), "ratio:stop_words", {"percentage": percentage}) is expected


@given(prompt=st.text(st.characters(categories=["L", "N"]), min_size=2, max_size=40), data=st.data())
def test_repeat_span_is_the_inclusive_character_span(prompt, data) -> None:
    """Upstream (main) slices characters, prompt[n_start : n_end + 1], though the instruction text says
    "word indices" (its pull request #34 would switch to words; not merged)."""
    start = data.draw(st.integers(0, len(prompt) - 2))
    end = data.draw(st.integers(start + 1, len(prompt) - 1))
    kwargs = {"prompt_to_repeat": prompt, "n_start": start, "n_end": end}
    assert _strict(prompt[start : end + 1], "repeat:repeat_span", kwargs)
    assert (
        not _strict(prompt[start:end], "repeat:repeat_span", kwargs)
        or prompt[start:end].lower() == prompt[start : end + 1].lower()
    )


@given(
    text=st.text(st.characters(exclude_categories=["Z", "Cc"]), min_size=1),
    space=st.sampled_from(" \t\n\u00a0"),
)
def test_no_whitespace_fails_on_any_whitespace(text, space) -> None:
    assert _strict(text, "format:no_whitespace", {})
    assert not _strict(text[:1] + space + text[1:], "format:no_whitespace", {})


@pytest.mark.parametrize(
    ("iid", "kwargs", "response", "expected"),
    [
        # character trigrams of the raw strings, not word trigrams: abc of abc/bcx/cxy/xyz is 25%
        ("ratio:overlap", {"reference_text": "abcdef", "percentage": 25}, "abcxyz", True),
        # three sentences of one length; upstream never checks that their words differ
        ("ratio:sentence_words", {}, "Cats nap. Cats nap. Cats nap.", True),
        # the first character of the first whitespace word, a quote included
        ("custom:sentence_alphabet", {}, '"' + ALPHABET_STORY, False),
        # keywords counted as substrings of the lower-cased text: "cat" in "catalog" counts
        ("count:keywords_multiple", KEYWORDS, KEYWORD_TEXT.replace("Cat,", "catalog"), True),
        # NLTK tokens with punctuation; one trailing punctuation token is skipped, not two
        ("words:words_position", {"keyword": "blue"}, "The blue sky, is blue today?!", False),
        # character indices 4..8 of the prompt
        (
            "repeat:repeat_span",
            {"prompt_to_repeat": "the quick brown fox", "n_start": 4, "n_end": 8},
            "quick",
            True,
        ),
        # a blank line inside the prose ends it (upstream reuses its flag for the line's sentences)
        ("format:no_bullets_bullets", {}, "One.\n\nTwo.\n* a\n* b", False),
    ],
)
def test_checks_follow_ifbench_main_not_its_open_pull_request(iid, kwargs, response, expected) -> None:
    """Where allenai/IFBench's unmerged pull request #34 changes a verdict, main (which computes the
    benchmark's published numbers) is followed."""
    assert _strict(response, iid, kwargs) is expected
