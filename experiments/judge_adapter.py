"""The PA-GRM judge adapter a profile names (``judge.adapter``), as a prerequisite the runner plans.

A cold ``make table2`` on the ``cpu`` profile trains PA-GRM chat stages, which read the trained judge
LoRA. Without this module it would train the IF stage and the first cascades, then stop at the first
PA-GRM stage asking for ``make pagrm-sft``. Instead the runner asks here before any compute: when the
adapter is missing and the work needs it, a profile on the shipped mini data builds it the way
``make pagrm-traces pagrm-sft`` does (synthetic-teacher traces on the train side of the prompt split,
then LoRA-SFT with experiments/pagrm_sft.yaml); a profile on hub data fails at plan time, because its
teacher is an endpoint only the user can name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

from care_rl.config import ConfigError, Profile, cache_dir
from experiments.provenance import TIMING, ComputePart, add_timing, read_timing

log = logging.getLogger(__name__)

# rewards that never read the judge adapter: the verifiers, and the untrained base judge ("direct")
NO_ADAPTER_REWARDS = frozenset({"math", "if", "direct"})
TRACE_SOURCES = ("ultrafeedback", "helpsteer3")
TRACE_PAIRS = 10_000  # the paper's count; the mini sets hold fewer, so all their train-side pairs


def uses_adapter(rewards: Iterable[str]) -> bool:
    """Whether a stage with these reward (or monitor-reward) names scores with the trained judge."""
    return any(r not in NO_ADAPTER_REWARDS for r in rewards)


def variant_reads_adapter(variant: str) -> bool:
    """Whether a Table 6 row is scored by the profile's PA-GRM judge (its trained adapter): every
    variant but Direct (the untrained base judge) and PA-GRM-DS (a different, stronger judge)."""
    return variant not in ("direct", "pagrm_ds")


def adapter_path(profile: Profile) -> Path | None:
    """Where the profile's judge adapter lives (relative paths under the cache); None if it names none."""
    if profile.judge.adapter is None:
        return None
    path = Path(profile.judge.adapter)
    return path if path.is_absolute() else cache_dir() / path


def missing_adapter(profile: Profile) -> Path | None:
    """Where the profile's adapter should be when it names one that is not built yet, else None."""
    path = adapter_path(profile)
    return None if path is None or (path / "adapter_config.json").is_file() else path


def check_named(profile: Profile) -> None:
    """Fail before compute when work reads the trained judge and the profile names none (the base
    judge stands in only under ``deviations.untrained_pagrm_judge``)."""
    if profile.judge.adapter is None and not profile.deviations.untrained_pagrm_judge:
        from care_rl.judges.factory import pagrm_adapter  # (the model stack: only on this path)

        pagrm_adapter(profile)  # raises, naming the commands that build the adapter


def check_buildable(profile: Profile, path: Path) -> None:
    """Fail before compute when the missing adapter cannot be built without the user's teacher."""
    if profile.data.source != "mini":
        from care_rl.judges.factory import adapter_commands

        raise ConfigError(
            f"judge.adapter {profile.judge.adapter!r}: no PA-GRM adapter at {path}. On {profile.data.source} "
            f"data its traces come from a teacher endpoint: run {adapter_commands(profile.name)} first"
        )
    if path.name != "adapter":  # LoRA-SFT writes <out>/adapter
        raise ConfigError(f"judge.adapter {profile.judge.adapter!r}: the folder must be named 'adapter'")


def build_adapter(profile: Profile) -> Path:
    """Synthetic-teacher traces on the mini pairs (resumable), then LoRA-SFT; returns the adapter."""
    from care_rl.pagrm.trace import read_traces
    from care_rl.pagrm.training.collect_traces import collect, select_pairs
    from care_rl.pagrm.training.sft import load_sft_config, train
    from experiments.paths import PAGRM_SFT_YAML

    path = missing_adapter(profile)
    if path is None:
        raise ValueError(f"profile {profile.name!r} names no missing judge adapter")
    check_buildable(profile, path)
    start = time.monotonic()
    traces = path.parent / "traces.jsonl"  # beside the adapter; appended per pair, so resumable
    pairs = select_pairs(list(TRACE_SOURCES), "mini", TRACE_PAIRS, split="train")
    counts = collect(pairs, traces)
    log.info("PA-GRM traces %s: %s", traces, dict(counts))
    config = load_sft_config(PAGRM_SFT_YAML).for_profile(profile.name)
    adapter = train(read_traces(traces), profile, config, path.parent)
    add_timing(path.parent / TIMING, time.monotonic() - start)
    return adapter


def adapter_compute(profile: Profile) -> ComputePart:
    """The recorded cost of building the profile's judge adapter (traces + LoRA-SFT)."""
    path = adapter_path(profile)
    assert path is not None, f"profile {profile.name!r} names no judge adapter"
    return read_timing("judge adapter", path.parent / TIMING)
