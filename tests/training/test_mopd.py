"""MOPD: teacher selection with a tolerance, and the per-domain reverse-KL distillation loss against brute
force and against NeMo-RL's sampled-token estimator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from care_rl.config import DOMAINS
from care_rl.training.dynamic_sampling import DOMAIN_KEY
from care_rl.training.mopd import MopdTrainer, best_checkpoints, mopd_config, mopd_teachers, stage_scores

NVV = [  # IF -> Chat -> Math
    {"stage_key": "s1-if", "scores": {"if": 0.6}},
    {"stage_key": "s2-chat", "scores": {"if": 0.5, "chat": 0.7}},
    {"stage_key": "s3-math", "scores": {"if": 0.8, "chat": 0.6, "math": 0.9}},
]


# --- teacher selection ---------------------------------------------------------------------------
def test_a_later_checkpoint_takes_over_only_beyond_the_tolerance() -> None:
    assert best_checkpoints(NVV, tolerance=0.25) == {"chat": "s2-chat", "if": "s1-if", "math": "s3-math"}
    assert best_checkpoints(NVV, tolerance=0.1)["if"] == "s3-math"  # 0.8 - 0.6 = 0.2 > 0.1
    tie = [{"stage_key": "a", "scores": {"if": 0.5}}, {"stage_key": "b", "scores": {"if": 0.5}}]
    assert best_checkpoints(tie, tolerance=0.0) == {"if": "a"}  # a tie is no improvement
    with pytest.raises(ValueError, match="tolerance"):
        best_checkpoints(NVV, tolerance=-0.1)


def test_every_trained_domain_is_distilled_towards_its_teacher() -> None:
    """The cpu run's case: after Math, chat scored 0.00025 below the chat stage. The distillation covers
    every domain -- IF towards the IF stage, chat towards the chat stage, math towards the student's own
    starting weights -- not the chat prompts alone."""
    history = [
        {"stage_key": "s1-if", "scores": {"if": 0.5}},
        {"stage_key": "s2-chat", "scores": {"if": 0.5, "chat": 0.18943}},
        {"stage_key": "s3-math", "scores": {"if": 0.5, "chat": 0.18918, "math": 0.25}},
    ]
    assert mopd_teachers(history, tolerance=0.25) == {"if": "s1-if", "chat": "s2-chat", "math": "s3-math"}


def test_no_distillation_when_the_latest_checkpoint_teaches_every_domain() -> None:
    rising = [
        {"stage_key": "s1-if", "scores": {"if": 0.25}},
        {"stage_key": "s2-chat", "scores": {"if": 0.75, "chat": 0.5}},  # IF +0.5 > tolerance
    ]
    assert mopd_teachers(rising, tolerance=0.25) == {}
    assert mopd_teachers(rising, tolerance=0.5) == {"if": "s1-if", "chat": "s2-chat"}  # +0.5 is not > 0.5
    with pytest.raises(ValueError, match="at least one"):
        mopd_teachers([], tolerance=0.25)


def test_nan_and_missing_scores_are_not_candidates() -> None:
    history = [
        {"stage_key": "a", "scores": {"if": 0.9}},
        {"stage_key": "b", "scores": {"if": float("nan"), "math": 0.1}},
    ]
    assert best_checkpoints(history, tolerance=0.0) == {"if": "a", "math": "b"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"stage_key": 3, "scores": {}}, "history\\[0\\] must be"),
        ({"stage_key": "a", "scores": {"code": 1.0}}, "code"),
    ],
)
def test_bad_history_is_named(entry: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        best_checkpoints([entry], tolerance=0.0)


def test_stage_scores_reads_the_last_monitor_row(tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    rows = [
        {"step": 0, "monitor/if/reward": 0.1, "monitor/math/reward": 0.0},
        {"step": 1, "loss": 0.3},
        {"step": 2, "monitor/if/reward": 0.4, "monitor/math/reward": 0.2},
    ]
    logs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert stage_scores(logs) == {"if": 0.4, "math": 0.2}
    logs.write_text(json.dumps({"loss": 1.0}) + "\n")
    with pytest.raises(ValueError, match="monitor"):
        stage_scores(logs)


# --- the distillation loss -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def models(smoke_profile, tokenizer):
    """A LoRA student, a frozen copy of it, and an unrelated frozen model of the same vocabulary."""
    import copy

    from peft import get_peft_model

    from care_rl.models import build_random_llama, lora_config

    torch.manual_seed(0)
    student = get_peft_model(
        build_random_llama(smoke_profile.policy, tokenizer), lora_config(smoke_profile.lora)
    )
    with torch.no_grad():  # LoRA B starts at zero: move it so the student differs from its base
        for name, p in student.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    same = copy.deepcopy(student).merge_and_unload().eval().requires_grad_(False)
    other = build_random_llama(smoke_profile.policy.model_copy(update={"seed": 7}), tokenizer)
    return student, same, other.eval().requires_grad_(False)


def _trainer(smoke_profile, tokenizer, student, teachers, tmp_path: Path) -> MopdTrainer:
    rows = [
        {"prompt": [{"role": "user", "content": f"say {w}"}], "domain": d}
        for w, d in [("a", "if"), ("b", "math"), ("c", "if"), ("d", "math")]
    ]
    return MopdTrainer(
        model=student,
        teachers=teachers,
        args=mopd_config(smoke_profile, smoke_profile.stages["if"], tmp_path),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )


def _batch(tokenizer) -> dict:
    prompts = tokenizer(
        ["hello there", "two plus two", "hi", "write a poem"], return_tensors="pt", padding=True
    )
    generator = torch.Generator().manual_seed(0)
    completion_ids = torch.randint(0, 1000, (4, 5), generator=generator)
    completion_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]])
    return {
        "prompt_ids": prompts["input_ids"],
        "prompt_mask": prompts["attention_mask"],
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "num_items_in_batch": completion_mask.sum(),
        DOMAIN_KEY: torch.tensor([DOMAINS.index(d) for d in ("if", "math", "math", "if")]),
    }


def _brute_force_reverse_kl(student, teachers: dict, batch: dict) -> torch.Tensor:
    """sum over rows and completion tokens of KL(p_student || p_teacher(row's domain)), / token count."""
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    t = batch["completion_ids"].size(1)
    with torch.no_grad():
        s_logp = torch.log_softmax(
            student(input_ids=ids, attention_mask=attention).logits[:, -t - 1 : -1], -1
        )
    total = torch.zeros((), dtype=torch.float64)
    for row in range(ids.size(0)):
        teacher = teachers[DOMAINS[int(batch[DOMAIN_KEY][row])]]
        with torch.no_grad():
            logits = teacher(input_ids=ids[row : row + 1], attention_mask=attention[row : row + 1]).logits
        t_logp = torch.log_softmax(logits[0, -t - 1 : -1], -1)
        for pos in range(t):  # explicit sum over the whole vocabulary, token by token
            if batch["completion_mask"][row, pos]:
                p = s_logp[row, pos].double().exp()
                total += (p * (s_logp[row, pos].double() - t_logp[pos].double())).sum()
    return total / batch["completion_mask"].sum()


def test_loss_is_per_domain_reverse_kl(smoke_profile, tokenizer, models, tmp_path: Path) -> None:
    student, same, other = models
    teachers = {"if": other, "math": same}
    trainer = _trainer(smoke_profile, tokenizer, student, teachers, tmp_path)
    batch = _batch(tokenizer)
    loss, _, n_valid = trainer._compute_loss(student, batch, batch["num_items_in_batch"])
    assert int(n_valid) == int(batch["completion_mask"].sum())
    expected = _brute_force_reverse_kl(student, teachers, batch)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-4)
    assert expected > 0


def test_zero_iff_teacher_equals_student(smoke_profile, tokenizer, models, tmp_path: Path) -> None:
    student, same, other = models
    batch = _batch(tokenizer)
    trainer = _trainer(smoke_profile, tokenizer, student, {"if": same, "math": same}, tmp_path)
    assert trainer.teachers["if"] is trainer.teachers["math"]  # a shared teacher is prepared once
    loss, _, _ = trainer._compute_loss(student, batch, batch["num_items_in_batch"])
    assert abs(float(loss)) < 1e-5
    trainer = _trainer(smoke_profile, tokenizer, student, {"if": same, "math": other}, tmp_path)
    loss, _, _ = trainer._compute_loss(student, batch, batch["num_items_in_batch"])
    assert float(loss) > 1e-3


def test_gradient_reaches_only_the_student(smoke_profile, tokenizer, models, tmp_path: Path) -> None:
    student, same, other = models
    trainer = _trainer(smoke_profile, tokenizer, student, {"if": other, "math": same}, tmp_path)
    batch = _batch(tokenizer)
    student.zero_grad()
    loss, _, _ = trainer._compute_loss(student, batch, batch["num_items_in_batch"])
    loss.backward()
    lora = [p for n, p in student.named_parameters() if "lora_" in n]
    assert lora and all(p.grad is not None for p in lora)
    assert any(float(p.grad.abs().sum()) > 0 for p in lora)
    assert all(p.grad is None for t in (same, other) for p in t.parameters())
    student.zero_grad()


def test_rows_of_a_domain_without_teacher_are_refused(
    smoke_profile, tokenizer, models, tmp_path: Path
) -> None:
    student, same, _ = models
    trainer = _trainer(smoke_profile, tokenizer, student, {"if": same}, tmp_path)
    with pytest.raises(ValueError, match=r"domain\(s\) \['math'\]"):
        trainer._generate_and_score_completions(
            [{"prompt": [{"role": "user", "content": "x"}], "domain": "math"}]
        )


def test_config_is_reverse_kl(smoke_profile, tmp_path: Path) -> None:
    config = mopd_config(smoke_profile, smoke_profile.stages["math"], tmp_path)
    assert (
        config.beta == 1.0
        and config.max_completion_length == smoke_profile.stages["math"].max_completion_length
    )
    assert config.learning_rate == smoke_profile.stages["math"].learning_rate


def _logps(model, batch: dict) -> torch.Tensor:
    """Log-probabilities over the vocabulary at each completion position, [B, T, V]."""
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    t = batch["completion_ids"].size(1)
    return torch.log_softmax(model(input_ids=ids, attention_mask=attention).logits[:, -t - 1 : -1], -1)


def test_gradient_is_nemo_rl_mopd_in_expectation(smoke_profile, tokenizer, models, tmp_path: Path) -> None:
    """NeMo-RL's MOPD (OPDAdvantageEstimator + REINFORCE loss) minimises, per sampled token y_t,
    -sg[log pT(y_t) - log pS(y_t)] * log pS(y_t), a token mean. Its expectation over y_t ~ pS(. | prefix)
    is sum_v sg[pS(v) (log pS(v) - log pT(v))] * log pS(v), whose gradient equals the gradient of the
    exact per-token reverse KL that TRL's DistillationTrainer minimises (the same prefixes, sampled by the
    student, in both). Checked on the LoRA parameters, per-domain teachers included."""
    student, same, other = models
    teachers = {"if": other, "math": same}
    trainer = _trainer(smoke_profile, tokenizer, student, teachers, tmp_path)
    batch = _batch(tokenizer)
    lora = [p for n, p in student.named_parameters() if "lora_" in n]

    student.zero_grad()
    loss, _, _ = trainer._compute_loss(student, batch, batch["num_items_in_batch"])
    loss.backward()
    trl_grad = [p.grad.clone() for p in lora]

    student.zero_grad()
    s_logp = _logps(student, batch)
    sequence = ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask")
    with torch.no_grad():
        t_logp = torch.cat(
            [
                _logps(teachers[DOMAINS[int(d)]], {k: batch[k][row : row + 1] for k in sequence})
                for row, d in enumerate(batch[DOMAIN_KEY])
            ]
        )
    weight = (s_logp.exp() * (s_logp - t_logp)).detach()  # E over the sampled token of -advantage
    mask = batch["completion_mask"].unsqueeze(-1)
    expected_nemo = (weight * s_logp * mask).sum() / batch["num_items_in_batch"]
    expected_nemo.backward()
    for got, want in zip(trl_grad, (p.grad for p in lora), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-6)
    assert any(float(g.abs().sum()) > 0 for g in trl_grad)
    student.zero_grad()
