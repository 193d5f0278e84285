"""Instruction-following minis. RLVR-IFeval rows carry the real ground_truth format: a JSON string
with ``func_name`` (a key of open-instruct's ``IF_FUNCTIONS_MAP``) and every kwarg slot of that map,
null when unused. Only constraints a 135M model sometimes meets are used (lowercase, keyword,
short answers, end phrase, no commas, ...). IFEval / IFBench rows use real instruction ids with
their kwargs; their tasks and constraint wording differ from the training rows on purpose."""

from __future__ import annotations

import json
import random
from typing import Any

from care_rl.data.minigen.common import unique_draws

Row = dict[str, Any]
GT_SLOTS = (
    "N",
    "quantifier",
    "end_phrase",
    "keyword_list",
    "word",
    "forbidden_words",
    "letter",
    "i",
    "first_word",
    "postscript_marker",
    "options",
    "section_splitter",
    "original_prompt",
)

TRAIN_TASKS = [
    "Describe a sunny morning at the beach.",
    "Tell me about your favourite kind of tree.",
    "Explain how to make a cup of tea.",
    "Write a note thanking a neighbour for help.",
    "Say something kind about dogs.",
    "Describe the sound of rain on a roof.",
    "Give advice to someone starting to run.",
    "Describe a busy train station.",
    "Explain why people keep gardens.",
    "Write a short greeting for a birthday card.",
    "Describe the taste of a fresh orange.",
    "Tell me what a library is for.",
    "Explain how a bicycle moves.",
    "Describe a quiet evening at home.",
    "Write a sentence about the moon.",
    "Give a tip for keeping a desk tidy.",
    "Describe a cat sleeping in the sun.",
    "Explain what clouds are made of.",
    "Write a welcome message for a new classmate.",
    "Describe a walk through a forest.",
    "Tell me why breakfast matters.",
    "Describe a snowy street.",
    "Explain how to water a houseplant.",
    "Write a line about the ocean.",
]
KEYWORDS = ["bright", "gentle", "happy", "green", "simple", "warm", "calm", "friendly"]
END_PHRASES = ["Is there anything else I can help with?", "That is all.", "Have a nice day."]
FORBIDDEN = [["very", "really"], ["good", "nice"], ["thing", "stuff"]]


def _ground_truth(func_name: str, **kwargs: Any) -> str:
    gt: dict[str, Any] = {"func_name": func_name}
    gt.update({slot: kwargs.get(slot) for slot in GT_SLOTS})
    return json.dumps(gt)


def _train_constraint(rng: random.Random) -> tuple[str, str, str, str]:
    """(constraint_type, constraint template, instantiated text, ground_truth)."""
    kind = rng.randrange(9)
    if kind == 0:
        t = "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed."
        return "All Lowercase", t, t, _ground_truth("validate_lowercase")
    if kind == 1:
        k = rng.choice(KEYWORDS)
        return (
            "Include Keywords",
            "Include keywords {keyword1}, {keyword2} in the response.",
            f"Include keywords {k} in the response.",
            _ground_truth("verify_keywords", keyword_list=[k]),
        )
    if kind == 2:
        n = rng.choice([5, 10, 15, 20])
        return (
            "Number Words",
            "Answer with at least / around / at most {N} words",
            f"Answer with at most {n} words.",
            _ground_truth("validate_word_constraint", N=n, quantifier="at most"),
        )
    if kind == 3:
        p = rng.choice(END_PHRASES)
        return (
            "End Checker",
            "Finish your response with this exact phrase {end phrase}. No other words should follow this phrase.",
            f"Finish your response with this exact phrase {p} No other words should follow this phrase.",
            _ground_truth("validate_end", end_phrase=p),
        )
    if kind == 4:
        t = "In your entire response, refrain from the use of any commas."
        return "No Commas", t, t, _ground_truth("validate_no_commas")
    if kind == 5:
        t = "Your entire response should be in English, capital letters only."
        return "All Uppercase", t, t, _ground_truth("validate_uppercase")
    if kind == 6:
        t = "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>."
        return "Title", t, t, _ground_truth("validate_title")
    if kind == 7:
        words = rng.choice(FORBIDDEN)
        return (
            "Forbidden Words",
            "Do not include keywords {forbidden words} in the response.",
            f"Do not include keywords {', '.join(words)} in the response.",
            _ground_truth("validate_forbidden_words", forbidden_words=words),
        )
    return (
        "Postscript",
        "At the end of your response, please explicitly add a postscript starting with {postscript marker}",
        "At the end of your response, please explicitly add a postscript starting with P.S.",
        _ground_truth("verify_postscript", postscript_marker="P.S."),
    )


def rlvr_ifeval(rng: random.Random, n: int = 200) -> list[Row]:
    def draw(r: random.Random) -> tuple[str, tuple[str, str, str, str]]:
        return r.choice(TRAIN_TASKS), _train_constraint(r)

    rows = []
    for task, (ctype, template, text, gt) in unique_draws(rng, n, draw, key=lambda d: d[0] + d[1][2]):
        rows.append(
            {
                "messages": [{"content": f"{task} {text}", "role": "user"}],
                "ground_truth": gt,
                "dataset": "ifeval",
                "constraint_type": ctype,
                "constraint": template,
            }
        )
    return rows


