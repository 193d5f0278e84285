"""What a target needs, before any compute: the result keys its tables read, the cascades and stages
behind them (cached or to train), the checkpoints to evaluate, the judge studies, and the cost.

A target expands to tables, figures, the bootstrap or the order sweep (``expand``); their table specs
name result keys; each key resolves to a checkpoint (experiments.checkpoints), and a checkpoint of a
method to a stage of its cascade (care_rl.training.cascade_plan). The ``Plan`` is printed before
anything trains; experiments.produce then makes what it lists.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from care_rl.config import ConfigError, Profile
from care_rl.data.records import JudgeItem
from care_rl.training.cascade_plan import (
    DISTILLATION,
    PlannedStage,
    check_heldout,
    load_method,
    method_stages,
    plan,
)
from care_rl.training.stage_run import heldout_prompts
from experiments import checkpoints as ck
from experiments.adapter_surgery import edit_name
from experiments.claims import claim_keys
from experiments.evaluation import Evaluator
from experiments.judge_adapter import (
    check_buildable,
    check_named,
    missing_adapter,
    uses_adapter,
    variant_reads_adapter,
)
from experiments.judge_study import result_path, study_items
from experiments.paths import method_path
from experiments.runconfig import ProfileSettings, RunDirs, load_runner_config
from experiments.table_specs import load_spec

TABLES = [f"table{i}" for i in range(2, 15)]
ALIASES = {
    "ood": ["table3"],
    "stagewise": ["table4"],
    "ablation-components": ["table5"],
    "judge-accuracy": ["table6"],
    "ablation-dacsp": ["table7"],
    "surgery": ["table14"],
    "surgery-rank": ["surgery_rank"],  # beyond the paper: Table 14's top edit at k = 1, 2, 4, 8
}
SPECIAL = ("tables-expanded", "figures", "bootstrap", "claims", "order-sweep", "all")
# a table's own figure, drawn whenever the table is: Table 3's feasibility bars, Table 4's stage-wise
# curves, Table 14's surgery bars, the rank sweep's retained gain against energy. `figures` draws
# those of the paper's tables
FIGURE_TABLES = {
    "table3": "feasibility",
    "table4": "stagewise",
    "table14": "surgery",
    "surgery_rank": "surgery_rank",
}
REWARD_CURVE_METHOD = "care-rl"  # reward curves and DACSP energy: the CARE-RL cascade's stages


@dataclass
class Work:
    tables: list[str] = field(default_factory=list)
    figures: bool = False
    bootstrap: bool = False
    claims: bool = False
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
    if target == "claims":
        return Work(claims=True)
    if target == "order-sweep":
        return Work(order_sweep=True)
    if target == "all":
        return Work(tables=list(TABLES), figures=True, bootstrap=True)
    known = [*TABLES, *ALIASES, *SPECIAL]
    raise ConfigError(f"unknown target {target!r}; known targets: {known}")


def table_keys(name: str, seeds: ck.Seeds | None = None) -> list[str]:
    """Every result key table ``name`` reads (its rows, and the checkpoints Reg. compares against);
    with ``seeds``, a seeded row's keys at each training seed (without: the plain keys only)."""
    keys: list[str] = []
    for row in load_spec(name).rows:
        keys += [k for _, replicate in row.replicates(seeds) for k in replicate.keys]
    return keys


def figure_tables(work: Work) -> list[str]:
    """The tables whose figures ``work`` draws: its own, and with ``figures`` the paper tables'."""
    return [t for t in FIGURE_TABLES if t in work.tables or (work.figures and t in TABLES)]


def required_keys(work: Work, seeds: ck.Seeds | None = None) -> list[str]:
    keys = [k for t in work.tables for k in table_keys(t, seeds)]
    keys += [k for t in figure_tables(work) for k in table_keys(t, seeds)]
    if work.bootstrap:  # CARE-RL against every other row of Table 2 (experiments.bootstrap)
        keys += table_keys("table2", seeds)
    if work.claims:  # the rows of Tables 3, 4, 5, 7 and the rank sweep the claims read (experiments.claims)
        keys += claim_keys(seeds)
    return list(dict.fromkeys(keys))


@dataclass
class Cascade:
    """One method in one domain order, trained with one seed: its planned stages, and the profile
    they train with (the run's, with ``dapo.seed`` = ``seed`` for a replicate; None: the run's own)."""

    method: str
    order: tuple[str, ...] | None
    stages: list[PlannedStage]
    profile: Profile
    seed: int | None = None

    @property
    def name(self) -> tuple[str, tuple[str, ...] | None, int | None]:
        return self.method, self.order, self.seed

    def index(self, stage: str | None) -> int:
        domains = [s.run.domains for s in self.stages]
        if stage is None:
            return len(domains) - 1
        for i, ds in enumerate(domains):
            if stage in ds:
                return i
        raise ConfigError(f"method {self.method!r} has no {stage!r} stage (its stages train {domains})")

    @property
    def label(self) -> str:
        order = f" ({'-'.join(self.order)})" if self.order else ""
        return self.method + order + (f" (seed {self.seed})" if self.seed is not None else "")


