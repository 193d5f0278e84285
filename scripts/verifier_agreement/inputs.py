"""The inputs both sides score beyond the originals' unit tests: real responses the repositories ship,
those responses transformed (case, punctuation, sections, lists, JSON, think tags, ...), responses
templated from each instruction's own arguments, RLVR-IFeval ground truths for IFEval's instructions,
and math golds and predictions in the forms datasets and models write them."""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from typing import Any

from harness import Case


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in text.replace("!", ".").replace("?", ".").split(".") if s.strip()]


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "lower": str.lower,
    "title": str.title,
    "no_punctuation": lambda t: t.translate(str.maketrans("", "", string.punctuation)),
    "commas_to_semicolons": lambda t: t.replace(",", ";"),
    "extra_commas": lambda t: t.replace(" and ", ", and "),
    "first_line_dropped": lambda t: "\n".join(t.split("\n")[1:]),
    "last_line_dropped": lambda t: "\n".join(t.split("\n")[:-1]),
    "sections_added": lambda t: "\n\n".join(f"SECTION {i}\n{p}" for i, p in enumerate(t.split("\n\n"), 1)),
    "sections_removed": lambda t: "\n".join(
        line for line in t.split("\n") if not line.lstrip().lower().startswith(("section", "#", "paragraph"))
    ),
    "bullets": lambda t: "\n".join(f"* {s}." for s in _sentences(t)),
    "numbered_list": lambda t: "\n".join(f"{i}. {s}." for i, s in enumerate(_sentences(t), 1)),
    "paragraph_dividers": lambda t: "\n* * *\n".join(t.split("\n\n")),
    "highlights": lambda t: " ".join(f"*{w}*" if i % 7 == 0 else w for i, w in enumerate(t.split(" "))),
    "json_wrapped": lambda t: json.dumps({"response": t}),
    "json_fenced": lambda t: "```json\n" + json.dumps({"response": t}, indent=2) + "\n```",
    "quoted": lambda t: f'"{t}"',
    "postscript": lambda t: f"{t}\n\nP.S. I hope this helps.",
    "two_responses": lambda t: f"{t}\n******\n{t[: len(t) // 2]}",
    "half": lambda t: t[: len(t) // 2],
    "emoji_end": lambda t: " ".join(f"{s}. 🙂" for s in _sentences(t)),
    "think": lambda t: f"<think>Let me plan the answer first.</think>\n{t}",
    "think_answer": lambda t: f"<think>Plan: keep it short.</think><answer>{t}</answer>",
    "assistant_tag": lambda t: f"<|assistant|>\n{t}",
    "whitespace": lambda t: f"  \n{t}\n\n  ",
}


