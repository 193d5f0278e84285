"""A run is a list of stages; each stage is content-addressed, so shared prefixes train once.

key(stage) = sha256(resolved stage config + the parent stage's key). The resolved config holds the
stage spec and every profile value it uses (StageRun.resolved), never the profile's name, so two
experiments whose first stages agree (the IF stage of VNV, NVV and CARE-RL) get the same key and the
second one reuses ``cache_dir()/stages/<key>/``. A stage is reused only if its DONE.json checks out
(stage.load_done); otherwise it is (re)trained, resuming a TRL checkpoint if one is there.

Methods are data: a method YAML (the repository's: ``experiments/methods/<name>.yaml``) gives the domain
order, the chat reward and when DACSP starts (with optional α/β overrides), or a mixed-domain baseline
(``mix``: one stage over all domains with the Naive Mixing or MGS trainer), or MOPD (``mopd: true``);
``method_stages`` turns one into StageRuns.

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

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from care_rl.config import ConfigError, Profile, Strict, cache_dir, read_yaml, validate
from care_rl.training import distill, distributed
from care_rl.training.mopd import mopd_teachers
from care_rl.training.stage import DISTILL, StageResult, StageRun, StageServices, load_done, run_stage

DOMAIN_REWARDS = {"math": "math", "if": "if"}
# MOPD scores every checkpoint with the interference monitor; when the caller leaves it off, it runs
# every this many steps (plus before the first and after the last step, which is what MOPD reads).
MOPD_MONITOR_EVERY = 10


class DacspMethod(Strict):
    from_stage: int = Field(2, ge=2)  # 1-based; the first stage has no history to protect
    alpha: float | None = Field(None, ge=0)
    beta: float | None = Field(None, ge=0)


class MethodSpec(Strict):
    """One training method: the domain order, the chat reward variant, DACSP (None = off), and the
    baselines: ``mix`` (one mixed-domain stage with that trainer) or ``mopd`` (distillation between
    stages)."""

    name: str
    description: str
    order: list[str] = Field(min_length=1)
    chat_reward: str = "pagrm"
    dacsp: DacspMethod | None = None
    mix: Literal["naive-mixing", "mgs"] | None = None
    mopd: bool = False

    @model_validator(mode="after")
    def _one_baseline(self) -> MethodSpec:
        if self.mix is not None and (self.mopd or self.dacsp is not None):
            raise ValueError(
                f"mix: {self.mix} trains one mixed stage; it cannot be combined with mopd or dacsp"
            )
        return self


def load_method(path: str | Path) -> MethodSpec:
    """The method YAML at ``path`` (a method by name: ``experiments.paths.method_path``)."""
    path = Path(path)
    return validate(MethodSpec, read_yaml(path), path)


def method_stages(
    method: MethodSpec, order: Sequence[str] | None = None, monitor_every: int = 0, monitor_prompts: int = 4
) -> list[StageRun]:
    """The method's stages (in ``order`` if given), with the interference monitor on all its domains.

    MOPD needs the monitor to pick teachers, so for it ``monitor_every=0`` means MOPD_MONITOR_EVERY.
    """
    order = list(order or method.order)
    rewards = {**DOMAIN_REWARDS, "chat": method.chat_reward}
    unknown = sorted(set(order) - set(rewards))
    if unknown:
        raise ConfigError(f"method {method.name!r}: unknown domain(s) {unknown} in order {order}")
    if method.mopd and not monitor_every:
        monitor_every = MOPD_MONITOR_EVERY
    monitored = {
        "monitor_every": monitor_every,
        "monitor_prompts": monitor_prompts,
        "monitor_rewards": {d: rewards[d] for d in dict.fromkeys(order)} if monitor_every else {},
    }
    if method.mix is not None:
        domains = tuple(dict.fromkeys(order))
        return [
            StageRun(
                domains=domains,
                rewards=tuple(rewards[d] for d in domains),
                options={"trainer": method.mix},
                **monitored,
            )
        ]
    dacsp = method.dacsp
    return [
        StageRun(
            domains=(domain,),
            rewards=(rewards[domain],),
            dacsp=dacsp is not None and i + 1 >= dacsp.from_stage,
            alpha=dacsp.alpha if dacsp and i + 1 >= dacsp.from_stage else None,
            beta=dacsp.beta if dacsp and i + 1 >= dacsp.from_stage else None,
            distill_after=method.mopd,
            **monitored,
        )
        for i, domain in enumerate(order)
    ]


def stage_key(profile: Profile, run: StageRun, parent_key: str | None) -> str:
    payload = json.dumps({"stage": run.resolved(profile), "parent": parent_key}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PlannedStage:
    index: int
    run: StageRun
    key: str
    dir: Path
    cached: bool
    steps: int
    max_generated_tokens: int

    def describe(self) -> str:
        status = (
            "cached"
            if self.cached
            else f"train ~{self.steps} steps, <= {self.max_generated_tokens:,} gen tokens"
        )
        distil = " (+ MOPD distillation if a domain regressed)" if self.run.distill_after else ""
        return (
            f"  {self.index + 1}. {self.run.name:<14} rewards={','.join(self.run.rewards):<10} "
            f"{self.key[:12]} {status}{distil}"
        )


def _steps(profile: Profile, run: StageRun) -> int:
    stage = run.stage_spec(profile)
    if stage.max_steps > 0:
        return stage.max_steps
    prompts = profile.data.prompts_per_domain * len(run.domains)
    return math.ceil(prompts / stage.prompts_per_step)


def plan(profile: Profile, runs: Sequence[StageRun], root: Path | None = None) -> list[PlannedStage]:
    """Keys, cache status and a cost estimate (optimizer steps, generated-token upper bound) per stage.

    After a ``distill_after`` stage the keys (and cache status) assume no distillation is needed:
    whether one is depends on scores known only once that stage has run.
    """
    root = root or cache_dir() / "stages"
    planned, parent = [], None
    for i, run in enumerate(runs):
        key = stage_key(profile, run, parent)
        stage, steps = run.stage_spec(profile), _steps(profile, run)
        tokens = steps * stage.prompts_per_step * stage.num_generations * stage.max_completion_length
        cached = load_done(root / key) is not None
        planned.append(PlannedStage(i, run, key, root / key, cached, steps, tokens))
        parent = key
    return planned


def _run_or_reuse(
    profile: Profile,
    run: StageRun,
    parent: StageResult | None,
    root: Path,
    services: StageServices | None,
    label: str,
    verbose: bool,
    teachers: Mapping[str, StageResult] | None = None,
) -> StageResult:
    """The stage ``run`` after ``parent``: from the cache if complete there, else trained (or distilled)."""
    key = stage_key(profile, run, parent.key if parent else None)
    out_dir = root / key
    # One cache decision for all ranks: the main process's view of the directory.
    done = distributed.broadcast_from_main(load_done(out_dir) if distributed.is_main() else None)
    if done is not None:
        if verbose:
            print(f"{label} {run.name}: cached ({out_dir})", flush=True)
        return done
    if verbose:
        print(f"{label} {run.name}: training into {out_dir}", flush=True)
    if run.trainer == DISTILL:
        result = distill.run_distill_stage(
            profile, run, parent, out_dir, teachers=teachers or {}, key=key, services=services
        )
    else:
        result = run_stage(profile, run, parent, out_dir, key=key, services=services)
    if verbose:
        print(f"{label} {run.name}: done in {result.metrics['wall_time_s']:.1f}s", flush=True)
    return result


def check_heldout(
    profile: Profile, runs: Sequence[StageRun], load: Callable[[str, Profile, int], Sequence[Any]]
) -> None:
    """Before any compute: every monitored domain has its held-out prompts (``load`` raises ConfigError
    when the data cannot supply them, see care_rl.data.loaders.load_heldout)."""
    for domain, k in sorted({(d, run.monitor_prompts) for run in runs for d in run.monitor_rewards}):
        if len(load(domain, profile, k)) < k:
            raise ConfigError(
                f"profile {profile.name!r}: fewer than {k} held-out {domain!r} prompts for the monitor"
            )


def run_cascade(
    profile: Profile,
    runs: Sequence[StageRun],
    services: StageServices | None = None,
    root: Path | None = None,
    verbose: bool = True,
) -> list[StageResult]:
    """Run every stage in order, reusing completed ones; returns one StageResult per run: the checkpoint
    after it, which for a ``distill_after`` run is its MOPD distillation stage when one was needed
    (that stage's metrics name its parent RL stage and its teachers)."""
    if not runs:
        raise ConfigError("a cascade needs at least one stage")
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
    if verbose:
        print(f"plan ({profile.name}, {len(runs)} stages):", flush=True)
        for s in plan(profile, runs, root):
            print(s.describe(), flush=True)
    results: list[StageResult] = []
    parent: StageResult | None = None
    history: list[dict[str, object]] = []  # MOPD: scored RL checkpoints, cascade order
    checkpoints: dict[str, StageResult] = {}
    trained: list[str] = []
    for i, run in enumerate(runs):
        label = f"stage {i + 1}/{len(runs)}"
        result = _run_or_reuse(profile, run, parent, root, services, label, verbose)
        trained.extend(d for d in run.domains if d not in trained)
        if run.distill_after:
            scores = distill.checkpoint_scores(profile, run, result, services)
            history.append(
                {"stage_key": result.key, "scores": {d: scores[d] for d in trained if d in scores}}
            )
            checkpoints[result.key] = result
            teachers = mopd_teachers(history, profile.mopd.tolerance)
            if verbose:
                named = {d: k[:12] for d, k in teachers.items()} or "this stage for every domain"
                print(f"{label} {run.name}: scores {scores}; teachers {named}", flush=True)
            if teachers:
                result = _run_or_reuse(
                    profile,
                    distill.distillation_run(teachers, trained),
                    result,
                    root,
                    services,
                    f"{label} distillation",
                    verbose,
                    teachers={d: checkpoints[k] for d, k in teachers.items()},
                )
        results.append(result)
        parent = result
    return results
