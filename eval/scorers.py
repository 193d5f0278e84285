"""Sample-level scorers, one per benchmark family, all on the 0-100 table scale.

Every scorer has the same shape, ``(pairs, judges) -> list[Scored]`` with ``pairs`` a list of
(item, completion): verifiable scorers ignore the judges, judged scorers batch all pairs per judge.

* math (MATH-500, GSM8K, AIME): binary answer matching with math-verify, 0 or 100.
* IFEval / IFBench: the official verifiers, *prompt-level strict* accuracy (every instruction of the
  prompt followed, no response rewriting), 0 or 100. The paper says only "official verifiers"; strict
  prompt-level is the headline metric of both benchmarks' papers and leaderboards, and the paper's
  IFEval numbers (31-49) are far below any loose or instruction-level figure for these models.
* WildBench: checklist-conditioned 1-10 score, reported as WB-Score = (score - 5) * 2 * 10, which is
  how WildBench's leaderboard rescales it (range -80..100; the paper's "22.1" is on this scale).
* Creative Writing v3: each criterion scored 0-20, negative criteria inverted (20 - s), averaged and
  scaled by 5 to 0-100 (EQ-Bench's rubric score).
* ResearchQA: each rubric item rated on a five-level scale (1 = not addressed .. 5 = fully), mapped
  to 0, .25, .5, .75, 1; the mean coverage times 100.

Every scorer reads the answer only: a Qwen3 thinking block is removed first (care_rl.thinking), for
verifiers and judges alike.

Expected-rating judges (``scoring: expected_rating``) rate one aspect per prompt -- the response
(WildBench), each criterion (CW3), each rubric item (ResearchQA) -- and the same formulas apply to
the expected ratings, which are real numbers rather than integers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from care_rl.data.records import EvalItem
from care_rl.rewards.unscorable import Unscorable
from care_rl.thinking import strip_thinking
from eval.judging import RatingPlan, Scored, judge_panel, render
from eval.verifiers.ifbench import score_ifbench as verify_ifbench
from eval.verifiers.ifeval import InstructionScores
from eval.verifiers.ifeval import score_ifeval as verify_ifeval

if TYPE_CHECKING:  # the judges package imports torch: a scorer table must stay cheap to import
    from care_rl.judges.base import JudgeBackend

Pair = tuple[EvalItem, str]
Scorer = Callable[[Sequence[Pair], Sequence["JudgeBackend"]], list[Scored]]


def _need(item: EvalItem, key: str) -> Any:
    if key not in item.reference:
        raise KeyError(
            f"{item.benchmark} item {item.id!r}: reference lacks {key!r} (has {sorted(item.reference)})"
        )
    return item.reference[key]


# --- verifiable ------------------------------------------------------------------------------------


def unscorable(err: Unscorable) -> Scored:
    """A sample its verifier cannot score: missing (out of the mean, like a failed judge) and counted
    per benchmark under ``err.reason`` in the summary -- never a silent 0, never a crashed run."""
    return Scored(None, {"unscorable": err.reason, "error": err.detail})


def score_math(pairs: Sequence[Pair], judges: Sequence[JudgeBackend] = ()) -> list[Scored]:
    from care_rl.rewards.math import score

    out = []
    for item, c in pairs:
        try:
            out.append(Scored(100.0 * score(c, str(_need(item, "answer"))), {}))
        except Unscorable as err:
            out.append(unscorable(err))
    return out


def _instruction_scorer(verify: Callable[..., InstructionScores]) -> Scorer:
    """Prompt-level strict accuracy from an official verifier ``verify(response, ids, kwargs, prompt)``
    (the verifier modules import lm-eval and NLTK on first use: only IF benchmarks need them)."""

    def scorer(pairs: Sequence[Pair], judges: Sequence[JudgeBackend] = ()) -> list[Scored]:
        out = []
        for item, c in pairs:
            ref = (_need(item, "instruction_id_list"), _need(item, "kwargs"), _need(item, "prompt"))
            try:
                res = verify(strip_thinking(c), *ref)
            except Unscorable as err:
                out.append(unscorable(err))
                continue
            out.append(Scored(100.0 * bool(res["prompt_strict"]), {"inst_strict": list(res["inst_strict"])}))
        return out

    # the name enters each benchmark's eval config hash (checkpoint_eval.config_hash): keep it stable
    scorer.__name__ = f"score_{verify.__name__}"
    return scorer


score_ifeval = _instruction_scorer(verify_ifeval)
score_ifbench = _instruction_scorer(verify_ifbench)


# --- judged ----------------------------------------------------------------------------------------

_WB_SCORE = re.compile(r'"score"\s*:\s*"?\s*(\d+(?:\.\d+)?)')


def parse_wildbench(text: str) -> float | None:
    """The judge's last ``"score": "<1-10>"`` as WB-Score (score - 5) * 20; ``None`` if absent or out of range."""
    found = _WB_SCORE.findall(text)
    if not found:
        return None
    raw = float(found[-1])
    return (raw - 5.0) * 20.0 if 1.0 <= raw <= 10.0 else None


