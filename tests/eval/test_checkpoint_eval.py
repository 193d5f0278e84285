"""Per-batch caching: a second call regenerates nothing; a crash loses only the batch in flight."""

from __future__ import annotations

import dataclasses
import json

import pytest

from care_rl.config import EvalSpec
from eval.benchmarks import BENCHMARKS
from eval.checkpoint_eval import config_hash, evaluate_benchmark, evaluate_suite
from eval.suite import SuiteEntry
from tests.eval.conftest import ScriptedGenerator, math_item

SPEC = EvalSpec(samples_per_prompt=4, max_new_tokens=8, batch_size=8, seed=3)  # 2 prompts per batch


def _reply(text: str, j: int, seed: int) -> str:
    """Prompt i is solved by its first (i % 4) samples; the seed is echoed so tests can see it."""
    i = int(text.split()[1])
    return f"\\boxed{{{i}}} s{seed}" if j < i % 4 else f"\\boxed{{-1}} s{seed}"


@pytest.fixture()
def entry() -> SuiteEntry:
    return SuiteEntry(BENCHMARKS["gsm8k"], [math_item(i, str(i)) for i in range(7)], n_lost_to_decontam=2)


def test_summary_is_avg_at_4_of_scripted_scores(entry, tmp_path):
    row = evaluate_benchmark(entry, ScriptedGenerator(_reply), [], SPEC, tmp_path / "r.jsonl", progress=False)
    # prompt i solved by i % 4 samples; set j solves prompts with i % 4 > j, over i = 0..6
    set_means = [100 * sum(i % 4 > j for i in range(7)) / 7 for j in range(4)]
    assert row["set_means"] == pytest.approx(set_means)
    assert row["mean"] == pytest.approx(100 * sum(i % 4 for i in range(7)) / 28)
    assert (row["n"], row["k"], row["n_lost_to_decontam"], row["n_missing"]) == (7, 4, 2, 0)


def test_unscorable_samples_are_counted_per_benchmark_with_reasons(tmp_path):
    """An item whose gold cannot be parsed: the run finishes, its samples are missing (out of the
    mean), and the summary counts them under their reason; scorable runs report zero."""
    items = [math_item(0, "0"), math_item(1, "\\boxed{}")]
    entry = SuiteEntry(BENCHMARKS["gsm8k"], items, n_lost_to_decontam=0)
    reply = ScriptedGenerator(lambda text, j, seed: "\\boxed{0}")
    row = evaluate_benchmark(entry, reply, [], SPEC, tmp_path / "r.jsonl", progress=False)
    assert row["unscorable"] == 4
    assert row["unscorable_reasons"] == {"math gold cannot be parsed by math-verify": 4}
    assert (row["mean"], row["n_missing"]) == (100.0, 4)
    clean = evaluate_benchmark(
        entry.__class__(entry.benchmark, items[:1], 0), reply, [], SPEC, tmp_path / "c.jsonl", progress=False
    )
    assert (clean["unscorable"], clean["unscorable_reasons"]) == (0, {})


def test_second_call_is_a_cache_hit(entry, tmp_path):
    path = tmp_path / "r.jsonl"
    first = evaluate_benchmark(entry, ScriptedGenerator(_reply), [], SPEC, path, progress=False)
    again = ScriptedGenerator(_reply)
    second = evaluate_benchmark(entry, again, [], SPEC, path, progress=False)
    assert again.calls == [] and second == first
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 7 and all(len(r["samples"]) == 4 for r in records)
    assert {"completion", "n_tokens", "score", "detail"} <= set(records[0]["samples"][0])


