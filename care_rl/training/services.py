"""What a stage draws on besides its config: where its prompts and rewards come from, and extra
callbacks. Its own module, apart from the trainers (care_rl/training/stage.py), so that a cascade read
from the stage cache (a warm re-render of a table) never imports TRL and the trainers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from care_rl.config import ConfigError, Profile
from care_rl.data.records import TrainPrompt
from care_rl.training.stage_run import VERIFIABLE_REWARDS, heldout_prompts, train_prompts

if TYPE_CHECKING:
    from care_rl.rewards.registry import RewardFunc  # annotations only


def build_reward(name: str, profile: Profile) -> RewardFunc:
    """A verifier from the reward registry, or a chat reward (PA-GRM or a variant) on the profile's judge."""
    from care_rl.rewards.registry import get_reward

    if name in VERIFIABLE_REWARDS:
        return get_reward(name)
    try:
        from care_rl.pagrm import make_chat_reward
    except ImportError as e:
        raise ConfigError(f"chat reward {name!r} needs care_rl.pagrm.make_chat_reward ({e})") from e
    from care_rl.judges.factory import build_backend, pagrm_adapter

    # The direct judge is the untrained base judge (the paper's w/o PA-GRM ablation); the protocol
    # variants run on the PA-GRM-trained judge (the untrained one only where the profile says so).
    adapter = None if name == "direct" else pagrm_adapter(profile)
    backend = build_backend(profile.judge, tokenizer_spec=profile.tokenizer, adapter_path=adapter)
    return make_chat_reward(name, backend)


@dataclass
class StageServices:
    """Where prompts and rewards come from, plus extra callbacks; tests swap in scripted ones."""

    load_prompts: Callable[[str, Profile], list[TrainPrompt]] = train_prompts
    load_heldout: Callable[[str, Profile, int], list[TrainPrompt]] = heldout_prompts
    build_reward: Callable[[str, Profile], RewardFunc] = build_reward
    callbacks: list[Any] = field(default_factory=list)
