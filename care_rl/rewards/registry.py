"""TRL-style reward functions, looked up by name.

Every reward has TRL's signature ``(completions, **dataset_columns) -> list[float | None]``. One mixed
batch carries all domains (column ``domain`` per row: "math" | "if" | "chat"); each reward scores only
its own domain's rows and returns None for the rest, which TRL's GRPOTrainer treats as "not
applicable" (it sums rewards with nansum across functions), so the functions can simply be listed
together. Completions are plain strings or TRL conversational lists ``[{"role": "assistant", ...}]``.
Column names follow ``care_rl.data.records.TrainPrompt``: math reads ``answer``, IF ``ground_truth``.

Rewards that need settings (PA-GRM's judge for "chat") are registered as factories with
:func:`register_factory` and built with :func:`get_reward` (``**settings`` go to the factory).

A row its verifier cannot score (:class:`~care_rl.rewards.unscorable.Unscorable`: a gold that does not
parse, a malformed ground truth) gets ``None`` as well -- TRL leaves a completion that no reward scored
out of its group's baseline and gives it no advantage -- and is logged and counted
(:func:`unscorable_counts`), never a silent 0.0 and never a crashed step.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from care_rl.rewards import math as math_reward
from care_rl.rewards import rlvr_if
from care_rl.rewards.unscorable import Unscorable

logger = logging.getLogger(__name__)

RewardFunc = Callable[..., list[float | None]]
RewardFactory = Callable[..., RewardFunc]

_FACTORIES: dict[str, RewardFactory] = {}
_UNSCORABLE: Counter[tuple[str, str]] = Counter()


def completion_text(completion: str | list[dict[str, str]]) -> str:
    """The text of one completion: a string as is, a conversational list as its last assistant turn's
    content (TRL passes ``[{"role": "assistant", "content": ...}]`` for chat-format datasets)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        turns = [m for m in completion if isinstance(m, dict) and m.get("role") == "assistant"]
        if turns and isinstance(turns[-1].get("content"), str):
            return turns[-1]["content"]
    raise TypeError(
        f"a completion must be a str or a list of messages with an assistant turn, got {completion!r}"
    )


def _column(name: str, columns: dict[str, Any], n: int, reward: str) -> Sequence[Any]:
    values = columns.get(name)
    if values is None:
        raise KeyError(f"reward {reward!r} needs dataset column {name!r}; got columns {sorted(columns)}")
    if len(values) != n:
        raise ValueError(f"reward {reward!r}: column {name!r} has {len(values)} rows for {n} completions")
    return values


def domain_reward(name: str, domain: str, column: str, score: Callable[[str, str], float]) -> RewardFunc:
    """Wrap a per-row ``score(text, reference)`` into a batch reward for one domain.

    A row of this domain with a missing reference is a data error and raises (naming the row), never
    a silent 0.0. A row ``score`` cannot score (it raises :class:`Unscorable`) gets ``None``, counted.
    """

    def reward(completions: list[Any], **columns: Any) -> list[float | None]:
        domains = _column("domain", columns, len(completions), name)
        references = _column(column, columns, len(completions), name)
        out: list[float | None] = []
        for row, (completion, row_domain, reference) in enumerate(
            zip(completions, domains, references, strict=True)
        ):
            if row_domain != domain:
                out.append(None)
                continue
            if reference is None:
                raise ValueError(f"reward {name!r}: row {row} (domain {domain!r}) has no {column!r}")
            try:
                out.append(score(completion_text(completion), reference))
            except Unscorable as err:
                _UNSCORABLE[(name, err.reason)] += 1
                logger.warning("reward %r: row %d cannot be scored (reward None): %s", name, row, err)
                out.append(None)
        return out

    reward.__name__ = f"{name}_reward"  # TRL logs each reward under its function's __name__
    return reward


def register_factory(name: str, factory: RewardFactory) -> None:
    """Register a reward under ``name``; ``factory(**settings)`` must return a reward function."""
    if name in _FACTORIES:
        raise ValueError(f"reward {name!r} is already registered")
    _FACTORIES[name] = factory


def unscorable_counts() -> dict[tuple[str, str], int]:
    """How many rows each reward could not score in this process, by (reward name, reason)."""
    return dict(_UNSCORABLE)


def known_rewards() -> list[str]:
    return sorted(_FACTORIES)


def get_reward(name: str, **settings: Any) -> RewardFunc:
    """Build the reward registered as ``name``; unknown names raise listing the known ones."""
    if name not in _FACTORIES:
        raise KeyError(f"unknown reward {name!r}; known rewards: {known_rewards()}")
    return _FACTORIES[name](**settings)


register_factory("math", lambda: domain_reward("math", "math", "answer", math_reward.score))
register_factory("if", lambda: domain_reward("if", "if", "ground_truth", rlvr_if.score))
