"""Agreement tables, the POS tagger measurement, and the generated block of docs/verifier_agreement.md."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from harness import Case

BEGIN, END = "<!-- BEGIN scripts/verifier_agreement -->", "<!-- END scripts/verifier_agreement -->"
FAMILIES = ("ifbench", "ifeval", "rlvr_if", "math")


def tagger_disagreement(responses: list[str], real: set[str]) -> dict[str, Any]:
    """Our tagger (textblob-aptagger's weights in NLTK's PerceptronTagger) against ``nltk.pos_tag`` with
    NLTK's own averaged_perceptron_tagger_eng, on NLTK word tokens: the first token's verb decision
    (what ``words:start_verb`` reads) on every response, every token's tag on the real responses.
    The greedy tagger's features for token 0 read tokens 0-2 only, so tagging three tokens gives the
    first tag of the whole response."""
    import nltk

    from eval.verifiers.nltk_tagger import pos_tag

    first = disagree_first = tokens = disagree_tokens = 0
    examples: Counter[tuple[str, str, str]] = Counter()
    for text in responses:
        words = nltk.word_tokenize(text)
        if not words:
            continue
        whole = text in real
        ours, theirs = pos_tag(words if whole else words[:3]), nltk.pos_tag(words if whole else words[:3])
        first += 1
        if ("VB" in ours[0][1]) != ("VB" in theirs[0][1]):
            disagree_first += 1
            examples[(words[0], ours[0][1], theirs[0][1])] += 1
        if whole:
            tokens += len(words)
            disagree_tokens += sum(a[1] != b[1] for a, b in zip(ours, theirs, strict=True))
    return {
        "responses": first,
        "first_token_verb_disagreements": disagree_first,
        "real_responses": len(real),
        "tokens": tokens,
        "token_tag_disagreements": disagree_tokens,
        "examples": [{"word": w, "ours": a, "nltk": b, "n": n} for (w, a, b), n in examples.most_common(8)],
    }


def agree(case: Case) -> bool:
    return case.original == case.ours


def both_scored(case: Case) -> bool:
    return case.original is not None and case.ours is not None and case.original[0] == case.ours[0] == "ok"


def summarise(cases: list[Case]) -> dict[str, Counter[str]]:
    """Counts per "family|source|group" (group "*" = the whole family and source)."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for c in cases:
        for key in (f"{c.family}|{c.source}|*", f"{c.family}|{c.source}|{c.group}"):
            row = table[key]
            row["n"] += 1
            row["scored"] += both_scored(c)
            row["agree"] += both_scored(c) and agree(c)
            row["original_raised"] += c.original is not None and c.original[0] == "exception"
            row["ours_raised"] += c.ours is not None and c.ours[0] == "exception"
            row["ours_unscorable"] += c.ours is not None and c.ours[0] == "unscorable"
    return table


def _pct(a: int, n: int) -> str:
    return f"{100 * a / n:.2f}" if n else ""


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n").replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render(
    cases: list[Case],
    sources: dict[str, dict[str, Any]],
    tests: dict[str, dict[str, Any]],
    tagger: dict[str, Any] | None,
    refused: list[str],
) -> str:
    """The generated block: sources, the originals' own tests, agreement overall and per id/function,
    every disagreement kind with examples, the tagger measurement."""
    table = summarise(cases)
    out = ["#### Originals compared", "", "| folder | source | version | files |", "|---|---|---|---|"]
    out += [f"| `{k}` | {v['source']} | `{v['version']}` | {v['checked']} |" for k, v in sources.items()]
    out += [
        "",
        "#### The originals on their own unit tests",
        "",
        "| suite | tests | failed on the original | checks recorded |",
        "|---|---:|---:|---:|",
    ]
    for name, t in tests.items():
        out.append(f"| {name} | {t.get('tests', '')} | {t.get('failed', '')} | {t.get('checks', '')} |")
    out += [
        "",
        "#### Agreement",
        "",
        "Agreement is over the inputs both sides scored; inputs where one side raised, or ours reports the input unscorable, are counted in their own columns.",
        "",
        "| family | inputs | n | scored by both | agree | agree % | original raised | ours raised | ours unscorable |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for family in FAMILIES:
        for source in ("unit", "real", "generated"):
            r = table.get(f"{family}|{source}|*")
            if r:
                out.append(
                    f"| {family} | {source} | {r['n']} | {r['scored']} | {r['agree']} | {_pct(r['agree'], r['scored'])} | "
                    f"{r['original_raised']} | {r['ours_raised']} | {r['ours_unscorable']} |"
                )
    for family in FAMILIES:
        groups = sorted({c.group for c in cases if c.family == family})
        if not groups:
            continue
        out += [
            "",
            f"#### {family}: per instruction id / function / test file",
            "",
            "| id | unit n | unit agree % | real n | real agree % | generated n | generated agree % | raised (original/ours) | ours unscorable |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for g in groups:
            cells, raised_o, raised_m, unscorable = [], 0, 0, 0
            for source in ("unit", "real", "generated"):
                r = table.get(f"{family}|{source}|{g}", Counter())
                cells += [str(r["n"]), _pct(r["agree"], r["scored"])]
                raised_o, raised_m = raised_o + r["original_raised"], raised_m + r["ours_raised"]
                unscorable += r["ours_unscorable"]
            out.append(f"| `{g}` | " + " | ".join(cells) + f" | {raised_o}/{raised_m} | {unscorable} |")
        kinds: dict[tuple[str, str, str, str], list[Case]] = defaultdict(list)
        for c in cases:
            if c.family == family and not agree(c):
                kinds[(c.group, c.source, json.dumps(c.original), json.dumps(c.ours))].append(c)
        if kinds:
            out += [
                "",
                f"Every disagreement of {family}, by id, input kind and the two answers (one example each):",
                "",
                "| id | inputs | n | original | ours | example |",
                "|---|---|---:|---|---|---|",
            ]
            for (g, source, original, ours), found in sorted(kinds.items()):
                example = {k: v for k, v in found[0].payload.items() if k != "prompt"}
                out.append(
                    f"| `{g}` | {source} | {len(found)} | {_short(original, 40)} | {_short(ours, 40)} | {_short(example)} |"
                )
    if tagger is not None:
        t = tagger
        out += [
            "",
            "#### POS tagger (`words:start_verb`)",
            "",
            f"First token's verb decision (what `words:start_verb` reads), on {t['responses']} distinct IFBench and IFEval "
            f"responses: ours and NLTK's differ on {t['first_token_verb_disagreements']} "
            f"({_pct(t['first_token_verb_disagreements'], t['responses'])}%). Every token's tag, on the {t['real_responses']} "
            f"real responses: {t['token_tag_disagreements']} of {t['tokens']} tags differ "
            f"({_pct(t['token_tag_disagreements'], t['tokens'])}%).",
            "",
            "| first token | ours | NLTK | responses |",
            "|---|---|---|---:|",
        ]
        out += [f"| `{e['word']}` | {e['ours']} | {e['nltk']} | {e['n']} |" for e in t["examples"]]
    if refused:
        out += ["", f"NLTK downloads the originals tried and were refused: {', '.join(refused)}."]
    return "\n".join(out) + "\n"


def write_block(markdown: Path, block: str) -> None:
    """Replace the generated block of ``markdown`` (between the markers), keeping the prose around it."""
    text = markdown.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{markdown}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    markdown.write_text(f"{head}{BEGIN}\n{block}{END}{rest.split(END, 1)[1]}", encoding="utf-8")
