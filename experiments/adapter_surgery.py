"""Table 14's edited checkpoints: DACSP surgery applied to a single-domain run's LoRA adapter.

A layer is what ``dacsp.space`` says DACSP modulates: by default each LoRA module's weight, whose
update is s(B_ft A_ft - B_0 A_0) (care_rl/dacsp/lora.py), or with ``space: factor`` each factor
matrix; the update of a single-domain run is adapter_after - adapter_at_init. In layer space an
edit can need rank up to 2r (remove_random), so the edited adapter's ``r`` grows and ``lora_alpha``
with it, keeping the scale s = lora_alpha / r (/ sqrt(r) with rsLoRA) of the trained adapter.
The initial adapter is not saved by a stage; it is rebuilt exactly as the stage built it (seed the
RNG with the profile's DAPO seed, load the policy, wrap it with a fresh LoRA), so the task vector is
the one the stage's DACSP bank was computed from.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from care_rl.atomic import staged_dir
from care_rl.config import ConfigError, DacspSpec, Profile

if TYPE_CHECKING:  # edit_name is read by the runner's plan, before torch is imported
    from torch import Tensor

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def initial_adapter(profile: Profile) -> dict[str, Tensor]:
    """The fresh LoRA a cascade's first stage starts from, keyed as PEFT saves adapters."""
    from peft import get_peft_model, get_peft_model_state_dict
    from transformers import set_seed

    from care_rl.models import load_policy, lora_config

    set_seed(profile.dapo.seed)  # the same calls, in the same order, as care_rl.training.stage
    model, _ = load_policy(profile)
    peft = get_peft_model(model, lora_config(profile.lora))
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(peft).items()}


def read_adapter(adapter_dir: Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    path = adapter_dir / ADAPTER_WEIGHTS
    if not path.is_file():
        raise ConfigError(f"{adapter_dir}: no {ADAPTER_WEIGHTS} (not a saved PEFT adapter)")
    return load_file(str(path))


def trained_adapter(adapter_dir: Path, init: dict[str, Tensor]) -> dict[str, Tensor]:
    """A single-domain run's adapter, checked to hold the same tensors as the fresh LoRA it started from."""
    finetuned = read_adapter(adapter_dir)
    if set(finetuned) != set(init):
        raise ConfigError(
            f"{adapter_dir}: adapter tensors do not match the profile's fresh LoRA "
            f"(only in adapter: {sorted(set(finetuned) - set(init))[:3]}, "
            f"only in fresh LoRA: {sorted(set(init) - set(finetuned))[:3]})"
        )
    return finetuned


def edit_name(stage_key: str, edit: str, spec: DacspSpec, seed: int, rank: int | None = None) -> str:
    """A content name for one edited adapter: a function of exactly these inputs (factor-space edits
    keep the names they had before layer space existed). A fixed ``rank`` takes tau's place: the
    energy rule does not choose its directions."""
    space = "" if spec.space == "factor" else f"|{spec.space}"
    size = repr(spec.tau) if rank is None else f"k{rank}"
    digest = hashlib.sha256(f"{stage_key}|{edit}|{size}|{seed}{space}".encode()).hexdigest()[:12]
    return f"surgery-{edit}{'' if rank is None else f'-k{rank}'}-{digest}"


def resized_config(config: dict, rank: int, source: Path) -> dict:
    """The adapter config for factors of rank ``rank``, with the same scale s."""
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ConfigError(f"{source}: per-module rank_pattern / alpha_pattern are not supported by surgery")
    r = config["r"]
    growth = math.sqrt(rank / r) if config.get("use_rslora") else rank / r
    alpha = config["lora_alpha"] * growth
    return {**config, "r": rank, "lora_alpha": int(alpha) if float(alpha).is_integer() else alpha}


def write_edited_adapter(
    adapter_dir: Path,
    init: dict[str, Tensor],
    edit: str,
    spec: DacspSpec,
    seed: int,
    out_dir: Path,
    rank: int | None = None,
) -> Path:
    """Save init + edited(adapter - init) as a PEFT adapter folder (written whole, then renamed); ``rank``
    fixes the directions per layer instead of the energy rule."""
    from safetensors.torch import save_file

    from care_rl.dacsp.checkpoint_surgery import edit_checkpoint

    if (out_dir / ADAPTER_WEIGHTS).is_file():
        return out_dir
    finetuned = trained_adapter(adapter_dir, init)
    edited = edit_checkpoint(init, finetuned, edit, spec.tau, seed, spec.space, rank)  # type: ignore[arg-type]
    config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text())
    ranks = {v.shape[0] for k, v in edited.items() if ".lora_A." in k}
    if len(ranks) > 1:
        raise ConfigError(f"{adapter_dir}: edited LoRA factors of several ranks {sorted(ranks)}")
    if ranks and ranks != {config["r"]}:
        config = resized_config(config, ranks.pop(), adapter_dir)
    with staged_dir(out_dir) as tmp:
        save_file({k: v.contiguous() for k, v in edited.items()}, str(tmp / ADAPTER_WEIGHTS))
        (tmp / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))
    return out_dir


def update_energy(
    adapter_dir: Path, init: dict[str, Tensor], edit: str | None, spec: DacspSpec, rank: int | None = None
) -> float:
    """Percent of the single-domain update (adapter - init, in ``spec.space``) whose energy the edit
    keeps (care_rl.dacsp.checkpoint_surgery.edit_energy; None: the update itself, 100 unless it is
    zero): the energy side of the rank sweep."""
    from care_rl.dacsp.checkpoint_surgery import edit_energy

    finetuned = trained_adapter(adapter_dir, init)
    return 100.0 * edit_energy(init, finetuned, edit, spec.tau, spec.space, rank)  # type: ignore[arg-type]
