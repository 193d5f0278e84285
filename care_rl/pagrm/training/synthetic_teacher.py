"""A seeded, deterministic stand-in for the paper's teacher (DeepSeek-V4-Pro) on the shipped mini pairs.

No teacher LLM is reachable offline, so the cpu profile distils PA-GRM from traces written by this
module. Every trace is correct by construction: the prompt is parsed into its family, the family gives
the schema (checkable items only), and each judgment comes from checking the response against its item.
The teacher never sees which response of a pair was built to be better.

Families (prompt phrasings of the mini pairs and of the No-Robots chat prompts the judge scores in RL):
  rubric (explicit, independently checkable requirements):
    sum          "... sum/total/combined ... A and B"   states A+B; one short sentence
    capital      "which country has C as its capital"   names the country (10-entry table); one short sentence
    brainstorm   "give me / list / brainstorm N ideas"  exactly N list items; mentions the topic
    rewrite      "... more cheerful: '<sentence>'"      keeps the subject; a cheerful word; drops "I guess/fine/okay"
    summarize    "summarize in one sentence: '<text>'"  one sentence; mentions the topic; shorter than the text
    classify     "is this review positive or negative"  names the label the review's wording fixes; only that one
  holistic (open-ended; the considerations inform one overall judgment):
    poem         "write an N-line poem about T"         N non-empty lines; about T
    open_qa      "why do many people enjoy T?" ...      about T; gives a reason (because/since/...); <= 60 words
    chat         "can you chat with me about T?" ...    about T; invites the user to go on (a question); <= 50 words
"About T" means the response mentions T's head noun. The score is round(1 + 9 * weighted share of items
met), holistic considerations weighing equally: 10 when everything holds, 1 when nothing does.
A prompt outside these families gets no trace (``None``, counted by the caller): the teacher never guesses.

What the distilled cpu judge can show: protocol routing (rubric vs holistic by family), schemas built
from the prompt, one judgment per item, and scores that track checkable quality on these families.
What it cannot show: judgment of open-ended quality beyond these surface checks (style, creativity,
factual depth), or anything about the paper-scale judge's accuracy on real preference data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from care_rl.data.records import PreferencePair
from care_rl.pagrm.trace import Trace

CAPITALS = {
    "Tokyo": "Japan",
    "Cairo": "Egypt",
    "Paris": "France",
    "Rome": "Italy",
    "Lima": "Peru",
    "Oslo": "Norway",
    "Santiago": "Chile",
    "Madrid": "Spain",
    "Ottawa": "Canada",
    "Nairobi": "Kenya",
}
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
CHEERFUL = ("love", "wonderful", "great", "happy", "amazing", "delightful", "fantastic", "joy", "lovely")
LUKEWARM = ("i guess", "fine", "okay", "i suppose")
POSITIVE = ("wonderful", "great", "lovely", "excellent", "amazing", "would go again")
NEGATIVE = ("disappointing", "terrible", "awful", "boring", "would not go again")
REASON = re.compile(r"\b(because|since|as|so|due to|thanks to)\b", re.I)
LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*\u2022])\s+\S", re.M)
TEACHER_NAME = "synthetic-teacher-v2"

Test = Callable[[str], tuple[bool, str]]


@dataclass(frozen=True)
class Check:
    """One schema item and the test that decides whether a response meets it (met, evidence)."""

    item: dict[str, Any]
    test: Test


@dataclass(frozen=True)
class Standard:
    """The teacher's evaluation standard for one prompt: protocol and checkable items."""

    protocol: str
    checks: list[Check]

    @property
    def schema(self) -> list[dict[str, Any]]:
        return [c.item for c in self.checks]


def _rubric(criterion: str, weight: float, kind: str, test: Test) -> Check:
    return Check({"criterion": criterion, "weight": weight, "type": kind}, test)


def _aspect(aspect: str, guidance: str, test: Test) -> Check:
    return Check({"aspect": aspect, "guidance": guidance}, test)


def _words(text: str) -> int:
    return len(text.split())


def _sentences(text: str) -> int:
    return len([s for s in re.split(r"[.!?]+(?:\s+|$)", text.strip()) if s.strip()])


def _mentions(topic: str) -> Test:
    """Whether the response names the topic's head noun (plural or singular)."""
    head = topic.split()[-1].lower()
    stem = head[:-1] if head.endswith("s") and len(head) > 3 else head
    pattern = re.compile(rf"\b{re.escape(stem)}", re.I)

    def test(r: str) -> tuple[bool, str]:
        return (True, f"mentions {head}") if pattern.search(r) else (False, f"never mentions {head}")

    return test


def _short_sentence(r: str) -> tuple[bool, str]:
    ok = _words(r) <= 20 and _sentences(r) <= 1
    return ok, f"{_sentences(r)} sentence(s), {_words(r)} words"


