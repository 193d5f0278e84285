"""Where the experiment files live: the one module that knows this repository's layout.

The library (``care_rl``, ``eval``) takes paths as arguments; commands that accept a profile or a
method by name resolve the name here. Where each profile's tables and figures go is data
(``outputs`` in experiments/runner.yaml): ``tables/`` and ``figures/`` are the committed outputs of the
``cpu`` profile.
"""

from __future__ import annotations

import os
from pathlib import Path

from care_rl.config import ConfigError, Profile, load_profile

REPO_ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS_DIR = REPO_ROOT / "experiments"
PROFILES_DIR = EXPERIMENTS_DIR / "profiles"
METHODS_DIR = EXPERIMENTS_DIR / "methods"
TABLE_SPECS_DIR = EXPERIMENTS_DIR / "tables"
ACCELERATE_DIR = EXPERIMENTS_DIR / "accelerate"
CHECKPOINTS_YAML = EXPERIMENTS_DIR / "checkpoints.yaml"
RUNNER_YAML = EXPERIMENTS_DIR / "runner.yaml"
PAGRM_SFT_YAML = EXPERIMENTS_DIR / "pagrm_sft.yaml"
TABLES_DIR = REPO_ROOT / "tables"
PAPER_TABLES_DIR = TABLES_DIR / "paper"
FIGURES_DIR = REPO_ROOT / "figures"
DEFAULT_PROFILE = "cpu"


def _named(folder: Path, kind: str, name: str) -> Path:
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"unknown {kind} {name!r}; known {kind}s: {known}")
    return path


def profile_path(name_or_path: str | None = None) -> Path:
    """A profile by name (``experiments/profiles/<name>.yaml``) or a YAML path; none given:
    ``$CARE_RL_PROFILE``, else ``cpu``."""
    name_or_path = name_or_path or os.environ.get("CARE_RL_PROFILE") or DEFAULT_PROFILE
    if Path(name_or_path).suffix in (".yaml", ".yml"):
        return Path(name_or_path)
    return _named(PROFILES_DIR, "profile", name_or_path)


def method_path(name: str) -> Path:
    """A training method by name: ``experiments/methods/<name>.yaml``."""
    return _named(METHODS_DIR, "method", name)


def load_named_profile(name_or_path: str | None = None, check_device: bool = True) -> Profile:
    """``care_rl.config.load_profile`` of the profile ``profile_path`` resolves."""
    return load_profile(profile_path(name_or_path), check_device)
