"""The eval-summary reader: the fixture schema, its tolerated variants, and clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from experiments.metrics import BENCHMARK_COLUMNS
from experiments.results import ResultsError, load_samples, load_summary

FIXTURES = Path(__file__).parent / "fixtures" / "results"


def write(tmp_path: Path, data: object, name: str = "s.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_fixture_summary_reads_in_percent():
    res = load_summary(FIXTURES / "base" / "summary.json")
    assert set(res) == set(BENCHMARK_COLUMNS)
    assert res["MATH"].mean == pytest.approx(68.4)
    assert res["AIME"].std == pytest.approx(3.19)
    assert res["AIME"].n == 30 and res["MATH"].n_lost_to_decontam == 1
    assert res["GSM"].set_means is not None and len(res["GSM"].set_means) == 4


def test_tolerated_variants(tmp_path):
    """Percent scale, column names as keys, benchmark map at the top level, no std or set means."""
    res = load_summary(
        write(tmp_path, {"scale": "percent", "MATH": {"mean": 61.0}, "ifeval": {"mean": 40, "std": 1}})
    )
    assert res["MATH"].mean == 61.0 and res["IFE"].std == 1.0
    assert res["MATH"].set_means is None and res["MATH"].n is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"scale": "fraction", "benchmarks": {"math500": {"mean": 61.0}}}, "outside [0, 1]"),
        ({"math500": {"mean": 101.0}}, "outside [0, 100]"),
        ({"benchmarks": {"mmlu": {"mean": 0.5}}}, "unknown benchmark 'mmlu'"),
        ({"benchmarks": {"gsm8k": {"mean": "high"}}}, "benchmarks.gsm8k.mean"),
        ({"benchmarks": {"gsm8k": {"mean": 0.5, "n": -1}}}, "benchmarks.gsm8k.n"),
        ({"benchmarks": {"gsm8k": {"mean": 0.5, "set_means": []}}}, "set_means"),
        ({"scale": "permille", "benchmarks": {"gsm8k": {"mean": 0.5}}}, "scale 'permille'"),
        ({"checkpoint": "x"}, "no benchmark results"),
    ],
)
def test_bad_summaries_name_file_and_field(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(ResultsError, match=re.escape(message)) as info:
        load_summary(path)
    assert str(path) in str(info.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ResultsError, match="not found"):
        load_summary(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ResultsError, match="not valid JSON"):
        load_summary(bad)


def write_checkpoint(folder: Path, scores: dict[str, dict[str, list[float | None]]]) -> Path:
    """A checkpoint folder in eval/checkpoint_eval.py's layout: summary.json + one per-item JSONL per benchmark."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = {}
    for bench, items in scores.items():
        lines = [
            json.dumps({"id": i, "samples": [{"score": s, "completion": "x"} for s in ss]})
            for i, ss in items.items()
        ]
        (folder / f"{bench}.abc.jsonl").write_text("\n".join(lines) + "\n")
        summary[bench] = {"mean": 50.0, "std": 1.0, "results_file": f"{bench}.abc.jsonl"}
    path = folder / "summary.json"
    path.write_text(json.dumps(summary))
    return path


def test_samples_reader(tmp_path):
    path = write_checkpoint(
        tmp_path / "ck", {"gsm8k": {"7": [100.0, 0.0, None, 100.0]}, "ifeval": {"a": [0, 0, 0, 0]}}
    )
    frame = load_samples(path)
    assert list(frame.columns) == ["column", "item", "sample", "score"]
    gsm = frame[frame["column"] == "GSM"]
    assert gsm["sample"].tolist() == [0, 1, 2, 3] and gsm["score"].isna().tolist() == [
        False,
        False,
        True,
        False,
    ]
    assert set(frame["column"]) == {"GSM", "IFE"} and len(frame) == 8


def test_samples_reader_errors(tmp_path):
    path = write_checkpoint(tmp_path / "ck", {"gsm8k": {"7": [1.0]}})
    (tmp_path / "ck" / "gsm8k.abc.jsonl").write_text(json.dumps({"id": 1}) + "\n")
    with pytest.raises(ResultsError, match=r"gsm8k.abc.jsonl:1: expected .*: no key 'samples'$"):
        load_samples(path)
    (tmp_path / "ck" / "gsm8k.abc.jsonl").unlink()
    with pytest.raises(ResultsError, match=r"results_file .* not found"):
        load_samples(path)
