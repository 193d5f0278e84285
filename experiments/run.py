"""``python -m experiments.run <target> [--profile P]``: train, evaluate and render one paper artefact.

Targets: table2 ... table14; aliases ood (table3), stagewise (table4), ablation-components (table5),
judge-accuracy (table6), ablation-dacsp (table7), surgery (table14), tables-expanded (the appendix
tables of the profile's model, experiments/runner.yaml); figures; bootstrap; order-sweep; all (every
table, figure and the bootstrap; order-sweep is separate: it trains 6 orders per method).

1. The target's table specs name result keys; experiments/checkpoints.yaml says what produces each.
2. A plan is printed before any compute: stages to train vs cached (content-addressed, shared across
   targets), checkpoints to evaluate vs cached, edited adapters, judge studies, and a time estimate.
3. Cascades are trained, checkpoints evaluated (cached by stage key under <cache>/eval/), summaries
   linked to <results>/<result key>/, and tables/figures written with provenance. With everything
   cached a re-run only re-renders.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from care_rl.config import ConfigError, Profile, cache_dir
from care_rl.training.cascade import (
    PlannedStage,
    check_heldout,
    load_method,
    method_stages,
    plan,
    run_cascade,
)
from care_rl.training.stage import StageServices
from experiments import checkpoints as ck
from experiments.judge_adapter import (
    adapter_compute,
    adapter_path,
    build_adapter,
    check_buildable,
    missing_adapter,
    uses_adapter,
)
from experiments.paths import FIGURES_DIR, TABLES_DIR, load_named_profile, method_path
from experiments.provenance import ComputePart, RunStamp, compute_record
from experiments.runconfig import ProfileSettings, load_runner_config

TABLES = [f"table{i}" for i in range(2, 15)]
ALIASES = {
    "ood": ["table3"],
    "stagewise": ["table4"],
    "ablation-components": ["table5"],
    "judge-accuracy": ["table6"],
    "ablation-dacsp": ["table7"],
    "surgery": ["table14"],
}
SPECIAL = ("tables-expanded", "figures", "bootstrap", "order-sweep", "all")
# a table's own figure, drawn whenever the table is: Table 4's stage-wise curves, Table 14's surgery bars
FIGURE_TABLES = {"table4": "stagewise", "table14": "surgery"}
REWARD_CURVE_METHOD = "care-rl"  # reward curves and DACSP energy: the CARE-RL cascade's stages


@dataclass
class Work:
    tables: list[str] = field(default_factory=list)
    figures: bool = False
    bootstrap: bool = False
    order_sweep: bool = False


def expand(target: str, settings: ProfileSettings) -> Work:
    """What a target builds."""
    if target in TABLES:
        return Work(tables=[target])
    if target in ALIASES:
        return Work(tables=ALIASES[target])
    if target == "tables-expanded":
        return Work(tables=list(settings.expanded))
    if target == "figures":
        return Work(figures=True)
    if target == "bootstrap":
        return Work(bootstrap=True)
    if target == "order-sweep":
        return Work(order_sweep=True)
    if target == "all":
        return Work(tables=list(TABLES), figures=True, bootstrap=True)
    known = [*TABLES, *ALIASES, *SPECIAL]
    raise ConfigError(f"unknown target {target!r}; known targets: {known}")


def table_keys(name: str) -> list[str]:
    from experiments.tables import load_spec

    keys: list[str] = []
    for row in load_spec(name).rows:
        keys += [row.result] if row.result else list((row.domain_results or {}).values())
        keys += list((row.reg_after or {}).values())
    return keys


def required_keys(work: Work) -> list[str]:
    from experiments.bootstrap import BASELINES

    keys = [k for t in work.tables for k in table_keys(t)]
    if work.figures:
        keys += [k for t in FIGURE_TABLES for k in table_keys(t)]
    if work.bootstrap:
        keys += ["care_rl/math", *BASELINES]
    return list(dict.fromkeys(keys))


@dataclass
class Cascade:
    """One method in one domain order: its stage plan and (after training) its stage directories."""

    method: str
    order: tuple[str, ...] | None
    stages: list[PlannedStage]
    dirs: list[Path] = field(default_factory=list)

    def index(self, stage: str | None) -> int:
        domains = [s.run.domains for s in self.stages]
        if stage is None:
            return len(domains) - 1
        for i, ds in enumerate(domains):
            if stage in ds:
                return i
        raise ConfigError(f"method {self.method!r} has no {stage!r} stage (its stages train {domains})")


@dataclass
class Job:
    """One result key to produce: which checkpoint and where its evaluation is cached."""

    key: str
    checkpoint: ck.Checkpoint
    cascade: Cascade | None = None
    stage: int = -1
    eval_name: str = ""


def _study_uses_adapter(job: Job) -> bool:
    """Table 6 rows on the profile's judge read its adapter, except Direct (the untrained judge) and
    PA-GRM-DS (a different, stronger judge); see experiments.judge_study.judge_for."""
    return job.checkpoint.variant not in ("direct", "pagrm_ds")


class Runner:
    def __init__(
        self,
        profile: Profile,
        *,
        results: Path | None = None,
        tables_out: Path | None = None,
        figures_out: Path | None = None,
        stages_root: Path | None = None,
        eval_root: Path | None = None,
        echo=print,
    ) -> None:
        from experiments.evaluation import Evaluator

        self.profile = profile
        self.settings = load_runner_config().for_profile(profile.name)
        self.sweep_methods = load_runner_config().order_sweep.methods
        self.table = ck.load_table()
        sub = Path() if profile.name == "cpu" else Path(profile.name)
        self.results = results or cache_dir() / "results" / profile.name
        self.tables_out = tables_out or TABLES_DIR / sub
        self.figures_out = figures_out or FIGURES_DIR / sub
        self.stages_root = stages_root or cache_dir() / "stages"
        self.eval_root = eval_root or cache_dir() / "eval"
        self.evaluator = Evaluator(profile, self.eval_root, progress=True)  # a bar per benchmark
        self.echo = echo
        self.cascades: dict[tuple[str, tuple[str, ...] | None], Cascade] = {}
        self.missing: list[str] = []
        self.adapter_todo: Path | None = None  # the judge LoRA to build before any stage needs it
        self.produced: dict[str, Job] = {}  # this run's result keys, for the compute provenance
        self.stamp = RunStamp.now()  # reset by run(); tables name the run's commit and wall time

    # --- resolving ---------------------------------------------------------------------------------
    def cascade(self, method: str, order: tuple[str, ...] | None = None) -> Cascade:
        if (method, order) not in self.cascades:
            runs = method_stages(load_method(method_path(method)), list(order) if order else None)
            check_heldout(self.profile, runs, StageServices().load_heldout)
            self.cascades[method, order] = Cascade(method, order, plan(self.profile, runs, self.stages_root))
        return self.cascades[method, order]

    def job(self, key: str, checkpoint: ck.Checkpoint, order: tuple[str, ...] | None = None) -> Job:
        job = Job(key, checkpoint)
        if checkpoint.kind in ("stage", "surgery"):
            assert checkpoint.method is not None
            job.cascade = self.cascade(checkpoint.method, order)
            job.stage = job.cascade.index(checkpoint.stage)
            stage_key = job.cascade.stages[job.stage].key
            job.eval_name = f"stage-{stage_key}"
            if checkpoint.kind == "surgery":
                from experiments.adapter_surgery import edit_name

                assert checkpoint.edit is not None
                tau = self.profile.dacsp.tau
                job.eval_name = edit_name(stage_key, checkpoint.edit, tau, self.settings.surgery_seed)
        elif checkpoint.kind == "base":
            job.eval_name = "base"
        return job

    def jobs(self, keys: Sequence[str]) -> list[Job]:
        jobs = []
        for key in keys:
            c = ck.resolve(key, self.table)
            if c.kind == "judge" and c.variant == "pagrm_ds" and self.settings.judge_ds is None:
                self.missing.append(
                    f"{key}: no judge_ds for profile {self.profile.name!r} (experiments/runner.yaml)"
                )
                continue
            jobs.append(self.job(key, c))
        return jobs

    def sweep_jobs(self) -> list[Job]:
        jobs = []
        for method in self.sweep_methods:
            base_order = load_method(method_path(method)).order
            for order in itertools.permutations(base_order):
                key = f"order/{method}/{'-'.join(order)}"
                jobs.append(self.job(key, ck.Checkpoint(key, "stage", method=method), tuple(order)))
        return jobs

    # --- the plan ----------------------------------------------------------------------------------
    def print_plan(self, target: str, jobs: list[Job]) -> None:
        s, echo = self.settings, self.echo
        stages = {st.key: st for c in self.cascades.values() for st in c.stages}
        train = [st for st in stages.values() if not st.cached]
        train_s = sum(st.steps for st in train) * s.seconds_per_step
        evals = [j for j in jobs if j.checkpoint.kind in ("base", "stage", "surgery")]
        pending = {(j.eval_name, j.checkpoint.domain): j for j in evals}  # shared checkpoints count once
        todo = [j for (name, domain), j in pending.items() if not self.evaluator.cached(name, domain)]
        eval_s = sum(self.evaluator.samples(j.checkpoint.domain) for j in todo) * s.seconds_per_eval_sample
        judges = [j for j in jobs if j.checkpoint.kind == "judge"]
        judge_todo = [j for j in judges if self._judge_pending(j)]
        items = sum(len(v) for v in self._judge_items().values()) if judges else 0
        judge_s = len(judge_todo) * items * 6 * s.seconds_per_eval_sample  # ~6 judged responses per item
        echo(f"plan: {target} (profile {self.profile.name}, {len(jobs)} result keys)")
        adapter_s = s.seconds_judge_adapter if self.adapter_todo else 0.0
        if self.adapter_todo:
            echo(f"  judge adapter: build {self.adapter_todo} (synthetic-teacher traces + LoRA-SFT)")
        echo(f"  stages: {len(train)} to train, {len(stages) - len(train)} cached")
        for st in train:
            echo(f"  {st.describe()}")
        echo(f"  checkpoints: {len(todo)} to evaluate, {len(pending) - len(todo)} cached")
        for j in todo:
            echo(f"    {j.key:<28} -> {self.evaluator.out_dir(j.eval_name).name}")
        if judges:
            echo(
                f"  judge study: {len(judge_todo)} variant(s) to score, {len(judges) - len(judge_todo)} cached"
            )
        total = adapter_s + train_s + eval_s + judge_s
        echo(
            f"  estimate: ~{total / 60:.1f} min (judge adapter {adapter_s / 60:.1f}, train {train_s / 60:.1f}, "
            f"eval {eval_s / 60:.1f}, judge {judge_s / 60:.1f}; {s.seconds_per_step:g} s/step, "
            f"{s.seconds_per_eval_sample:g} s/sample, experiments/runner.yaml)"
        )

    # --- doing -------------------------------------------------------------------------------------
    def train(self, cascade: Cascade) -> list[Path]:
        if not cascade.dirs:
            runs = [st.run for st in cascade.stages]
            label = cascade.method + (f" ({'-'.join(cascade.order)})" if cascade.order else "")
            self.echo(f"train: {label}")
            results = run_cascade(self.profile, runs, root=self.stages_root, verbose=True)
            cascade.dirs = [r.dir for r in results]
        return cascade.dirs

    def produce(self, job: Job) -> Path:
        """The folder holding ``job``'s summary.json (evaluated now or cached)."""
        c = job.checkpoint
        if c.kind == "judge":
            path, _ = self._judge_path(job, compute=True)
            return path
        adapter = None
        if job.cascade is not None:
            stage_dir = self.train(job.cascade)[job.stage]
            adapter = stage_dir / "adapter"
            # MOPD: a distillation changes the checkpoint's key, known only after training
            if c.kind == "stage":
                job.eval_name = f"stage-{stage_dir.name}"
        if c.kind == "surgery":
            adapter = self._edited(job, adapter)
        if not self.evaluator.cached(job.eval_name, c.domain):
            self.echo(f"eval: {job.key} ({job.eval_name})")
        return self.evaluator.evaluate(job.eval_name, adapter, c.domain)

    def _edited(self, job: Job, adapter: Path | None) -> Path:
        from experiments.adapter_surgery import initial_adapter, write_edited_adapter

        out = self.stages_root.parent / "surgery" / job.eval_name
        if not (out / "adapter_model.safetensors").is_file():
            assert adapter is not None and job.checkpoint.edit is not None
            self.echo(f"surgery: {job.key} ({job.checkpoint.edit} on {job.checkpoint.update})")
            if not hasattr(self, "_init"):
                self._init = initial_adapter(self.profile)
            write_edited_adapter(
                adapter,
                self._init,
                job.checkpoint.edit,
                self.profile.dacsp.tau,
                self.settings.surgery_seed,
                out,
            )
        return out

    def _judge_items(self):
        if not hasattr(self, "_items"):
            from experiments.judge_study import study_items

            self._items = study_items(self.profile, self.settings.judge_items, self.settings.judge_seed)
        return self._items

    def _needed_adapter(self, jobs: Sequence[Job]) -> Path | None:
        """The profile's judge adapter when it is missing and a stage to train or a judge-study row
        reads it; checked buildable here, before any compute."""
        path = missing_adapter(self.profile)
        if path is None:
            return None
        stages = {st.key: st for c in self.cascades.values() for st in c.stages}
        need = any(
            not st.cached and uses_adapter([*st.run.rewards, *st.run.monitor_rewards.values()])
            for st in stages.values()
        ) or any(j.checkpoint.kind == "judge" and _study_uses_adapter(j) for j in jobs)
        if need:
            check_buildable(self.profile, path)
        return path if need else None

    def _judge_pending(self, job: Job) -> bool:
        # a row scored by a judge adapter not built yet has no content hash yet: it is pending
        if self.adapter_todo is not None and _study_uses_adapter(job):
            return True
        return not self._judge_path(job)[1]

    def _judge_path(self, job: Job, compute: bool = False) -> tuple[Path, bool]:
        """(folder with summary.json, cached?) of a judge-study row."""
        from experiments.judge_study import judge_summary, result_path

        variant, root = job.checkpoint.variant, self.eval_root / "judge"
        assert variant is not None
        path = result_path(root, self.profile, variant, self.settings.judge_ds, self._judge_items())
        if not compute:
            return path, path.is_file()
        if not path.is_file():
            self.echo(f"judge study: {variant}")
        path, _ = judge_summary(root, self.profile, variant, self.settings.judge_ds, self._judge_items())
        return path, True

    def link(self, key: str, source: Path) -> None:
        """<results>/<key>/ -> the cached evaluation folder (judge results: summary.json -> the JSON)."""
        target = self.results / key
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
                parts += self._job_parts(self.produced[key])
        return compute_record(parts)

    def _job_parts(self, job: Job) -> list[ComputePart]:
        c = job.checkpoint
        if c.kind == "judge":
            data = json.loads(self._judge_path(job)[0].read_text(encoding="utf-8"))
            parts = [ComputePart.of(f"judge study {c.variant}", data)]
            if _study_uses_adapter(job) and adapter_path(self.profile) is not None:
                parts.append(adapter_compute(self.profile))
            return parts
        parts = [self.evaluator.compute(job.eval_name)]
        if job.cascade is not None:
            parts += self._stage_parts(job.cascade, job.stage + 1)
        return parts

    def _stage_parts(self, cascade: Cascade, upto: int) -> list[ComputePart]:
        """The first ``upto`` trained stages of ``cascade`` (and the judge adapter a stage read)."""
        parts = []
        for st, d in zip(cascade.stages[:upto], self.train(cascade)[:upto], strict=True):
            metrics = json.loads((d / "metrics.json").read_text(encoding="utf-8"))
            if "parent" in metrics:  # MOPD: a distillation stage stands in for the RL stage it continued
                rl = json.loads((d.parent / metrics["parent"] / "metrics.json").read_text(encoding="utf-8"))
                parts.append(ComputePart.of(f"stage {metrics['parent']} ({st.run.name})", rl))
            parts.append(ComputePart.of(f"stage {d.name} ({metrics.get('stage', st.run.name)})", metrics))
            rewards = [*st.run.rewards, *st.run.monitor_rewards.values()]
            if uses_adapter(rewards) and adapter_path(self.profile) is not None:
                parts.append(adapter_compute(self.profile))
        return parts

    # --- rendering ---------------------------------------------------------------------------------
    def render_tables(self, names: Sequence[str]) -> list[Path]:
        from experiments.tables import build

        paths = []
        for name in names:
            paths += build(
                name,
                self.profile.name,
                self.results,
                self.tables_out,
                self.missing,
                run=self.stamp,
                compute=self.compute(table_keys(name)),
            )
        return paths

    def _figure_meta(self) -> dict[str, Any]:
        return {
            "profile": self.profile.name,
            "model": self.profile.policy.name_or_path,
            "date": dt.date.today().isoformat(),
            "run": self.stamp,
        }

    def render_table_figure(self, table: str) -> list[Path]:
        """The figure drawn from one table's numbers (``FIGURE_TABLES``)."""
        from experiments import figures as fg
        from experiments.tables import build_table, load_spec

        name = FIGURE_TABLES[table]
        draw = {"stagewise": fg.stagewise_figure, "surgery": fg.surgery_figure}[name]
        frame = build_table(load_spec(table), self.results, self.missing)[0]
        return fg.save_figure(
            draw(frame),
            name,
            self.figures_out,
            **self._figure_meta(),
            compute=self.compute(table_keys(table)),
        )

    def render_training_figures(self) -> list[Path]:
        """Reward curves and DACSP energy over the CARE-RL cascade's training steps."""
        from experiments import figures as fg
        from experiments.stage_logs import energy_rows, reward_rows

        meta = self._figure_meta()
        cascade = self.cascade(REWARD_CURVE_METHOD)
        dirs = self.train(cascade)
        stages = compute_record(self._stage_parts(cascade, len(dirs)))
        rows = reward_rows(dirs)
        paths = fg.save_figure(
            fg.reward_curves_figure(rows, key="rewards_by_domain/{domain}/mean"),
            "rewards",
            self.figures_out,
            **meta,
            compute=stages,
        )
        energy, idle = energy_rows(dirs)
        if idle:
            self.missing.append(
                f"figure dacsp: {idle} DACSP step(s) proposed no update (zero energy), left out"
            )
        if energy:
            frame = fg.energy_frame(energy, "dacsp.jsonl")
            paths += fg.save_figure(
                fg.dacsp_energy_figure(frame), "dacsp", self.figures_out, **meta, compute=stages
            )
        else:
            self.missing.append("figure dacsp: no DACSP step moved the weights; figure not drawn")
        return paths

    def render_bootstrap(self) -> list[Path]:
        from experiments.bootstrap import BASELINES, bootstrap_table, table2_labels
        from experiments.results import load_samples
        from experiments.tables import write_table

        keys = ["care_rl/math", *BASELINES]
        samples = {k: load_samples(self.results / k / "summary.json") for k in keys}
        table = bootstrap_table(
            samples, "care_rl/math", n_resamples=2000, seed=0, missing=self.missing, labels=table2_labels()
        )
        return write_table(
            "bootstrap",
            table,
            self.profile.name,
            self.profile.policy.name_or_path,
            dt.date.today().isoformat(),
            self.tables_out,
            title="Paired bootstrap (2000 resamples of prompts and samples, seed 0): Total Avg difference "
            "of CARE-RL vs. each baseline, 95% CI",
            formats={"p boot": ".3f"},
            run=self.stamp,
            compute=self.compute(keys),
        )

    def render_order_sweep(self, jobs: Sequence[Job]) -> list[Path]:
        from experiments import metrics as m
        from experiments.order_sweep import order_sweep_table
        from experiments.results import load_summary
        from experiments.tables import checkpoint_scores, write_table

        columns = [*m.DOMAIN_AVG.values(), m.TOTAL]
        results = {}
        for j in jobs:
            means, _ = checkpoint_scores(load_summary(self.results / j.key / "summary.json"))
            _, method, order = j.key.split("/")
            results[method, tuple(order.split("-"))] = means
        reference = self.sweep_methods[0]
        df, stds, summary = order_sweep_table(results, columns, reference)
        return write_table(
            "order_sweep",
            df,
            self.profile.name,
            self.profile.policy.name_or_path,
            dt.date.today().isoformat(),
            self.tables_out,
            stds=stds,
            no_bold=summary,
            title="Domain-order sweep (beyond the paper): final-checkpoint domain averages for every order; "
            f"summary rows give mean (std) and range over orders, and the difference to {reference} paired "
            "by order",
            run=self.stamp,
            compute=self.compute(j.key for j in jobs),
        )

    def run(self, target: str, plan_only: bool = False) -> list[Path]:
        self.stamp = RunStamp.now()
        work = expand(target, self.settings)
        jobs = self.jobs(required_keys(work))
        sweep = self.sweep_jobs() if work.order_sweep else []
        if work.figures:
            self.cascade(REWARD_CURVE_METHOD)
        self.adapter_todo = self._needed_adapter(jobs + sweep)
        self.print_plan(target, jobs + sweep)
        if plan_only:
            return []
        if self.adapter_todo is not None:
            self.echo(f"judge adapter: building {self.adapter_todo}")
            build_adapter(self.profile)
            self.adapter_todo = None
        for job in jobs + sweep:
            self.link(job.key, self.produce(job))
            self.produced[job.key] = job
        paths = self.render_tables(work.tables)
        for table in FIGURE_TABLES if work.figures else [t for t in work.tables if t in FIGURE_TABLES]:
            paths += self.render_table_figure(table)
        if work.figures:
            paths += self.render_training_figures()
        if work.bootstrap:
            paths += self.render_bootstrap()
        if sweep:
            paths += self.render_order_sweep(sweep)
        for problem in dict.fromkeys(self.missing):
            self.echo(f"note: {problem}")
        self.echo(f"done: {target} in {self.stamp.elapsed():.1f}s ({len(paths)} files)")
        return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.run", description=__doc__.splitlines()[0])
    parser.add_argument("target", help=f"one of {[*TABLES, *ALIASES, *SPECIAL]}")
    parser.add_argument("--profile", default=None, help="profile name (default: $CARE_RL_PROFILE or cpu)")
    parser.add_argument("--results", type=Path, default=None, help="default: <cache>/results/<profile>")
    parser.add_argument(
        "--tables-out", type=Path, default=None, help="default: tables/ (cpu), tables/<profile>/"
    )
    parser.add_argument(
        "--figures-out", type=Path, default=None, help="default: figures/ (cpu), figures/<profile>/"
    )
    parser.add_argument(
        "--plan", action="store_true", help="print the plan and its estimated cost, then exit"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        profile = load_named_profile(args.profile)
        runner = Runner(
            profile, results=args.results, tables_out=args.tables_out, figures_out=args.figures_out
        )
        for path in runner.run(args.target, plan_only=args.plan):
            print(path)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
