"""The RLVR-IFeval training verifier: one constraint per prompt, named by ``func_name``, binary reward.

RLVR-IFeval (Tulu 3) rows carry ``ground_truth`` as a JSON object such as
``{"func_name": "validate_lowercase", "N": null, ...}``; the paper trains IF with "the rule-based
verifier from RLVR-IFeval". The checks below re-implement, function by function, the semantics of
``open_instruct/if_functions.py`` (IF_FUNCTIONS_MAP) on allenai/open-instruct's main branch, which the
RLVR-IFeval data was built for, including its quirks (substring keyword matching, whitespace word
counts, ``validate_sections`` splitting on the bare splitter and wanting exactly N pieces, an unknown
quantifier failing), because those quirks *are* the training signal the paper's models saw. Open pull
requests that change a function's verdict are not followed. scripts/verifier_agreement/ compares
every function with main's on open-instruct's own tests and its pull requests' tests, and on a few
thousand real and generated responses (docs/verifier_agreement.md).

The verifier around the functions is open-instruct's ``IFEvalVerifierOld``: the answer is cleaned by
:func:`strip_thinking` (its ``remove_thinking_section``), null arguments are dropped, the function is
called. Two deliberate differences. A response in which langdetect finds no language (empty, digits,
punctuation) is not in the language here; main lets langdetect's exception escape. A ground truth the
functions cannot take -- a two-letter ``letter`` or a paragraph index past N (main raises), an unknown
quantifier (main scores 0) -- makes :func:`score` raise :class:`~care_rl.rewards.unscorable.Unscorable`,
which the reward counts instead of crashing a training step or scoring the completion.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable

import langdetect

from care_rl import thinking
from care_rl.rewards.unscorable import Unscorable

_QUANTIFIERS = ("at least", "around", "at most")


def _compare(actual: int, n: int, quantifier: str, around_tolerance: int) -> bool:
    """``actual`` against ``n`` under "at least" / "around" (within tolerance) / "at most"; any other
    quantifier fails, as on main (:func:`parse_ground_truth` rejects one before it gets here)."""
    if quantifier == "at least":
        return actual >= n
    if quantifier == "at most":
        return actual <= n
    if quantifier == "around":
        return abs(actual - n) <= around_tolerance
    return False


def verify_keywords(text: str, keyword_list: list[str]) -> bool:
    """Every keyword occurs (case-insensitive substring)."""
    lowered = text.lower()
    return all(k.lower() in lowered for k in keyword_list)


def verify_keyword_frequency(text: str, word: str, N: int) -> bool:
    """``word`` occurs exactly N times as a whole word (case-insensitive)."""
    return re.findall(r"\b\w+\b", text.lower()).count(word.lower()) == N


def validate_forbidden_words(text: str, forbidden_words: list[str]) -> bool:
    """No forbidden word occurs (case-insensitive substring)."""
    lowered = text.lower()
    return not any(w.lower() in lowered for w in forbidden_words)


def verify_letter_frequency(text: str, letter: str, N: int) -> bool:
    """The (case-sensitive) letter occurs exactly N times."""
    if len(letter) != 1:
        raise ValueError(f"verify_letter_frequency: letter must be one character, got {letter!r}")
    return text.count(letter) == N


def validate_response_language(text: str, language: str) -> bool:
    """langdetect identifies the response as ``language`` (ISO 639-1 code). Text with no language
    features (empty, digits, punctuation) fails; main lets langdetect's exception escape there."""
    try:
        return langdetect.detect(text) == language
    except langdetect.LangDetectException:
        return False


def verify_paragraph_count(text: str, N: int) -> bool:
    """Exactly N non-empty paragraphs separated by the markdown divider ``* * *``."""
    cleaned = "\n".join(line.strip() for line in text.splitlines()).strip()
    parts = cleaned.split("* * *")
    return all(p.strip() for p in parts) and len(parts) == N


