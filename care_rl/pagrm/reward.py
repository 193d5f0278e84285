"""PA-GRM as a TRL reward function: ``(completions, prompts, domain, **columns) -> list[float | None]``.

Rows whose ``domain`` is not "chat" get ``None`` (another reward function scores them; TRL nansums the
rewards of a row across functions). Judge failures are ``None`` too, never 0. Prompts arrive either as
text or as conversations (TRL's conversational format); completions as text or as a one-message list.
``metrics`` exposes the judge's counters for the trainer to log.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from care_rl.judges.base import JudgeBackend
from care_rl.pagrm.cache import ProtocolCache
from care_rl.pagrm.judge import PAGRMJudge, Variant
from care_rl.thinking import strip_thinking


def prompt_text(prompt: str | list[dict[str, str]]) -> str:
    """What the judge reads as 'the user request': the text, or a role-labelled transcript of turns."""
    if isinstance(prompt, str):
        return prompt
    if len(prompt) == 1:
        return prompt[0]["content"]
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in prompt)


def completion_text(completion: str | list[dict[str, str]]) -> str:
    """What the judge reads as 'the response': the answer, without the policy's thinking (care_rl.thinking)."""
    if not isinstance(completion, str):
        completion = "".join(m["content"] for m in completion if m.get("role", "assistant") == "assistant")
    return strip_thinking(completion)


class ChatReward:
    """Callable reward; ``__name__`` is what TRL logs the reward under."""

    def __init__(self, judge: PAGRMJudge) -> None:
        self.judge = judge
        self.__name__ = f"chat_{judge.variant}"

    @property
    def metrics(self) -> Counter[str]:
        return self.judge.metrics

    def __call__(
        self,
        completions: list[Any],
        prompts: list[Any] | None = None,
        domain: list[str] | None = None,
        **columns: Any,
    ) -> list[float | None]:
        if prompts is None or len(prompts) != len(completions):
            raise ValueError("the chat reward needs one prompt per completion (TRL passes `prompts`)")
        if domain is not None and len(domain) != len(completions):
            raise ValueError(f"`domain` has {len(domain)} rows for {len(completions)} completions")
        rows = [i for i in range(len(completions)) if domain is None or domain[i] == "chat"]
        self.judge.metrics["skipped_non_chat"] += len(completions) - len(rows)
        scores = self.judge.score(
            [prompt_text(prompts[i]) for i in rows], [completion_text(completions[i]) for i in rows]
        )
        out: list[float | None] = [None] * len(completions)
        for i, s in zip(rows, scores, strict=True):
            out[i] = None if s is None else s.reward
        return out


def make_chat_reward(
    variant: Variant,
    backend: JudgeBackend,
    *,
    cache_path: str | Path | None = None,
    protocol_max_new_tokens: int | None = None,
    score_max_new_tokens: int | None = None,
    trace_path: str | Path | None = None,
) -> ChatReward:
    """The chat-domain reward for one variant. ``domain=None`` means every row is a chat row."""
    judge = PAGRMJudge(
        variant,
        backend,
        cache=ProtocolCache(cache_path),
        protocol_max_new_tokens=protocol_max_new_tokens,
        score_max_new_tokens=score_max_new_tokens,
        trace_path=trace_path,
    )
    return ChatReward(judge)
