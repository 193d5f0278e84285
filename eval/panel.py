"""The evaluation panel: which judges score the chat benchmarks (averaged per sample, eval/judging.py).

Kept apart from the evaluation runner so that planning and table rendering can ask about the panel
without importing the model stack.
"""

from __future__ import annotations

from care_rl.config import ConfigError, JudgeSpec, Profile


def judge_specs(profile: Profile) -> list[JudgeSpec]:
    """The evaluation panel that scores the chat benchmarks, averaged per sample (eval/judging.py).

    The paper's panel is Gemini-2.5-Pro, Kimi-K2.5 and Qwen3-Max (the paper profiles' ``eval_judges``).
    The training judge's model -- the fallback when ``eval_judges`` is empty, or an evaluation judge
    with its weights -- gave the Direct baselines their chat reward, so it would favour them; it is
    refused unless the profile names ``deviations.chat_eval_by_training_judge``.
    """
    panel = list(profile.eval_judges) or [profile.judge]
    if scored_by_training_judge(profile) and not profile.deviations.chat_eval_by_training_judge:
        where = "eval_judges is empty" if not profile.eval_judges else "an eval_judges entry is that model"
        raise ConfigError(
            f"profile {profile.name!r}: chat benchmarks would be scored by the training judge "
            f"({profile.judge.identity()}: {where}), which gave the Direct baselines their reward. Name the "
            "evaluation panel in eval_judges (the paper: Gemini-2.5-Pro, Kimi-K2.5 and Qwen3-Max; see "
            "experiments/profiles/qwen3-4b.yaml), or set deviations.chat_eval_by_training_judge: true"
        )
    return panel


def scored_by_training_judge(profile: Profile) -> bool:
    """Whether any chat-benchmark judge is the training judge's model (same weights or endpoint)."""
    return not profile.eval_judges or any(
        j.identity() == profile.judge.identity() for j in profile.eval_judges
    )
