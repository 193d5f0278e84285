"""The runner's own settings (experiments/runner.yaml): plan-cost estimates, Table 6 sizes, which
appendix tables a profile's model gets, the PA-GRM-DS judge, where its tables and figures go, the
training seeds of seeded table rows, and the order-sweep methods; and the folders one run reads and writes (``RunDirs``).

Kept out of the profiles because profiles are a strict schema shared by training and evaluation; these
values change nothing a stage or an eval computes, only what the runner schedules, estimates and where
it writes.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator

from care_rl.config import ConfigError, JudgeSpec, Profile, Strict, cache_dir, read_yaml, validate
from experiments.checkpoints import Seeds
from experiments.paths import REPO_ROOT, RUNNER_YAML


class Outputs(Strict):
    """Where a profile's tables and figures go, relative to the repository; ``{profile}`` is replaced by
    the profile's name."""

    tables: str
    figures: str

    @field_validator("tables", "figures")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            value.format(profile="x")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"{value!r}: only the placeholder {{profile}} is known ({e!r})") from None
        return value


class ProfileSettings(Strict):
    seconds_per_step: float = Field(gt=0)
    seconds_per_eval_sample: float = Field(gt=0)
    seconds_judge_adapter: float = Field(0.0, ge=0)
    judge_items: int = Field(gt=0)
    judge_seed: int
    surgery_seed: int
    expanded: list[str] = Field(min_length=1)
    judge_ds: JudgeSpec | None = None
    outputs: Outputs
    seeds: list[int] | None = None  # training seeds of seeded rows; None: the profile's dapo.seed only

    def training_seeds(self, profile: Profile) -> Seeds:
        """The seeds every seeded table row is trained with; checked against the profile's
        ``dapo.seed``, whose replicate is the plain result key."""
        try:
            return Seeds(profile.dapo.seed, tuple(self.seeds or [profile.dapo.seed]))
        except ConfigError as e:
            raise ConfigError(f"{RUNNER_YAML}: profiles.{profile.name}.seeds: {e}") from None


class OrderSweep(Strict):
    methods: list[str] = Field(min_length=1)


class RunnerConfig(Strict):
    defaults: ProfileSettings
    profiles: dict[str, dict] = Field(default_factory=dict)
    order_sweep: OrderSweep

    def for_profile(self, name: str) -> ProfileSettings:
        """Defaults overridden by the profile's entry (validated as a whole, so a typo fails here)."""
        merged = {**self.defaults.model_dump(), **self.profiles.get(name, {})}
        return validate(ProfileSettings, merged, RUNNER_YAML.with_name(f"runner.yaml#profiles.{name}"))


def load_runner_config(path: Path = RUNNER_YAML) -> RunnerConfig:
    return validate(RunnerConfig, read_yaml(path), path)


@dataclass(frozen=True)
class RunDirs:
    """The folders one run uses: linked results, rendered tables and figures, and the caches of stages
    and evaluations (shared by every run and target)."""

    results: Path
    tables: Path
    figures: Path
    stages: Path
    evals: Path

    @classmethod
    def of(
        cls,
        profile: str,
        settings: ProfileSettings,
        *,
        results: Path | None = None,
        tables: Path | None = None,
        figures: Path | None = None,
        stages: Path | None = None,
        evals: Path | None = None,
    ) -> RunDirs:
        """The profile's folders (runner.yaml ``outputs``, the cache), each overridable."""
        out = settings.outputs
        return cls(
            results=results or cache_dir() / "results" / profile,
            tables=tables or REPO_ROOT / out.tables.format(profile=profile),
            figures=figures or REPO_ROOT / out.figures.format(profile=profile),
            stages=stages or cache_dir() / "stages",
            evals=evals or cache_dir() / "eval",
        )

    def check_writable(self) -> None:
        """Every folder this run may write can be created and written: found now, before compute, not
        by the atomic writer at the end of a long run."""
        for name, path in vars(self).items():
            try:
                path.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
                    pass
            except OSError as e:
                raise ConfigError(f"cannot write the {name} folder {path}: {e.strerror or e}") from None
