"""Qwen3-style thinking: the one rule every scorer and judge parser applies to model text.

The policy generates with its chat template's default, which for Qwen3 is thinking on: a reply is
``<think>...</think>`` followed by the answer. What is verified or judged is the answer only:

* text with a ``</think>`` -> the text after the last ``</think>``, whitespace-stripped (open-instruct's
  RLVR-IF cleaning and lm-eval's ``think_end_token`` cut at the same place);
* text that opens ``<think>`` and never closes it -> ``""`` (generation ran out inside the thinking:
  there is no answer, and scoring the thoughts as one would reward unfinished reasoning);
* any other text -> unchanged (models without thinking, such as SmolLM2, are scored as before).

Judges are asked not to think (local judges render their chat template with ``enable_thinking=False``,
see care_rl/judges/local.py); their outputs still pass through ``strip_thinking`` before any JSON or
score is read, because an endpoint may think anyway. See docs/decisions.md, "Qwen3 thinking".
"""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
# what a local judge's chat template receives: Qwen3's switch; templates without it ignore the variable
JUDGE_TEMPLATE_KWARGS = {"enable_thinking": False}


def strip_thinking(text: str) -> str:
    """The answer part of a generated text (see the module docstring for the rule)."""
    if THINK_CLOSE in text:
        return text.rsplit(THINK_CLOSE, 1)[1].strip()
    if text.lstrip().startswith(THINK_OPEN):
        return ""
    return text
