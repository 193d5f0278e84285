"""The plan of a cascade with a between-stage step (MOPD's distillation): before the cascade has run it
cannot know which checkpoint the step leaves and says so; once the cascade has run, the plan names
the checkpoint it recorded, and the stages after it continue from that checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from care_rl.training import distill
from care_rl.training import stage as stage_module
from care_rl.training.cascade import run_cascade
from care_rl.training.cascade_plan import load_method, method_stages, plan, stage_key
from care_rl.training.stage import StageServices, write_done
from care_rl.training.stage_run import ARTEFACTS, StageResult
from experiments.paths import method_path


def done_stage(out_dir: Path, key: str) -> StageResult:
    """A complete stage directory (every artefact present and checksummed) without training."""
    for rel in ARTEFACTS:
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / rel).write_text(json.dumps({"wall_time_s": 0.0}) if rel == "metrics.json" else key)
    write_done(out_dir, key, 0.0)
    return StageResult(key=key, dir=out_dir, metrics={"wall_time_s": 0.0})


def fake_training(monkeypatch, scores: dict[str, dict[str, float]]) -> list[str]:
    calls: list[str] = []

    def fake_rl(profile, run, parent, out_dir, *, key, services):
        calls.append(run.name)
        return done_stage(Path(out_dir), key)

    def fake_distill(profile, run, parent, out_dir, *, teachers, key, services):
        calls.append(run.name)
        return done_stage(Path(out_dir), key)

    monkeypatch.setattr(stage_module, "run_stage", fake_rl)
    monkeypatch.setattr(distill, "run_distill_stage", fake_distill)
    monkeypatch.setattr(
        distill, "checkpoint_scores", lambda profile, run, result, services: scores[run.domains[0]]
    )
    return calls


def test_plan_names_the_checkpoint_a_mopd_cascade_recorded(monkeypatch, train_profile, tmp_path):
    runs = method_stages(load_method(method_path("mopd")))
    before = plan(train_profile, runs, tmp_path)
    assert [st.decided for st in before] == [False, False, False]  # nothing has run: unknown
    assert all(st.checkpoint == st.key for st in before)  # keys assume no distillation

    calls = fake_training(
        monkeypatch,
        {
            "if": {"if": 0.2},
            "chat": {"if": 0.1, "chat": 0.3},  # IF's teacher stays stage 1: distil after chat
            "math": {"if": 0.8, "chat": 0.9, "math": 0.5},  # every teacher is this stage: no distillation
        },
    )
    checkpoints = run_cascade(train_profile, runs, StageServices(), tmp_path, verbose=False)
    assert calls == ["if", "chat", "mopd:if+chat", "math"]

    after = plan(train_profile, runs, tmp_path)
    assert all(st.decided and st.cached for st in after)
    assert [st.checkpoint for st in after] == [c.key for c in checkpoints]
    distilled = checkpoints[1].key
    assert after[1].checkpoint == distilled != after[1].key  # the chat stage's place: its distillation
    assert after[2].key == stage_key(train_profile, runs[2], distilled)  # math continued from it
    assert before[2].key != after[2].key

    # a record is read back only for the cascade that wrote it: another profile plans it as unknown
    other = train_profile.model_copy(
        update={"judge": train_profile.judge.model_copy(update={"max_new_tokens": 7})}
    )
    assert not any(st.decided for st in plan(other, runs, tmp_path))
