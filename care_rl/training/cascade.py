"""Run a cascade: its stages in order, each reused from the cache when complete there, and between
stages the steps a method asks for (the plan and the methods: care_rl.training.cascade_plan).

Between-stage steps are the cascade's extension point (``AfterStage``): after a stage, a step may run
further stages and put the last of them in the stage's place as the checkpoint the next stage continues
from. Each planned stage therefore comes back as a ``CascadeStep``: the stages that ran for it, in
order, whose compute its checkpoint stands for. The step we ship is MOPD's distillation:

MOPD: after every RL stage, each domain trained so far takes its best checkpoint among the cascade's
RL stages as its teacher (held-out monitor scores; a later checkpoint replaces an earlier one only if
better by more than the profile's ``mopd.tolerance``, care_rl.training.mopd.best_checkpoints), and a
distillation stage (content-addressed like any stage: its key hashes its teachers' keys and its
parent's) distils the current checkpoint on every trained domain's prompts towards that domain's
teacher before the next stage, which continues from it. When the current stage is every domain's
teacher the cascade goes on as NVV/VNV would, sharing their cache. Decisions (the paper is silent):
only domains already trained in the cascade are candidates (the base model is no teacher, an untrained
domain has nothing to recover); the distillation also runs after the last stage, so the final
checkpoint has its regressions recovered like every other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from care_rl import locks
from care_rl.config import ConfigError, Profile, cache_dir
from care_rl.training import distributed
from care_rl.training.cascade_plan import check_heldout, plan, record_checkpoint, stage_key
from care_rl.training.services import StageServices
from care_rl.training.stage_run import DISTILL, StageResult, StageRun, load_done


@dataclass(frozen=True)
class CascadeStep:
    """One planned stage as it ran: the stage, then any stage a between-stage step ran in its place.
    The last one is the checkpoint the next stage continues from; all of them are the compute that
    checkpoint stands for."""

    stages: tuple[StageResult, ...]

    @property
    def checkpoint(self) -> StageResult:
        return self.stages[-1]


class AfterStage(Protocol):
    """A between-stage step: given the stage that just ran (``index`` in the cascade), the stages it
    ran in that stage's place, in order (empty: the cascade continues from the stage itself)."""

    def __call__(self, index: int, run: StageRun, result: StageResult) -> list[StageResult]: ...


def _run_or_reuse(
    profile: Profile,
    run: StageRun,
    parent: StageResult | None,
    root: Path,
    services: StageServices | None,
    label: str,
    verbose: bool,
    teachers: Mapping[str, StageResult] | None = None,
    wait: bool = True,
) -> StageResult:
    """The stage ``run`` after ``parent``: from the cache if complete there, else trained (or distilled)
    under the stage's lock (care_rl.locks), which another process may hold: then wait for it and reuse
    what it made, or (``wait`` False) raise ``locks.Busy``."""
    key = stage_key(profile, run, parent.key if parent else None)
    out_dir = root / key

    def cached() -> StageResult | None:
        # One cache decision for all ranks: the main process's view of the directory.
        return distributed.broadcast_from_main(load_done(out_dir) if distributed.is_main() else None)

    done = cached()
    if done is None:
        with locks.hold(out_dir, wait) if distributed.is_main() else nullcontext():
            done = cached()  # the process that held the lock may have finished the stage meanwhile
            if done is None:
                if verbose:
                    print(f"{label} {run.name}: training into {out_dir}", flush=True)
                # The trainers (TRL, PEFT) are imported only when a stage trains: a cascade read from
                # the cache, as in a warm re-render, does without them.
                from care_rl.training import distill
                from care_rl.training.stage import run_stage

                if run.trainer == DISTILL:
                    done = distill.run_distill_stage(
                        profile, run, parent, out_dir, teachers=teachers or {}, key=key, services=services
                    )
                else:
                    done = run_stage(profile, run, parent, out_dir, key=key, services=services)
                if verbose:
                    print(f"{label} {run.name}: done in {done.metrics['wall_time_s']:.1f}s", flush=True)
                return done
    if verbose:
        print(f"{label} {run.name}: cached ({out_dir})", flush=True)
    return done