def _transcript(messages: Sequence[dict[str, str]]) -> str:
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages) or "(none)"


def score_wildbench(pairs: Sequence[Pair], judges: Sequence[JudgeBackend]) -> list[Scored]:
    values = []
    for item, c in pairs:
        checklist = "\n".join(f"- {x}" for x in _need(item, "checklist"))
        values.append(
            {
                "history": _transcript(item.messages[:-1]),
                "user_query": item.messages[-1]["content"],
                "checklist": checklist,
                "response": strip_thinking(c),
            }
        )
    plan = RatingPlan("wildbench", range(1, 11), list(enumerate(values)), lambda i, rs: (rs[0] - 5.0) * 20.0)
    prompts = [render("wildbench", v) for v in values]
    return judge_panel(prompts, judges, lambda text, i: parse_wildbench(text), plan)


_CRITERION_LINE = re.compile(r"^\s*\**\s*([^:\n]+?)\s*\**\s*:\s*\[?\s*(-?\d+(?:\.\d+)?)", re.MULTILINE)


def parse_cw3(text: str, criteria: Sequence[str], negative: Sequence[str]) -> float | None:
    """EQ-Bench rubric score: criteria (0-20) found in the [Scores] section, negatives inverted, mean * 5.

    Lines naming no known criterion or scoring outside 0-20 are ignored, as EQ-Bench does; an output
    with no usable criterion line is unparseable (``None``).
    """
    section = text.split("[Scores]", 1)[1] if "[Scores]" in text else text
    known = {c.strip().lower(): c for c in criteria}
    negatives = {c.strip().lower() for c in negative}
    values: dict[str, float] = {}
    for name, value in _CRITERION_LINE.findall(section):
        key, score = name.strip().lower(), float(value)
        if key in known and 0.0 <= score <= 20.0:
            values[key] = 20.0 - score if key in negatives else score
    if not values:
        return None
    return 5.0 * sum(values.values()) / len(values)


def score_cw3(pairs: Sequence[Pair], judges: Sequence[JudgeBackend]) -> list[Scored]:
    prompts, criteria, queries = [], [], []
    for i, (item, c) in enumerate(pairs):
        c = strip_thinking(c)
        pos, neg = list(_need(item, "criteria")), list(_need(item, "negative_criteria"))
        criteria.append((pos + neg, neg))
        prompts.append(
            render("cw3", {"writing_prompt": item.text, "response": c, "criteria": "\n".join(pos + neg)})
        )
        queries += [(i, {"writing_prompt": item.text, "response": c, "criterion": k}) for k in pos + neg]

    def combine(i: int, ratings: list[float]) -> float:
        names, neg = criteria[i]
        inverted = [20.0 - r if name in neg else r for name, r in zip(names, ratings, strict=True)]
        return 5.0 * sum(inverted) / len(inverted)

    plan = RatingPlan("cw3", range(0, 21), queries, combine)
    return judge_panel(prompts, judges, lambda text, i: parse_cw3(text, *criteria[i]), plan)


_LEVEL_LINE = re.compile(r"^\s*(\d+)\s*[:.)\-]\s*(\d)\b", re.MULTILINE)


def parse_researchqa(text: str, n_items: int) -> float | None:
    """Coverage on 0-100 from "<item>: <level 1-5>" lines; ``None`` unless every item got a valid level."""
    levels: dict[int, int] = {}
    for idx, level in _LEVEL_LINE.findall(text):
        i, lv = int(idx), int(level)
        if 1 <= i <= n_items and 1 <= lv <= 5:
            levels.setdefault(i, lv)
    if n_items == 0 or len(levels) != n_items:
        return None
    return 100.0 * sum((lv - 1) / 4 for lv in levels.values()) / n_items


def score_researchqa(pairs: Sequence[Pair], judges: Sequence[JudgeBackend]) -> list[Scored]:
    prompts, sizes, queries = [], [], []
    for i, (item, c) in enumerate(pairs):
        c = strip_thinking(c)
        rubric = [r["rubric_item"] for r in _need(item, "rubric")]
        sizes.append(len(rubric))
        numbered = "\n".join(f"{k}. {r}" for k, r in enumerate(rubric, start=1))
        prompts.append(render("researchqa", {"query": item.text, "response": c, "rubric": numbered}))
        queries += [(i, {"query": item.text, "response": c, "item": r}) for r in rubric]
    plan = RatingPlan(
        "researchqa", range(1, 6), queries, lambda i, rs: 100.0 * sum((r - 1) / 4 for r in rs) / len(rs)
    )
    return judge_panel(prompts, judges, lambda text, i: parse_researchqa(text, sizes[i]), plan)
