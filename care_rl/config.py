"""Typed, strict configuration: profiles and experiments are YAML, validated before compute starts.

A profile only sets values (model, data sizes, generation lengths, DACSP coefficients); code never
branches on a profile's name. Every YAML file is validated against the pydantic models below with
``extra="forbid"``, so an unknown key, a wrong type or a missing required field fails immediately
with an error that names the file and the dotted key path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

REPO_ROOT = Path(__file__).resolve().parent.parent
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${VAR} in an endpoint's base_url
DOMAINS = ("if", "chat", "math")


class ConfigError(ValueError):
    """A configuration problem, reported with the file and the key that caused it."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(Strict):
    """Where the weights come from.

    source:
      hub        -- ``name_or_path`` is a hub id (or a local directory) read by ``from_pretrained``.
      gguf_wheel -- ``name_or_path`` is an installed Python package whose folder carries ``gguf_file``;
                    it is de-quantised once and cached as safetensors (see care_rl/models.py).
      random     -- a seeded, randomly initialised Llama built from ``random_config``; the tokenizer
                    comes from ``tokenizer_from`` (another ModelSpec source, by profile).
    """

    source: Literal["hub", "gguf_wheel", "random"]
    name_or_path: str
    gguf_file: str | None = None
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    load_in_4bit: bool = False
    random_config: dict[str, Any] | None = None
    seed: int = 42
    # Replaces the tokenizer's chat template (Jinja), e.g. to drop a default system turn the paper's
    # models do not have; None keeps the tokenizer's own. Applies wherever this spec's tokenizer renders
    # a conversation (rollouts, evaluation, the monitor), so training and evaluation see the same prompt.
    chat_template: str | None = None

    def identity(self) -> str:
        """Which weights these are, independent of how they are loaded (dtype, 4-bit): what a DACSP
        bank is bound to. Random weights are named by their config and seed."""
        if self.source == "random":
            config = json.dumps(self.random_config, sort_keys=True)
            return f"random:{self.name_or_path}:seed={self.seed}:{hashlib.sha256(config.encode()).hexdigest()[:12]}"
        return f"{self.source}:{self.name_or_path}" + (f":{self.gguf_file}" if self.gguf_file else "")

    @model_validator(mode="after")
    def _source_fields(self) -> ModelSpec:
        if self.source == "gguf_wheel" and not self.gguf_file:
            raise ValueError("source 'gguf_wheel' needs 'gguf_file'")
        if self.source == "random" and not self.random_config:
            raise ValueError("source 'random' needs 'random_config' (LlamaConfig fields)")
        return self


class LoraSpec(Strict):
    r: int = Field(16, gt=0)
    alpha: int = Field(32, gt=0)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"


class DataSpec(Strict):
    """Training data: ``mini`` reads the shipped stand-in files, ``hub`` the real datasets."""

    source: Literal["mini", "hub"]
    prompts_per_domain: int = Field(gt=0)
    seed: int = 42


class StageSpec(Strict):
    """Per-domain DAPO settings (the paper's per-stage G and max tokens did not survive extraction)."""

    num_generations: int = Field(gt=1)
    max_completion_length: int = Field(gt=0)
    max_steps: int = Field(-1, ge=-1)  # -1: one epoch over the stage's prompts
    learning_rate: float = Field(gt=0)
    # Prompt groups in one optimizer step, over all processes: one generation round (plus its
    # dynamic-sampling refills) per step; see care_rl/training/dapo.py for the geometry.
    prompts_per_step: int = Field(gt=0)


