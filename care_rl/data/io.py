"""Reading rows: the shipped mini files (plain JSON/JSONL, byte-for-byte what the generator wrote)
and the hub (``datasets.load_dataset``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from care_rl.config import ConfigError, cache_dir
from care_rl.data.spec import DatasetSpec, Origin, Row, check_row

log = logging.getLogger(__name__)


def read_json_file(path: Path) -> Any:
    """Parse a .json or .jsonl file, naming the path (and line) on a missing or malformed file."""
    if not path.is_file():
        raise ConfigError(f"{path}: data file not found (run scripts/make_mini_data.py to regenerate minis)")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        rows = []
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}:{i}: malformed JSON line: {e}") from e
        return rows
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: malformed JSON: {e}") from e


def local_hub_file(spec: DatasetSpec) -> Path:
    """Where a local copy of a hub dataset would be: ``<cache>/datasets/<hub id>[/<config>]/<file>``,
    the file being the spec's ``hub_data_files`` or ``<split>.jsonl``."""
    folder = cache_dir() / "datasets" / spec.hub_id / (spec.hub_config or "")
    return folder / (spec.hub_data_files or f"{spec.hub_split}.jsonl")


def hub_rows(spec: DatasetSpec) -> list[Row]:
    """The real dataset through ``datasets`` (network or local HF cache). A local copy in the hub's
    schema (``local_hub_file``: an offline machine's export, or the dry run's minis) is read instead,
    by ``datasets`` too, so its rows come back typed as Arrow types them (nulls filled in structs)."""
    import datasets

    local = local_hub_file(spec)
    if local.is_file():
        log.info("dataset %s: reading the local copy %s", spec.hub_id, local)
        ds = datasets.load_dataset("json", data_files=str(local), split="train")
    else:
        ds = datasets.load_dataset(
            spec.hub_id, spec.hub_config, split=spec.hub_split, data_files=spec.hub_data_files
        )
    return ds.to_list()


def read_rows(spec: DatasetSpec, source: Origin) -> list[Row]:
    """Raw rows of one dataset from the chosen origin, each checked against the declared columns."""
    if spec.reader is not None:
        rows, where = spec.reader(spec, source), f"{spec.name} ({source})"
    elif source == "hub":
        rows, where = hub_rows(spec), f"hub:{spec.hub_id}[{spec.hub_split}]"
    else:
        rows, where = read_json_file(spec.mini_path), str(spec.mini_path)
        if not isinstance(rows, list):
            raise ConfigError(f"{where}: expected a list of rows, got {type(rows).__name__}")
    for row in rows:
        check_row(spec, row, where)
    return rows


def dumps_jsonl(rows: list[Row]) -> str:
    """One compact JSON object per line, key order preserved (the real files' column order)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