EVAL_TASKS = [
    "Write two sentences about a mountain lake at dawn.",
    "Suggest a name for a small bookshop and say why.",
    "Tell a tiny story about a lost umbrella.",
    "Explain to a child what a rainbow is.",
    "Recommend a board game for a family evening.",
    "Describe your ideal lunch in a few lines.",
    "Write a message inviting friends to a picnic.",
    "Explain what a compass does.",
    "Describe an old wooden bridge over a river.",
    "Give one reason to learn to swim.",
    "Write a short motto for a school football team.",
    "Describe the smell of a bakery in winter.",
    "Explain how seeds grow into plants.",
    "Write a reminder note about returning library books.",
    "Describe a parrot that can talk.",
    "Say what makes a good neighbour.",
]
IFEVAL_INSTRUCTIONS = [
    (
        "change_case:english_lowercase",
        {},
        "Please reply using only lowercase letters, with no capitals anywhere.",
    ),
    (
        "keywords:existence",
        {"keywords": ["sparkle"]},
        "Make sure the word sparkle appears somewhere in your reply.",
    ),
    (
        "length_constraints:number_words",
        {"relation": "less than", "num_words": 25},
        "Keep the whole reply under 25 words.",
    ),
    ("punctuation:no_comma", {}, "Do not put a single comma in what you write."),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        "End your reply with the exact phrase Any other questions?",
    ),
    (
        "detectable_format:title",
        {},
        "Give the reply a title wrapped in double angular brackets, like <<my title>>.",
    ),
    ("change_case:english_capital", {}, "Write the whole reply in English using capital letters only."),
]
IFBENCH_INSTRUCTIONS = [
    (
        "count:word_count_range",
        {"min_words": 10, "max_words": 30},
        "The reply must be between 10 and 30 words long.",
    ),
    ("count:unique_word_count", {"N": 12}, "Use at least 12 unique words in the reply."),
    (
        "sentence:keyword",
        {"word": "lantern", "N": 1},
        "The first sentence of the reply must include the word lantern.",
    ),
    ("count:numbers", {"N": 2}, "Include exactly 2 numbers in the reply."),
    (
        "count:conjunctions",
        {"small_n": 2},
        "Use at least 2 different coordinating conjunctions in the reply.",
    ),
]


# IFBench's kwargs schema: every row's kwargs dict has all of these keys, null when unused, and the
# integer arguments below stored as floats ("N": 8.0), as in allenai/IFBench's IFBench_test.jsonl.
IFBENCH_KWARG_SLOTS = (
    *("N", "capital_frequency", "capital_relation", "end_phrase", "first_word", "forbidden_words"),
    *("frequency", "keyword", "keyword1", "keyword2", "keyword3", "keyword4", "keyword5", "keywords"),
    *("language", "let_frequency", "let_relation", "letter", "m", "max_words", "min_words", "n", "n_end"),
    *("n_start", "nth_paragraph", "num_bullets", "num_highlights", "num_paragraphs", "num_placeholders"),
    *("num_sections", "num_sentences", "num_words", "options", "percentage", "postscript_marker"),
    *("prompt_to_repeat", "reference_text", "relation", "section_spliter", "sep", "small_n", "word"),
)
IFBENCH_FLOAT_KWARGS = frozenset({"N", "small_n", "min_words", "max_words", "percentage"})


def ifbench_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` in IFBench's schema: all slots, null when unused, float-typed integers as floats."""
    unknown = set(kwargs) - set(IFBENCH_KWARG_SLOTS)
    if unknown:
        raise ValueError(f"not IFBench kwargs slots: {sorted(unknown)}")
    return {
        k: float(kwargs[k]) if k in IFBENCH_FLOAT_KWARGS and k in kwargs else kwargs.get(k)
        for k in IFBENCH_KWARG_SLOTS
    }


def _ifeval_like(rng: random.Random, n: int, instructions: list, first_key: int) -> list[Row]:
    def draw(r: random.Random) -> tuple[str, tuple]:
        return r.choice(EVAL_TASKS), r.choice(instructions)

    rows = []
    for i, (task, (iid, kwargs, text)) in enumerate(unique_draws(rng, n, draw, key=lambda d: d[0] + d[1][0])):
        rows.append(
            {
                "key": first_key + i,
                "prompt": f"{task} {text}",
                "instruction_id_list": [iid],
                "kwargs": [kwargs],
            }
        )
    return rows


def ifeval(rng: random.Random, n: int = 64) -> list[Row]:
    return _ifeval_like(rng, n, IFEVAL_INSTRUCTIONS, first_key=1000)


def ifbench(rng: random.Random, n: int = 64) -> list[Row]:
    rows = _ifeval_like(rng, n, IFBENCH_INSTRUCTIONS, first_key=5000)
    return [{**row, "kwargs": [ifbench_kwargs(kw) for kw in row["kwargs"]]} for row in rows]
