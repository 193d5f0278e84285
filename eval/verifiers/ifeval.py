"""IFEval scored by the official verifier as shipped in lm-eval (``lm_eval.tasks.ifeval``).

The paper evaluates IF "with the official verifiers". lm-eval carries Google's IFEval verifier
unchanged; we call its strict and loose tests directly (not its ``process_results``, which reads only
the first of our avg@4 samples). Its sentence counter needs NLTK's punkt_tab model, which
:mod:`eval.verifiers.nltk_punkt` provides offline before lm-eval's module is first imported.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Any, TypedDict


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
    """Raise ValueError naming the benchmark and id if an instruction is unknown or kwargs don't line up."""
    if len(instruction_id_list) != len(kwargs):
        raise ValueError(
            f"{benchmark}: {len(instruction_id_list)} instruction ids but {len(kwargs)} kwargs dicts: "
            f"{instruction_id_list}"
        )
    unknown = [i for i in instruction_id_list if i not in known]
    if unknown:
        raise ValueError(f"{benchmark}: unknown instruction ids {unknown}")


def score_ifeval(
    response: str, instruction_id_list: list[str], kwargs: list[dict[str, Any]], prompt: str
) -> InstructionScores:
    """Score one response to one IFEval prompt with lm-eval's official strict and loose tests."""
    utils = _ifeval()
    check_ids_and_kwargs(
        "IFEval", instruction_id_list, kwargs, set(utils.instructions_registry.INSTRUCTION_DICT)
    )
    example = utils.InputExample(key=0, instruction_id_list=instruction_id_list, prompt=prompt, kwargs=kwargs)
    strict = utils.test_instruction_following_strict(example, response)
    loose = utils.test_instruction_following_loose(example, response)
    return InstructionScores(
        prompt_strict=strict.follow_all_instructions,
        prompt_loose=loose.follow_all_instructions,
        inst_strict=list(strict.follow_instruction_list),
        inst_loose=list(loose.follow_instruction_list),
    )