class DapoSpec(Strict):
    epsilon_low: float = Field(0.2, gt=0)
    epsilon_high: float = Field(0.28, gt=0)
    beta_kl: float = Field(0.0, ge=0)
    # Micro batches per optimizer step of a MOPD distillation stage (care_rl/training/mopd.py). A DAPO
    # stage derives its own from stages.*.prompts_per_step, per_device_batch_size and the process count.
    gradient_accumulation_steps: int = Field(8, gt=0)
    per_device_batch_size: int = Field(1, gt=0)  # prompt groups per micro batch
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    overlong_buffer: int = Field(0, ge=0)
    mask_truncated_completions: bool = True
    gradient_checkpointing: bool = False  # trades ~30% more compute for memory; on for the paper profiles
    # DAPO dynamic sampling (verl's algorithm.filter_groups): drop prompt groups without reward variance
    # and generate more rounds until the step is full, at most max_generation_rounds rounds per step
    # (verl's max_num_gen_batches). Each round samples oversampling x the groups still needed (verl's
    # gen_batch_size / train_batch_size; surplus informative groups are dropped, as verl drops them).
    # If rounds run out: "error" stops the run as verl does; "partial" takes the step on the informative
    # groups found (logged), and skips the optimizer step if there are none.
    dynamic_sampling: bool = True
    max_generation_rounds: int = Field(10, ge=1)
    oversampling: int = Field(1, ge=1)
    when_rounds_run_out: Literal["error", "partial"] = "error"
    # Learning rate: linear warmup over warmup_steps optimizer steps, then constant (verl's default
    # schedule, which DAPO's recipe uses with 10 warmup steps); "linear" is HF's decay to zero.
    lr_schedule: Literal["constant", "linear"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    seed: int = 42


class DacspSpec(Strict):
    """Every DACSP setting, as one object from the profile (with a stage's overrides applied, see
    ``StageRun.dacsp_spec``) through the trainer to the optimizer hook (care_rl/dacsp/README.md).

    tau: energy threshold of the capability directions (§3.2.1); tol: QR rank tolerance (§3.2.2);
    alpha / beta: gains of the aligned / opposing components (§3.2.3); backend: how a basis is held;
    space: what a LoRA "layer" is, ``layer`` = the module's weight W = W_0 + s·B·A as the paper defines
    it, ``factor`` = each LoRA factor matrix on its own (kept for comparison; care_rl/dacsp/lora.py).
    """

    tau: float = Field(0.9, gt=0, le=1)
    alpha: float = Field(1.2, ge=0, allow_inf_nan=False)
    beta: float = Field(0.5, ge=0, allow_inf_nan=False)
    tol: float = Field(1e-6, gt=0)
    backend: Literal["materialized", "factored"] = "factored"  # identical results, O(K(m+n)) memory
    space: Literal["layer", "factor"] = "layer"


class MopdSpec(Strict):
    """MOPD's choice of teachers (care_rl.training.mopd.best_checkpoints): a later checkpoint replaces an
    earlier one as a domain's teacher only if its held-out score is higher by more than ``tolerance``.
    No default: it follows from the held-out set's size and the rewards' spread (see the profiles)."""

    tolerance: float = Field(ge=0)


class EvalSpec(Strict):
    samples_per_prompt: int = Field(4, gt=0)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    cap: int = Field(500, gt=0)
    # Per-benchmark caps below ``cap`` (benchmark name -> items; names checked in eval.suite). The cpu
    # profile spends its prompts where the scores can move: the verifiable benchmarks get many, the
    # chat benchmarks (scored by a judge at chance, and 18 criteria per CW3 response) few.
    caps: dict[str, int] = Field(default_factory=dict)
    max_new_tokens: int = Field(gt=0)
    batch_size: int = Field(32, gt=0)
    seed: int = 42

    @field_validator("caps")
    @classmethod
    def _positive_caps(cls, caps: dict[str, int]) -> dict[str, int]:
        bad = {name: n for name, n in caps.items() if n <= 0}
        if bad:
            raise ValueError(f"caps must be positive item counts; got {bad}")
        return caps

    def cap_for(self, benchmark: str) -> int:
        """How many items of ``benchmark`` are evaluated: its own cap if set (never above ``cap``)."""
        return min(self.cap, self.caps.get(benchmark, self.cap))


class JudgeSpec(Strict):
    """A judge is a local transformers model or an OpenAI-compatible endpoint (key read from env)."""

    backend: Literal["local", "openai"]
    model: ModelSpec | None = None
    tokenizer: ModelSpec | None = None  # for random judge models (smoke): whose tokenizer to use
    adapter: str | None = None  # PA-GRM LoRA (relative to the cache dir, or absolute); not used by 'direct'
    base_url: str | None = None
    model_name: str | None = None
    api_key_env: str | None = None
    max_new_tokens: int = Field(512, gt=0)
    temperature: float = Field(0.0, ge=0)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(3, ge=0)
    max_concurrency: int = Field(8, gt=0)
    # generate: write a verdict and parse it; expected_rating: probability-weighted rating read from the
    # next-token distribution (small local judges rarely follow output formats; see eval/README.md)
    scoring: Literal["generate", "expected_rating"] = "generate"

    def endpoint_url(self) -> str:
        """``base_url`` with every ``${VAR}`` replaced by that environment variable, so a profile can name
        a deployment's address (a local server, a gateway) without writing it into YAML; an unset
        variable is a ConfigError naming it."""
        url = str(self.base_url)
        unset = sorted({v for v in _ENV_REFERENCE.findall(url) if not os.environ.get(v)})
        if unset:
            raise ConfigError(
                f"judge {self.model_name!r}: base_url {url!r} names unset environment variable(s) {unset}"
            )
        return _ENV_REFERENCE.sub(lambda match: os.environ[match.group(1)], url)

    def identity(self) -> str:
        """Which judge this is, apart from how it is called: a local model's weights (its ``adapter``
        aside: the base judge) or an endpoint's model name and URL."""
        if self.backend == "local":
            assert self.model is not None  # validated
            return f"local:{self.model.identity()}"
        return f"openai:{self.model_name}@{self.base_url}"

    @model_validator(mode="after")
    def _backend_fields(self) -> JudgeSpec:
        if self.backend == "local" and self.model is None:
            raise ValueError("backend 'local' needs 'model'")
        if self.backend == "openai" and not (self.base_url and self.model_name):
            raise ValueError("backend 'openai' needs 'base_url' and 'model_name'")
        if self.scoring == "expected_rating" and self.backend != "local":
            raise ValueError(
                f"scoring 'expected_rating' reads next-token probabilities and needs backend 'local', "
                f"got {self.backend!r} (chat endpoints return text, not the distribution over rating tokens)"
            )
        return self


class Deviations(Strict):
    """Departures from the paper a profile takes on knowingly. Each is refused unless named here, and
    the tables it touches say so (experiments/fidelity.py). Paper profiles name none.

    untrained_pagrm_judge: PA-GRM stages and Table 6 rows may run on the judge without its LoRA-SFT
      (no ``judge.adapter``); those rows are labelled "(untrained judge)".
    chat_eval_by_training_judge: chat benchmarks may be scored by the training judge's model (no
      ``eval_judges``, or an evaluation judge with the training judge's weights) instead of the paper's
      panel; table captions then say that the evaluation judge is the baselines' training judge.
    """

    untrained_pagrm_judge: bool = False
    chat_eval_by_training_judge: bool = False


class Profile(Strict):
    name: str
    description: str
    device: Literal["cpu", "cuda"]
    generation_backend: Literal["transformers", "vllm"] = "transformers"
    policy: ModelSpec
    tokenizer: ModelSpec | None = None
    lora: LoraSpec = LoraSpec()
    data: DataSpec
    dapo: DapoSpec = DapoSpec()
    stages: dict[str, StageSpec]
    dacsp: DacspSpec = DacspSpec()
    mopd: MopdSpec
    eval: EvalSpec
    judge: JudgeSpec
    eval_judges: list[JudgeSpec] = Field(default_factory=list)
    deviations: Deviations = Deviations()

    @property
    def prompt_format(self) -> str | None:
        """The chat template this profile puts in place of its policy tokenizer's own (None: the
        tokenizer's own, which the model fixes). It changes every prompt the policy sees, so
        evaluation results are keyed by it (eval/checkpoint_eval.py ``config_hash``)."""
        return (self.tokenizer or self.policy).chat_template

    @field_validator("stages")
    @classmethod
    def _known_domains(cls, stages: dict[str, StageSpec]) -> dict[str, StageSpec]:
        unknown = sorted(set(stages) - set(DOMAINS))
        if unknown:
            raise ValueError(f"unknown domain(s) {unknown}; expected a subset of {list(DOMAINS)}")
        return stages


def _format_validation_error(err: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid configuration"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        lines.append(f"  {loc}: {e['msg']} (got {e.get('input')!r})"[:400])
    return "\n".join(lines)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, failing with the file name on a missing file or malformed YAML."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: malformed YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def validate(model: type[BaseModel], data: dict[str, Any], path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, path)) from None


def load_profile(path: str | Path, check_device: bool = True) -> Profile:
    """Load and validate the profile at ``path`` (a profile by name: ``experiments.paths``).

    With ``check_device`` a profile that needs a GPU fails on a machine without one, in one
    sentence, before anything is downloaded.
    """
    path = Path(path)
    profile: Profile = validate(Profile, read_yaml(path), path)
    if check_device and profile.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"profile {profile.name!r} ({path}) needs a CUDA GPU and none is visible on this machine; "
                "use PROFILE=cpu or PROFILE=smoke here."
            )
    return profile


def cache_dir() -> Path:
    """Where stage outputs, eval results and judge adapters live (never in git); converted models have
    their own cache (care_rl.models.models_dir)."""
    return Path(os.environ.get("CARE_RL_CACHE", REPO_ROOT / ".cache"))