def templated(kwargs: dict[str, Any]) -> list[str]:
    """Responses built from one instruction's own arguments, to reach the pass side of its check."""
    kw = {k: v for k, v in kwargs.items() if v is not None}
    out: list[str] = []
    words = [str(v) for k, v in kw.items() if isinstance(v, str) and k not in ("relation", "quantifier")]
    for key in ("keywords", "keyword_list", "forbidden_words"):
        words += [str(w) for w in kw.get(key) or []]
    if words:
        out.append(" ".join(f"This line says {w}." for w in words))
        out.append(". ".join(words) + ".")
    n = next(
        (
            int(kw[k])
            for k in (
                "N",
                "num_sections",
                "num_bullets",
                "num_paragraphs",
                "num_highlights",
                "num_placeholders",
                "num_sentences",
                "small_n",
                "frequency",
                "let_frequency",
                "capital_frequency",
            )
            if isinstance(kw.get(k), int | float)
        ),
        3,
    )
    n = max(1, min(n, 30))
    splitter = kw.get("section_spliter") or kw.get("section_splitter") or "Section"
    out.append("\n\n".join(f"{splitter} {i}\nPart {i} of the answer." for i in range(1, n + 1)))
    out.append("\n".join(f"* Point number {i}." for i in range(1, n + 1)))
    out.append("\n\n".join(f"Paragraph {i} talks about one thing." for i in range(1, n + 1)))
    out.append(" ".join(f"*item {i}* [place{i}]" for i in range(1, n + 1)))
    for key in ("prompt_to_repeat", "original_prompt", "reference_text"):
        if isinstance(kw.get(key), str):
            text = kw[key]
            out.append(text)
            out.append(text + "\n\nHere is my answer.")
            if "n_start" in kw and "n_end" in kw:
                out.append(" ".join(text.split()[int(kw["n_start"]) : int(kw["n_end"]) + 1]))
                out.append(text[int(kw["n_start"]) : int(kw["n_end"]) + 1])
            out.append("Instead " + " ".join(text.split()[1:]))
    if isinstance(kw.get("options"), str):
        out += [
            o.strip() for o in kw["options"].replace(" or ", "/").replace(",", "/").split("/") if o.strip()
        ]
    if isinstance(kw.get("options"), list):
        out += [str(o) for o in kw["options"]]
    if isinstance(kw.get("end_phrase"), str):
        out.append(f"That is all.\n{kw['end_phrase']}")
    if isinstance(kw.get("postscript_marker"), str):
        out.append(f"Main text.\n{kw['postscript_marker']} Extra note.")
    if isinstance(kw.get("first_word"), str):
        out.append("\n\n".join(f"{kw['first_word']} paragraph {i}." for i in range(1, n + 1)))
    return out


