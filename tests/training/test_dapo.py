"""DapoTrainer on the smoke profile: DAPO settings, real training steps, dynamic sampling refills."""

from __future__ import annotations

import pytest
import torch
from peft import get_peft_model

from care_rl.config import ConfigError
from care_rl.models import lora_config
from care_rl.training.dapo import DapoTrainer, dapo_config, prompts_dataset, with_overlong_punishment
from tests.training.conftest import fake_prompts, hashed_reward


def _trainer(profile, tokenizer, smoke_model, tmp_path, rewards, n=8, refills=0):
    model = get_peft_model(smoke_model, lora_config(profile.lora))
    return DapoTrainer(
        model=model,
        reward_funcs=rewards,
        args=dapo_config(profile, profile.stages["if"], tmp_path),
        train_dataset=prompts_dataset(fake_prompts("if", n)),
        processing_class=tokenizer,
        max_refills=refills,
    )


def test_config_is_dapo(train_profile, tmp_path):
    cfg = dapo_config(train_profile, train_profile.stages["math"], tmp_path)
    assert (cfg.loss_type, cfg.epsilon, cfg.epsilon_high, cfg.beta) == ("dapo", 0.2, 0.28, 0.0)
    assert cfg.seed == 42 and cfg.max_steps == 2 and cfg.use_vllm is False
    stage = train_profile.stages["math"]
    assert cfg.generation_batch_size == stage.prompts_per_step * stage.num_generations
    assert cfg.per_device_train_batch_size == train_profile.dapo.per_device_batch_size * stage.num_generations


def test_bad_geometry_and_overlong_buffer_name_the_field(train_profile, tmp_path):
    dapo = train_profile.dapo.model_copy(update={"per_device_batch_size": 3})
    with pytest.raises(ConfigError, match="prompts_per_step"):
        dapo_config(train_profile.model_copy(update={"dapo": dapo}), train_profile.stages["if"], tmp_path)
    dapo = train_profile.dapo.model_copy(update={"overlong_buffer": 100})
    with pytest.raises(ConfigError, match="overlong_buffer"):
        with_overlong_punishment(
            [hashed_reward], train_profile.model_copy(update={"dapo": dapo}), train_profile.stages["if"]
        )
    assert with_overlong_punishment([hashed_reward], train_profile, train_profile.stages["if"]) == [
        hashed_reward
    ]


def _overlong(profile, buffer: int = 4):
    return profile.model_copy(update={"dapo": profile.dapo.model_copy(update={"overlong_buffer": buffer})})


def test_overlong_punishment_shapes_only_rows_the_task_reward_scores(train_profile):
    """DAPO eq. 13 with L_max 8, buffer 4: lengths 4, 6, 8 are punished 0, -0.5, -1; a None (another
    domain's row, a failed judgment) stays None instead of becoming 0 + punishment."""
    logged: list[tuple[str, float]] = []

    def judge(completions, **columns):
        return [0.8, None, 0.9, 0.3]

    (shaped,) = with_overlong_punishment([judge], _overlong(train_profile), train_profile.stages["if"])
    out = shaped(
        completions=["a"] * 4,
        completion_ids=[[1] * 4, [1] * 6, [1] * 8, [1] * 6],
        log_metric=lambda name, value: logged.append((name, value)),
    )
    assert out == pytest.approx([0.8, None, -0.1, -0.2])
    assert shaped.__name__ == "judge" and logged == [("overlong_punishment/judge", pytest.approx(-0.5))]


