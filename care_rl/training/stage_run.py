"""What a stage trains and whether it is done, without a model: the part of a stage a plan reads.

``StageRun`` names a stage's domains, rewards, DACSP settings and trainer; ``StageRun.resolved`` is the
content its cache key hashes (care_rl.training.cascade_plan.stage_key). ``load_done`` says whether a
stage directory holds a complete, checksummed stage. Training itself is care_rl.training.stage; this
module imports neither torch nor TRL, so planning a cascade (and printing the plan) costs no model
library start-up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from care_rl.config import DOMAINS, ConfigError, DacspSpec, Profile, StageSpec, Strict
from care_rl.data.loaders import load_heldout, load_train
from care_rl.data.records import TrainPrompt

log = logging.getLogger(__name__)

VERIFIABLE_REWARDS = ("math", "if")
DONE = "DONE.json"
# Fields that do not change this stage's weights, so they stay out of its cache key: the monitor
# (greedy, draws no random numbers) and whether MOPD distils after the stage (the next stage's key
# depends on a distillation through its parent key).
UNKEYED_FIELDS = ("monitor_every", "monitor_prompts", "monitor_rewards", "distill_after")
# Keyed through the resolved ``dacsp`` settings instead (only where DACSP runs): see StageRun.resolved.
DACSP_KEYED_FIELDS = ("space",)
# The trainers a stage can name (``StageRun.options["trainer"]``, part of the cache key): the RL
# baselines over mixed domains (bound to their trainer classes in care_rl.training.stage), and "mopd",
# a distillation stage, run by care_rl.training.distill instead of run_stage.
MIX_TRAINERS = ("naive-mixing", "mgs")
DISTILL = "mopd"
ARTEFACTS = (
    "adapter/adapter_model.safetensors",
    "bank.safetensors",
    "logs.jsonl",
    "metrics.json",
    "config.yaml",
)


def mixed_stage_spec(profile: Profile, domains: Sequence[str]) -> StageSpec:
    """One stage for all domains at once, from the profile's per-domain stages (the paper is silent).

    TRL needs one G and one length per run: the largest of the domains' (no domain is sampled shorter
    or with fewer completions than in its cascade stage); the smallest learning rate (the safest for a
    shared update); one step carries every domain's prompts (the sum of ``prompts_per_step``) and the run
    takes as many steps as the cascade's stages together (-1, one epoch, if any stage is epoch-based),
    so the mixed run sees the same prompts and compute as a cascade over the same domains.
    """
    missing = sorted(set(domains) - set(profile.stages))
    if missing or not domains:
        raise ConfigError(
            f"profile {profile.name!r}: no stages.{missing or '<any>'} for a mixed stage of {domains}"
        )
    specs = [profile.stages[d] for d in domains]
    steps = [s.max_steps for s in specs]
    return StageSpec(
        num_generations=max(s.num_generations for s in specs),
        max_completion_length=max(s.max_completion_length for s in specs),
        max_steps=-1 if -1 in steps else sum(steps),
        learning_rate=min(s.learning_rate for s in specs),
        prompts_per_step=sum(s.prompts_per_step for s in specs),
    )


class StageRun(Strict):
    """What one stage trains: its domain(s), reward function names, DACSP settings, extra options.

    ``rewards`` are names: "math" | "if" (verifiers) or a chat reward variant ("pagrm" | "direct" | ...)
    built from the profile's judge. ``alpha``/``beta``/``tau`` override the profile's ``dacsp`` values
    (``dacsp_spec`` is the resolved DacspSpec the stage runs with). ``monitor_rewards`` (domain -> reward name) turns on the interference monitor every
    ``monitor_every`` steps. ``options["trainer"]`` picks a baseline trainer: one of ``MIX_TRAINERS``
    (RL on the mixed domains), or "mopd" for a distillation stage, which has no rewards and names its
    teachers as ``options["teachers"]`` = {domain: stage key}. ``distill_after`` asks the cascade to
    run MOPD's distillation after this stage (see care_rl.training.cascade).
    """

    domains: tuple[str, ...] = Field(min_length=1)
    rewards: tuple[str, ...] = ()
    dacsp: bool = False
    alpha: float | None = Field(None, ge=0)
    beta: float | None = Field(None, ge=0)
    tau: float | None = Field(None, gt=0, le=1)
    space: Literal["layer", "factor"] | None = None
    spec_from: str | None = None
    monitor_every: int = Field(0, ge=0)
    monitor_prompts: int = Field(4, gt=0)
    monitor_rewards: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    distill_after: bool = False

    @model_validator(mode="after")
    def _known_domains(self) -> StageRun:
        for d in (*self.domains, *self.monitor_rewards, *([self.spec_from] if self.spec_from else [])):
            if d not in DOMAINS:
                raise ValueError(f"unknown domain {d!r}; expected one of {list(DOMAINS)}")
        return self

    @model_validator(mode="after")
    def _trainer_options(self) -> StageRun:
        trainer = self.trainer
        if trainer is not None and trainer not in (*MIX_TRAINERS, DISTILL):
            raise ValueError(f"options.trainer {trainer!r}: expected one of {[*MIX_TRAINERS, DISTILL]}")
        if trainer != DISTILL:
            if not self.rewards:
                raise ValueError(f"stage {self.name!r}: an RL stage needs at least one reward")
            return self
        teachers = self.options.get("teachers")
        if not isinstance(teachers, dict) or sorted(teachers) != sorted(self.domains):
            raise ValueError(
                f"distillation stage {self.name!r}: options.teachers must map each of its domains "
                f"{list(self.domains)} to a stage key, got {teachers!r}"
            )
        if self.rewards or self.dacsp or self.distill_after:
            raise ValueError(
                f"distillation stage {self.name!r} takes no rewards, DACSP or distill_after "
                f"(got rewards={self.rewards}, dacsp={self.dacsp}, distill_after={self.distill_after})"
            )
        return self

    @property
    def trainer(self) -> str | None:
        return self.options.get("trainer")

    @property
    def name(self) -> str:
        prefix = f"{self.trainer}:" if self.trainer else ""
        return prefix + "+".join(self.domains) + ("+dacsp" if self.dacsp else "")

    def stage_spec(self, profile: Profile) -> StageSpec:
        """The profile's stage settings: ``spec_from``'s or the domain's, or for several domains the
        combined one-stage settings of :func:`mixed_stage_spec`."""
        if self.spec_from is None and len(self.domains) > 1:
            return mixed_stage_spec(profile, self.domains)
        domain = self.spec_from or self.domains[0]
        if domain not in profile.stages:
            raise ConfigError(
                f"profile {profile.name!r} has no stages.{domain} (needed by stage {self.name!r})"
            )
        return profile.stages[domain]

    def dacsp_spec(self, profile: Profile) -> DacspSpec:
        """The profile's DACSP settings with this stage's overrides: the one object the trainer and
        the optimizer hook receive."""
        overrides = {"tau": self.tau, "alpha": self.alpha, "beta": self.beta, "space": self.space}
        return profile.dacsp.model_copy(update={k: v for k, v in overrides.items() if v is not None})

    def resolved(self, profile: Profile) -> dict[str, Any]:
        """Every value this stage's weights depend on: the content that its cache key hashes.

        The monitor settings are left out: greedy monitoring draws no random numbers and does not touch
        the weights, so a stage trained with or without it is the same stage (only its logs differ);
        so is ``distill_after``, which changes what follows the stage, not the stage. The DACSP space
        changes only the weights of a stage that runs DACSP (the bank every stage writes holds both
        spaces), so it is keyed there only.

        The training prompts are keyed by content (``prompts``: a digest of every prompt the stage's
        domains select, with its gold answer or verifier arguments), not only by the data settings
        that select them: regenerated stand-ins or a new dataset revision under the same settings are
        other training data, and a stage trained on the old data must not be served for them.
        """
        uses_judge = any(r not in VERIFIABLE_REWARDS for r in self.rewards)
        dacsp = self.dacsp_spec(profile)
        return {
            "stage": self.model_dump(mode="json", exclude={*UNKEYED_FIELDS, *DACSP_KEYED_FIELDS}),
            "stage_spec": self.stage_spec(profile).model_dump(mode="json"),
            "policy": profile.policy.model_dump(mode="json"),
            "tokenizer": profile.tokenizer.model_dump(mode="json") if profile.tokenizer else None,
            "generation_backend": profile.generation_backend,
            "lora": profile.lora.model_dump(mode="json"),
            "data": profile.data.model_dump(mode="json"),
            "prompts": prompts_digest(self.domains, profile),
            "dapo": profile.dapo.model_dump(mode="json"),
            "dacsp": {
                "tau": dacsp.tau,
                "tol": dacsp.tol,
                "backend": dacsp.backend,
                "alpha": dacsp.alpha if self.dacsp else None,  # the gains matter only where DACSP runs
                "beta": dacsp.beta if self.dacsp else None,
                **({"space": dacsp.space} if self.dacsp else {}),
            },
            "judge": profile.judge.model_dump(mode="json") if uses_judge else None,
        }


@dataclass(frozen=True)
class StageResult:
    """A completed, checksummed stage directory."""

    key: str
    dir: Path
    metrics: dict[str, Any]

    @property
    def adapter_dir(self) -> Path:
        return self.dir / "adapter"

    @property
    def bank_path(self) -> Path:
        return self.dir / "bank.safetensors"


def train_prompts(domain: str, profile: Profile) -> list[TrainPrompt]:
    """A domain's training prompts as the profile's data settings select them."""
    return load_train(domain, profile.data.source, profile.data.prompts_per_domain, profile.data.seed)


# prompts_digest per (domains, data settings) in this process: a plan keys every stage of every
# cascade, and re-reading and re-serialising the same domain's prompts for each cost most of the plan
_DIGESTS: dict[tuple[tuple[str, ...], str], str] = {}


def prompts_digest(domains: Sequence[str], profile: Profile) -> str:
    """sha256 of the training prompts of ``domains`` (in order) as the profile selects them: every
    field of every prompt (messages, gold answer, verifier arguments), so any change of the data a
    stage trains on changes the stage's key. Computed once per process for the same selection."""
    key = (tuple(domains), profile.data.model_dump_json())
    if key not in _DIGESTS:
        h = hashlib.sha256()
        for domain in domains:
            for prompt in train_prompts(domain, profile):
                h.update(json.dumps(dataclasses.asdict(prompt), sort_keys=True).encode())
                h.update(b"\n")
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def heldout_prompts(domain: str, profile: Profile, k: int) -> list[TrainPrompt]:
    """k validation prompts outside the domain's training prompts (care_rl.data.loaders.load_heldout)."""
    data = profile.data
    return load_heldout(domain, data.source, data.prompts_per_domain, k, data.seed)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_done(out_dir: Path) -> StageResult | None:
    """The stage in ``out_dir`` if its DONE.json is valid and every checksum matches, else None."""
    marker = out_dir / DONE
    if not marker.is_file():
        return None
    try:
        done = json.loads(marker.read_text())
        files = done["files"]
        for rel in ARTEFACTS:
            if rel not in files:
                raise ValueError(f"missing {rel}")
        for rel, digest in files.items():
            if file_sha256(out_dir / rel) != digest:
                raise ValueError(f"checksum mismatch for {rel}")
        metrics = json.loads((out_dir / "metrics.json").read_text())
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("stage %s is corrupt (%s); it will be recomputed", out_dir, e)
        return None
    return StageResult(key=str(done.get("key", "")), dir=out_dir, metrics=metrics)