def test_resume_after_crash_loses_only_the_batch_in_flight(entry, tmp_path):
    clean = evaluate_benchmark(
        entry, ScriptedGenerator(_reply), [], SPEC, tmp_path / "clean.jsonl", progress=False
    )
    path = tmp_path / "r.jsonl"
    crashing = ScriptedGenerator(_reply, crash_on=3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        evaluate_benchmark(entry, crashing, [], SPEC, path, progress=False)
    saved = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(saved) == 4  # batches 1 and 2 (2 prompts each) persisted
    resumed = ScriptedGenerator(_reply)
    row = evaluate_benchmark(entry, resumed, [], SPEC, path, progress=False)
    assert len(resumed.calls) == 2  # the 3rd and 4th batches only (2 + 1 prompts)
    assert row == clean  # same seeds per batch: identical to an uninterrupted run
    assert (tmp_path / "clean.jsonl").read_text() == path.read_text()


def test_config_hash_tracks_what_changes_numbers(entry):
    h = config_hash(entry.benchmark, entry.items, SPEC, [])
    assert h == config_hash(entry.benchmark, entry.items, SPEC, [])
    assert h != config_hash(entry.benchmark, entry.items, SPEC.model_copy(update={"top_p": 0.9}), [])
    assert h != config_hash(entry.benchmark, entry.items[:-1], SPEC, [])
    # a profile's replacement chat template changes every prompt; the tokenizer's own (None) adds nothing
    assert h == config_hash(entry.benchmark, entry.items, SPEC, [], None)
    assert h != config_hash(entry.benchmark, entry.items, SPEC, [], "{{ messages[0]['content'] }}")
    # a fixed verifier keeps the scorer's name: its revision must still move the key, or cached
    # verdicts of the old verifier would be served
    revised = dataclasses.replace(entry.benchmark, scorer_revision=entry.benchmark.scorer_revision + 1)
    assert h != config_hash(revised, entry.items, SPEC, [])


def test_suite_writes_summary_and_config(entry, tmp_path):
    summary = evaluate_suite(
        [entry], ScriptedGenerator(_reply), [], [], SPEC, tmp_path, {"checkpoint": "x"}, False
    )
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert (tmp_path / on_disk["gsm8k"]["results_file"]).is_file()
    config = json.loads((tmp_path / "config.json").read_text())
    assert (
        config["checkpoint"] == "x"
        and config["eval"]["samples_per_prompt"] == 4
        and "gsm8k" in config["config_hashes"]
    )


def test_corrupt_results_lines_are_warned_about_and_recomputed(entry, tmp_path, caplog):
    clean = evaluate_benchmark(
        entry, ScriptedGenerator(_reply), [], SPEC, tmp_path / "clean.jsonl", progress=False
    )
    path = tmp_path / "r.jsonl"
    path.write_text((tmp_path / "clean.jsonl").read_text())
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2][: len(lines[2]) // 2] + "\n"  # a truncated record
    lines[5] = '{"no": "id"}\n'  # valid JSON, not a record
    path.write_text("".join(lines))
    rerun = ScriptedGenerator(_reply)
    with caplog.at_level("WARNING"):
        row = evaluate_benchmark(entry, rerun, [], SPEC, path, progress=False)
    assert str(path) in caplog.text and "line(s) 3, 6" in caplog.text
    assert len(rerun.calls) == 2  # the batches that held the two damaged records, nothing else
    assert row == clean
    assert sorted(path.read_text().splitlines()) == sorted(
        (tmp_path / "clean.jsonl").read_text().splitlines()
    )


def test_unreadable_summary_and_config_are_warned_about_and_rebuilt(entry, tmp_path, caplog):
    args = ([entry], ScriptedGenerator(_reply), [], [], SPEC, tmp_path, {"checkpoint": "x"}, False)
    first = evaluate_suite(*args)
    (tmp_path / "summary.json").write_text('{"gsm8k": {"mean": 1')
    (tmp_path / "config.json").write_bytes(b"\xff\xfe not json")
    with caplog.at_level("WARNING"):
        again = evaluate_suite(*args)
    assert str(tmp_path / "summary.json") in caplog.text and str(tmp_path / "config.json") in caplog.text
    assert again == first
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(first))
    assert "gsm8k" in json.loads((tmp_path / "config.json").read_text())["config_hashes"]
