"""Math minis. Training (OpenR1-Math, AIME 1983-2024): one-digit sums and differences, half bare
("What is 7 + 5?"), half word problems about people collecting things, and remainder problems as the
'hard' AIME stand-in. A 135M policy learns only from groups with a correct sample: SmolLM2-135M at
temperature 1 answers ~42% of bare one-digit sums, ~10% of one-digit word problems and under 1% of
the earlier two-digit ones (GSM stood at 0); 32 steps of word problems alone did not move the math
benchmarks (docs/results.md, feasibility). Evaluation (GSM8K, MATH-500, AIME 2025): different scenes and phrasings, each in its
benchmark's style (GSM8K '#### N' answers with <<a+b=c>> calculator marks, MATH-500 LaTeX answers such
as \\frac{1}{2})."""

from __future__ import annotations

import math
import random
from typing import Any

from care_rl.data.minigen.common import seeded_uuid, unique_draws

Row = dict[str, Any]
TRAIN_NAMES = ["Tom", "Mia", "Sam", "Lily", "Ben", "Zoe", "Max", "Ava", "Leo", "Emma", "Noah", "Ivy"]
TRAIN_ITEMS = ["apples", "marbles", "stickers", "pencils", "shells", "cards", "buttons", "coins"]
OPENR1_SOURCES = ["olympiads", "cn_contest", "aops_forum", "amc_aime", "inequalities"]


def _openr1_problem(rng: random.Random) -> tuple[str, int, str]:
    name, item = rng.choice(TRAIN_NAMES), rng.choice(TRAIN_ITEMS)
    a, b = rng.randint(2, 9), rng.randint(1, 9)
    if rng.random() < 0.5:  # a bare sum or difference: the part a 135M policy gets right often enough
        if rng.random() < 0.5:
            return f"What is {a} + {b}?", a + b, f"{a} + {b} = {a + b}"
        a = rng.randint(b + 1, 12)
        return f"What is {a} - {b}?", a - b, f"{a} - {b} = {a - b}"
    if rng.random() < 0.5:
        text = f"{name} has {a} {item}. {name} finds {b} more {item}. How many {item} does {name} have now?"
        return text, a + b, f"{a} + {b} = {a + b}"
    a = rng.randint(b + 1, 12)
    text = f"{name} had {a} {item} and gave {b} of them to a friend. How many {item} does {name} have left?"
    return text, a - b, f"{a} - {b} = {a - b}"


def openr1_math(rng: random.Random, n: int = 200) -> list[Row]:
    rows = []
    for text, ans, work in unique_draws(rng, n, _openr1_problem, key=lambda t: t[0]):
        gen = f"<think>\n{work}.\n</think>\n{work}, so the answer is $\\boxed{{{ans}}}$."
        rows.append(
            {
                "problem": text,
                "solution": f"{work}. The answer is ${ans}$.",
                "answer": str(ans),
                "problem_type": "Algebra",
                "question_type": "math-word-problem",
                "source": rng.choice(OPENR1_SOURCES),
                "uuid": seeded_uuid(rng),
                "is_reasoning_complete": [True],
                "generations": [gen],
                "correctness_math_verify": [True],
                "correctness_llama": None,
                "finish_reasons": None,
                "correctness_count": 1,
                "messages": [{"content": text, "role": "user"}, {"content": gen, "role": "assistant"}],
            }
        )
    return rows


def _aime_train_problem(rng: random.Random) -> tuple[str, int]:
    a, b, m = rng.randint(11, 99), rng.randint(3, 19), rng.randint(5, 13)
    return f"Find the remainder when {a} times {b} is divided by {m}.", (a * b) % m


def aime_1983_2024(rng: random.Random, n: int = 20) -> list[Row]:
    rows = []
    for i, (text, ans) in enumerate(unique_draws(rng, n, _aime_train_problem, key=lambda t: t[0])):
        year, number = 1983 + 2 * i, 1 + i % 15
        part = None if year < 2000 else ("I" if i % 2 else "II")
        ident = f"{year}-{number}" if part is None else f"{year}-{part}-{number}"
        rows.append(
            {
                "ID": ident,
                "Year": year,
                "Problem Number": number,
                "Question": text,
                "Answer": ans,
                "Part": part,
            }
        )
    return rows


def _gsm8k_problem(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(2, 9), rng.randint(1, 9)
    if rng.random() < 0.5:
        q = (
            f"A bakery bakes {a} loaves of bread before noon and {b} loaves after noon. "
            "How many loaves does the bakery bake that day?"
        )
        return q, f"The bakery bakes {a} + {b} = <<{a}+{b}={a + b}>>{a + b} loaves.\n#### {a + b}"
    a = rng.randint(b + 1, 12)
    q = (
        f"A library shelf holds {a} novels. Readers borrow {b} of the novels on Monday. "
        "How many novels are still on the shelf?"
    )
    return q, f"The shelf still holds {a} - {b} = <<{a}-{b}={a - b}>>{a - b} novels.\n#### {a - b}"


def gsm8k(rng: random.Random, n: int = 64) -> list[Row]:
    return [{"question": q, "answer": a} for q, a in unique_draws(rng, n, _gsm8k_problem, key=lambda t: t[0])]


def _math500_problem(rng: random.Random) -> tuple[str, str, str]:
    if rng.random() < 0.25:
        p, q, k = rng.randint(1, 4), rng.randint(2, 5), rng.randint(2, 6)
        if math.gcd(p, q) != 1 or p >= q:
            p, q = 1, 2
        problem = f"Express $\\frac{{{p * k}}}{{{q * k}}}$ as a common fraction in lowest terms."
        return problem, f"\\frac{{{p}}}{{{q}}}", f"Divide top and bottom by ${k}$."
    a, b = rng.randint(2, 19), rng.randint(1, 9)
    if rng.random() < 0.5:
        return f"Compute $({a}) + ({b})$.", str(a + b), f"${a} + {b} = {a + b}$."
    return f"Evaluate the expression ${a} - {b}$.", str(a - b), f"${a} - {b} = {a - b}$."


def math500(rng: random.Random, n: int = 64) -> list[Row]:
    rows = []
    for i, (problem, answer, sol) in enumerate(unique_draws(rng, n, _math500_problem, key=lambda t: t[0])):
        rows.append(
            {
                "problem": problem,
                "solution": f"{sol} The answer is $\\boxed{{{answer}}}$.",
                "answer": answer,
                "subject": "Prealgebra",
                "level": 1 + i % 2,
                "unique_id": f"test/prealgebra/{1000 + i}.json",
            }
        )
    return rows


def _aime2025_problem(rng: random.Random) -> tuple[str, int]:
    a, b, m = rng.randint(4, 30), rng.randint(1, 20), rng.randint(6, 17)
    return f"Let $N = {a}^2 + {b}$. What is the value of $N$ modulo ${m}$?", (a * a + b) % m


def aime2025(rng: random.Random, n: int = 30) -> list[Row]:
    draws = unique_draws(rng, n, _aime2025_problem, key=lambda t: t[0])
    return [{"problem": p, "answer": str(ans), "id": str(i)} for i, (p, ans) in enumerate(draws)]