@dataclass
class Job:
    """One result key to produce: which checkpoint and where its evaluation is cached. ``eval_name``
    of a stage is the planned checkpoint's; training can change it (a between-stage step)."""

    checkpoint: ck.Checkpoint
    cascade: Cascade | None = None
    stage: int = -1
    eval_name: str = ""

    @property
    def key(self) -> str:
        return self.checkpoint.key


def study_uses_adapter(checkpoint: ck.Checkpoint) -> bool:
    """Whether a Table 6 row reads the profile's judge adapter (experiments.judge_adapter)."""
    return variant_reads_adapter(str(checkpoint.variant))


class JudgeStudies:
    """Table 6's judge-study rows of one profile: their items and where each row's result is cached."""

    def __init__(self, profile: Profile, settings: ProfileSettings, root: Path) -> None:
        self.profile, self.settings, self.root = profile, settings, root

    @cached_property
    def items(self) -> dict[str, list[JudgeItem]]:
        return study_items(self.profile, self.settings.judge_items, self.settings.judge_seed)

    def path(self, variant: str) -> Path:
        return result_path(self.root, self.profile, variant, self.settings.judge_ds, self.items)


@dataclass
class Plan:
    """Everything a target will produce, what is cached, and the estimated cost."""

    target: str
    work: Work
    jobs: list[Job]
    sweep: list[Job]
    cascades: list[Cascade]
    adapter: Path | None  # the judge LoRA to build before any stage needs it
    missing: list[str]  # result keys this profile cannot produce, and why
    lines: list[str] = field(default_factory=list)


