"""Test doubles for the evaluator: a scripted generator that counts calls and can crash on demand."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from care_rl.data.records import EvalItem, Message
from eval.avg_at_k import Completion


class ScriptedGenerator:
    """``reply(prompt_text, j, seed)`` gives sample j; ``crash_on`` raises on that generate call (1-based)."""

    def __init__(self, reply: Callable[[str, int, int], str], crash_on: int | None = None) -> None:
        self.reply = reply
        self.crash_on = crash_on
        self.calls: list[list[str]] = []

    def prompt_lengths(self, conversations: Sequence[list[Message]]) -> list[int]:
        return [len(c[-1]["content"].split()) for c in conversations]

    def generate(self, conversations: Sequence[list[Message]], n: int, seed: int) -> list[list[Completion]]:
        if self.crash_on is not None and len(self.calls) + 1 == self.crash_on:
            raise RuntimeError("simulated crash")
        texts = [c[-1]["content"] for c in conversations]
        self.calls.append(texts)
        return [[Completion(self.reply(t, j, seed), 3) for j in range(n)] for t in texts]


def math_item(i: int, answer: str) -> EvalItem:
    words = " ".join(["word"] * (i % 5))  # varied prompt lengths, so batches are re-ordered
    return EvalItem(
        benchmark="gsm8k",
        domain="math",
        id=f"q{i}",
        messages=[{"role": "user", "content": f"question {i} {words}"}],
        reference={"answer": answer},
    )


@pytest.fixture()
def scripted_generator():
    return ScriptedGenerator
