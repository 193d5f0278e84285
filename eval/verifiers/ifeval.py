"""IFEval scored by the official verifier as shipped in lm-eval (``lm_eval.tasks.ifeval``).

The paper evaluates IF "with the official verifiers". lm-eval carries Google's IFEval verifier
unchanged; we call its strict and loose tests directly (not its ``process_results``, which reads only
the first of our avg@4 samples). Its sentence counter needs NLTK's punkt_tab model, which
:mod:`eval.verifiers.nltk_punkt` provides offline before lm-eval's module is first imported.

The checker draws from Python's global ``random`` when an argument is missing or invalid -- e.g.
``keywords:letter_frequency`` with a ``letter`` that is not a letter gets a random letter -- so the
same response could score differently from run to run. Each call runs under a fixed seed (and puts
the caller's random state back afterwards): the draw is still upstream's, but reproducible. An input
the checker cannot take (an unknown id, arguments it rejects) raises
:class:`~care_rl.rewards.unscorable.Unscorable`, which the evaluation counts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from types import ModuleType
from typing import Any, TypedDict

from care_rl.rewards.unscorable import Unscorable

SEED = 0  # for the checker's own random draws (see the module docstring)


class InstructionScores(TypedDict):
    """Prompt-level (all instructions followed) and instruction-level results, strict and loose."""

    prompt_strict: bool
    prompt_loose: bool
    inst_strict: list[bool]
    inst_loose: list[bool]


@cache
def _ifeval() -> ModuleType:
    """lm-eval's IFEval utils, imported only after the offline punkt_tab model is in place."""
    from eval.verifiers.nltk_punkt import use_packaged_punkt

    use_packaged_punkt()
    from lm_eval.tasks.ifeval import utils

    return utils


def check_ids_and_kwargs(
    benchmark: str, instruction_id_list: list[str], kwargs: list[dict[str, Any]], known: set[str]
) -> None:
    """Raise :class:`Unscorable` naming the benchmark and id if an instruction is unknown or the
    kwargs don't line up with the ids."""
    if len(instruction_id_list) != len(kwargs):
        raise Unscorable(
            f"{benchmark}: instruction ids and kwargs differ in number",
            f"{len(instruction_id_list)} ids, {len(kwargs)} kwargs dicts: {instruction_id_list}",
        )
    unknown = [i for i in instruction_id_list if i not in known]
    if unknown:
        raise Unscorable(f"{benchmark}: unknown instruction id", f"{unknown}")


@contextmanager
def seeded_random(seed: int = SEED) -> Iterator[None]:
    """Run a block under ``random.seed(seed)`` and restore the global random state afterwards."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def score_ifeval(
    response: str, instruction_id_list: list[str], kwargs: list[dict[str, Any]], prompt: str
) -> InstructionScores:
    """Score one response to one IFEval prompt with lm-eval's official strict and loose tests."""
    utils = _ifeval()
    check_ids_and_kwargs(
        "IFEval", instruction_id_list, kwargs, set(utils.instructions_registry.INSTRUCTION_DICT)
    )
    example = utils.InputExample(key=0, instruction_id_list=instruction_id_list, prompt=prompt, kwargs=kwargs)
    try:
        with seeded_random():
            strict = utils.test_instruction_following_strict(example, response)
        with seeded_random():
            loose = utils.test_instruction_following_loose(example, response)
    except Exception as err:  # arguments build_description rejects, a check failing: counted, never a 0
        raise Unscorable(
            f"IFEval: the checker raised {type(err).__name__}", f"{instruction_id_list}: {err}"
        ) from err
    return InstructionScores(
        prompt_strict=strict.follow_all_instructions,
        prompt_loose=loose.follow_all_instructions,
        inst_strict=list(strict.follow_instruction_list),
        inst_loose=list(loose.follow_instruction_list),
    )