def test_failed_judgments_stay_unscored_in_trl_advantages(train_profile, tokenizer, smoke_model, tmp_path):
    """A tiny batch through TRL's reward aggregation: two groups of 4 completions, the judge fails on every
    odd row, every completion runs to L_max (punishment -1). The failed rows get advantage 0 and stay out
    of their group's mean and std; the scored rows are normalised between themselves. Had the punishment
    been a reward function of its own, TRL would have scored the failed rows -1, the worst of the group."""
    profile = _overlong(train_profile)
    scored: list[list[float | None]] = []

    def flaky_judge(completions, **columns):
        out = [None if i % 2 else r for i, r in enumerate(hashed_reward(completions))]
        scored.append(out)
        return out

    rewards = with_overlong_punishment([flaky_judge], profile, profile.stages["if"])
    trainer = _trainer(profile, tokenizer, smoke_model, tmp_path, rewards)
    trainer.model.train()
    g = trainer.num_generations
    inputs = [dict(trainer.train_dataset[i]) for i in (0, 1) for _ in range(g)]
    out = trainer._generate_and_score_completions(inputs)
    assert out["completion_mask"].sum(dim=1).tolist() == [8] * 2 * g  # every completion punished by -1
    (judged,) = scored
    advantages = out["advantages"]
    assert (advantages[1::2] == 0).all()
    for group in (0, 1):
        r = torch.tensor([judged[group * g + i] - 1.0 for i in range(0, g, 2)])
        expected = (r - r.mean()) / (r.std() + 1e-4)  # TRL: group mean and Bessel std over scored rows
        torch.testing.assert_close(advantages[group * g : (group + 1) * g : 2], expected.to(advantages.dtype))
    assert trainer._metrics["train"]["overlong_punishment/flaky_judge"] == [pytest.approx(-1.0)]


def test_two_steps_change_lora_weights(train_profile, tokenizer, smoke_model, tmp_path):
    trainer = _trainer(train_profile, tokenizer, smoke_model, tmp_path, [hashed_reward], refills=1)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    assert trainer.state.global_step == 2
    moved = [n for n, p in trainer.model.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert any("lora_B" in n for n in moved)
    assert all("lora" in n for n in before)  # only the adapter trains
    logged = {k for row in trainer.state.log_history for k in row}
    assert {"rewards_by_domain/if/mean", "dynamic_sampling/refills"} <= logged


def test_zero_variance_groups_are_dropped_and_refilled(train_profile, tokenizer, smoke_model, tmp_path):
    degenerate = {f"if-{i}" for i in range(4)}
    seen: list[list[str]] = []

    def scripted(completions, id, **columns):
        seen.append(list(id))
        return [0.5 if i in degenerate else r for i, r in zip(id, hashed_reward(completions), strict=True)]

    trainer = _trainer(train_profile, tokenizer, smoke_model, tmp_path, [scripted], n=8, refills=3)
    trainer.model.train()
    g = trainer.num_generations
    inputs = [dict(trainer.train_dataset[i]) for i in (0, 1) for _ in range(g)]  # two degenerate groups
    out = trainer._generate_and_score_completions(inputs)
    assert len(seen) >= 2 and set(seen[0]) == {"if-0", "if-1"}  # first round, then refills
    refilled = {i for batch in seen[1:] for i in batch}
    assert out["advantages"].shape == (2 * g,)
    assert (out["advantages"].view(2, g) != 0).any(dim=1).all()  # both slots now informative
    assert out["completion_mask"].sum() == int(out["num_items_in_batch"])
    metrics = trainer._metrics["train"]
    assert metrics["dynamic_sampling/zero_variance_frac"][-1] == 1.0
    assert metrics["dynamic_sampling/refills"][-1] == len(seen) - 1
    assert metrics["dynamic_sampling/short_groups"][-1] == 0
    assert refilled - degenerate  # fresh, non-degenerate prompts were drawn


def test_refill_cap_keeps_batch_and_masks_degenerate_groups(train_profile, tokenizer, smoke_model, tmp_path):
    calls = []

    def constant(completions, **columns):
        calls.append(1)
        return [1.0] * len(completions)

    trainer = _trainer(train_profile, tokenizer, smoke_model, tmp_path, [constant], refills=1)
    trainer.model.train()
    g = trainer.num_generations
    out = trainer._generate_and_score_completions(
        [dict(trainer.train_dataset[i]) for i in (0, 1) for _ in range(g)]
    )
    assert len(calls) == 2  # the first round plus exactly max_refills
    assert out["completion_ids"].shape[0] == 2 * g and out["completion_mask"].sum() == 0
    assert trainer._metrics["train"]["dynamic_sampling/short_groups"][-1] == 2
