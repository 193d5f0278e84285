"""``python -m eval.run``: end to end on the smoke profile over all eight shipped mini benchmarks, and
what a user sees first -- configuration errors as one line before any heavy import, quiet logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eval.benchmarks import BENCHMARKS
from eval.run import main


def test_eval_run_smoke_end_to_end(smoke_profile, tmp_path, capsys):
    k = smoke_profile.eval.samples_per_prompt
    assert main(["--profile", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    out_dir = tmp_path / "smoke-base"
    on_disk = json.loads((out_dir / "summary.json").read_text())
    assert set(on_disk) == set(BENCHMARKS)
    for name, row in on_disk.items():
        assert row["n"] >= 1 and row["k"] == k and row["n_lost_to_decontam"] >= 0
        records = [json.loads(line) for line in (out_dir / row["results_file"]).read_text().splitlines()]
        assert len(records) == row["n"] and all(len(r["samples"]) == k for r in records)
        if BENCHMARKS[name].template is None:
            assert row["n_missing"] == 0 and 0.0 <= row["mean"] <= 100.0
        else:  # a random judge cannot produce a parseable score: every sample missing, none scored 0
            assert row["n_missing"] == k * row["n"] and row["mean"] is None
            judge_outputs = records[0]["samples"][0]["detail"]["judges"]
            assert judge_outputs and judge_outputs[0]["status"] in {"failed", "unparseable"}
    table = capsys.readouterr().out
    assert "smoke-base" in table and all(name in table for name in BENCHMARKS)
    assert json.loads((out_dir / "config.json").read_text())["checkpoint_key"] == "smoke-base"

    before = {p.name: p.stat().st_mtime_ns for p in out_dir.glob("*.jsonl")}
    again = main(
        ["--profile", "smoke", "--out", str(tmp_path), "--no-progress", "--benchmarks", "gsm8k", "ifeval"]
    )
    assert again == 0
    assert {
        p.name: p.stat().st_mtime_ns for p in out_dir.glob("*.jsonl")
    } == before  # cache hit: nothing rewritten
    assert json.loads((out_dir / "summary.json").read_text())["gsm8k"] == on_disk["gsm8k"]


REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "lm_eval", "datasets")


def _python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (this one has imported everything already)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--profile", "nope"], "error: unknown profile 'nope'; known profiles: ["),
        (
            ["--profile", "smoke", "--benchmarks", "gsm8kk"],
            "error: unknown benchmark(s) ['gsm8kk']; known: [",
        ),
        (["--profile", "smoke", "--adapter", "no/adapter"], "error: --adapter no/adapter: folder not found"),
    ],
)
def test_configuration_errors_are_one_line_and_exit_2_before_heavy_imports(argv, message):
    done = _python(f"""
        import sys
        from eval.run import main
        status = main({argv!r})
        print(status, sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert done.stdout.strip() == "2 []", done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(message)


def test_help_answers_before_heavy_imports():
    done = _python(f"""
        import sys
        from eval.run import main
        try:
            main(["--help"])
        except SystemExit as e:
            print("exit", e.code, sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert "usage: python -m eval.run" in done.stdout and done.stdout.strip().endswith("exit 0 []")


def test_one_benchmark_run_says_nothing_about_the_others(tmp_path):
    """Only gsm8k is evaluated: no line about other benchmarks or other domains' training data
    (decontamination reads every training prompt; the data loaders' notes about them stay quiet)."""
    argv = ["--profile", "smoke", "--benchmarks", "gsm8k", "--no-progress", "--out", str(tmp_path)]
    done = _python(f"""
        import sys
        from eval import run
        from tests.eval.conftest import ScriptedGenerator
        run.build_generator = lambda profile, adapter: ScriptedGenerator(lambda text, j, seed: "answer")
        sys.exit(run.main({argv!r}))
    """)
    assert done.returncode == 0, done.stderr
    said = (done.stdout + done.stderr).replace(str(tmp_path), "<out>")
    said = said.replace(BENCHMARKS["gsm8k"].metric, "<metric>").lower()  # "accuracy (math-verify)"
    assert "gsm8k" in said
    others = [w for b in BENCHMARKS.values() if b.name != "gsm8k" for w in (b.name, b.label.lower())]
    assert [w for w in others if w in said] == []
