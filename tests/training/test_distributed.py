"""Two CPU processes (gloo) through ``accelerate launch``: a smoke IF -> Math+DACSP cascade.

The test launches this file as the training script (``python tests/training/test_distributed.py ROOT``
on each rank): it runs the cascade with scripted prompts and rewards into ROOT, and every rank writes
what it saw (the prompt ids of each scored generation round, the refill count of each step) to
ROOT/rank<r>.json. The test then checks, from outside, that the ranks ended with bit-identical
weights, that stage 2 ran DACSP, that dynamic sampling ran the same refill rounds on both ranks with
different prompts, and that a second launch reuses both stages on both ranks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from transformers import TrainerCallback

from care_rl.atomic import write_text_atomic
from care_rl.config import REPO_ROOT, ConfigError
from care_rl.training import distributed
from care_rl.training.cascade import run_cascade
from care_rl.training.stage import StageRun, StageServices, load_done
from experiments.paths import ACCELERATE_DIR, load_named_profile
from tests.training.conftest import fake_prompts, hashed_reward

CONFIG = ACCELERATE_DIR / "cpu_2proc.yaml"
RUNS = [
    StageRun(domains=("if",), rewards=("if",)),
    StageRun(domains=("math",), rewards=("math",), dacsp=True),
]


# --- the training script (each rank) ------------------------------------------------------------------
class RankLog(TrainerCallback):
    """This rank's generation rounds per logged step (TRL logs each rank's own dynamic-sampling metric)."""

    def __init__(self) -> None:
        self.refills: list[float] = []

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if logs and "dynamic_sampling/rounds" in logs:
            self.refills.append(logs["dynamic_sampling/rounds"] - 1)


def train(root: Path) -> None:
    """Even-numbered prompts score by hash, odd ones score 0: their groups are degenerate, so ranks
    need refills in different numbers, which dynamic sampling must equalise."""
    rounds: list[list[str]] = []

    def reward(completions: list, id: list[str], **columns) -> list[float]:
        rounds.append(sorted(set(id)))
        scores = hashed_reward(completions)
        return [s if int(i.rsplit("-", 1)[1]) % 2 == 0 else 0.0 for s, i in zip(scores, id, strict=True)]

    log = RankLog()
    services = StageServices(
        load_prompts=lambda domain, profile: fake_prompts(domain, 12),
        build_reward=lambda name, profile: reward,
        callbacks=[log],
    )
    results = run_cascade(load_named_profile("smoke"), RUNS, services, root / "stages", verbose=False)
    record = {"rounds": rounds, "refills": log.refills, "stages": [r.key for r in results]}
    write_text_atomic(root / f"rank{distributed.rank()}.json", json.dumps(record))


# --- the test ---------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [
        str(Path(sys.executable).parent / "accelerate"),
        "launch",
        "--config_file",
        str(CONFIG),
        "--main_process_port",
        str(_free_port()),
        str(Path(__file__).resolve()),
        str(root),
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    _launch(root)
    ranks = [json.loads((root / f"rank{r}.json").read_text()) for r in range(2)]
    return root, ranks


def _stage_dirs(root: Path, ranks: list[dict]) -> list[Path]:
    return [root / "stages" / key for key in ranks[0]["stages"]]


@pytest.mark.slow  # two accelerate launches: ~70 s of CPU on 2 cores
def test_ranks_end_every_stage_with_identical_weights(launched):
    root, ranks = launched
    assert ranks[0]["stages"] == ranks[1]["stages"]
    for stage_dir in _stage_dirs(root, ranks):
        done = load_done(stage_dir)
        assert done is not None
        digests = done.metrics["ranks"]["trainable_sha256"]
        assert done.metrics["ranks"]["world_size"] == 2 and len(digests) == 2
        assert digests[0] == digests[1]
        assert not list(stage_dir.glob(".*.tmp")) and not (stage_dir / "work").exists()


@pytest.mark.slow  # two accelerate launches: ~70 s of CPU on 2 cores
def test_stage_two_modulates_with_dacsp_under_ddp(launched):
    root, ranks = launched
    first, second = (load_done(d) for d in _stage_dirs(root, ranks))
    assert first.metrics["directions_added"] > 0 and first.metrics["global_step"] == 2
    assert second.metrics["dacsp_active"] and second.metrics["dacsp_steps"] == 2
    telemetry = [json.loads(line) for line in (second.dir / "dacsp.jsonl").read_text().splitlines()]
    assert len(telemetry) == 2
    # a step may hold only masked filler
    assert any(step["layer"]["total"]["energy"] > 0 for step in telemetry)
    # the update DACSP modulated moved the weights away from stage 1's
    assert second.metrics["ranks"]["trainable_sha256"] != first.metrics["ranks"]["trainable_sha256"]


@pytest.mark.slow  # two accelerate launches: ~70 s of CPU on 2 cores
def test_dynamic_sampling_refills_in_lockstep_with_different_prompts(launched):
    _, (r0, r1) = launched
    assert r0["refills"] == r1["refills"] and sum(r0["refills"]) > 0
    assert len(r0["rounds"]) == len(r1["rounds"]) > 4  # 2 stages x 2 steps, plus refill rounds
    for ids0, ids1 in zip(r0["rounds"], r1["rounds"], strict=True):
        assert not set(ids0) & set(ids1), (ids0, ids1)


@pytest.mark.slow  # two accelerate launches: ~70 s of CPU on 2 cores
def test_second_launch_reuses_both_stages_on_every_rank(launched):
    root, ranks = launched
    stamps = {d: (d / "DONE.json").stat().st_mtime_ns for d in _stage_dirs(root, ranks)}
    _launch(root)
    again = [json.loads((root / f"rank{r}.json").read_text()) for r in range(2)]
    assert again[0]["stages"] == again[1]["stages"] == ranks[0]["stages"]
    assert again[0]["rounds"] == again[1]["rounds"] == []  # nothing generated: both stages cached
    assert {d: (d / "DONE.json").stat().st_mtime_ns for d in stamps} == stamps


# --- launch guards and checksums (no processes) ----------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "dacsp", "message"),
    [
        ({"ACCELERATE_USE_FSDP": "true"}, False, "FSDP"),
        ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}, False, "ZeRO-3"),
        ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}, True, "DACSP"),
    ],
)
def test_check_launch_refuses_sharding_the_stage_runner_cannot_handle(smoke_profile, env, dacsp, message):
    with pytest.raises(ConfigError, match=message):
        distributed.check_launch(smoke_profile, dacsp=dacsp, env=env)


@pytest.mark.parametrize(
    ("env", "dacsp"),
    [({}, True), ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}, False)],
)
def test_check_launch_accepts_ddp_and_zero2_without_dacsp(smoke_profile, env, dacsp):
    distributed.check_launch(smoke_profile, dacsp=dacsp, env=env)


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=8), st.integers(0, 7))
def test_tensors_sha256_changes_with_any_element(values, where):
    where %= len(values)
    a = torch.tensor(values, dtype=torch.float32)
    b = a.clone()
    b[where] = torch.nextafter(b[where], torch.tensor(float("inf")))
    assert distributed.tensors_sha256([("w", a)]) == distributed.tensors_sha256([("w", a.clone())])
    assert distributed.tensors_sha256([("w", a)]) != distributed.tensors_sha256([("w", b)])
    assert distributed.tensors_sha256([("w", a)]) != distributed.tensors_sha256([("v", a)])


def test_single_process_helpers_are_no_ops():
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.broadcast_from_main({"a": 1}) == {"a": 1}
    assert distributed.gather_objects("x") == ["x"]


if __name__ == "__main__":
    train(Path(sys.argv[1]))
