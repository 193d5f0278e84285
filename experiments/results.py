"""Reading evaluation outputs: the one place that knows the eval summary and per-sample schemas.

Every table, figure and bootstrap reads eval results only through ``load_summary`` and
``load_samples``, so a schema change is absorbed here. eval/checkpoint_eval.py writes, per checkpoint folder,
``summary.json`` (benchmark name -> row) and one per-item JSONL per benchmark::

    {"math500": {"label": "MATH", "mean": 61.2, "std": 0.54, "set_means": [60.8, ...], "n": 500,
                 "n_lost_to_decontam": 2, "n_missing": 0, "results_file": "math500.<hash>.jsonl"}, ...}
    math500.<hash>.jsonl: {"id": ..., "samples": [{"score": 100.0, ...}, ...]} per line

Scores are on the table scale (0-100). Tolerated variants: the map under "benchmarks"/"results",
benchmarks named by column (MATH, ...), ``"scale": "fraction"`` for [0, 1] scores, a ``null``
mean (benchmark not scored: left out), no ``set_means`` (domain-average stds then unknown).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from eval.benchmarks import column_names
from experiments.metrics import BENCHMARK_COLUMNS, JUDGE_COLUMNS

#: every name a results file may give a benchmark (benchmark, data set, alias) -> table column
BENCHMARK_IDS: dict[str, str] = column_names()
_COLUMN_BY_NAME = {**BENCHMARK_IDS, **{c.lower(): c for c in (*BENCHMARK_COLUMNS, *JUDGE_COLUMNS)}}
_SET_MEAN_KEYS = ("set_means", "per_set_means", "sample_set_means")
_SCALES = {"fraction": 100.0, "percent": 1.0}


class ResultsError(ValueError):
    """An evaluation output that cannot be read, named by file and field."""


@dataclass(frozen=True)
class BenchmarkResult:
    """One benchmark of one checkpoint, in percent."""

    mean: float
    std: float
    n: int | None
    n_lost_to_decontam: int | None
    n_missing: int | None
    set_means: tuple[float, ...] | None


def column_for(name: str, where: str) -> str:
    """The table column a benchmark name (dataset id or column) refers to."""
    column = _COLUMN_BY_NAME.get(name.strip().lower())
    if column is None:
        raise ResultsError(f"{where}: unknown benchmark {name!r}; known: {sorted(_COLUMN_BY_NAME)}")
    return column


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ResultsError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _count(entry: dict[str, Any], key: str, where: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ResultsError(f"{where}.{key}: expected a non-negative integer, got {value!r}")
    return value


def _benchmark_map(data: dict[str, Any]) -> dict[str, Any]:
    for key in ("benchmarks", "results"):
        if isinstance(data.get(key), dict):
            return data[key]
    return {k: v for k, v in data.items() if isinstance(v, dict) and "mean" in v}


def load_summary(path: str | Path) -> dict[str, BenchmarkResult]:
    """Read one checkpoint's eval summary into {table column: BenchmarkResult} (percent)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: eval summary not found") from None
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(data).__name__}")
    scale_name = data.get("scale", "percent")
    if scale_name not in _SCALES:
        raise ResultsError(f"{path}: scale {scale_name!r} is not one of {sorted(_SCALES)}")
    scale = _SCALES[scale_name]
    entries = _benchmark_map(data)
    if not entries:
        raise ResultsError(f"{path}: no benchmark results (expected a 'benchmarks' mapping)")
    out: dict[str, BenchmarkResult] = {}
    for name, entry in entries.items():
        where = f"{path}: benchmarks.{name}"
        column = column_for(name, where)
        if not isinstance(entry, dict) or "mean" not in entry:
            raise ResultsError(f"{where}: expected an object with 'mean', got {entry!r}")
        if entry["mean"] is None:  # the benchmark had no scored sample
            continue
        values = [_number(entry["mean"], f"{where}.mean")]
        set_key = next((k for k in _SET_MEAN_KEYS if k in entry), None)
        set_means = None
        if set_key is not None:
            raw = entry[set_key]
            if not isinstance(raw, list) or not raw:
                raise ResultsError(f"{where}.{set_key}: expected a non-empty list, got {raw!r}")
            set_means = [_number(v, f"{where}.{set_key}") for v in raw]
            values += set_means
        top = 100.0 / scale
        if not all(0.0 <= v <= top for v in values):
            raise ResultsError(
                f"{where}: scores {values} lie outside [0, {top:g}] (summary scale {scale_name!r})"
            )
        std = _number(entry["std"], f"{where}.std") if entry.get("std") is not None else float("nan")
        out[column] = BenchmarkResult(
            mean=values[0] * scale,
            std=std * scale,
            n=_count(entry, "n", where),
            n_lost_to_decontam=_count(entry, "n_lost_to_decontam", where),
            n_missing=_count(entry, "n_missing", where),
            set_means=tuple(v * scale for v in set_means) if set_means is not None else None,
        )
    return out


def load_samples(path: str | Path) -> pd.DataFrame:
    """Per-sample scores of one checkpoint, from its summary and the per-item files it names:
    a DataFrame with columns column, item, sample (index within the prompt), score (NaN = missing)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: cannot read eval summary: {e}") from None
    scale = _SCALES.get(data.get("scale", "percent"), 1.0)
    rows = []
    for name, entry in _benchmark_map(data).items():
        column = column_for(name, f"{path}: benchmarks.{name}")
        if not isinstance(entry, dict) or not entry.get("results_file"):
            raise ResultsError(f"{path}: benchmarks.{name} names no results_file")
        items = path.parent / entry["results_file"]
        if not items.is_file():
            raise ResultsError(f"{path}: benchmarks.{name}.results_file {items} not found")
        for lineno, line in enumerate(items.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{items}:{lineno}"
            try:
                record = json.loads(line)
                item, samples = str(record["id"]), record["samples"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                reason = f"no key {e.args[0]!r}" if isinstance(e, KeyError) else str(e)
                raise ResultsError(f"{where}: expected {{'id', 'samples': [...]}}: {reason}") from None
            for k, sample in enumerate(samples):
                score = sample.get("score") if isinstance(sample, dict) else None
                value = math.nan if score is None else _number(score, f"{where}.samples[{k}].score") * scale
                rows.append((column, item, k, value))
    if not rows:
        raise ResultsError(f"{path}: no per-sample rows")
    frame = pd.DataFrame(rows, columns=["column", "item", "sample", "score"])
    dup = frame.duplicated(["column", "item", "sample"])
    if dup.any():
        first = frame[dup].iloc[0]
        raise ResultsError(f"{path}: item {first['item']!r} of {first['column']} appears twice")
    return frame
