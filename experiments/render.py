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

from care_rl.training.cascade_plan import load_method
from experiments import figures as fg
from experiments import metrics as m
from experiments.bootstrap import REFERENCE, baselines, bootstrap_table, table2_labels
from experiments.order_sweep import order_sweep_table
from experiments.paths import method_path
from experiments.plan import FIGURE_TABLES, REWARD_CURVE_METHOD, Job, Plan, Planner, table_keys
from experiments.produce import Producer
from experiments.provenance import RunStamp, compute_record
from experiments.results import load_samples, load_summary
from experiments.stage_logs import energy_rows, reward_rows
from experiments.table_specs import TableSpec
from experiments.tables import build, build_table, checkpoint_scores, load_spec, write_table

# a table's figure from its spec and its frame of means and avg@k stds, legends in training order
FIGURES: dict[str, Callable[[TableSpec, pd.DataFrame, pd.DataFrame | None, Sequence[str]], Figure]] = {
    "stagewise": lambda spec, frame, stds, order: fg.stagewise_figure(frame, stds, order),
    "surgery": lambda spec, frame, stds, order: fg.surgery_figure(frame, stds, order),
    "feasibility": lambda spec, frame, stds, order: fg.feasibility_figure(
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

    def render_all(self, plan: Plan) -> list[Path]:
        work = plan.work
        paths = self.tables(work.tables)
        for table in FIGURE_TABLES if work.figures else [t for t in work.tables if t in FIGURE_TABLES]:
            paths += self.table_figure(table)
        if work.figures:
            paths += self.training_figures()
        if work.bootstrap:
            paths += self.bootstrap()
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
                compute=self.producer.compute(table_keys(name)),
            )
        return paths

    def _figure_meta(self) -> dict[str, Any]:
        return {
            "profile": self.profile.name,
            "model": self.profile.policy.name_or_path,
            "date": dt.date.today().isoformat(),
            "run": self.stamp,
        }

    def table_figure(self, table: str) -> list[Path]:
        """The figure drawn from one table's numbers (``FIGURE_TABLES``)."""
        name = FIGURE_TABLES[table]
        spec = load_spec(table)
        frame, stds = build_table(spec, self.dirs.results, self.missing)
        order = load_method(method_path(REWARD_CURVE_METHOD)).order  # legends list domains as trained
        return fg.save_figure(
            FIGURES[name](spec, frame, stds, order),
            name,
            self.dirs.figures,
            **self._figure_meta(),
            compute=self.producer.compute(table_keys(table)),
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
        keys = [REFERENCE, *baselines()]
        samples = {k: load_samples(self.dirs.results / k / "summary.json") for k in keys}
        table = bootstrap_table(
            samples, REFERENCE, n_resamples=2000, seed=0, missing=self.missing, labels=table2_labels()
        )
        return write_table(
            "bootstrap",
            table,
            self.profile.name,
            self.profile.policy.name_or_path,
            dt.date.today().isoformat(),
            self.dirs.tables,
            title="Paired bootstrap (2000 resamples of prompts and samples, seed 0): Total Avg difference "
            "of CARE-RL vs. each baseline, 95% CI",
            formats={"p boot": ".3f"},
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
