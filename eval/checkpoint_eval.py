"""Evaluate one checkpoint on a suite: generate k samples per item in length-sorted batches, score each
batch, persist it, and summarise with avg@k.

Resumability and caching come from one rule: the batch plan (items sorted by prompt length, longest
first, fixed batch size, seed = eval seed + batch index) depends only on the items and the eval
config, so a batch is skipped when all its items are already in the results file and regenerated
identically otherwise. The results file is keyed by an eval-config hash covering everything that
changes a number (sampling settings, item ids, scorer, judge specs, judge prompt text).

A judgment that failed (the judge did not answer after its retries: an endpoint down, a timeout) is
not a result: the record keeps the sample, and the next run asks the judges again for that sample only
(no regeneration), while the summary counts the failures (``n_judge_failed``) until none are left.
An unparseable judgment is a result (the judge answered) and stays.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from care_rl.config import EvalSpec, JudgeSpec
from care_rl.data.records import EvalItem
from eval.avg_at_k import Completion, Generator, avg_at_k
from eval.benchmarks import Benchmark
from eval.judging import template_digest
from eval.store import Record, ResultStore, read_json_or_none, write_json
from eval.suite import SuiteEntry

if TYPE_CHECKING:
    from care_rl.judges.base import JudgeBackend


def config_hash(
    bench: Benchmark,
    items: Sequence[EvalItem],
    spec: EvalSpec,
    judges: Sequence[JudgeSpec],
    prompt_format: str | None = None,
) -> str:
    """Hash of every input that changes this benchmark's numbers for a fixed checkpoint.

    ``prompt_format`` is the chat template a profile puts in place of the policy tokenizer's own
    (``Profile.prompt_format``; None: the tokenizer's own, which the checkpoint fixes).
    """
    payload: dict[str, Any] = {
        "benchmark": bench.name,
        "loader": bench.loader,
        "scorer": bench.scorer.__name__,
        "scorer_revision": bench.scorer_revision,
        "metric": bench.metric,
        "eval": spec.model_dump(mode="json"),
        "items": [it.id for it in items],
    }
    if prompt_format is not None:
        payload["prompt_format"] = prompt_format
    if bench.template is not None:
        payload["template"] = template_digest(bench.template)
        payload["judges"] = [j.model_dump(mode="json") for j in judges]
    blob = json.dumps(payload, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def batch_plan(generator: Generator, items: Sequence[EvalItem], prompts_per_batch: int) -> list[list[int]]:
    """Item indices in batches, longest prompt first (little padding per batch; memory peaks early)."""
    lengths = generator.prompt_lengths([it.messages for it in items])
    order = sorted(range(len(items)), key=lambda i: (-lengths[i], i))
    return [order[s : s + prompts_per_batch] for s in range(0, len(order), prompts_per_batch)]


class JudgmentsFailed(RuntimeError):
    """An evaluation finished with judgments that failed; its results are kept, those are retried."""


def failed_judgments(sample: Record) -> int:
    """How many of a sample's judges failed to answer (0 for a verifiable benchmark's sample)."""
    return sum(vote.get("status") == "failed" for vote in sample["detail"].get("judges", ()))


def _done(store: ResultStore, item: EvalItem) -> bool:
    return store.has(item.id) and not any(failed_judgments(s) for s in store.records[item.id]["samples"])


def _rejudge(bench: Benchmark, batch: Sequence[EvalItem], store: ResultStore, judges) -> list[Record]:
    """The batch's records with every sample that has a failed judgment scored again (same completion)."""
    records = [dict(store.records[it.id], samples=list(store.records[it.id]["samples"])) for it in batch]
    retry = [(r, j) for r in records for j, s in enumerate(r["samples"]) if failed_judgments(s)]
    item = {it.id: it for it in batch}
    scored = bench.scorer([(item[r["id"]], r["samples"][j]["completion"]) for r, j in retry], judges)
    for (r, j), new in zip(retry, scored, strict=True):
        r["samples"][j] = {**r["samples"][j], "score": new.score, "detail": new.detail}
    return records