class MopdDistillation:
    """MOPD's between-stage step (module docstring): score the stage, pick each trained domain's best
    checkpoint so far as its teacher, and distil towards the teachers unless the stage is every
    domain's teacher."""

    def __init__(
        self,
        profile: Profile,
        runs: Sequence[StageRun],
        root: Path,
        services: StageServices,
        verbose: bool,
        wait: bool = True,
    ) -> None:
        self.profile, self.runs, self.root = profile, runs, root
        self.services, self.verbose, self.wait = services, verbose, wait
        self.history: list[dict[str, object]] = []  # scored RL checkpoints, cascade order
        self.checkpoints: dict[str, StageResult] = {}

    def __call__(self, index: int, run: StageRun, result: StageResult) -> list[StageResult]:
        from care_rl.training import distill
        from care_rl.training.mopd import mopd_teachers

        trained = list(dict.fromkeys(d for r in self.runs[: index + 1] for d in r.domains))
        scores = distill.checkpoint_scores(self.profile, run, result, self.services)
        self.history.append(
            {"stage_key": result.key, "scores": {d: scores[d] for d in trained if d in scores}}
        )
        self.checkpoints[result.key] = result
        teachers = mopd_teachers(self.history, self.profile.mopd.tolerance)
        label = f"stage {index + 1}/{len(self.runs)}"
        if self.verbose:
            named = {d: k[:12] for d, k in teachers.items()} or "this stage for every domain"
            print(f"{label} {run.name}: scores {scores}; teachers {named}", flush=True)
        if not teachers:
            return []
        distilled = _run_or_reuse(
            self.profile,
            distill.distillation_run(teachers, trained),
            result,
            self.root,
            self.services,
            f"{label} distillation",
            self.verbose,
            teachers={d: self.checkpoints[k] for d, k in teachers.items()},
            wait=self.wait,
        )
        return [distilled]


def run_cascade_steps(
    profile: Profile,
    runs: Sequence[StageRun],
    services: StageServices | None = None,
    root: Path | None = None,
    verbose: bool = True,
    wait: bool = True,
) -> list[CascadeStep]:
    """Run every stage in order, reusing completed ones, and after each stage the between-stage step it
    asks for; one ``CascadeStep`` per run. The outcome of each step is recorded for later plans
    (care_rl.training.cascade_plan.record_checkpoint). A stage another process is training is waited
    for, or with ``wait`` False ends the call with ``locks.Busy`` (single-process runs only: one
    worker of ``experiments.run --jobs N`` moves on to other work and comes back)."""
    if not runs:
        raise ConfigError("a cascade needs at least one stage")
    if not wait and distributed.launched_processes() > 1:
        raise ConfigError("wait=False is for single-process runs: every rank must reach the same stage")
    for run in runs:
        if run.distill_after and not (run.monitor_every and run.monitor_rewards):
            raise ConfigError(
                f"stage {run.name!r}: MOPD picks teachers by monitor scores; set monitor_every and monitor_rewards"
            )
    services = services or StageServices()
    check_heldout(profile, runs, services.load_heldout)
    distributed.check_launch(profile, dacsp=any(run.dacsp for run in runs))
    distributed.init_from_env(profile)
    verbose = verbose and distributed.is_main()
    root = root or cache_dir() / "stages"
    after: AfterStage | None = None
    if any(run.distill_after for run in runs):
        after = MopdDistillation(profile, runs, root, services, verbose, wait)
    if verbose:
        print(f"plan ({profile.name}, {len(runs)} stages):", flush=True)
        for s in plan(profile, runs, root):
            print(s.describe(), flush=True)
    steps: list[CascadeStep] = []
    parent: StageResult | None = None
    for i, run in enumerate(runs):
        label = f"stage {i + 1}/{len(runs)}"
        result = _run_or_reuse(profile, run, parent, root, services, label, verbose, wait=wait)
        stages = [result]
        if run.distill_after and after is not None:
            stages += after(i, run, result)
            if distributed.is_main():
                record_checkpoint(profile, runs, i, result.key, root, stages[-1].key)
        steps.append(CascadeStep(tuple(stages)))
        parent = stages[-1]
    return steps


def run_cascade(
    profile: Profile,
    runs: Sequence[StageRun],
    services: StageServices | None = None,
    root: Path | None = None,
    verbose: bool = True,
) -> list[StageResult]:
    """The checkpoint after each run (``run_cascade_steps``): for a ``distill_after`` run, its MOPD
    distillation stage when one was needed (that stage's metrics name its parent RL stage and its
    teachers)."""
    return [step.checkpoint for step in run_cascade_steps(profile, runs, services, root, verbose)]