def validate_word_constraint(text: str, N: int, quantifier: str) -> bool:
    """Whitespace word count vs N; "around" allows max(round(10% of N), 1)."""
    return _compare(len(text.split()), N, quantifier, max(round(N * 0.1), 1))


def verify_sentence_constraint(text: str, N: int, quantifier: str) -> bool:
    """Sentences (split after . ? ! followed by whitespace, sparing "e.g."-like and "Mr."-like
    abbreviations) vs N; "around" allows +-1."""
    sentences = re.split(r"(?<!\w\.\w.)(?<![A-Z][a-z]\.)(?<=\.|\?|!)\s", text)
    return _compare(len(sentences), N, quantifier, 1)


def validate_paragraphs(text: str, N: int, first_word: str, i: int) -> bool:
    """Exactly N paragraphs separated by a blank line, the i-th (1-based) starting with ``first_word``.
    Indexed as main indexes: i = 0 reads the last paragraph, i > N raises IndexError."""
    paragraphs = text.split("\n\n")
    if len(paragraphs) != N:
        return False
    return paragraphs[i - 1].strip().startswith(first_word)


def verify_postscript(text: str, postscript_marker: str) -> bool:
    """The marker occurs and something follows it."""
    at = text.find(postscript_marker)
    return at >= 0 and len(text[at:].strip()) > len(postscript_marker)


def validate_placeholders(text: str, N: int) -> bool:
    """At least N square-bracket placeholders such as ``[address]``."""
    return len(re.findall(r"\[(.*?)\]", text)) >= N


def verify_bullet_points(text: str, N: int) -> bool:
    """Exactly N lines that start (after indentation) with ``*`` or ``-``."""
    return sum(1 for line in text.split("\n") if line.strip().startswith(("*", "-"))) == N


def validate_title(text: str) -> bool:
    """A title in double angular brackets, ``<<like this>>``."""
    return re.search(r"<<(.*?)>>", text) is not None


def validate_choice(text: str, options: list[str]) -> bool:
    """One of the options occurs (substring, as in the reference)."""
    return any(option in text for option in options)


def validate_highlighted_sections(text: str, N: int) -> bool:
    """At least N ``*highlighted*`` spans."""
    return len(re.findall(r"\*(.*?)\*", text)) >= N


def validate_sections(text: str, N: int, section_splitter: str) -> bool:
    """Exactly N sections: the text split on the literal splitter (case-sensitive, numbered or not),
    minus an empty piece before a leading splitter. "Intro\\nSection 1 ...Section 2 ..." is three."""
    sections = text.split(section_splitter)
    if sections[0] == "":
        sections.pop(0)
    return len(sections) == N


