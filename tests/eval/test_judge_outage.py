"""A judge outage is never a result: checked before compute, retried by the next run, reported on exit."""

from __future__ import annotations

import json

import yaml

from care_rl.config import EvalSpec, JudgeSpec
from care_rl.data.records import EvalItem
from care_rl.judges import build_backend
from eval.benchmarks import BENCHMARKS
from eval.checkpoint_eval import evaluate_benchmark
from eval.judge_endpoints import endpoint_problem, judge_failure_report
from eval.run import main
from eval.suite import SuiteEntry
from experiments.paths import load_named_profile, profile_path
from tests.eval.conftest import ScriptedGenerator

SPEC = EvalSpec(samples_per_prompt=2, max_new_tokens=8, batch_size=4, seed=0)  # 2 prompts per batch
WB_SCORE_OF_7 = (7 - 5) * 20.0


def _judge_spec(url: str) -> JudgeSpec:
    return JudgeSpec(backend="openai", base_url=url, model_name="fake-judge", max_retries=0, timeout_s=10)


def _wildbench(n: int) -> SuiteEntry:
    items = [
        EvalItem(
            benchmark="wildbench",
            domain="chat",
            id=f"wb{i}",
            messages=[{"role": "user", "content": f"question {i}"}],
            reference={"checklist": ["answers the question"]},
        )
        for i in range(n)
    ]
    return SuiteEntry(BENCHMARKS["wildbench"], items, n_lost_to_decontam=0)


def _completions(path) -> list[list[str]]:
    return [[s["completion"] for s in json.loads(line)["samples"]] for line in path.read_text().splitlines()]


def test_failed_judgments_are_retried_by_the_next_run_without_regenerating(fake_judge, tmp_path):
    entry, path = _wildbench(3), tmp_path / "wildbench.jsonl"
    judge = build_backend(_judge_spec(fake_judge.url))
    down = evaluate_benchmark(
        entry, ScriptedGenerator(lambda t, j, s: f"answer {j}"), [judge], SPEC, path, False
    )
    assert (down["mean"], down["n_missing"], down["n_judge_failed"]) == (None, 6, 6)
    generated = _completions(path)

    fake_judge.set("up")
    again = ScriptedGenerator(lambda t, j, s: "a different model would say this")
    up = evaluate_benchmark(entry, again, [judge], SPEC, path, False)
    assert again.calls == [] and _completions(path) == generated  # judged again, not regenerated
    assert fake_judge.judged == 6
    assert (up["mean"], up["n_missing"], up["n_judge_failed"]) == (WB_SCORE_OF_7, 0, 0)

    evaluate_benchmark(entry, again, [judge], SPEC, path, False)
    assert fake_judge.judged == 6  # now cached: nothing asked twice


def test_endpoint_check_names_the_url_and_the_reason(fake_judge):
    spec = _judge_spec(fake_judge.url)
    problem = endpoint_problem(spec)
    assert problem is not None and fake_judge.url in problem and "refused" in problem.lower()
    assert "Error(" not in problem  # a reason for a reader, not an exception repr
    fake_judge.set("failing")  # answers the check's ping
    assert endpoint_problem(spec) is None
    assert endpoint_problem(load_named_profile("smoke").judge) is None  # a local judge needs no check


def test_report_counts_failures_per_benchmark_and_says_whether_the_judge_answers_now(fake_judge):
    summary = {"wildbench": {"n_judge_failed": 5}, "cw3": {"n_judge_failed": 0}, "gsm8k": {}}
    report = judge_failure_report(summary, [_judge_spec(fake_judge.url)])
    assert report is not None and "5 judgment(s) failed (wildbench: 5)" in report and fake_judge.url in report
    fake_judge.set("up")
    assert "answers again" in judge_failure_report(summary, [_judge_spec(fake_judge.url)])
    assert judge_failure_report({"gsm8k": {"n_judge_failed": 0}}, []) is None


def test_cli_down_then_failing_then_up(fake_judge, tmp_path, capsys):
    """The issue's sequence on the smoke policy: a judge that is down stops the run before any model
    loads (exit 2); one that fails mid-run leaves failed judgments that exit 1 and mark the table; once
    it is up, a rerun into the same folder judges exactly those and scores them (exit 0)."""
    profile = yaml.safe_load(profile_path("smoke").read_text())
    profile["eval_judges"] = [_judge_spec(fake_judge.url).model_dump(mode="json", exclude_none=True)]
    (tmp_path / "outage.yaml").write_text(yaml.safe_dump(profile))
    argv = ["--profile", str(tmp_path / "outage.yaml"), "--benchmarks", "wildbench", "--no-progress"]
    argv += ["--out", str(tmp_path / "eval")]
    out_dir = tmp_path / "eval" / "smoke-base"

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fake_judge.url in err[0]
    assert not out_dir.exists()  # nothing computed

    fake_judge.set("failing")
    assert main(argv) == 1
    captured = capsys.readouterr()
    row = json.loads((out_dir / "summary.json").read_text())["wildbench"]
    n = row["n"] * row["k"]
    assert row["n_judge_failed"] == n and row["mean"] is None
    assert f"[{n} judgments failed]" in captured.out
    assert f"error: {n} judgment(s) failed (wildbench: {n})" in captured.err
    generated = _completions(out_dir / row["results_file"])

    fake_judge.set("up")
    assert main(argv) == 0
    row = json.loads((out_dir / "summary.json").read_text())["wildbench"]
    assert (row["mean"], row["n_judge_failed"], fake_judge.judged) == (WB_SCORE_OF_7, 0, n)
    assert _completions(out_dir / row["results_file"]) == generated


def test_the_experiment_runner_does_not_serve_failed_judgments_from_its_cache(smoke_profile, tmp_path):
    from eval.checkpoint_eval import config_hash
    from experiments.evaluation import Evaluator

    ev = Evaluator(smoke_profile, tmp_path)
    summary = {}
    for e in ev.entries():  # what evaluate_suite writes for a finished benchmark
        h = config_hash(e.benchmark, e.items, smoke_profile.eval, ev.specs, smoke_profile.prompt_format)
        summary[e.benchmark.name] = {
            "n": len(e.items),
            "n_judge_failed": 0,
            "results_file": f"{e.benchmark.name}.{h}.jsonl",
        }
    ev.out_dir("base").mkdir(parents=True)
    (ev.out_dir("base") / "summary.json").write_text(json.dumps(summary))
    assert ev.cached("base")
    summary["cw3"]["n_judge_failed"] = 2
    (ev.out_dir("base") / "summary.json").write_text(json.dumps(summary))
    assert not ev.cached("base") and ev.cached("base", domain="math")