def _sum(prompt: str) -> Standard | None:
    m = re.search(r"(\d+)\D+?and\D+?(\d+)", prompt)
    if not (m and any(w in prompt.lower() for w in ("sum", "total", "combined"))):
        return None
    total = int(m.group(1)) + int(m.group(2))

    def states(r: str) -> tuple[bool, str]:
        n = re.search(r"-?\d+", r)
        return (n is not None and int(n.group()) == total), f"states {n.group() if n else 'no number'}"

    return Standard(
        "rubric",
        [
            _rubric(f"states the correct total, {total}", 3.0, "accuracy", states),
            _rubric("answers in one short sentence", 1.0, "format", _short_sentence),
        ],
    )


def _capital(prompt: str) -> Standard | None:
    m = re.search(r"has (\w+) as its capital", prompt)
    country = CAPITALS.get(m.group(1)) if m else None
    if country is None:
        return None

    def names(r: str) -> tuple[bool, str]:
        return (country in r), (f"names {country}" if country in r else f"does not name {country}")

    return Standard(
        "rubric",
        [
            _rubric(f"names {country} as the country whose capital is {m.group(1)}", 3.0, "accuracy", names),
            _rubric("answers in one short sentence", 1.0, "format", _short_sentence),
        ],
    )


def _brainstorm(prompt: str) -> Standard | None:
    m = re.search(r"(?:Give me|List|Brainstorm) (\w+) ideas (?:related to|for|about) (.+?)\.", prompt, re.I)
    if not (m and m.group(1).lower() in NUMBERS):
        return None
    n, topic = NUMBERS[m.group(1).lower()], m.group(2)

    def count(r: str) -> tuple[bool, str]:
        k = len(LIST_ITEM.findall(r))
        return k == n, f"{k} list items"

    return Standard(
        "rubric",
        [
            _rubric(f"lists exactly {n} ideas as list items", 2.0, "format", count),
            _rubric(f"the ideas are about {topic}", 2.0, "key_point", _mentions(topic)),
        ],
    )


def _rewrite(prompt: str) -> Standard | None:
    m = re.search(r"(?:sounds? more cheerful|more cheerful): '(.+)'", prompt, re.I)
    t = m and re.fullmatch(r"(?:I guess (.+) are fine|(.+) are okay, I suppose)\.", m.group(1))
    if not t:
        return None
    topic = t.group(1) or t.group(2)

    def cheerful(r: str) -> tuple[bool, str]:
        hit = [w for w in CHEERFUL if w in r.lower()]
        return bool(hit), (f"uses '{hit[0]}'" if hit else "no cheerful wording")

    def no_lukewarm(r: str) -> tuple[bool, str]:
        hit = [w for w in LUKEWARM if re.search(rf"\b{w}\b", r.lower())]
        return not hit, (f"keeps '{hit[0]}'" if hit else "lukewarm wording gone")

    return Standard(
        "rubric",
        [
            _rubric(f"keeps the subject, {topic}", 2.0, "key_point", _mentions(topic)),
            _rubric("sounds cheerful", 2.0, "style", cheerful),
            _rubric("drops the lukewarm wording of the original", 1.0, "constraint", no_lukewarm),
        ],
    )


def _summarize(prompt: str) -> Standard | None:
    m = re.search(r"(?:Summarize in one sentence|one-sentence summary of this): '(.+)'", prompt, re.I)
    t = m and re.search(r"(?:with|about) (.+?)(?: this week)?\.", m.group(1))
    if not t:
        return None
    passage, topic = m.group(1), t.group(1)

    def one(r: str) -> tuple[bool, str]:
        return _sentences(r) == 1, f"{_sentences(r)} sentence(s)"

    def shorter(r: str) -> tuple[bool, str]:
        return _words(r) < _words(passage), f"{_words(r)} words vs {_words(passage)}"

    return Standard(
        "rubric",
        [
            _rubric("is exactly one sentence", 2.0, "format", one),
            _rubric(f"mentions {topic}", 2.0, "key_point", _mentions(topic)),
            _rubric("is shorter than the text", 1.0, "constraint", shorter),
        ],
    )


def _classify(prompt: str) -> Standard | None:
    m = re.search(r"(?:positive or negative\?|as positive or negative:) '(.+)'", prompt, re.I)
    if not m:
        return None
    review = m.group(1).lower()
    pos, neg = any(w in review for w in POSITIVE), any(w in review for w in NEGATIVE)
    if pos == neg:  # mixed or unknown wording: the label is not fixed by construction
        return None
    right, wrong = ("positive", "negative") if pos else ("negative", "positive")

    def names(r: str) -> tuple[bool, str]:
        return right in r.lower(), (f"says {right}" if right in r.lower() else f"does not say {right}")

    def only(r: str) -> tuple[bool, str]:
        return wrong not in r.lower(), (f"also says {wrong}" if wrong in r.lower() else "one label")

    return Standard(
        "rubric",
        [
            _rubric(f"labels the review {right}", 3.0, "accuracy", names),
            _rubric("gives one label only", 1.0, "constraint", only),
        ],
    )


