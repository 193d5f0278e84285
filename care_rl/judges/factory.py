"""Build the judge a ``JudgeSpec`` describes; profiles choose judges by values, never by code branches."""

from __future__ import annotations

from pathlib import Path

from care_rl.config import ConfigError, JudgeSpec, ModelSpec, Profile, cache_dir
from care_rl.judges.base import JudgeBackend
from care_rl.judges.local import LocalBackend
from care_rl.judges.openai_backend import OpenAIBackend


def build_backend(
    spec: JudgeSpec,
    *,
    tokenizer_spec: ModelSpec | None = None,
    adapter_path: str | Path | None = None,
    batch_size: int | None = None,
) -> JudgeBackend:
    """A backend for ``spec``.

    ``tokenizer_spec`` is needed only when the judge model is ``random`` (the smoke profile: it borrows
    the profile's tokenizer). ``adapter_path`` applies a trained PA-GRM LoRA to a local judge.
    For a local judge the batch size defaults to ``max_concurrency`` (requests in flight at once).
    """
    if spec.backend == "openai":
        if adapter_path is not None:
            raise ValueError(
                "adapter_path applies to local judges; serve the adapter with the endpoint instead"
            )
        return OpenAIBackend(
            base_url=spec.endpoint_url(),
            model_name=str(spec.model_name),
            api_key_env=spec.api_key_env,
            max_new_tokens=spec.max_new_tokens,
            temperature=spec.temperature,
            timeout_s=spec.timeout_s,
            max_retries=spec.max_retries,
            max_concurrency=spec.max_concurrency,
        )
    from care_rl.models import load_model, load_tokenizer

    assert spec.model is not None  # JudgeSpec validation guarantees it for local judges
    tokenizer = load_tokenizer(spec.tokenizer or tokenizer_spec or spec.model)
    model = load_model(spec.model, tokenizer)
    if adapter_path is not None:
        model = LocalBackend.with_adapter(model, adapter_path)
    return LocalBackend(
        model,
        tokenizer,
        name=spec.model.name_or_path + (f"+{Path(adapter_path).name}" if adapter_path else ""),
        max_new_tokens=spec.max_new_tokens,
        temperature=spec.temperature,
        batch_size=batch_size or spec.max_concurrency,
        seed=spec.model.seed,
        scoring=spec.scoring,
    )


def judge_adapter(spec: JudgeSpec) -> Path | None:
    """The trained PA-GRM LoRA a profile names (relative paths live in the cache), checked to exist."""
    if spec.adapter is None:
        return None
    path = Path(spec.adapter)
    path = path if path.is_absolute() else cache_dir() / path
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(
            f"judge.adapter {spec.adapter!r}: no PA-GRM adapter at {path}; train it first with "
            "`make pagrm-sft` (same PROFILE)"
        )
    return path


def pagrm_adapter(profile: Profile) -> Path | None:
    """The trained PA-GRM LoRA every PA-GRM stage and Table 6 row scores with (the paper: "PA-GRM based
    on Qwen3-8B is LoRA-SFT trained on DeepSeek-V4-Pro trajectories").

    ``None`` -- the untrained base judge -- only when the profile names
    ``deviations.untrained_pagrm_judge`` and no adapter; otherwise a profile without ``judge.adapter``,
    or whose adapter is not built, is a ConfigError naming the commands that build it.
    """
    if profile.judge.adapter is None:
        if profile.deviations.untrained_pagrm_judge:
            return None
        raise ConfigError(
            f"profile {profile.name!r}: PA-GRM needs its trained judge and judge.adapter is not set. Build "
            f"it with {adapter_commands(profile.name)}, and set judge.adapter: pagrm/{profile.name}/adapter "
            "(where pagrm-sft writes it); or set deviations.untrained_pagrm_judge: true to run PA-GRM on "
            "the base judge"
        )
    return judge_adapter(profile.judge)


def adapter_commands(profile_name: str) -> str:
    """The two commands that build a profile's PA-GRM adapter from a teacher endpoint (paper scale)."""
    return (
        f'`make pagrm-traces PROFILE={profile_name} TRACES_ARGS="--data hub --teacher endpoint '
        f'--base-url URL --model NAME --api-key-env VAR"` then `make pagrm-sft PROFILE={profile_name}`'
    )
