"""Render what a run produced: the paper's tables, their figures, the training figures, the bootstrap
and the order sweep, each with a provenance file naming the run and the compute behind its numbers.

Rendering reads only the linked results (``<results>/<result key>/summary.json``) and the stage logs;
it trains and evaluates nothing, so a re-run with everything cached only re-renders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from care_rl.dacsp.checkpoint_surgery import ZeroUpdateError
from care_rl.training.cascade_plan import load_method
from experiments import checkpoints as ck
from experiments import claims as cl
from experiments import figures as fg
from experiments import metrics as m
from experiments.adapter_surgery import update_energy
from experiments.bootstrap import (
    REFERENCE,
    baselines,
    bootstrap_table,
    load_runs,
    seed_keys,
    table2_labels,
    title,
)
from experiments.order_sweep import order_sweep_table
from experiments.paths import method_path
from experiments.plan import FIGURE_TABLES, REWARD_CURVE_METHOD, Job, Plan, Planner, figure_tables, table_keys
from experiments.produce import Producer
from experiments.provenance import RunStamp, compute_record
from experiments.results import load_summary
from experiments.stage_logs import energy_rows, reward_rows
from experiments.table_specs import TableSpec
from experiments.tables import (
    build,
    build_table,
    checkpoint_scores,
    energy_keys,
    load_spec,
    spread_label,
    write_table,
)


def top_k_ranks(spec: TableSpec) -> dict[str, int | None]:
    """Row label -> k of each row whose every checkpoint is a keep_top edit (None: the energy rule)."""
    table, ranks = ck.load_table(), {}
    for row in spec.rows:
        cs = [ck.resolve(key, table) for key in (row.domain_results or {}).values()]
        if cs and all(c.kind == "surgery" and c.edit == "keep_top" for c in cs):
            if len({c.rank for c in cs}) > 1:
                raise ValueError(f"table {spec.name}, row {row.label!r}: its domains edit different ranks")
            ranks[row.label] = cs[0].rank
    return ranks


# a table's figure from its spec and its frame of means and stds (which std: the spread label,
# experiments.tables.spread_label), legends in training order. Feasibility reads the base's avg@k std.
FIGURES: dict[str, Callable[[TableSpec, pd.DataFrame, pd.DataFrame | None, Sequence[str], str], Figure]] = {
    "stagewise": lambda spec, frame, stds, order, spread: fg.stagewise_figure(frame, stds, order, spread),
    "surgery": lambda spec, frame, stds, order, spread: fg.surgery_figure(frame, stds, order, spread=spread),
    "surgery_rank": lambda spec, frame, stds, order, spread: fg.surgery_rank_figure(
        frame, top_k_ranks(spec), order, base=str(spec.base), full=str(spec.full)
    ),
    "feasibility": lambda spec, frame, stds, order, spread: fg.feasibility_figure(
        frame, stds, {r.label: r.ood_target for r in spec.rows if r.ood_target}, order, base=str(spec.base)
    ),
}


class Renderer:
    def __init__(self, planner: Planner, producer: Producer, stamp: RunStamp) -> None:
        self.profile, self.dirs, self.planner, self.producer = (
            planner.profile,
            planner.dirs,
            planner,
            producer,
        )
        self.stamp = stamp
        self.missing = planner.missing  # cells and figures left out, printed as notes at the end
        self.energy: dict[str, float] = {}  # result key -> percent of its update's energy, once per run

    def render_all(self, plan: Plan) -> list[Path]:
        work = plan.work
        paths = self.tables(work.tables)
        for table in figure_tables(work):
            paths += self.table_figure(table)
        if work.figures:
            paths += self.training_figures()
        if work.bootstrap:
            paths += self.bootstrap()
        if work.claims:
            paths += self.claims()
        if plan.sweep:
            paths += self.order_sweep(plan.sweep)
        return paths

    def tables(self, names: Sequence[str]) -> list[Path]:
        paths = []
        for name in names:
            paths += build(
                name,
                self.profile.name,
                self.dirs.results,
                self.dirs.tables,
                self.missing,
                run=self.stamp,
                compute=self.producer.compute(table_keys(name, self.planner.seeds)),
                seeds=self.planner.seeds,
                energies=self.energies(load_spec(name)),
            )
        return paths

    def energies(self, spec: TableSpec) -> dict[str, float]:
        """Percent of its single-domain update's energy each key of ``spec``'s energy columns holds:
        Base none, a trained checkpoint all of its update (adapter - fresh LoRA), an edit what
        ``update_energy`` computes from the adapters. A zero update leaves its cells empty, said why."""
        for key in energy_keys(spec):
            if key in self.energy:
                continue
            job = self.producer.produced[key]
            c = job.checkpoint
            if c.kind == "base":
                self.energy[key] = 0.0
                continue
            if job.cascade is None:
                raise ValueError(f"table {spec.name}: {key!r} has no update to measure the energy of")
            adapter = self.producer.train(job.cascade)[job.stage].checkpoint.adapter_dir
            init = self.producer.initial_adapter
            try:
                self.energy[key] = update_energy(adapter, init, c.edit, self.profile.dacsp, c.rank)
            except ZeroUpdateError as e:
                self.missing.append(f"table {spec.name}: {key}: {c.method}'s {e}")
        return self.energy

    def _figure_meta(self) -> dict[str, Any]:
        return {
            "profile": self.profile.name,
            "model": self.profile.policy.name_or_path,
            "date": dt.date.today().isoformat(),
            "run": self.stamp,
        }

    def table_figure(self, table: str) -> list[Path]:
        """The figure drawn from one table's numbers (``FIGURE_TABLES``)."""
        name, spec, seeds = FIGURE_TABLES[table], load_spec(table), self.planner.seeds
        frame, stds = build_table(spec, self.dirs.results, self.missing, seeds, self.energies(spec))
        order = load_method(method_path(REWARD_CURVE_METHOD)).order  # legends list domains as trained
        return fg.save_figure(
            FIGURES[name](spec, frame, stds, order, spread_label(spec, seeds)),
            name,
            self.dirs.figures,
            **self._figure_meta(),
            compute=self.producer.compute(table_keys(table, seeds)),
        )

    def training_figures(self) -> list[Path]:
        """Reward curves and DACSP energy over the CARE-RL cascade's training steps."""
        meta = self._figure_meta()
        cascade = self.planner.cascade(REWARD_CURVE_METHOD)
        steps = self.producer.train(cascade)
        dirs = [step.checkpoint.dir for step in steps]
        stages = compute_record(self.producer.stage_parts(cascade, len(steps)))
        rows = reward_rows(dirs)
        paths = fg.save_figure(
            fg.reward_curves_figure(rows, key="rewards_by_domain/{domain}/mean"),
            "rewards",
            self.dirs.figures,
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
                fg.dacsp_energy_figure(frame), "dacsp", self.dirs.figures, **meta, compute=stages
            )
        else:
            self.missing.append("figure dacsp: no DACSP step moved the weights; figure not drawn")
        return paths

    def bootstrap(self) -> list[Path]:
        runs = seed_keys([REFERENCE, *baselines()], self.planner.seeds)
        labels = table2_labels()
        table = bootstrap_table(
            load_runs(self.dirs.results, runs),
            REFERENCE,
            n_resamples=2000,
            seed=0,
            missing=self.missing,
            labels=labels,
        )
        seeded = [labels.get(k, k) for k, r in runs.items() if len(r) > 1]
        return write_table(
            "bootstrap",
            table,
            self.profile.name,
            self.profile.policy.name_or_path,
            dt.date.today().isoformat(),
            self.dirs.tables,
            title=title(2000, 0, labels.get(REFERENCE, REFERENCE), seeded),
            formats={"p boot": ".3f"},
            run=self.stamp,
            compute=self.producer.compute(key for r in runs.values() for key in r.values()),
        )

    def claims(self) -> list[Path]:
        """The four claims' statistics, intervals and verdicts (experiments.claims); claim 4's energy
        shares from the adapters, as the rank sweep's table computes them."""
        stats = cl.statistics(self.planner.seeds)
        keys = [k for s in stats for k in s.keys]
        energies = self.energies(load_spec("surgery_rank"))
        table = cl.claims_table(stats, cl.load_available(self.dirs.results, keys), energies)
        return cl.write_claims(
            table,
            self.profile.name,
            self.profile.policy.name_or_path,
            self.dirs.tables,
            title=cl.caption(cl.N_RESAMPLES, cl.SEED, self.planner.seeds),
            run=self.stamp,
            compute=self.producer.compute(keys),
        )

    def order_sweep(self, jobs: Sequence[Job]) -> list[Path]:
        columns = [*m.DOMAIN_AVG.values(), m.TOTAL]
        results = {}
        for j in jobs:
            means, _ = checkpoint_scores(load_summary(self.dirs.results / j.key / "summary.json"))
            assert j.cascade is not None and j.cascade.order is not None
            results[j.cascade.method, j.cascade.order] = means
        reference = self.planner.sweep_methods[0]
        df, stds, summary = order_sweep_table(results, columns, reference)
        return write_table(
            "order_sweep",
            df,
            self.profile.name,
            self.profile.policy.name_or_path,
            dt.date.today().isoformat(),
            self.dirs.tables,
            stds=stds,
            no_bold=summary,
            title="Domain-order sweep (beyond the paper): final-checkpoint domain averages for every order; "
            f"summary rows give mean (std) and range over orders, and the difference to {reference} paired "
            "by order",
            run=self.stamp,
            compute=self.producer.compute(j.key for j in jobs),
        )