def generated_responses(response: str, kwargs_list: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(generator name, response) pairs derived from one real response and its instructions' arguments."""
    out = [(f"transform:{name}", fn(response)) for name, fn in TRANSFORMS.items()]
    for kwargs in kwargs_list:
        out += [("template", text) for text in templated(kwargs)]
    seen: set[str] = set()
    return [(g, r) for g, r in out if not (r in seen or seen.add(r))]


def prompt_cases(
    family: str, rows: list[dict[str, Any]], responses: dict[str, str], generated: bool
) -> list[Case]:
    """One case per (response, instruction): real responses, and their generated variants if asked."""
    cases = []
    for row in rows:
        response = responses.get(row["prompt"], responses.get(row["prompt"].strip()))
        if response is None:
            continue
        variants = generated_responses(response, row["kwargs"]) if generated else [("real", response)]
        for generator, text in variants:
            for iid, kwargs in zip(row["instruction_id_list"], row["kwargs"], strict=True):
                payload = {"prompt": row["prompt"], "response": text, "id": iid, "kwargs": kwargs}
                cases.append(
                    Case(family, "generated" if generated else "real", iid, payload, extra={"gen": generator})
                )
    return cases


GT_SLOTS = (
    "N",
    "quantifier",
    "end_phrase",
    "keyword_list",
    "word",
    "forbidden_words",
    "letter",
    "language",
    "i",
    "first_word",
    "postscript_marker",
    "options",
    "section_splitter",
    "original_prompt",
)
_RELATION = {"less than": "at most", "at least": "at least", "around": "around"}
YES_NO_MAYBE = ["My answer is yes.", "My answer is no.", "My answer is maybe."]


def rlvr_ground_truth(iid: str, kw: dict[str, Any]) -> dict[str, Any] | None:
    """The RLVR-IFeval ``ground_truth`` (func_name + every slot, null when unused) for an IFEval
    instruction: RLVR-IFeval's 25 functions are IFEval's 25 instruction types."""
    table: dict[str, tuple[str, dict[str, Any]]] = {
        "keywords:existence": ("verify_keywords", {"keyword_list": kw.get("keywords")}),
        "keywords:frequency": (
            "verify_keyword_frequency",
            {"word": kw.get("keyword"), "N": kw.get("frequency")},
        ),
        "keywords:forbidden_words": (
            "validate_forbidden_words",
            {"forbidden_words": kw.get("forbidden_words")},
        ),
        "keywords:letter_frequency": (
            "verify_letter_frequency",
            {"letter": kw.get("letter"), "N": kw.get("let_frequency")},
        ),
        "language:response_language": ("validate_response_language", {"language": kw.get("language")}),
        "length_constraints:number_paragraphs": ("verify_paragraph_count", {"N": kw.get("num_paragraphs")}),
        "length_constraints:number_words": (
            "validate_word_constraint",
            {"N": kw.get("num_words"), "quantifier": _RELATION.get(kw.get("relation"))},
        ),
        "length_constraints:number_sentences": (
            "verify_sentence_constraint",
            {"N": kw.get("num_sentences"), "quantifier": _RELATION.get(kw.get("relation"))},
        ),
        "length_constraints:nth_paragraph_first_word": (
            "validate_paragraphs",
            {"N": kw.get("num_paragraphs"), "first_word": kw.get("first_word"), "i": kw.get("nth_paragraph")},
        ),
        "detectable_content:postscript": (
            "verify_postscript",
            {"postscript_marker": kw.get("postscript_marker")},
        ),
        "detectable_content:number_placeholders": (
            "validate_placeholders",
            {"N": kw.get("num_placeholders")},
        ),
        "detectable_format:number_bullet_lists": ("verify_bullet_points", {"N": kw.get("num_bullets")}),
        "detectable_format:title": ("validate_title", {}),
        "detectable_format:constrained_response": ("validate_choice", {"options": YES_NO_MAYBE}),
        "detectable_format:number_highlighted_sections": (
            "validate_highlighted_sections",
            {"N": kw.get("num_highlights")},
        ),
        "detectable_format:multiple_sections": (
            "validate_sections",
            {"N": kw.get("num_sections"), "section_splitter": kw.get("section_spliter")},
        ),
        "detectable_format:json_format": ("validate_json_format", {}),
        "combination:repeat_prompt": (
            "validate_repeat_prompt",
            {"original_prompt": kw.get("prompt_to_repeat")},
        ),
        "combination:two_responses": ("validate_two_responses", {}),
        "change_case:english_capital": ("validate_uppercase", {}),
        "change_case:english_lowercase": ("validate_lowercase", {}),
        "change_case:capital_word_frequency": (
            "validate_frequency_capital_words",
            {"N": kw.get("capital_frequency"), "quantifier": _RELATION.get(kw.get("capital_relation"))},
        ),
        "startend:end_checker": ("validate_end", {"end_phrase": kw.get("end_phrase")}),
        "startend:quotation": ("validate_quotation", {}),
        "punctuation:no_comma": ("validate_no_commas", {}),
    }
    if iid not in table:
        return None
    name, args = table[iid]
    return {"func_name": name, **{slot: args.get(slot) for slot in GT_SLOTS}}


def math_variants(gold: str, solution: str) -> list[tuple[str, str, str]]:
    """(label, gold, prediction) for one dataset gold: the gold as stored, boxed, with an unclosed
    ``\\boxed{``, and (numbers) behind an escaped dollar; predictions boxed, as a final-answer
    sentence, after a think block, plain, wrong, unclosed, and the reference solution's last line."""
    numeric = gold.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()
    golds = {"gold": gold, "gold_boxed": f"\\boxed{{{gold}}}", "gold_unclosed_boxed": f"\\boxed{{{gold}"}
    if numeric:
        golds["gold_dollar_escaped"] = f"\\${gold}"
    wrong = f"{float(gold.replace(',', '')) + 1:g}" if numeric else f"{gold}+1"
    preds = {
        "boxed": f"So the answer is \\boxed{{{gold}}}.",
        "final_answer": f"The final answer is ${gold}$.",
        "think_boxed": f"<think>It could be 0.</think>\\boxed{{{gold}}}",
        "plain": gold,
        "wrong": f"\\boxed{{{wrong}}}",
        "unclosed": f"\\boxed{{{gold}",
        "last_line": solution.strip().split("\n")[-1],
    }
    return [(f"{g}/{p}", gv, pv) for g, gv in golds.items() for p, pv in preds.items()]
