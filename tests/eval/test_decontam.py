"""Decontamination semantics: normalised exact match, 5-gram Jaccard >= 0.8, short texts exact only."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from eval.decontam import flag_contaminated, jaccard, ngrams, normalize


def _grams(text: str, n: int = 5):
    return ngrams(normalize(text).split(), n)


LONG = (
    "a farmer has seventeen sheep and all but nine of them run away through a gap in the fence "
    "so how many sheep does the farmer have left at the end of the day"
)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_normalize_deletes_exactly_the_unicode_punctuation(text):
    """The lazily filled translate table agrees with a per-character category check on any text."""
    reference = "".join(
        c for c in unicodedata.normalize("NFKC", text).lower() if not unicodedata.category(c).startswith("P")
    )
    assert normalize(text) == " ".join(reference.split())


def test_normalised_duplicates_are_flagged():
    train = ["What is the capital of France?"]
    evals = [
        "  WHAT is the capital   of france ",
        "Ｗｈａｔ is the capital of France!!",
        "What is the capital of Spain?",
    ]
    assert flag_contaminated(evals, train) == [True, True, False]


def test_one_word_changed_in_a_long_sentence_is_not_flagged_at_0_8():
    changed = LONG.replace("gap in the fence", "hole in the fence")
    a, b = _grams(LONG), _grams(changed)
    # 34 tokens -> 30 five-grams each; one changed word breaks the 5 windows that contain it:
    # shared 25, union 30 + 30 - 25 = 35, Jaccard 25/35 = 0.714 < 0.8.
    assert (len(a), len(b), len(a & b)) == (30, 30, 25)
    assert jaccard(a, b) == 25 / 35
    assert flag_contaminated([changed], [LONG]) == [False]
    # The same edit at the very end only breaks one window: 29/31 = 0.94 >= 0.8, flagged.
    tail = LONG.rsplit(" ", 1)[0] + " night"
    assert jaccard(_grams(LONG), _grams(tail)) == 29 / 31
    assert flag_contaminated([tail], [LONG]) == [True]


def test_short_texts_use_exact_match_only():
    train = ["the cat sat on the mat today", "Two plus two?"]
    assert flag_contaminated(["the cat sat", "two plus TWO", "two plus three"], train) == [False, True, False]


def test_bad_parameters_name_the_value():
    import pytest

    with pytest.raises(ValueError, match="n=0"):
        flag_contaminated(["a"], ["a"], n=0)
    with pytest.raises(ValueError, match=r"threshold=1\.5"):
        flag_contaminated(["a"], ["a"], threshold=1.5)


def _brute_force(evals: list[str], train: list[str], n: int, t: float) -> list[bool]:
    out = []
    for e in evals:
        ne, ge = normalize(e), _grams(e, n)
        out.append(any(ne == normalize(x) or (ge and jaccard(ge, _grams(x, n)) >= t) for x in train))
    return out


_text = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=0, max_size=12).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(
    evals=st.lists(_text, min_size=1, max_size=6),
    train=st.lists(_text, min_size=0, max_size=8),
    n=st.integers(1, 4),
    t=st.sampled_from([0.3, 0.5, 0.8, 1.0]),
)
def test_prefix_filtered_index_equals_all_pairs_brute_force(evals, train, n, t):
    """The inverted index + prefix filter is exact: same flags as comparing every pair."""
    assert flag_contaminated(evals, train, n=n, threshold=t) == _brute_force(evals, train, n, t)
