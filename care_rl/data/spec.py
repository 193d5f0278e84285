"""What a dataset is to the loaders: where it lives (hub id/split, shipped mini file), the top-level
columns its rows carry (the real schema, checked on every row), and how one row becomes records.

One spec per dataset keeps the hub and the mini path on the same ``to_records`` function, so the
shipped stand-ins exercise exactly the mapping the paper-scale run uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from care_rl.config import ConfigError

Kind = Literal["train", "eval", "judge", "pairs"]
Origin = Literal["mini", "hub"]
ORIGINS: tuple[str, ...] = ("mini", "hub")
MINI_DIR = Path(__file__).resolve().parent / "mini"
# Validation stand-ins of the mini training sets (scripts/make_mini_data.py): the interference
# monitor's held-out prompts when a profile's n takes a whole mini pool (care_rl.data.loaders.load_heldout).
HELDOUT_DIR = MINI_DIR / "heldout"

Row = dict[str, Any]
# A column's declared Python type(s) as they appear in a row; ``None`` in the tuple means nullable.
ColumnType = type | tuple[type | None, ...]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset. ``columns`` is the real row schema (top-level key -> type); ``to_records`` maps one
    row to zero or more records (UltraFeedback/HelpSteer3 rows hold several responses)."""

    name: str
    kind: Kind
    hub_id: str
    hub_split: str
    mini_file: str
    columns: Mapping[str, ColumnType]
    to_records: Callable[[Row], Sequence[Any]]
    hub_config: str | None = None
    hub_data_files: str | None = None
    # For data that is not one hub table (CW3: a prompt JSON plus criteria lists); (spec, origin) -> rows.
    reader: Callable[[DatasetSpec, Origin], list[Row]] | None = None

    @property
    def mini_path(self) -> Path:
        return MINI_DIR / self.mini_file


def check_origin(source: str) -> Origin:
    """Fail early, naming the bad value, when a data source is neither 'mini' nor 'hub'."""
    if source not in ORIGINS:
        raise ConfigError(f"unknown data source {source!r}; expected one of {list(ORIGINS)}")
    return source  # type: ignore[return-value]


def check_row(spec: DatasetSpec, row: Row, where: str) -> None:
    """A row missing a declared column means the upstream schema changed: say which, where."""
    missing = [k for k in spec.columns if k not in row]
    if missing:
        raise ConfigError(f"{where}: dataset {spec.name!r} row lacks column(s) {missing}; got {sorted(row)}")


def content_id(prefix: str, *parts: str) -> str:
    """A row id from the row's own text, for datasets without one (GSM8K, RLVR-IFeval, UltraFeedback):
    stable under reordering and re-downloads, unlike a row index."""
    import hashlib

    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"{prefix}-{digest}"