def validate_json_format(text: str) -> bool:
    """The whole response parses as JSON."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def validate_repeat_prompt(text: str, original_prompt: str) -> bool:
    """The response starts with the request, verbatim."""
    return text.startswith(original_prompt)


def validate_two_responses(text: str) -> bool:
    """Exactly one ``******`` separator between two different responses."""
    if text.count("******") != 1:
        return False
    first, second = (part.strip() for part in text.split("******"))
    return first != second


def validate_uppercase(text: str) -> bool:
    """No lowercase letters."""
    return text == text.upper()


def validate_lowercase(text: str) -> bool:
    """No capital letters."""
    return text == text.lower()


def validate_frequency_capital_words(text: str, N: int, quantifier: str) -> bool:
    """All-capital words vs N; "around" allows max(round(10% of N), 1)."""
    return _compare(len(re.findall(r"\b[A-Z]+\b", text)), N, quantifier, max(round(N * 0.1), 1))


def validate_end(text: str, end_phrase: str) -> bool:
    """The response ends with exactly this phrase."""
    return text.endswith(end_phrase)


def validate_quotation(text: str) -> bool:
    """The whole response is wrapped in double quotes."""
    return text.startswith('"') and text.endswith('"')


def validate_no_commas(text: str) -> bool:
    """No commas anywhere."""
    return "," not in text


IF_FUNCTIONS: dict[str, Callable[..., bool]] = {
    f.__name__: f
    for f in (
        verify_keywords,
        verify_keyword_frequency,
        validate_forbidden_words,
        verify_letter_frequency,
        validate_response_language,
        verify_paragraph_count,
        validate_word_constraint,
        verify_sentence_constraint,
        validate_paragraphs,
        verify_postscript,
        validate_placeholders,
        verify_bullet_points,
        validate_title,
        validate_choice,
        validate_highlighted_sections,
        validate_sections,
        validate_json_format,
        validate_repeat_prompt,
        validate_two_responses,
        validate_uppercase,
        validate_lowercase,
        validate_frequency_capital_words,
        validate_end,
        validate_quotation,
        validate_no_commas,
    )
}


def parse_ground_truth(ground_truth: str) -> tuple[Callable[..., bool], dict[str, object]]:
    """Resolve a ground_truth JSON string to (check function, its non-null arguments).

    Raises :class:`Unscorable` naming the problem: not JSON, not an object, no/unknown ``func_name``,
    an argument the function does not take (which would otherwise surface as a TypeError mid-training),
    or a quantifier other than "at least" / "around" / "at most" (which main would score 0).
    """
    try:
        spec = json.loads(ground_truth)
    except (TypeError, json.JSONDecodeError) as err:
        raise Unscorable("ground_truth is not valid JSON", f"{ground_truth!r} ({err})") from err
    if not isinstance(spec, dict) or "func_name" not in spec:
        raise Unscorable(
            "ground_truth has no func_name", f"must be a JSON object with 'func_name': {ground_truth!r}"
        )
    name = spec["func_name"]
    if name not in IF_FUNCTIONS:
        raise Unscorable("ground_truth has an unknown func_name", f"{name!r}; known: {sorted(IF_FUNCTIONS)}")
    func = IF_FUNCTIONS[name]
    kwargs = {k: v for k, v in spec.items() if k != "func_name" and v is not None}
    accepted = set(inspect.signature(func).parameters) - {"text"}
    unexpected = sorted(set(kwargs) - accepted)
    if unexpected:
        raise Unscorable(
            f"ground_truth has unexpected arguments for {name}",
            f"unexpected arguments {unexpected}: {ground_truth!r}",
        )
    if "quantifier" in kwargs and kwargs["quantifier"] not in _QUANTIFIERS:
        raise Unscorable(
            f"ground_truth has an unknown quantifier for {name}",
            f"{kwargs['quantifier']!r} is not one of {_QUANTIFIERS}: {ground_truth!r}",
        )
    return func, kwargs


def strip_thinking(completion: str) -> str:
    """The answer a completion gives, cleaned as open-instruct's ``remove_thinking_section`` does
    (``<|assistant|>`` removed, everything up to the last ``</think>`` dropped, ``<answer>`` and
    ``</answer>`` removed, surrounding whitespace stripped), with care_rl.thinking's one difference:
    a completion that opens ``<think>`` and never closes it gives no answer (open-instruct would verify
    the unfinished thinking; DAPO masks such truncated rows at paper scale)."""
    answer = thinking.strip_thinking(completion.replace("<|assistant|>", "").strip())
    return answer.replace("<answer>", "").replace("</answer>", "").strip()


def score(completion: str, ground_truth: str) -> float:
    """1.0 if the completion satisfies the constraint in ``ground_truth``, else 0.0.

    Raises :class:`Unscorable` (a ValueError) if the ground truth is malformed or the check raises.
    """
    func, kwargs = parse_ground_truth(ground_truth)
    try:
        followed = func(strip_thinking(completion), **kwargs)
    except (ValueError, IndexError, TypeError) as err:
        raise Unscorable(f"{func.__name__} raised {type(err).__name__}", f"{ground_truth}: {err}") from err
    return 1.0 if followed else 0.0
