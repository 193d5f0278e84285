"""IFBench verifiers: each implemented instruction on a passing and a failing response."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
SPAN = {"prompt_to_repeat": "the quick  brown fox jumps over", "n_start": 1, "n_end": 3}

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
    ("ratio:sentence_words", {}, "Cats nap. Dogs run. Kids ate.", "Cats nap. Dogs nap. Kids ate."),
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
    ("count:keywords_multiple", KEYWORDS, KEYWORD_TEXT, KEYWORD_TEXT.replace("dog.", "dogs.")),
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
    ("repeat:repeat_span", SPAN, " Quick Brown Fox ", "quick brown"),
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


def test_unknown_ids_and_bad_kwargs_raise() -> None:
    with pytest.raises(ValueError, match="unknown instruction ids \\['count:nothing'\\]"):
        ifbench.score_ifbench("x", ["count:nothing"], [{}], "p")
    with pytest.raises(ValueError, match="bad kwargs"):
        ifbench.score_ifbench("x", ["count:numbers"], [{"M": 3}], "p")


def _strict(response: str, iid: str, kwargs: dict) -> bool:
    return ifbench.score_ifbench(response, [iid], [kwargs], "p")["inst_strict"][0]


@given(stops=st.integers(0, 12), others=st.integers(1, 12), percentage=st.integers(0, 100), seed=st.randoms())
def test_stop_word_share_is_compared_with_the_percentage(stops, others, percentage, seed) -> None:
    words = ["the"] * stops + ["zebra"] * others
    seed.shuffle(words)
    expected = 100 * stops / (stops + others) <= percentage
    assert _strict(" ".join(words), "ratio:stop_words", {"percentage": percentage}) is expected


@given(
    words=st.lists(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=6), min_size=2),
    data=st.data(),
)
def test_repeat_span_accepts_exactly_the_inclusive_span(words, data) -> None:
    start = data.draw(st.integers(0, len(words) - 2))
    end = data.draw(st.integers(start + 1, len(words) - 1))
    kwargs = {"prompt_to_repeat": "  ".join(words), "n_start": start, "n_end": end}
    assert _strict(" ".join(words[start : end + 1]), "repeat:repeat_span", kwargs)
    assert not _strict(" ".join(words[start:end]), "repeat:repeat_span", kwargs)


@given(
    text=st.text(st.characters(exclude_categories=["Z", "Cc"]), min_size=1),
    space=st.sampled_from(" \t\n\u00a0"),
)
def test_no_whitespace_fails_on_any_whitespace(text, space) -> None:
    assert _strict(text, "format:no_whitespace", {})
    assert not _strict(text[:1] + space + text[1:], "format:no_whitespace", {})