def evaluate_benchmark(
    entry: SuiteEntry,
    generator: Generator,
    judges: Sequence[JudgeBackend],
    spec: EvalSpec,
    results_path: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or resume) one benchmark and return its summary row."""
    bench, items, k = entry.benchmark, entry.items, spec.samples_per_prompt
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):  # results are keyed by id: a duplicate would be scored twice
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"benchmark {bench.name!r} has duplicate item ids {dupes[:5]}")
    store = ResultStore(results_path)
    judges = judges if bench.template is not None else ()
    plan = batch_plan(generator, items, max(1, spec.batch_size // k)) if items else []
    todo = [(b, idx) for b, idx in enumerate(plan) if not all(_done(store, items[i]) for i in idx)]
    for b, idx in tqdm(todo, desc=bench.name, disable=not progress, unit="batch"):
        batch = [items[i] for i in idx]
        if all(store.has(it.id) for it in batch):  # generated before: only judgments failed
            store.add(_rejudge(bench, batch, store, judges))
            continue
        samples = generator.generate([it.messages for it in batch], k, spec.seed + b)
        store.add(_records(bench, batch, samples, b, spec.seed + b, judges))
    if store.n_corrupt and not todo:  # nothing recomputed: rewrite the file without its unreadable lines
        store.add([])
    return summarise(entry, [store.records[it.id] for it in items], k)


def _records(
    bench: Benchmark, batch: list[EvalItem], samples: list[list[Completion]], b: int, seed: int, judges
) -> list[Record]:
    """Score one generated batch into its records (prompt, every sample, its score and judge detail)."""
    k = len(samples[0]) if samples else 0
    pairs = [(it, c.text) for it, cs in zip(batch, samples, strict=True) for c in cs]
    scored = bench.scorer(pairs, judges)
    records: list[Record] = []
    for j, (it, cs) in enumerate(zip(batch, samples, strict=True)):
        rows = [
            {"completion": c.text, "n_tokens": c.n_tokens, "score": s.score, "detail": s.detail}
            for c, s in zip(cs, scored[j * k : (j + 1) * k], strict=True)
        ]
        records.append({"id": it.id, "batch": b, "seed": seed, "messages": it.messages, "samples": rows})
    return records


def _finite(x: float) -> float | None:
    """JSON has no NaN: an undefined statistic (no scored sample, fewer than two sets) is null."""
    return None if math.isnan(x) else x


def summarise(entry: SuiteEntry, records: Sequence[Record], k: int) -> dict[str, Any]:
    """avg@k mean/std and the counts a reader needs to trust them."""
    bench = entry.benchmark
    row: dict[str, Any] = {
        "benchmark": bench.name,
        "label": bench.label,
        "domain": bench.domain,
        "metric": bench.metric,
        "n": len(records),
        "k": k,
        "n_lost_to_decontam": entry.n_lost_to_decontam,
    }
    if not records:
        return {
            **row,
            "mean": None,
            "std": None,
            "n_missing": 0,
            "n_judge_missing": 0,
            "n_judge_failed": 0,
            **_unscorable([]),
        }
    stats = avg_at_k([[s["score"] for s in r["samples"]] for r in records])
    judge_missing = sum(s["detail"].get("n_judges_missing", 0) for r in records for s in r["samples"])
    judge_failed = sum(failed_judgments(s) for r in records for s in r["samples"])
    tokens = [s["n_tokens"] for r in records for s in r["samples"]]
    return {
        **row,
        "mean": _finite(stats.mean),
        "std": _finite(stats.std),
        "set_means": list(stats.set_means),
        "n_missing": stats.n_missing,
        "n_judge_missing": judge_missing,
        "n_judge_failed": judge_failed,
        "mean_completion_tokens": sum(tokens) / len(tokens),
        **_unscorable(records),
    }


def _unscorable(records: Sequence[Record]) -> dict[str, Any]:
    """Samples the verifier could not score (``eval.scorers.unscorable``), in all and per reason. They
    are missing samples, so ``n_missing`` includes them."""
    reasons = Counter(
        s["detail"]["unscorable"] for r in records for s in r["samples"] if "unscorable" in s["detail"]
    )
    return {"unscorable": sum(reasons.values()), "unscorable_reasons": dict(sorted(reasons.items()))}


def evaluate_suite(
    suite: Sequence[SuiteEntry],
    generator: Generator,
    judges: Sequence[JudgeBackend],
    judge_specs: Sequence[JudgeSpec],
    spec: EvalSpec,
    out_dir: Path,
    config: dict[str, Any],
    progress: bool = True,
    prompt_format: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Evaluate every benchmark of a suite into ``out_dir`` (one checkpoint's folder).

    Writes ``<benchmark>.<hash>.jsonl`` per benchmark, ``summary.json`` (merged with earlier runs of
    other benchmarks for the same checkpoint) and ``config.json`` beside it.
    """
    summary_path = out_dir / "summary.json"
    summary: dict[str, dict[str, Any]] = {}
    if summary_path.is_file():  # a corrupt one loses the rows of other runs' benchmarks: rerun those
        summary = read_json_or_none(summary_path) or {}
    hashes = {}
    for entry in suite:
        h = config_hash(entry.benchmark, entry.items, spec, judge_specs, prompt_format)
        hashes[entry.benchmark.name] = h
        path = out_dir / f"{entry.benchmark.name}.{h}.jsonl"
        summary[entry.benchmark.name] = {
            **evaluate_benchmark(entry, generator, judges, spec, path, progress),
            "results_file": path.name,
        }
        write_json(summary_path, summary)
    config_path = out_dir / "config.json"
    if config_path.is_file():  # keep the hashes of benchmarks evaluated by earlier runs
        hashes = {**(read_json_or_none(config_path) or {}).get("config_hashes", {}), **hashes}
    write_json(config_path, {**config, "eval": spec.model_dump(mode="json"), "config_hashes": hashes})
    return summary


def format_table(summary: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: benchmark, mean (std), n, decontam losses, missing samples; a benchmark
    with failed judgments says how many after its metric."""
    head = f"{'benchmark':<12}{'mean':>8}{'std':>8}{'n':>6}{'lost':>6}{'missing':>9}  metric"
    lines = [head, "-" * len(head)]
    for row in summary.values():
        mean = "n/a" if row["mean"] is None else f"{row['mean']:.1f}"
        std = "n/a" if row["std"] is None else f"{row['std']:.2f}"
        lines.append(
            f"{row['benchmark']:<12}{mean:>8}{std:>8}{row['n']:>6}"
            f"{row['n_lost_to_decontam']:>6}{row['n_missing']:>9}  {row['metric']}"
            + (f"  [{row['n_judge_failed']} judgments failed]" if row.get("n_judge_failed") else "")
        )
    return "\n".join(lines)
