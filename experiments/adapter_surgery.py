"""Table 14's edited checkpoints: DACSP surgery applied to a single-domain run's LoRA adapter.

The layers are the LoRA factor matrices (every A and B), the layer definition DACSP itself uses
(care_rl/dacsp/stages.py), and the update of a single-domain run is adapter_after - adapter_at_init.
The initial adapter is not saved by a stage; it is rebuilt exactly as the stage built it (seed the
RNG with the profile's DAPO seed, load the policy, wrap it with a fresh LoRA), so the task vector is
the one the stage's DACSP bank was computed from.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from care_rl.config import ConfigError, Profile

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


def edit_name(stage_key: str, edit: str, tau: float, seed: int) -> str:
    """A content name for one edited adapter: it is a function of exactly these inputs."""
    digest = hashlib.sha256(f"{stage_key}|{edit}|{tau!r}|{seed}".encode()).hexdigest()[:12]
    return f"surgery-{edit}-{digest}"


def write_edited_adapter(
    adapter_dir: Path, init: dict[str, Tensor], edit: str, tau: float, seed: int, out_dir: Path
) -> Path:
    """Save init + edited(adapter - init) as a PEFT adapter folder (written whole, then renamed)."""
    from safetensors.torch import save_file

    from care_rl.dacsp.checkpoint_surgery import edit_checkpoint

    if (out_dir / ADAPTER_WEIGHTS).is_file():
        return out_dir
    finetuned = read_adapter(adapter_dir)
    if set(finetuned) != set(init):
        raise ConfigError(
            f"{adapter_dir}: adapter tensors do not match the profile's fresh LoRA "
            f"(only in adapter: {sorted(set(finetuned) - set(init))[:3]}, "
            f"only in fresh LoRA: {sorted(set(init) - set(finetuned))[:3]})"
        )
    edited = edit_checkpoint(init, finetuned, edit, tau, seed)  # type: ignore[arg-type]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        save_file({k: v.contiguous() for k, v in edited.items()}, str(tmp / ADAPTER_WEIGHTS))
        shutil.copy2(adapter_dir / ADAPTER_CONFIG, tmp / ADAPTER_CONFIG)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir
