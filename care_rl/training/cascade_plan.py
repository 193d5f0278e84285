"""What a cascade will train, known before anything trains: a method's stages, their keys, their cache.

A run is a list of stages; each stage is content-addressed, so shared prefixes train once.
key(stage) = sha256(resolved stage config + the parent stage's key). The resolved config holds the
stage spec and every profile value it uses (StageRun.resolved), never the profile's name, so two
experiments whose first stages agree (the IF stage of VNV, NVV and CARE-RL) get the same key and the
second one reuses ``cache_dir()/stages/<key>/``. A stage is reused only if its DONE.json checks out
(stage_run.load_done); otherwise it is (re)trained, resuming a TRL checkpoint if one is there.

Methods are data: a method YAML (the repository's: ``experiments/methods/<name>.yaml``) gives the domain
order, the chat reward and when DACSP starts (with optional α/β overrides), or a mixed-domain baseline
(``mix``: one stage over all domains with a baseline trainer), or MOPD (``mopd: true``: a distillation
step after every stage, care_rl.training.cascade); ``method_stages`` turns one into StageRuns.

Between stages a cascade may put another stage in the place of the one it just ran (MOPD's
distillation), decided only by that stage's scores. The plan cannot know the outcome before the stage
has run; once a cascade has run, it records the outcome (``record_checkpoint``), so a later plan names
the checkpoint the cascade really continued from. Nothing here imports torch: planning, and printing
the plan, cost no model library start-up.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from care_rl.atomic import write_text_atomic
from care_rl.config import ConfigError, Profile, Strict, cache_dir, read_yaml, validate
from care_rl.training.stage_run import MIX_TRAINERS, StageRun, load_done

DOMAIN_REWARDS = {"math": "math", "if": "if"}
# MOPD scores every checkpoint with the interference monitor; when the caller leaves it off, it runs
# every this many steps (plus before the first and after the last step, which is what MOPD reads).
MOPD_MONITOR_EVERY = 10
# What a cascade runs after a stage that asks for it (StageRun.distill_after), as the plan names it.
DISTILLATION = "MOPD distillation"


class DacspMethod(Strict):
    """When DACSP starts and the profile settings a method overrides (None: the profile's)."""

    from_stage: int = Field(2, ge=2)  # 1-based; the first stage has no history to protect
    alpha: float | None = Field(None, ge=0)
    beta: float | None = Field(None, ge=0)
    space: Literal["layer", "factor"] | None = None


class MethodSpec(Strict):
    """One training method: the domain order, the chat reward variant, DACSP (None = off), and the
    baselines: ``mix`` (one mixed-domain stage with that trainer) or ``mopd`` (distillation between
    stages)."""

    name: str
    description: str
    order: list[str] = Field(min_length=1)
    chat_reward: str = "pagrm"
    dacsp: DacspMethod | None = None
    mix: str | None = None
    mopd: bool = False

    @model_validator(mode="after")
    def _one_baseline(self) -> MethodSpec:
        if self.mix is not None and self.mix not in MIX_TRAINERS:
            raise ValueError(
                f"mix: {self.mix!r} is not a mixed-domain trainer; expected one of {MIX_TRAINERS}"
            )
        if self.mix is not None and (self.mopd or self.dacsp is not None):
            raise ValueError(
                f"mix: {self.mix} trains one mixed stage; it cannot be combined with mopd or dacsp"
            )
        repeated = sorted({d for d in self.order if self.order.count(d) > 1})
        if repeated:
            raise ValueError(f"order {self.order} repeats {repeated}; each domain trains once")
        return self


def load_method(path: str | Path) -> MethodSpec:
    """The method YAML at ``path`` (a method by name: ``experiments.paths.method_path``); its ``name``
    is its file's name, the one name tables and result keys use for it."""
    path = Path(path)
    method: MethodSpec = validate(MethodSpec, read_yaml(path), path)
    if method.name != path.stem:
        raise ConfigError(f"{path}: name {method.name!r} does not match the file name {path.stem!r}")
    return method


def check_order(method: MethodSpec, order: Sequence[str], partial: bool = False) -> None:
    """``order`` trains the method's domains, each once: a repeated, unknown or (unless ``partial``:
    a shorter cascade, as tests train) missing domain is an error naming it, never silently dropped."""
    order = list(order)
    repeated = sorted({d for d in order if order.count(d) > 1})
    missing = [] if partial else [d for d in method.order if d not in order]
    unknown = sorted(set(order) - set(method.order))
    problems = [
        *([f"repeats {repeated}"] if repeated else []),
        *([f"leaves out {missing}"] if missing else []),
        *([f"adds {unknown}, which the method does not train"] if unknown else []),
    ]
    if problems:
        raise ConfigError(
            f"method {method.name!r}: order {order} {' and '.join(problems)}; "
            f"give a permutation of {method.order}"
        )


def method_stages(
    method: MethodSpec, order: Sequence[str] | None = None, monitor_every: int = 0, monitor_prompts: int = 4
) -> list[StageRun]:
    """The method's stages (in ``order`` if given: the method's domains, each once, or fewer of them
    for a shorter cascade), with the interference monitor on all its domains.

    MOPD needs the monitor to pick teachers, so for it ``monitor_every=0`` means MOPD_MONITOR_EVERY.
    """
    order = list(order or method.order)
    rewards = {**DOMAIN_REWARDS, "chat": method.chat_reward}
    unknown = sorted(set(order) - set(rewards))
    if unknown:
        raise ConfigError(f"method {method.name!r}: unknown domain(s) {unknown} in order {order}")
    check_order(method, order, partial=True)
    if method.mopd and not monitor_every:
        monitor_every = MOPD_MONITOR_EVERY
    monitored = {
        "monitor_every": monitor_every,
        "monitor_prompts": monitor_prompts,
        "monitor_rewards": {d: rewards[d] for d in order} if monitor_every else {},
    }
    if method.mix is not None:
        domains = tuple(order)
        return [
            StageRun(
                domains=domains,
                rewards=tuple(rewards[d] for d in domains),
                options={"trainer": method.mix},
                **monitored,
            )
        ]
    dacsp = method.dacsp
    no_overrides = {"alpha": None, "beta": None, "space": None}
    return [
        StageRun(
            domains=(domain,),
            rewards=(rewards[domain],),
            dacsp=active,
            **(dacsp.model_dump(include=set(no_overrides)) if active else no_overrides),
            distill_after=method.mopd,
            **monitored,
        )
        for i, domain in enumerate(order)
        for active in [dacsp is not None and i + 1 >= dacsp.from_stage]
    ]


def stage_key(profile: Profile, run: StageRun, parent_key: str | None) -> str:
    payload = json.dumps({"stage": run.resolved(profile), "parent": parent_key}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def after_stage(run: StageRun) -> str | None:
    """What the cascade runs after ``run`` that may replace its checkpoint (None: nothing)."""
    return DISTILLATION if run.distill_after else None


# --- the outcome of a between-stage step, recorded for later plans -----------------------------------
def _record_path(profile: Profile, runs: Sequence[StageRun], index: int, key: str, root: Path) -> Path:
    """Where the outcome of the step after stage ``index`` (key ``key``) is recorded. The outcome
    depends on the stages so far (their keys are in ``key``) and on values outside the keys (the
    monitor settings, the profile's judge and data): every run up to ``index`` and the whole profile
    are hashed, so a record is read back only for exactly the cascade that wrote it."""
    content = {
        "runs": [r.model_dump(mode="json") for r in runs[: index + 1]],
        "profile": profile.model_dump(mode="json"),
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    return root / key / "after" / f"{digest}.json"


def record_checkpoint(
    profile: Profile, runs: Sequence[StageRun], index: int, key: str, root: Path, checkpoint: str
) -> None:
    """Record that after stage ``index`` (key ``key``) the cascade continued from stage ``checkpoint``."""
    path = _record_path(profile, runs, index, key, root)
    write_text_atomic(path, json.dumps({"checkpoint": checkpoint}) + "\n")


def recorded_checkpoint(
    profile: Profile, runs: Sequence[StageRun], index: int, key: str, root: Path
) -> str | None:
    """The checkpoint a cascade recorded after stage ``index`` (``record_checkpoint``), if any."""
    path = _record_path(profile, runs, index, key, root)
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["checkpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class PlannedStage:
    """One stage of a plan. ``checkpoint`` is the stage the cascade continues from after it: its own
    ``key``, or what a between-stage step (``after``) put in its place, as recorded by an earlier run;
    ``decided`` is False while that is still unknown (the step has not run: ``checkpoint`` is ``key``)."""

    index: int
    run: StageRun
    key: str
    dir: Path
    cached: bool
    steps: int
    max_generated_tokens: int
    after: str | None = None
    checkpoint: str = ""
    decided: bool = True

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

    After a stage with a between-stage step the next stage continues from the checkpoint an earlier
    run of this cascade recorded; with no record yet, the keys (and cache status) that follow assume
    the step keeps the stage's own checkpoint (whether it does depends on scores known only once the
    stage has run).
    """
    root = root or cache_dir() / "stages"
    planned, parent = [], None
    for i, run in enumerate(runs):
        key = stage_key(profile, run, parent)
        stage, steps = run.stage_spec(profile), _steps(profile, run)
        tokens = steps * stage.prompts_per_step * stage.num_generations * stage.max_completion_length
        cached = load_done(root / key) is not None
        after = after_stage(run)
        recorded = recorded_checkpoint(profile, runs, i, key, root) if after and cached else None
        decided = after is None or (recorded is not None and load_done(root / recorded) is not None)
        checkpoint = recorded if decided and recorded is not None else key
        planned.append(
            PlannedStage(i, run, key, root / key, cached, steps, tokens, after, checkpoint, decided)
        )
        parent = checkpoint
    return planned


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
