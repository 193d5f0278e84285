"""Chat benchmarks scored by a panel of LLM judges, averaged (paper: Gemini-2.5-Pro, Kimi-K2.5, Qwen3-Max).

Judge prompts are template files in ``eval/templates/`` (``string.Template`` syntax, ``$name``), so the
JSON examples inside them need no escaping and a reviewer can read exactly what the judges saw.

A judge whose spec says ``scoring: expected_rating`` (small local judges, see eval/README.md) is not
asked to write a verdict: it reads ``<name>_rating.txt`` -- the same instructions, one prompt per rated
aspect, ending in an answer prefix -- and its expected rating is read from the next-token distribution
(care_rl/judges/rating.py); the probability mass it put on the scale is stored with each rating.

Missing is never zero: a judge call that failed after the backend's retries (``None``) or whose
output cannot be parsed into a score is recorded as missing for that judge. A sample's score is the
mean over the judges that produced one; a sample no judge could score is missing (``None``), excluded
from the benchmark mean and counted. Every raw judge output is returned for the results file.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from care_rl.thinking import strip_thinking

if TYPE_CHECKING:  # the judges package imports torch; scoring code only calls the backends it is given
    from care_rl.judges.base import JudgeBackend

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
RATING_SUFFIX = "_rating"  # <name>_rating.txt: the expected-rating variant of <name>.txt
_NOTE = "%%"  # rating templates: lines starting with this are notes for readers, never sent
_PREFIX_LINE = "%% answer prefix"


@dataclass(frozen=True)
class Scored:
    """One sample's score on the table scale (``None`` = missing) and what produced it."""

    score: float | None
    detail: dict[str, Any]


@cache
def load_template(name: str) -> string.Template:
    path = TEMPLATES_DIR / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"judge template {path} not found")
    return string.Template(path.read_text(encoding="utf-8"))


@cache
def load_rating_template(name: str) -> tuple[string.Template, str]:
    """The expected-rating variant of template ``name``: (prompt template, answer prefix).

    The file is notes (``%%`` lines), the prompt, a ``%% answer prefix`` line and the prefix the judge's
    reply starts with (its final newline not included).
    """
    path = TEMPLATES_DIR / f"{name}{RATING_SUFFIX}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"expected-rating judge template {path} not found")
    body, sep, prefix = path.read_text(encoding="utf-8").partition(f"\n{_PREFIX_LINE}\n")
    prefix = prefix.removesuffix("\n")
    if not sep or not prefix or "\n" in prefix:
        raise ValueError(f"{path}: needs a line {_PREFIX_LINE!r} followed by a one-line answer prefix")
    prompt = "\n".join(line for line in body.split("\n") if not line.startswith(_NOTE))
    return string.Template(prompt), prefix


def template_digest(name: str) -> str:
    """Hash of a template's text and of its expected-rating variant, if any: part of the eval-config
    hash, so editing either prompt invalidates caches (the hash cannot tell which one a judge reads)."""
    h = hashlib.sha256(load_template(name).template.encode("utf-8"))
    rating = TEMPLATES_DIR / f"{name}{RATING_SUFFIX}.txt"
    if rating.is_file():
        h.update(rating.read_bytes())
    return h.hexdigest()[:16]


def render(name: str, values: Mapping[str, str]) -> str:
    """Fill a template, naming the template and the placeholder if one is left unfilled."""
    try:
        return load_template(name).substitute(values)
    except KeyError as e:
        raise KeyError(f"judge template {name!r} needs a value for ${e.args[0]}") from None


@dataclass(frozen=True)
class RatingPlan:
    """How a benchmark is scored by expected-rating judges.

    queries: (sample index, template values) per rated aspect, grouped by sample in the order
    ``combine`` expects; combine(sample index, expected ratings) -> table-scale score.
    """

    template: str
    scale: range
    queries: list[tuple[int, dict[str, str]]]
    combine: Callable[[int, list[float]], float]


def _rated_rows(judge: JudgeBackend, plan: RatingPlan, n: int) -> list[dict[str, Any]]:
    """One row per sample from an expected-rating judge: every rating with its mass on the scale."""
    rate = getattr(judge, "rate", None)
    if rate is None:
        raise TypeError(f"judge {judge.name!r} asks for expected_rating scoring but has no rate()")
    template, prefix = load_rating_template(plan.template)
    conversations = [[{"role": "user", "content": template.substitute(v)}] for _, v in plan.queries]
    ratings = rate(conversations, prefix, plan.scale) if conversations else []
    per_sample: list[list[Any]] = [[] for _ in range(n)]
    for (i, _), rating in zip(plan.queries, ratings, strict=True):
        per_sample[i].append(rating)
    rows = []
    for i, got in enumerate(per_sample):
        summary = [None if r is None else {"expected": r.expected, "mass": r.mass} for r in got]
        expected = [r.expected for r in got if r is not None and r.expected is not None]
        if not got:
            score, status = None, "unrateable"  # nothing to rate (e.g. an empty rubric)
        elif any(r is None for r in got):
            score, status = None, "failed"
        elif len(expected) < len(got):
            score, status = None, "off_scale"  # no probability at all on the scale
        else:
            score, status = plan.combine(i, expected), "ok"
        rows.append(
            {
                "judge": judge.name,
                "scoring": "expected_rating",
                "ratings": summary,
                "score": score,
                "status": status,
            }
        )
    return rows


def judge_panel(
    prompts: Sequence[str],
    judges: Sequence[JudgeBackend],
    parse: Callable[[str, int], float | None],
    rating: RatingPlan | None = None,
) -> list[Scored]:
    """Score every sample with every judge and average.

    A generating judge gets ``prompts`` and its output, thinking removed (care_rl.thinking), is parsed
    by ``parse(text, index)`` (the table-scale score or ``None`` if unusable); an expected-rating judge
    follows ``rating``.
    """
    if not judges:
        raise ValueError("a judged benchmark needs at least one judge (profile.eval_judges or profile.judge)")
    conversations = [[{"role": "user", "content": p}] for p in prompts]
    per_judge: list[list[dict[str, Any]]] = []
    for judge in judges:
        if getattr(judge, "scoring", "generate") == "expected_rating":
            if rating is None:
                raise ValueError(
                    f"judge {judge.name!r} uses expected_rating scoring; this benchmark has no plan"
                )
            per_judge.append(_rated_rows(judge, rating, len(prompts)))
            continue
        outputs = judge.complete(conversations)
        if len(outputs) != len(prompts):
            raise RuntimeError(
                f"judge {judge.name!r} returned {len(outputs)} outputs for {len(prompts)} prompts"
            )
        rows = []
        for i, text in enumerate(outputs):
            score = None if text is None else parse(strip_thinking(text), i)
            status = "failed" if text is None else ("ok" if score is not None else "unparseable")
            rows.append({"judge": judge.name, "output": text, "score": score, "status": status})
        per_judge.append(rows)
    results = []
    for i in range(len(prompts)):
        votes = [rows[i] for rows in per_judge]
        present = [v["score"] for v in votes if v["score"] is not None]
        score = sum(present) / len(present) if present else None
        results.append(Scored(score, {"judges": votes, "n_judges_missing": len(votes) - len(present)}))
    return results
