"""The baselines wired into the cascade: Naive Mixing and MGS as one mixed stage, MOPD's distillation
stages between RL stages (teacher choice from scripted scores, then a real distillation on smoke)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from care_rl.config import ConfigError
from care_rl.training import distill
from care_rl.training import stage as stage_module
from care_rl.training.cascade import plan, run_cascade, stage_key
from care_rl.training.cascade_plan import MOPD_MONITOR_EVERY, MethodSpec, load_method, method_stages
from care_rl.training.stage import StageResult, StageRun, StageServices, load_done, monitor_settings
from care_rl.training.stage_run import mixed_stage_spec
from experiments.paths import method_path
from tests.training.conftest import fake_prompts, hashed_reward


def _logs(result: StageResult) -> list[dict]:
    return [json.loads(line) for line in (result.dir / "logs.jsonl").read_text().splitlines()]


def _domain_reward(name: str, profile) -> object:
    """IF rows: distinct rewards (informative groups); every other row: constant 0.5 (zero-variance groups,
    which dynamic sampling drops and refills)."""

    def reward(completions: list, domain: list, **columns) -> list[float | None]:
        scored = hashed_reward(completions)
        return [
            (s if name == "if" else 0.5) if d == name else None for s, d in zip(scored, domain, strict=True)
        ]

    return reward


def _services(trained: Counter, sizes: dict[str, int] | None = None) -> StageServices:
    def load_prompts(domain, profile):
        trained[domain] += 1
        return fake_prompts(domain, (sizes or {}).get(domain, 8))

    return StageServices(
        load_prompts=load_prompts,
        load_heldout=lambda domain, profile, k: fake_prompts(domain, 8 + k)[8:],
        build_reward=_domain_reward,
    )


@pytest.fixture(scope="module")
def short_profile(train_profile):
    """One optimizer step per domain stage (a mixed stage of two domains takes two)."""
    stages = {d: s.model_copy(update={"max_steps": 1}) for d, s in train_profile.stages.items()}
    return train_profile.model_copy(update={"stages": stages})


# --- methods as data ----------------------------------------------------------------------------
def test_mixed_methods_are_one_stage_with_their_trainer(short_profile) -> None:
    (mix,) = method_stages(load_method(method_path("naive-mixing")))
    (mgs,) = method_stages(load_method(method_path("mgs")))
    for run, trainer in ((mix, "naive-mixing"), (mgs, "mgs")):
        assert run.domains == ("if", "chat", "math") and run.rewards == ("if", "direct", "math")
        assert run.options == {"trainer": trainer} and not run.dacsp
        assert run.stage_spec(short_profile) == mixed_stage_spec(short_profile, run.domains)
    assert stage_key(short_profile, mix, None) != stage_key(short_profile, mgs, None)


def test_mopd_stages_share_the_cascade_cache_and_monitor() -> None:
    mopd, nvv = (
        method_stages(load_method(method_path("mopd"))),
        method_stages(load_method(method_path("nvv"))),
    )
    assert all(r.distill_after and r.monitor_every == MOPD_MONITOR_EVERY for r in mopd)
    assert mopd[1].monitor_rewards == {"if": "if", "chat": "direct", "math": "math"}
    assert method_stages(load_method(method_path("mopd")), monitor_every=3)[0].monitor_every == 3
    assert [
        r.model_copy(update={"distill_after": False, "monitor_every": 0, "monitor_rewards": {}}) for r in mopd
    ] == nvv


def test_bad_baseline_settings_are_named(short_profile) -> None:
    with pytest.raises(ValidationError, match="cannot be combined"):
        MethodSpec(name="x", description="x", order=["if"], mix="mgs", mopd=True)
    with pytest.raises(ValidationError, match="mix"):
        MethodSpec(name="x", description="x", order=["if"], mix="pcgrad")
    with pytest.raises(ValidationError, match=r"options\.trainer 'sft'"):
        StageRun(domains=("if",), rewards=("if",), options={"trainer": "sft"})
    with pytest.raises(ValidationError, match="needs at least one reward"):
        StageRun(domains=("if",))
    with pytest.raises(ValidationError, match=r"options\.teachers must map"):
        StageRun(domains=("if", "math"), options={"trainer": "mopd", "teachers": {"if": "k"}})
    with pytest.raises(ValidationError, match="takes no rewards"):
        StageRun(domains=("if",), rewards=("if",), options={"trainer": "mopd", "teachers": {"if": "k"}})
    unmonitored = StageRun(domains=("if",), rewards=("if",), distill_after=True)
    with pytest.raises(ConfigError, match="monitor"):
        run_cascade(short_profile, [unmonitored], verbose=False)


# --- Naive Mixing and MGS end to end ---------------------------------------------------------------
@pytest.mark.parametrize("method", ["naive-mixing", "mgs"])
def test_mixed_method_runs_as_one_stage(method: str, short_profile, tmp_path: Path) -> None:
    """One mixed IF+Math stage. Math groups are all zero-variance and there are only two IF prompts, so
    every generation round of four prompts holds degenerate groups and dynamic sampling refills it
    (merging MGS's per-row domain index with the rounds' other tensors)."""
    trained = Counter()
    runs = method_stages(load_method(method_path(method)), order=["if", "math"])
    services = _services(trained, sizes={"if": 2, "math": 8})
    (result,) = run_cascade(short_profile, runs, services, tmp_path, verbose=False)
    assert trained == Counter({"if": 1, "math": 1}) and load_done(result.dir) is not None
    assert result.metrics["stage"] == f"{method}:if+math" and result.metrics["global_step"] == 2
    rows = [r for r in _logs(result) if "dynamic_sampling/rounds" in r]
    assert rows and all(r["dynamic_sampling/rounds"] == 2.0 for r in rows)
    assert all(r["dynamic_sampling/zero_variance_frac"] >= 0.5 for r in rows)
    assert any("mgs/domains" in r for r in _logs(result)) == (method == "mgs")
    assert result.dir.name == plan(short_profile, runs, tmp_path)[0].key


# --- MOPD: teacher choice and cascade structure (stages faked, scores scripted) --------------------
def _fake_stages(monkeypatch, scores: dict[str, dict[str, float]]) -> list[tuple[str, str | None, dict]]:
    """Replace training by records: (stage name, parent key, teachers); RL stage d scores ``scores[d]``."""
    calls: list[tuple[str, str | None, dict]] = []

    def fake_rl(profile, run, parent, out_dir, *, key, services):
        calls.append((run.name, parent.key if parent else None, {}))
        return StageResult(key=key, dir=Path(out_dir), metrics={"wall_time_s": 0.0})

    def fake_distill(profile, run, parent, out_dir, *, teachers, key, services):
        calls.append((run.name, parent.key, {d: t.key for d, t in teachers.items()}))
        return StageResult(key=key, dir=Path(out_dir), metrics={"wall_time_s": 0.0})

    monkeypatch.setattr(stage_module, "run_stage", fake_rl)
    monkeypatch.setattr(distill, "run_distill_stage", fake_distill)
    monkeypatch.setattr(
        distill, "checkpoint_scores", lambda profile, run, result, services: scores[run.domains[0]]
    )
    return calls


def test_mopd_distils_every_domain_towards_its_teacher(monkeypatch, short_profile, tmp_path) -> None:
    """Tolerance 0.25 (smoke.yaml): a later checkpoint must beat a teacher by more than 0.25 to replace it."""
    assert short_profile.mopd.tolerance == 0.25
    calls = _fake_stages(
        monkeypatch,
        {
            "if": {"if": 0.6, "chat": 0.9, "math": 0.9},  # chat/math untrained: not candidates yet
            "chat": {"if": 0.4, "chat": 0.7, "math": 0.1},  # IF regressed -> distil IF and chat
            "math": {"if": 0.8, "chat": 0.6, "math": 0.8},  # IF +0.2 (within tolerance), chat regressed
        },
    )
    results = run_cascade(
        short_profile,
        method_stages(load_method(method_path("mopd"))),
        StageServices(),
        tmp_path,
        verbose=False,
    )
    assert [c[0] for c in calls] == ["if", "chat", "mopd:if+chat", "math", "mopd:if+chat+math"]
    nvv = plan(short_profile, method_stages(load_method(method_path("nvv"))), tmp_path)
    k_if, k_chat = nvv[0].key, nvv[1].key  # MOPD shares NVV's prefix up to its first distillation
    assert calls[0][1] is None and calls[1][1] == k_if
    assert calls[2][1:] == (k_chat, {"if": k_if, "chat": k_chat})  # chat stage anchors its own domain
    assert calls[3][1] == results[1].key  # the math stage continues the distilled checkpoint
    k_math = calls[4][1]
    assert calls[4][2] == {"if": k_if, "chat": k_chat, "math": k_math} and k_math != nvv[2].key
    assert [r.key for r in results] == [k_if, results[1].key, results[2].key]
    assert len({k_if, k_chat, k_math, results[1].key, results[2].key}) == 5


def test_mopd_is_the_plain_cascade_while_each_stage_leads_every_domain(
    monkeypatch, short_profile, tmp_path
) -> None:
    rising = {  # every stage beats the earlier ones by 0.3 > tolerance on their domains
        "if": {"if": 0.1},
        "chat": {"if": 0.4, "chat": 0.2},
        "math": {"if": 0.7, "chat": 0.5, "math": 0.3},
    }
    calls = _fake_stages(monkeypatch, rising)
    runs = method_stages(load_method(method_path("mopd")))
    results = run_cascade(short_profile, runs, StageServices(), tmp_path, verbose=False)
    assert [c[0] for c in calls] == ["if", "chat", "math"]
    nvv = plan(short_profile, method_stages(load_method(method_path("nvv"))), tmp_path)
    assert [r.key for r in results] == [p.key for p in nvv]


# --- MOPD for real on smoke: IF -> Math, IF regressed after Math ----------------------------------
@pytest.fixture(scope="module")
def mopd_cascade(tmp_path_factory, short_profile):
    """Real stages and a real distillation; the scores that pick teachers are scripted, after the real
    ones (read from the stages' monitor rows) have been computed and kept."""
    root = tmp_path_factory.mktemp("mopd")
    runs = method_stages(load_method(method_path("mopd")), order=["if", "math"], monitor_prompts=2)
    scripted = {"if": {"if": 0.6, "math": 0.0}, "math": {"if": 0.2, "math": 0.5}}
    real_scores: list[dict[str, float]] = []
    trained = Counter()
    with pytest.MonkeyPatch.context() as mp:
        real = distill.checkpoint_scores

        def scores(profile, run, result, services):
            real_scores.append(real(profile, run, result, services))
            return scripted[run.domains[0]]

        mp.setattr(distill, "checkpoint_scores", scores)
        results = run_cascade(short_profile, runs, _services(trained), root, verbose=False)
    return root, runs, results, trained, real_scores


def test_mopd_inserts_a_real_distillation_stage(mopd_cascade, short_profile) -> None:
    from safetensors.torch import load_file

    root, runs, (s1, final), trained, real_scores = mopd_cascade
    math_stage = plan(short_profile, runs, root)[1]  # no distillation after stage 1: planned key holds
    assert trained == Counter({"if": 2, "math": 2})  # both domains' prompts again for the distillation
    assert final.metrics["stage"] == "mopd:if+math" and load_done(final.dir) is not None
    assert final.metrics["teachers"] == {"if": s1.key, "math": math_stage.key}
    assert final.metrics["parent"] == math_stage.key
    assert final.metrics["global_step"] == 2 and any("loss" in row for row in _logs(final))
    assert final.bank_path.read_bytes() == (math_stage.dir / "bank.safetensors").read_bytes()
    student = load_file(math_stage.dir / "adapter" / "adapter_model.safetensors")
    distilled = load_file(final.adapter_dir / "adapter_model.safetensors")
    assert student.keys() == distilled.keys()
    assert any(not (student[k] == distilled[k]).all() for k in student)  # the distillation moved LoRA
    assert [sorted(s) for s in real_scores] == [["if", "math"], ["if", "math"]]


def test_checkpoint_scores_from_logs_equal_a_fresh_scoring(mopd_cascade, short_profile, monkeypatch) -> None:
    """A cached stage monitored like ``run`` is scored from its logs (no model loaded); the monitor's last
    row scores the stage's final weights, so re-scoring the saved checkpoint (what a cached stage without
    matching monitor rows gets) gives the same numbers."""
    root, runs, _, _, real_scores = mopd_cascade
    math_stage = load_done(plan(short_profile, runs, root)[1].dir)
    with monkeypatch.context() as m:
        m.setattr(distill, "policy_with_adapter", lambda *a, **k: pytest.fail("rescored a logged stage"))
        assert (
            distill.checkpoint_scores(short_profile, runs[1], math_stage, _services(Counter()))
            == (real_scores[1])
        )
    unmonitored = StageResult(math_stage.key, math_stage.dir, {**math_stage.metrics, "monitor": None})
    fresh = distill.checkpoint_scores(short_profile, runs[1], unmonitored, _services(Counter()))
    assert fresh == pytest.approx(real_scores[1])
    # kept beside the checkpoint: scoring it again (a re-render) loads no model, and the stage stays valid
    with monkeypatch.context() as m:
        m.setattr(distill, "policy_with_adapter", lambda *a, **k: pytest.fail("rescored a kept score"))
        assert distill.checkpoint_scores(short_profile, runs[1], unmonitored, _services(Counter())) == fresh
    assert load_done(math_stage.dir) is not None
    settings = monitor_settings(runs[1])
    other = {**settings, "prompts": settings["prompts"] + 1}
    longer = short_profile.model_copy(
        update={
            "stages": {
                **short_profile.stages,
                "if": short_profile.stages["if"].model_copy(update={"max_completion_length": 99}),
            }
        }
    )
    keys = {
        distill.score_key(p, st)
        for p, st in ((short_profile, settings), (short_profile, other), (longer, settings))
    }
    assert len(keys) == 3  # another prompt count or generation length is another yardstick


def test_mopd_without_regression_reuses_the_cascade(mopd_cascade, short_profile, monkeypatch) -> None:
    root, runs, (s1, _), _, _ = mopd_cascade
    scores = {"if": {"if": 0.1}, "math": {"if": 0.9, "math": 0.5}}  # the math stage leads IF by 0.8
    monkeypatch.setattr(
        distill, "checkpoint_scores", lambda profile, run, result, services: scores[run.domains[0]]
    )
    trained = Counter()
    results = run_cascade(short_profile, runs, _services(trained), root, verbose=False)
    assert trained == Counter()  # both RL stages come from the cache, no distillation
    assert [r.key for r in results] == [s1.key, plan(short_profile, runs, root)[1].key]
