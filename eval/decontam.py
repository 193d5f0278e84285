"""Train–test decontamination (paper Sec. 4.1): normalised exact match, then token 5-gram Jaccard >= 0.8.

An evaluation text is contaminated when some training text

* is identical to it after normalisation (NFKC, lower-case, punctuation removed, whitespace collapsed), or
* shares token n-grams with it at Jaccard similarity ``|A & B| / |A | B| >= threshold``.

Texts shorter than ``n`` tokens have no n-grams, so for them only the exact-match rule applies (a
three-word prompt "what is 2+2" must not be flagged because a long training prompt contains it).

Candidates come from an inverted index probed with the AllPairs *prefix filter* (Bayardo et al.,
2007), which is exact, not approximate. Fix one global order of n-grams (here: by hash). If
J(A, B) >= t then |A & B| >= ceil(t|A|) and >= ceil(t|B|), and then the first |A| - ceil(t|A|) + 1
n-grams of A and the first |B| - ceil(t|B|) + 1 n-grams of B (in that order) must share one. So only
each training text's prefix is indexed (7 of 30 n-grams at t=0.8), only each evaluation text's prefix
is probed, and every candidate is then checked with the exact Jaccard on the full sets: no pair at or
above the threshold is missed, and no pair below it is flagged.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from functools import cache

_SPACE = re.compile(r"\s+")


class _PunctuationTable(dict):
    """str.translate table deleting every Unicode punctuation code point (categories Pc Pd Ps Pe Pi Pf
    Po) and keeping every other one. Filled on first sight of each code point: a table built up front
    walks all 1.1 M code points (seconds of start-up in every process that decontaminates), while
    texts use a few hundred distinct ones."""

    def __missing__(self, cp: int) -> int | None:
        value = None if unicodedata.category(chr(cp)).startswith("P") else cp
        self[cp] = value
        return value


@cache
def _punctuation() -> _PunctuationTable:
    return _PunctuationTable()


NGram = tuple[str, ...]


def normalize(text: str) -> str:
    """NFKC, lower-case, Unicode punctuation (category P*) removed, whitespace collapsed and trimmed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(_punctuation())
    return _SPACE.sub(" ", text).strip()


def ngrams(tokens: list[str], n: int) -> set[NGram]:
    """The set of contiguous token n-grams (empty when there are fewer than ``n`` tokens)."""
    return set(zip(*(tokens[i:] for i in range(n)), strict=False))


def jaccard(a: set[NGram], b: set[NGram]) -> float:
    """|a & b| / |a | b|; two empty sets are defined as dissimilar (0.0), never as identical."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def flag_contaminated(
    eval_texts: list[str], train_texts: list[str], n: int = 5, threshold: float = 0.8
) -> list[bool]:
    """One flag per evaluation text: True if it matches a training text (see the module docstring)."""
    if n < 1:
        raise ValueError(f"decontamination n-gram size must be >= 1, got n={n}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"decontamination Jaccard threshold must be in (0, 1], got threshold={threshold}")

    exact: set[str] = set()
    train_grams: list[set[NGram]] = []
    index: dict[NGram, list[int]] = defaultdict(list)
    for text in train_texts:
        norm = normalize(text)
        exact.add(norm)
        grams = ngrams(norm.split(), n)
        for g in _prefix(grams, threshold):
            index[g].append(len(train_grams))
        train_grams.append(grams)

    flags: list[bool] = []
    for text in eval_texts:
        norm = normalize(text)
        if norm in exact:
            flags.append(True)
            continue
        grams = ngrams(norm.split(), n)
        flags.append(bool(grams) and _near_duplicate(grams, index, train_grams, threshold))
    return flags


def _prefix(grams: set[NGram], threshold: float) -> list[NGram]:
    """The first |S| - ceil(t|S|) + 1 n-grams of S in the global (hash) order."""
    size = len(grams)
    keep = size - math.ceil(threshold * size - 1e-9) + 1
    return sorted(grams, key=hash)[:keep]


def _near_duplicate(
    grams: set[NGram], index: dict[NGram, list[int]], train_grams: list[set[NGram]], threshold: float
) -> bool:
    """Candidates whose indexed prefix meets this text's prefix, then the exact Jaccard on each."""
    size = len(grams)
    lo, hi = threshold * size - 1e-9, size / threshold + 1e-9
    seen: set[int] = set()
    for g in _prefix(grams, threshold):
        for tid in index.get(g, ()):
            if tid in seen:
                continue
            seen.add(tid)
            other = train_grams[tid]
            # |B| outside [t|A|, |A|/t] cannot reach the threshold: skip the set intersection.
            if lo <= len(other) <= hi and jaccard(grams, other) >= threshold:
                return True
    return False
