"""Stages and cascades on the smoke profile: DACSP from stage 2, prefix cache, crash resume, corruption."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections import Counter

import pytest
from transformers import TrainerCallback

from care_rl.config import ConfigError
from care_rl.logs import quiet_known_messages
from care_rl.training.cascade import plan, run_cascade, stage_key
from care_rl.training.cascade_plan import load_method, method_stages
from care_rl.training.stage import StageRun, StageServices, load_done
from experiments.paths import method_path
from tests.training.conftest import fake_prompts, hashed_reward

IF = StageRun(domains=("if",), rewards=("if",))
MATH_DACSP = StageRun(domains=("math",), rewards=("math",), dacsp=True)
CHAT = StageRun(domains=("chat",), rewards=("direct",))


class Crash(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        raise RuntimeError("simulated crash")


def services(trained: Counter, callbacks=()) -> StageServices:
    def load_prompts(domain, profile):
        trained[domain] += 1
        return fake_prompts(domain, 8)

    return StageServices(
        load_prompts=load_prompts,
        load_heldout=lambda domain, profile, k: fake_prompts(domain, 8 + k)[8:],
        build_reward=lambda name, profile: hashed_reward,
        callbacks=list(callbacks),
    )


@pytest.fixture(scope="module")
def first_cascade(tmp_path_factory, train_profile):
    """IF -> Math with DACSP on stage 2; the interference monitor on every step."""
    root = tmp_path_factory.mktemp("stages")
    monitored = [
        r.model_copy(
            update={"monitor_every": 1, "monitor_prompts": 2, "monitor_rewards": {"if": "if", "math": "math"}}
        )
        for r in (IF, MATH_DACSP)
    ]
    trained = Counter()
    console = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(console):
        warnings.simplefilter("always")
        quiet_known_messages()  # what every entry point installs (care_rl.logs.setup_logging)
        results = run_cascade(train_profile, monitored, services(trained), root, verbose=False)
    return root, results, trained, (console.getvalue(), caught)


def _logs(result):
    return [json.loads(line) for line in (result.dir / "logs.jsonl").read_text().splitlines()]


def test_dacsp_is_active_exactly_from_stage_two(first_cascade):
    _, (s1, s2), trained, _ = first_cascade
    assert trained == Counter({"if": 1, "math": 1})
    assert not s1.metrics["dacsp_active"] and not (s1.dir / "dacsp.jsonl").exists()
    assert not any("dacsp/aligned" in row for row in _logs(s1))
    assert s1.metrics["directions_added"] > 0  # stage 1 leaves capability directions behind
    assert s2.metrics["dacsp_active"] and s2.metrics["dacsp_steps"] == s2.metrics["global_step"] == 2
    telemetry = [json.loads(line) for line in (s2.dir / "dacsp.jsonl").read_text().splitlines()]
    assert len(telemetry) == 2
    for step in telemetry:
        assert step["space"] == "layer"  # the default: each LoRA module's weight, as the paper defines it
        for space in ("layer", "factor"):  # both measured whichever is modulated
            total = step[space]["total"]
            assert total["aligned"] + total["opposing"] + total["orthogonal"] == pytest.approx(1.0)
        assert 0 <= step["layer"]["total"]["residual"] < 0.5
    assert any("dacsp/opposing" in row and "dacsp/factor/opposing" in row for row in _logs(s2))
    assert s1.metrics["directions_added_by_space"]["layer"] > 0


def test_console_is_progress_lines_without_metric_dicts_or_library_warnings(first_cascade):
    """A stage prints one progress line per step; the step's metrics live in logs.jsonl, not on the
    console (the Trainer's dict printer is removed), and no known-harmless library warning shows."""
    _, (s1, _), _, (console, caught) = first_cascade
    lines = console.splitlines()
    assert [ln.split(" loss=")[0].split(" reward=")[0] for ln in lines] == [
        "  [if] step 1/2",
        "  [if] step 2/2",
        "  [math+dacsp] step 1/2",
        "  [math+dacsp] step 2/2",
    ]
    assert all(" loss=" in ln for ln in lines) and "opposing=" in lines[-1]
    assert not any("{" in ln for ln in lines)
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []
    assert any("loss" in row and "grad_norm" in row for row in _logs(s1))  # the metrics are kept


def test_stage_artefacts_and_monitor_rows(first_cascade):
    _, (s1, s2), _, _ = first_cascade
    for s in (s1, s2):
        assert (s.adapter_dir / "adapter_model.safetensors").is_file() and s.bank_path.is_file()
        assert (s.dir / "config.yaml").is_file() and not (s.dir / "work").exists()
        assert load_done(s.dir) is not None
    steps = [row["step"] for row in _logs(s2) if "monitor/if/reward" in row]
    assert steps == [0, 1, 2]  # before training, then every step


def test_shared_prefix_is_not_retrained(first_cascade, train_profile):
    root, (s1, _), _, _ = first_cascade
    trained = Counter()
    results = run_cascade(train_profile, [IF, CHAT], services(trained), root, verbose=False)
    assert trained == Counter({"chat": 1})  # the IF stage came from the cache
    assert results[0].dir == s1.dir


def test_crash_then_resume_reuses_stage_one(first_cascade, train_profile):
    root = first_cascade[0]
    runs = [IF, StageRun(domains=("chat",), rewards=("pagrm",), dacsp=True)]
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_cascade(train_profile, runs, services(Counter(), [Crash()]), root, verbose=False)
    crashed = plan(train_profile, runs, root)[1]
    assert not crashed.cached and crashed.dir.exists()
    trained = Counter()
    results = run_cascade(train_profile, runs, services(trained), root, verbose=False)
    assert trained == Counter({"chat": 1}) and load_done(results[1].dir) is not None


def test_corrupt_stage_is_recomputed(first_cascade, train_profile):
    root, (s1, _), _, _ = first_cascade
    bank = s1.bank_path.read_bytes()
    s1.bank_path.write_bytes(bank[:-1] + bytes([bank[-1] ^ 1]))
    assert load_done(s1.dir) is None
    trained = Counter()
    run_cascade(train_profile, [IF], services(trained), root, verbose=False)
    assert trained == Counter({"if": 1}) and load_done(s1.dir) is not None
    (s1.dir / "DONE.json").write_text("{not json")
    assert load_done(s1.dir) is None


def test_keys_are_content_addressed(train_profile):
    k1 = stage_key(train_profile, IF, None)
    assert k1 == stage_key(train_profile, IF.model_copy(update={"monitor_every": 3}), None)
    assert k1 != stage_key(train_profile, IF, "parent")
    assert k1 != stage_key(train_profile, IF.model_copy(update={"tau": 0.5}), None)
    # the space changes only a stage that runs DACSP (every stage's bank holds both spaces)
    assert k1 == stage_key(train_profile, IF.model_copy(update={"space": "factor"}), None)
    layer, factor = (MATH_DACSP.model_copy(update={"space": s}) for s in ("layer", "factor"))
    assert stage_key(train_profile, layer, k1) == stage_key(train_profile, MATH_DACSP, k1)
    assert stage_key(train_profile, factor, k1) != stage_key(train_profile, layer, k1)
    lr = train_profile.stages["if"].model_copy(update={"learning_rate": 1.0})
    assert k1 != stage_key(
        train_profile.model_copy(update={"stages": {**train_profile.stages, "if": lr}}), IF, None
    )


def test_methods_are_data(train_profile):
    care = method_stages(load_method(method_path("care-rl")))
    assert [r.domains[0] for r in care] == ["if", "chat", "math"]
    assert [r.dacsp for r in care] == [False, True, True] and care[1].rewards == ("pagrm",)
    hard = method_stages(load_method(method_path("dacsp-hard-projection")), order=["math", "if"])
    assert [(r.domains[0], r.alpha, r.beta) for r in hard] == [("math", None, None), ("if", 0.0, 0.0)]
    assert all(r.dacsp_spec(train_profile).space == "layer" for r in care)  # the default
    factor = method_stages(load_method(method_path("dacsp-factor-space")))
    assert [(r.dacsp, r.space) for r in factor] == [(False, None), (True, "factor"), (True, "factor")]
    assert method_stages(load_method(method_path("nvv"))) == method_stages(
        load_method(method_path("standard-cascade"))
    )
    with pytest.raises(ConfigError, match="unknown method"):
        load_method(method_path("nope"))
    with pytest.raises(ConfigError, match="unknown domain"):
        method_stages(load_method(method_path("nvv")), order=["if", "code"])


def test_dacsp_without_history_is_refused(train_profile, tmp_path):
    with pytest.raises(ConfigError, match="no earlier stage"):
        run_cascade(train_profile, [MATH_DACSP], services(Counter()), tmp_path, verbose=False)


def test_keys_hash_the_training_data_not_only_its_settings(train_profile, monkeypatch):
    """Regenerated stand-ins under the same data settings are other training data: a changed gold
    answer changes the key of the stage that trains on it, and only of that stage."""
    import dataclasses

    from care_rl.training import stage_run

    math = method_stages(load_method(method_path("math-only")))[0]
    before = {run.name: stage_key(train_profile, run, None) for run in (IF, math)}
    real = stage_run.train_prompts

    def new_answer(domain, profile):
        prompts = real(domain, profile)
        if domain != "math":
            return prompts
        return [dataclasses.replace(prompts[0], answer=f"{prompts[0].answer}0"), *prompts[1:]]

    monkeypatch.setattr(stage_run, "train_prompts", new_answer)
    monkeypatch.setattr(stage_run, "_DIGESTS", {})  # the digests of this process's unchanged data
    after = {run.name: stage_key(train_profile, run, None) for run in (IF, math)}
    assert after[IF.name] == before[IF.name]
    assert after[math.name] != before[math.name]
