"""Make what a plan lists: train cascades, evaluate checkpoints, edit adapters for Table 14, score judge
studies, build the judge adapter first when a stage needs it, and link every result under
``<results>/<result key>/``. Also names the compute behind each result for the provenance files.

Everything is cached by content (stages by key, evaluations by checkpoint, edits and judge studies by
their inputs), so producing a result twice costs nothing the second time, and each entry is made under
its lock (care_rl.locks), so processes sharing the cache never make one twice: with ``wait`` False a
job whose entry another process is making ends with ``locks.Busy`` instead of waiting
(experiments.workers runs N such producers side by side).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from torch import Tensor

from care_rl import locks
from care_rl.config import ConfigError
from care_rl.dacsp.checkpoint_surgery import EDITS
from care_rl.training.cascade import CascadeStep, run_cascade_steps
from experiments.adapter_surgery import initial_adapter, write_edited_adapter
from experiments.judge_adapter import adapter_compute, adapter_path, build_adapter, uses_adapter
from experiments.judge_study import judge_summary
from experiments.plan import Cascade, Job, Plan, Planner, study_uses_adapter
from experiments.provenance import ComputePart, compute_record


class Producer:
    def __init__(self, planner: Planner, echo: Callable[[str], object] = print) -> None:
        self.profile, self.settings, self.dirs = planner.profile, planner.settings, planner.dirs
        self.evaluator, self.studies, self.echo = planner.evaluator, planner.studies, echo
        self.trained: dict[tuple[str, tuple[str, ...] | None, int | None], list[CascadeStep]] = {}
        self.produced: dict[str, Job] = {}  # this run's result keys, for the compute provenance

    def prepare(self, plan: Plan) -> None:
        """Check the jobs, then build the judge adapter if the plan needs it: before any job's compute."""
        for job in plan.jobs:
            if job.checkpoint.edit is not None and job.checkpoint.edit not in EDITS:
                raise ConfigError(f"result key {job.key!r}: unknown surgery edit; known: {list(EDITS)}")
        if plan.adapter is not None:
            self.echo(f"judge adapter: building {plan.adapter}")
            build_adapter(self.profile)

    def link_all(self, plan: Plan) -> None:
        """Produce (or find cached) and link every result key of the plan, recording its compute."""
        for job in plan.jobs + plan.sweep:
            self.link(job.key, self.produce(job))
            self.produced[job.key] = job

    # --- stages ----------------------------------------------------------------------------------------
    def train(self, cascade: Cascade, wait: bool = True) -> list[CascadeStep]:
        """The cascade's steps, trained now or read from the stage cache (once per run)."""
        if cascade.name not in self.trained:
            self.echo(f"train: {cascade.label}")
            runs = [st.run for st in cascade.stages]
            self.trained[cascade.name] = run_cascade_steps(
                cascade.profile, runs, root=self.dirs.stages, verbose=True, wait=wait
            )
        return self.trained[cascade.name]

    # --- results ---------------------------------------------------------------------------------------
    def produce(self, job: Job, wait: bool = True) -> Path:
        """The folder holding ``job``'s summary.json (evaluated now or cached)."""
        c = job.checkpoint
        if c.kind == "judge":
            return self.judge_summary(job, wait)
        adapter = None
        if job.cascade is not None:
            checkpoint = self.train(job.cascade, wait)[job.stage].checkpoint
            adapter = checkpoint.adapter_dir
            if c.kind == "stage":  # a between-stage step may have put another stage in its place
                job.eval_name = f"stage-{checkpoint.dir.name}"
        if c.kind == "surgery":
            assert adapter is not None
            adapter = self.edited(job, adapter, wait)
        announce = partial(self.echo, f"eval: {job.key} ({job.eval_name})")
        return self.evaluator.evaluate(job.eval_name, adapter, c.domain, wait, announce)

    @cached_property
    def initial_adapter(self) -> dict[str, Tensor]:
        """The fresh LoRA every cascade starts from (Table 14's edits subtract it)."""
        return initial_adapter(self.profile)

    def edited(self, job: Job, adapter: Path, wait: bool = True) -> Path:
        """Table 14: the DACSP surgery edit of a single-domain update, written once."""
        out = self.dirs.stages.parent / "surgery" / job.eval_name
        done = (out / "adapter_model.safetensors").is_file
        if done():
            return out
        with locks.hold(out, wait):
            if not done():  # else written by the process that held the lock
                edit = job.checkpoint.edit
                assert edit is not None
                self.echo(f"surgery: {job.key} ({edit} on {job.checkpoint.method})")
                seed, rank = self.settings.surgery_seed, job.checkpoint.rank
                write_edited_adapter(adapter, self.initial_adapter, edit, self.profile.dacsp, seed, out, rank)
        return out

    def judge_summary(self, job: Job, wait: bool = True) -> Path:
        variant = job.checkpoint.variant
        assert variant is not None
        path = self.studies.path(variant)
        if path.is_file():
            return path
        with locks.hold(path, wait):  # judge_summary scores the variant only if still missing
            if not path.is_file():
                self.echo(f"judge study: {variant}")
            path, _ = judge_summary(
                self.studies.root, self.profile, variant, self.settings.judge_ds, self.studies.items
            )
        return path

    def link(self, key: str, source: Path) -> None:
        """<results>/<key>/ -> the cached evaluation folder (judge results: summary.json -> the JSON)."""
        target = self.dirs.results / key
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            target.mkdir(exist_ok=True)
            target, source = target / "summary.json", source
        tmp = target.with_name(f".{target.name}.tmp-link")
        tmp.unlink(missing_ok=True)
        os.symlink(source.resolve(), tmp)
        if target.is_dir() and not target.is_symlink():
            raise ConfigError(f"{target} is a real folder; remove it to let the runner link results there")
        os.replace(tmp, target)

    # --- what computed the numbers -------------------------------------------------------------------
    def compute(self, keys: Iterable[str]) -> dict[str, Any]:
        """The provenance ``compute`` record of an artefact reading ``keys``: every stage, evaluation,
        judge study and judge-adapter build behind them, as timed when they ran (maybe by another run)."""
        parts = []
        for key in dict.fromkeys(keys):
            if key in self.produced:
                parts += self.job_parts(self.produced[key])
        return compute_record(parts)

    def job_parts(self, job: Job) -> list[ComputePart]:
        c = job.checkpoint
        if c.kind == "judge":
            assert c.variant is not None
            data = json.loads(self.studies.path(c.variant).read_text(encoding="utf-8"))
            parts = [ComputePart.of(f"judge study {c.variant}", data)]
            if study_uses_adapter(c) and adapter_path(self.profile) is not None:
                parts.append(adapter_compute(self.profile))
            return parts
        parts = [self.evaluator.compute(job.eval_name)]
        if job.cascade is not None:
            parts += self.stage_parts(job.cascade, job.stage + 1)
        return parts

    def stage_parts(self, cascade: Cascade, upto: int) -> list[ComputePart]:
        """The compute behind the first ``upto`` planned stages of ``cascade``: every stage that ran for
        each (care_rl.training.cascade.CascadeStep), and the judge adapter a stage read."""
        parts = []
        for planned, step in zip(cascade.stages[:upto], self.train(cascade)[:upto], strict=True):
            for stage in step.stages:
                name = stage.metrics.get("stage", planned.run.name)
                parts.append(ComputePart.of(f"stage {stage.dir.name} ({name})", stage.metrics))
            rewards = [*planned.run.rewards, *planned.run.monitor_rewards.values()]
            if uses_adapter(rewards) and adapter_path(self.profile) is not None:
                parts.append(adapter_compute(self.profile))
        return parts
