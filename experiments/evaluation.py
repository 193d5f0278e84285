"""Evaluate checkpoints for the runner, caching by what the checkpoint *is* (its stage key).

One ``Evaluator`` per run builds the suite (load, cap, decontaminate) once and the judge panel at most
once, and evaluates each checkpoint into ``<eval root>/<profile>-<name>/`` with eval/checkpoint_eval.py. Whether
a checkpoint needs work is decided without loading any model: every benchmark's summary row must name
the results file of the current eval-config hash and cover every item, which is exactly what
``evaluate_suite`` writes when it finishes a benchmark.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from care_rl import locks
from care_rl.config import Profile
from eval.benchmarks import select
from eval.checkpoint_eval import JudgmentsFailed, config_hash, evaluate_suite
from eval.judge_endpoints import check_judge_endpoints, judge_failure_report
from eval.run import build_generator, judge_specs
from eval.suite import SuiteEntry, build_suite, training_texts
from experiments.provenance import TIMING, ComputePart, add_timing, read_timing


class Evaluator:
    def __init__(self, profile: Profile, root: Path, progress: bool = False) -> None:
        self.profile = profile
        self.root = root
        self.progress = progress
        self.specs = judge_specs(profile)
        self._suite: list[SuiteEntry] | None = None
        self._judges: list[Any] | None = None
        self.calls = 0  # checkpoints actually evaluated (not served from the cache)

    @property
    def suite(self) -> list[SuiteEntry]:
        if self._suite is None:
            p = self.profile
            self._suite = build_suite(select(None), p.data.source, p.eval, training_texts(p))
        return self._suite

    def entries(self, domain: str | None = None) -> list[SuiteEntry]:
        """The suite, or one domain's benchmarks (surgery edits are scored on their target domain)."""
        return [e for e in self.suite if domain is None or e.benchmark.domain == domain]

    def out_dir(self, name: str) -> Path:
        return self.root / f"{self.profile.name}-{name}"

    def samples(self, domain: str | None = None) -> int:
        """Generated samples one evaluation costs (for the plan's time estimate)."""
        return sum(len(e.items) for e in self.entries(domain)) * self.profile.eval.samples_per_prompt

    def cached(self, name: str, domain: str | None = None) -> bool:
        path = self.out_dir(name) / "summary.json"
        if not path.is_file():
            return False
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return False
        for entry in self.entries(domain):
            row = summary.get(entry.benchmark.name)
            h = config_hash(
                entry.benchmark, entry.items, self.profile.eval, self.specs, self.profile.prompt_format
            )
            if not row or row.get("results_file") != f"{entry.benchmark.name}.{h}.jsonl":
                return False
            if row.get("n") != len(entry.items) or row.get("n_judge_failed"):
                return False  # a failed judgment is retried, never cached
        return True

    def _judge_panel(self, entries: Sequence[SuiteEntry]) -> list[Any]:
        if not any(e.benchmark.template is not None for e in entries):
            return []
        if self._judges is None:
            from care_rl.judges import build_backend

            check_judge_endpoints(self.specs)
            tok = self.profile.tokenizer or self.profile.policy
            self._judges = [build_backend(s, tokenizer_spec=tok) for s in self.specs]
        return self._judges

    def evaluate(
        self,
        name: str,
        adapter: Path | None,
        domain: str | None = None,
        wait: bool = True,
        announce: Callable[[], object] | None = None,
    ) -> Path:
        """Evaluate (or resume) checkpoint ``name``; returns its folder (with summary.json). One process
        at a time evaluates a folder (care_rl.locks): another one's evaluation is waited for and
        reused, or with ``wait`` False ends the call with ``locks.Busy``. ``announce`` is called when
        this process starts evaluating."""
        out = self.out_dir(name)
        if self.cached(name, domain):
            return out
        with locks.hold(out, wait):
            if not self.cached(name, domain):  # the process that held the lock may have finished it
                if announce is not None:
                    announce()
                self._evaluate(name, adapter, domain)
        return out

    def _evaluate(self, name: str, adapter: Path | None, domain: str | None) -> None:
        out = self.out_dir(name)
        entries = self.entries(domain)
        config = {
            "profile": self.profile.model_dump(mode="json"),
            "checkpoint": name,
            "adapter": str(adapter) if adapter else None,
            "benchmarks": [e.benchmark.name for e in entries],
        }
        self.calls += 1
        start = time.monotonic()
        try:
            judges = self._judge_panel(entries)  # first: an unreachable judge fails before the model loads
            generator = build_generator(self.profile, adapter)
            summary = evaluate_suite(
                entries,
                generator,
                judges,
                self.specs,
                self.profile.eval,
                out,
                config,
                progress=self.progress,
                prompt_format=self.profile.prompt_format,
            )
        finally:  # a crash keeps its finished batches (resumed later), so it keeps their time too
            add_timing(out / TIMING, time.monotonic() - start)
        failures = judge_failure_report(summary, self.specs)
        if failures:  # the results are kept; the failed judgments are retried by the next run
            raise JudgmentsFailed(f"evaluation of {name} ({out}): {failures}")

    def compute(self, name: str) -> ComputePart:
        """The recorded cost of evaluating checkpoint ``name`` (provenance of the tables that read it)."""
        return read_timing(f"eval {self.out_dir(name).name}", self.out_dir(name) / TIMING)