def _poem(prompt: str) -> Standard | None:
    m = re.search(r"Write an? (\w+)-line poem about (.+?)\.", prompt, re.I)
    if not (m and m.group(1).lower() in NUMBERS):
        return None
    n, topic = NUMBERS[m.group(1).lower()], m.group(2)

    def lines(r: str) -> tuple[bool, str]:
        k = len([x for x in r.splitlines() if x.strip()])
        return k == n, f"has {k} lines, {n} asked"

    return Standard(
        "holistic",
        [
            _aspect("form", f"a poem of exactly {n} lines; other line counts weigh against it", lines),
            _aspect("subject", f"the poem should be about {topic}", _mentions(topic)),
        ],
    )


def _open_qa(prompt: str) -> Standard | None:
    m = re.search(
        r"(?:Why do many people enjoy|Why are people fond of|What makes) (.+?)(?: so appealing)?\?", prompt
    )
    if not m:
        return None
    topic = m.group(1)

    def reason(r: str) -> tuple[bool, str]:
        hit = REASON.search(r)
        return hit is not None, (f"explains with '{hit.group()}'" if hit else "gives no reason")

    def concise(r: str) -> tuple[bool, str]:
        return _words(r) <= 60, f"{_words(r)} words"

    return Standard(
        "holistic",
        [
            _aspect("relevance", f"the answer should be about {topic}", _mentions(topic)),
            _aspect("explanation", "it should give at least one reason", reason),
            _aspect("concision", "a short answer (60 words or fewer) is better", concise),
        ],
    )


def _chat(prompt: str) -> Standard | None:
    m = re.search(r"(?:chat with me for a bit about|Could we talk about) (.+?)(?: for a while)?\?", prompt)
    if not m:
        return None
    topic = m.group(1)

    def invites(r: str) -> tuple[bool, str]:
        return "?" in r, ("asks the user a question" if "?" in r else "asks nothing back")

    def brief(r: str) -> tuple[bool, str]:
        return _words(r) <= 50, f"{_words(r)} words"

    return Standard(
        "holistic",
        [
            _aspect("topic", f"the reply should talk about {topic}", _mentions(topic)),
            _aspect("engagement", "a friendly reply that invites the user to go on", invites),
            _aspect("brevity", "a brief reply (50 words or fewer) is better", brief),
        ],
    )


FAMILIES: dict[str, Callable[[str], Standard | None]] = {
    "sum": _sum,
    "capital": _capital,
    "brainstorm": _brainstorm,
    "rewrite": _rewrite,
    "summarize": _summarize,
    "classify": _classify,
    "poem": _poem,
    "open_qa": _open_qa,
    "chat": _chat,
}


def standard(prompt: str) -> tuple[str, Standard] | None:
    """The (family, standard) of a prompt, or None when no family recognises it."""
    for family, parse in FAMILIES.items():
        if (found := parse(prompt)) is not None:
            return family, found
    return None


def teacher_trace(pair: PreferencePair) -> Trace | None:
    """The teacher's trace for one pair, or None when the pair is outside what it can verify."""
    found = standard(pair.prompt)
    if found is None:
        return None
    family, std = found
    results = [c.test(pair.response) for c in std.checks]
    weights = [c.item.get("weight", 1.0) for c in std.checks]
    share = sum(w for w, (met, _) in zip(weights, results, strict=True) if met) / sum(weights)
    if std.protocol == "rubric":
        judgments = [
            {"criterion": c.item["criterion"], "satisfaction": "met" if met else "unmet", "evidence": why}
            for c, (met, why) in zip(std.checks, results, strict=True)
        ]
        missed = [c.item["criterion"] for c, (met, _) in zip(std.checks, results, strict=True) if not met]
    else:
        judgments = [
            {"aspect": c.item["aspect"], "judgment": ("good: " if met else "weak: ") + why}
            for c, (met, why) in zip(std.checks, results, strict=True)
        ]
        missed = [c.item["aspect"] for c, (met, _) in zip(std.checks, results, strict=True) if not met]
    reasoning = (
        "Meets every point of the standard." if not missed else "Falls short on: " + "; ".join(missed) + "."
    )
    return Trace(
        prompt=pair.prompt,
        response=pair.response,
        protocol=std.protocol,
        schema=std.schema,
        judgments=judgments,
        reasoning=reasoning,
        score=round(1 + 9 * share),  # the templates ask for an integer
        source=pair.source,
        pair_id=pair.id,
        judge=TEACHER_NAME,
        extra={"family": family},
    )
