"""DapoTrainer on the smoke profile: DAPO settings and geometry, real training steps, dynamic sampling,
the learning-rate schedule, DAPO's token-mean normaliser and the shared-prefill rollouts."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import TrainerCallback
from trl import GRPOTrainer
from trl.trainer.utils import split_tensor_dict

from care_rl.config import ConfigError
from care_rl.models import lora_config
from care_rl.training import dynamic_sampling as ds
from care_rl.training.dapo import DapoTrainer, dapo_config, prompts_dataset, with_overlong_punishment
from tests.training.conftest import fake_prompts, hashed_reward


def _trainer(profile, tokenizer, model, tmp_path, rewards, n=8, sampling=None, lora=None):
    model = get_peft_model(model, lora or lora_config(profile.lora))
    return DapoTrainer(
        model=model,
        reward_funcs=rewards,
        args=dapo_config(profile, profile.stages["if"], tmp_path),
        train_dataset=prompts_dataset(fake_prompts("if", n)),
        processing_class=tokenizer,
        sampling=sampling,
    )


def _with_dapo(profile, **values):
    return profile.model_copy(update={"dapo": profile.dapo.model_copy(update=values)})


def _groups(trainer, indices):
    return [dict(trainer.train_dataset[i]) for i in indices for _ in range(trainer.num_generations)]


def test_config_is_dapo(train_profile, tmp_path):
    cfg = dapo_config(train_profile, train_profile.stages["math"], tmp_path)
    assert (cfg.loss_type, cfg.epsilon, cfg.epsilon_high, cfg.beta) == ("dapo", 0.2, 0.28, 0.0)
    assert cfg.seed == 42 and cfg.max_steps == 2 and cfg.use_vllm is False
    stage = train_profile.stages["math"]
    assert cfg.per_device_train_batch_size == train_profile.dapo.per_device_batch_size * stage.num_generations
    assert cfg.generation_batch_size == stage.prompts_per_step * stage.num_generations


@pytest.mark.parametrize("processes", [1, 2])
def test_one_generation_round_per_optimizer_step(train_profile, tmp_path, processes):
    """The step holds prompts_per_step groups over all processes, all from one round: each process
    accumulates its share of micro batches from that round, so TRL runs no old-log-prob forward."""
    stage = train_profile.stages["if"].model_copy(update={"prompts_per_step": 4})
    cfg = dapo_config(train_profile, stage, tmp_path, processes=processes)
    micro_groups = train_profile.dapo.per_device_batch_size
    assert cfg.gradient_accumulation_steps == 4 // (micro_groups * processes)
    assert cfg.steps_per_generation == cfg.gradient_accumulation_steps
    assert cfg.gradient_accumulation_steps * micro_groups * processes == stage.prompts_per_step


def test_bad_geometry_and_overlong_buffer_name_the_field(train_profile, tmp_path):
    with pytest.raises(ConfigError, match="prompts_per_step"):
        dapo_config(_with_dapo(train_profile, per_device_batch_size=3), train_profile.stages["if"], tmp_path)
    with pytest.raises(ConfigError, match=r"processes \(4\)"):
        dapo_config(train_profile, train_profile.stages["if"], tmp_path, processes=4)
    with pytest.raises(ConfigError, match="overlong_buffer"):
        with_overlong_punishment(
            [hashed_reward], _with_dapo(train_profile, overlong_buffer=100), train_profile.stages["if"]
        )
    assert with_overlong_punishment([hashed_reward], train_profile, train_profile.stages["if"]) == [
        hashed_reward
    ]


def test_overlong_punishment_shapes_only_rows_the_task_reward_scores(train_profile):
    """DAPO eq. 13 with L_max 8, buffer 4: lengths 4, 6, 8 are punished 0, -0.5, -1; a None (another
    domain's row, a failed judgment) stays None instead of becoming 0 + punishment."""
    logged: list[tuple[str, float]] = []

    def judge(completions, **columns):
        return [0.8, None, 0.9, 0.3]

    (shaped,) = with_overlong_punishment(
        [judge], _with_dapo(train_profile, overlong_buffer=4), train_profile.stages["if"]
    )
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
    profile = _with_dapo(train_profile, overlong_buffer=4)
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


def test_learning_rate_is_constant_after_warmup(train_profile, tokenizer, smoke_model, tmp_path):
    """verl's schedule: linear warmup from 0, then the stage's rate until the last step (HF's default
    decays linearly to zero)."""
    profile = _with_dapo(train_profile, warmup_steps=2)
    trainer = _trainer(profile, tokenizer, smoke_model, tmp_path, [hashed_reward])
    trainer.create_optimizer_and_scheduler(num_training_steps=6)
    lr = profile.stages["if"].learning_rate
    seen = []
    for _ in range(6):
        seen.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert seen == pytest.approx([0.0, lr / 2, lr, lr, lr, lr])


def test_two_steps_change_lora_weights(train_profile, tokenizer, smoke_model, tmp_path):
    trainer = _trainer(
        train_profile, tokenizer, smoke_model, tmp_path, [hashed_reward], sampling=ds.Policy(2, partial=True)
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    assert trainer.state.global_step == 2
    moved = [n for n, p in trainer.model.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert any("lora_B" in n for n in moved)
    assert all("lora" in n for n in before)  # only the adapter trains
    logged = {k for row in trainer.state.log_history for k in row}
    assert {"rewards_by_domain/if/mean", "dynamic_sampling/rounds", "dynamic_sampling/skipped_step"} <= logged


def test_refills_never_repeat_a_prompt_of_the_step(train_profile, tokenizer, smoke_model, tmp_path):
    """Four prompts, three of them degenerate: the first round holds if-0 and if-1, the one refill the
    training set still allows holds if-2 and if-3, and then no prompt is left that the step does not
    hold already, so the step is taken (partially) on if-3 alone. A refill never draws a prompt the step
    holds (verl draws refills from the data stream, which never repeats one)."""
    degenerate = {"if-0", "if-1", "if-2"}
    seen: list[list[str]] = []

    def scripted(completions, id, **columns):
        seen.append(list(id))
        return [0.5 if i in degenerate else r for i, r in zip(id, hashed_reward(completions), strict=True)]

    trainer = _trainer(
        train_profile, tokenizer, smoke_model, tmp_path, [scripted], n=4, sampling=ds.Policy(10, partial=True)
    )
    trainer.model.train()
    g = trainer.num_generations
    out = trainer._generate_and_score_completions(_groups(trainer, (0, 1)))  # two degenerate groups
    assert [sorted(batch[::g]) for batch in seen] == [["if-0", "if-1"], ["if-2", "if-3"]]
    assert out["advantages"].shape == (2 * g,)
    assert (out["advantages"][:g] != 0).any() and out["completion_mask"][g:].sum() == 0  # if-3, then filler
    assert out["completion_mask"].sum() == int(out["num_items_in_batch"])
    metrics = trainer._metrics["train"]
    assert metrics["dynamic_sampling/zero_variance_frac"][-1] == 1.0
    assert metrics["dynamic_sampling/rounds"][-1] == 2
    assert metrics["dynamic_sampling/short_groups"][-1] == 1


def test_oversampled_round_keeps_the_steps_own_prompts_first(train_profile, tokenizer, smoke_model, tmp_path):
    """verl's gen_batch_size > train_batch_size: a round samples more groups than the step takes, topped
    up with fresh prompts; the step keeps its own (TRL's sampler's) informative groups first."""
    seen: list[list[str]] = []

    def recorded(completions, id, **columns):
        seen.append(list(id))
        return hashed_reward(completions)

    trainer = _trainer(
        train_profile, tokenizer, smoke_model, tmp_path, [recorded], sampling=ds.Policy(1, oversampling=2)
    )
    trainer.model.train()
    g = trainer.num_generations
    out = trainer._generate_and_score_completions(_groups(trainer, (0, 1)))
    (first,) = seen  # one round of four groups
    groups = first[::g]
    assert groups[:2] == ["if-0", "if-1"] and len(set(groups)) == 4
    prompts = tokenizer.batch_decode(out["prompt_ids"][::g], skip_special_tokens=True)
    assert ["number 0" in prompts[0], "number 1" in prompts[1]] == [True, True]
    assert out["completion_ids"].shape[0] == 2 * g


def test_rounds_running_out_is_an_error_by_default(train_profile, tokenizer, smoke_model, tmp_path):
    calls = []

    def constant(completions, **columns):
        calls.append(1)
        return [1.0] * len(completions)

    trainer = _trainer(train_profile, tokenizer, smoke_model, tmp_path, [constant], sampling=ds.Policy(3))
    trainer.model.train()
    with pytest.raises(ds.RoundsExhausted, match="3 generation rounds"):
        trainer._generate_and_score_completions(_groups(trainer, (0, 1)))
    assert len(calls) == 3  # the first round plus two refills, then the bound


def test_partial_step_keeps_the_batch_and_masks_degenerate_groups(
    train_profile, tokenizer, smoke_model, tmp_path
):
    calls = []

    def constant(completions, **columns):
        calls.append(1)
        return [1.0] * len(completions)

    trainer = _trainer(
        train_profile, tokenizer, smoke_model, tmp_path, [constant], sampling=ds.Policy(2, partial=True)
    )
    trainer.model.train()
    g = trainer.num_generations
    out = trainer._generate_and_score_completions(_groups(trainer, (0, 1)))
    assert len(calls) == 2  # the first round plus one refill
    assert out["completion_ids"].shape[0] == 2 * g and out["completion_mask"].sum() == 0
    assert trainer._metrics["train"]["dynamic_sampling/short_groups"][-1] == 2
    assert trainer._metrics["train"]["dynamic_sampling/skipped_step"][-1] == 1.0


def test_a_step_without_loss_tokens_never_moves_the_weights(train_profile, tokenizer, smoke_model, tmp_path):
    """Step 1 learns; step 2 has no informative group. AdamW would still move the weights by its
    momentum on step 2; the trainer skips that optimizer step instead."""
    trainer: DapoTrainer

    def first_step_only(completions, **columns):
        return hashed_reward(completions) if trainer.state.global_step == 0 else [1.0] * len(completions)

    class Snapshot(TrainerCallback):
        def __init__(self):
            self.weights: list[dict[str, torch.Tensor]] = []

        def on_step_end(self, args, state, control, model=None, **kwargs):
            self.weights.append(
                {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
            )

    trainer = _trainer(
        train_profile,
        tokenizer,
        smoke_model,
        tmp_path,
        [first_step_only],
        sampling=ds.Policy(2, partial=True),
    )
    snapshot = Snapshot()
    trainer.add_callback(snapshot)
    trainer.train()
    first, second = snapshot.weights
    lora_b = [n for n in first if "lora_B" in n]
    assert any(not torch.equal(first[n], torch.zeros_like(first[n])) for n in lora_b)  # step 1 moved B
    assert all(torch.equal(first[n], second[n]) for n in first)  # step 2 did not move anything
    states = trainer.optimizer.state.values()
    assert {int(s["step"]) for s in states} == {1}  # AdamW counted one step only
    skipped = [row["dynamic_sampling/skipped_step"] for row in trainer.state.log_history if "loss" in row]
    assert skipped == [0, 1]


class _TwoProcesses:
    """The trainer's accelerator as seen by one of two DDP processes (for the loss normaliser only)."""

    def __init__(self, accelerator):
        self._accelerator = accelerator

    num_processes = 2

    def __getattr__(self, name):
        return getattr(self._accelerator, name)


@pytest.mark.parametrize("processes", [1, 2])
def test_loss_normaliser_is_the_token_count_of_the_step(
    train_profile, tokenizer, smoke_model, tmp_path, monkeypatch, processes
):
    """With every advantage 1 and the ratio 1, a token's loss is -1, so the loss summed over the step's
    micro batches (and averaged over processes, as DDP averages gradients) is -1 exactly when DAPO's
    normaliser is the number of loss tokens in that optimizer step, whatever the lengths of the micro
    batches. Several generation rounds per step, or one round split over steps, would give another."""
    stage = train_profile.stages["if"].model_copy(update={"prompts_per_step": 4})
    cfg = dapo_config(train_profile, stage, tmp_path, processes=processes)
    model = get_peft_model(smoke_model, lora_config(train_profile.lora))
    trainer = DapoTrainer(
        model=model,
        reward_funcs=[hashed_reward],
        args=cfg,
        train_dataset=prompts_dataset(fake_prompts("if", 8)),
        processing_class=tokenizer,
    )
    trainer.model.train()
    if processes == 2:
        monkeypatch.setattr(trainer, "accelerator", _TwoProcesses(trainer.accelerator))
    g, accumulation = trainer.num_generations, cfg.gradient_accumulation_steps
    rows_per_process = cfg.per_device_train_batch_size * cfg.steps_per_generation
    generator = torch.Generator().manual_seed(0)

    def process_round():
        lengths = 1 + (torch.arange(rows_per_process) + torch.randint(8, (1,), generator=generator)) % 8
        completion_mask = (torch.arange(8) < lengths[:, None]).long()
        return {
            "prompt_ids": torch.randint(5, 100, (rows_per_process, 6), generator=generator),
            "prompt_mask": torch.ones(rows_per_process, 6, dtype=torch.long),
            "completion_ids": torch.randint(5, 100, (rows_per_process, 8), generator=generator),
            "completion_mask": completion_mask,
            "advantages": torch.ones(rows_per_process),
        }

    rounds = [process_round() for _ in range(processes)]
    step_tokens = sum(int(r["completion_mask"].sum()) for r in rounds)  # one round = one step
    total = 0.0
    for r in rounds:
        r["num_items_in_batch"] = torch.tensor(step_tokens)  # TRL gathers the count over processes
        micro = split_tensor_dict(r, cfg.steps_per_generation)[:accumulation]  # this process's share
        trainer.current_gradient_accumulation_steps = accumulation
        with torch.no_grad():
            total += sum(float(trainer.compute_loss(trainer.model, m)) for m in micro) / processes
    assert rows_per_process == accumulation * g * train_profile.dapo.per_device_batch_size
    assert total == pytest.approx(-1.0, abs=1e-6)


def test_shared_prefill_rollouts_match_trl_sampling(train_profile, tokenizer, smoke_model, tmp_path):
    """Rollouts with each group's prompt prefilled once draw the same completions as TRL's own generation
    (every copy of the prompt run through the model) for the same seed, with dropout off: a LoRA dropout
    of 0.5 would change the samples if rollouts ran in train mode. (That the prefilled cache gives the
    same next-token log-probs within tolerance: tests/training/test_prefill.py.)"""
    lora = LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.5, target_modules="all-linear", init_lora_weights=False
    )
    torch.manual_seed(0)
    trainer = _trainer(train_profile, tokenizer, smoke_model, tmp_path, [hashed_reward], lora=lora)
    trainer.model.train()
    prompts = [
        [{"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "A much longer prompt, padded"}],
    ]
    g = trainer.num_generations
    prompt_ids, _, _ = trainer._tokenize_prompts([p for p in prompts for _ in range(g)])
    assert len(prompt_ids[0]) != len(prompt_ids[-1])  # the shorter prompt is left-padded

    torch.manual_seed(3)
    ours, _ = trainer._generate_single_turn(prompt_ids, None, {}, g)
    assert trainer.model.training  # the rollout left the model as it found it
    trainer.model.eval()
    torch.manual_seed(3)
    theirs, _ = GRPOTrainer._generate_single_turn(trainer, prompt_ids, None, {}, g)
    assert ours == theirs
    assert len({tuple(c) for c in ours}) > 1  # sampled, not one path copied