class Planner:
    """Resolves a target's result keys into cascades, evaluations and judge studies, and prints the plan."""

    def __init__(self, profile: Profile, dirs: RunDirs | None = None) -> None:
        config = load_runner_config()
        self.profile = profile
        self.settings = config.for_profile(profile.name)
        self.sweep_methods = config.order_sweep.methods
        self.dirs = dirs or RunDirs.of(profile.name, self.settings)
        self.evaluator = Evaluator(profile, self.dirs.evals, progress=True)  # a bar per benchmark
        self.studies = JudgeStudies(profile, self.settings, self.dirs.evals / "judge")
        self.seeds = self.settings.training_seeds(profile)
        self.table = ck.load_table()
        self.cascades: dict[tuple[str, tuple[str, ...] | None, int | None], Cascade] = {}
        self.missing: list[str] = []

    def cascade(self, method: str, order: tuple[str, ...] | None = None, seed: int | None = None) -> Cascade:
        """``method`` in ``order``, trained with ``seed`` (None, or the profile's: the profile as it is;
        another: the same stages with ``dapo.seed`` replaced, so every stage key is the replicate's)."""
        seed = None if seed == self.profile.dapo.seed else seed
        if (method, order, seed) not in self.cascades:
            profile = self.profile
            if seed is not None:
                profile = profile.model_copy(update={"dapo": profile.dapo.model_copy(update={"seed": seed})})
            runs = method_stages(load_method(method_path(method)), list(order) if order else None)
            check_heldout(profile, runs, heldout_prompts)
            stages = plan(profile, runs, self.dirs.stages)
            self.cascades[method, order, seed] = Cascade(method, order, stages, profile, seed)
        return self.cascades[method, order, seed]

    def job(self, checkpoint: ck.Checkpoint) -> Job:
        job = Job(checkpoint)
        if checkpoint.kind in ("stage", "surgery"):
            assert checkpoint.method is not None
            job.cascade = self.cascade(checkpoint.method, checkpoint.order, checkpoint.seed)
            job.stage = job.cascade.index(checkpoint.stage)
            stage_key = job.cascade.stages[job.stage].checkpoint
            job.eval_name = f"stage-{stage_key}"
            if checkpoint.kind == "surgery":
                assert checkpoint.edit is not None
                spec = self.profile.dacsp
                seed = self.settings.surgery_seed
                job.eval_name = edit_name(stage_key, checkpoint.edit, spec, seed, checkpoint.rank)
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
            jobs.append(self.job(c))
        return jobs

    def sweep_jobs(self) -> list[Job]:
        jobs = []
        for method in self.sweep_methods:
            base_order = load_method(method_path(method)).order
            for order in itertools.permutations(base_order):
                jobs.append(self.job(ck.Checkpoint("stage", method=method, order=tuple(order))))
        return jobs

    def needed_adapter(self, jobs: Sequence[Job]) -> Path | None:
        """The profile's judge adapter when it is missing and a stage to train or a judge-study row
        reads it; checked buildable here, before any compute."""
        stages = {st.key: st for c in self.cascades.values() for st in c.stages}
        need = any(
            not st.cached and uses_adapter([*st.run.rewards, *st.run.monitor_rewards.values()])
            for st in stages.values()
        ) or any(j.checkpoint.kind == "judge" and study_uses_adapter(j.checkpoint) for j in jobs)
        if not need:
            return None
        check_named(self.profile)  # PA-GRM without its trained judge: refused unless declared
        path = missing_adapter(self.profile)
        if path is not None:
            check_buildable(self.profile, path)
        return path

    def judge_pending(self, job: Job, adapter: Path | None) -> bool:
        # a row scored by a judge adapter not built yet has no content hash yet: it is pending
        if adapter is not None and study_uses_adapter(job.checkpoint):
            return True
        assert job.checkpoint.variant is not None
        return not self.studies.path(job.checkpoint.variant).is_file()

    def plan(self, target: str) -> Plan:
        work = expand(target, self.settings)
        jobs = self.jobs(required_keys(work, self.seeds))
        sweep = self.sweep_jobs() if work.order_sweep else []
        if work.figures:
            self.cascade(REWARD_CURVE_METHOD)
        adapter = self.needed_adapter(jobs + sweep)
        result = Plan(target, work, jobs, sweep, list(self.cascades.values()), adapter, self.missing)
        result.lines = self.describe(result)
        return result

    def describe(self, p: Plan) -> list[str]:
        """The plan as printed: one line per stage (its cascades, cached or not), one per checkpoint
        evaluation (the result keys it serves), the judge studies, and the estimated cost."""
        s, lines = self.settings, []
        echo: Callable[[str], None] = lines.append
        jobs = p.jobs + p.sweep
        stages: dict[str, PlannedStage] = {}
        users: dict[str, list[str]] = {}  # stage key -> the cascades that train it
        undecided = 0  # between-stage steps still to decide
        for c in p.cascades:
            for st in c.stages:
                stages.setdefault(st.key, st)
                then = f" (then {st.after} if a domain regressed)" if st.after and not st.decided else ""
                users.setdefault(st.key, []).append(c.label + then)
                undecided += bool(then)
        train = [st for st in stages.values() if not st.cached]
        train_s = sum(st.steps for st in train) * s.seconds_per_step
        evaluations: dict[tuple[str, str | None] | str, list[Job]] = {}
        for j in jobs:
            if j.checkpoint.kind in ("base", "stage", "surgery"):
                # shared checkpoints are evaluated once; one decided by training is its own evaluation
                name = j.key if self.provisional(j) else (j.eval_name, j.checkpoint.domain)
                evaluations.setdefault(name, []).append(j)
        todo = [g for g in evaluations.values() if self.provisional(g[0]) or not self.evaluated(g[0])]
        eval_s = sum(self.evaluator.samples(g[0].checkpoint.domain) for g in todo) * s.seconds_per_eval_sample
        judges = [j for j in jobs if j.checkpoint.kind == "judge"]
        judge_todo = [j for j in judges if self.judge_pending(j, p.adapter)]
        items = sum(len(v) for v in self.studies.items.values()) if judges else 0
        judge_s = len(judge_todo) * items * 6 * s.seconds_per_eval_sample  # ~6 judged responses per item
        echo(f"plan: {p.target} (profile {self.profile.name}, {len(jobs)} result keys)")
        adapter_s = s.seconds_judge_adapter if p.adapter else 0.0
        if p.adapter:
            echo(f"  judge adapter: build {p.adapter} (synthetic-teacher traces + LoRA-SFT)")
        echo(f"  stages: {len(train)} to train, {len(stages) - len(train)} cached")
        for st in stages.values():
            status = (
                "cached"
                if st.cached
                else f"train ~{st.steps} steps, <= {st.max_generated_tokens:,} gen tokens"
            )
            echo(
                f"    {st.index + 1}. {st.run.name:<14} rewards={','.join(st.run.rewards):<10} {st.key[:12]} "
                f"{status}; for {', '.join(users[st.key])}"
            )
        if undecided:
            echo(
                f"    + up to {undecided} {DISTILLATION} stage(s), decided by held-out scores once the "
                "stage before each has run (not in the estimate)"
            )
        echo(f"  checkpoints: {len(todo)} to evaluate, {len(evaluations) - len(todo)} cached")
        for group in evaluations.values():
            j = group[0]
            only = f" ({j.checkpoint.domain} benchmarks only)" if j.checkpoint.domain else ""
            folder = self.evaluator.out_dir(j.eval_name).name
            if self.provisional(j):
                where = f"decided by training: {folder} unless {DISTILLATION} replaces a stage"
            else:
                where = f"{folder}{'' if group in todo else ', cached'}"
            echo(f"    {', '.join(g.key for g in group)} -> {where}{only}")
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
        return lines

    @staticmethod
    def provisional(job: Job) -> bool:
        """Whether the job's checkpoint is known only after training: a between-stage step at or
        before its stage has not run yet (experiments.produce names the checkpoint it becomes)."""
        if job.cascade is None:
            return False
        return not all(st.decided for st in job.cascade.stages[: job.stage + 1])

    def evaluated(self, job: Job) -> bool:
        return self.evaluator.cached(job.eval_name, job.checkpoint.domain)
