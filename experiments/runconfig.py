"""The runner's own settings (experiments/runner.yaml): plan-cost estimates, Table 6 sizes, which
appendix tables a profile's model gets, the PA-GRM-DS judge, and the order-sweep methods.

Kept out of the profiles because profiles are a strict schema shared by training and evaluation; these
values change nothing a stage or an eval computes, only what the runner schedules and estimates.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from care_rl.config import JudgeSpec, Strict, read_yaml, validate
from experiments.paths import RUNNER_YAML


class ProfileSettings(Strict):
    seconds_per_step: float = Field(gt=0)
    seconds_per_eval_sample: float = Field(gt=0)
    seconds_judge_adapter: float = Field(0.0, ge=0)
    judge_items: int = Field(gt=0)
    judge_seed: int
    surgery_seed: int
    expanded: list[str] = Field(min_length=1)
    judge_ds: JudgeSpec | None = None


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
