"""Eval summaries -> the paper's tables: ``tables/<name>.tex`` (booktabs) + ``.csv`` + provenance.

A table is data (experiments.table_specs, ``experiments/tables/<name>.yaml``). Summaries are read
from ``<results_dir>/<result>/summary.json`` (eval/checkpoint_eval.py's layout; default
``$CARE_RL_CACHE/results/<profile>``).

    python -m experiments.tables build table2 --profile cpu
    python -m experiments.tables compare            # ours beside the paper's published rows
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from care_rl.atomic import write_bytes_atomic
from care_rl.config import ConfigError, cache_dir
from experiments import checkpoints as ck
from experiments import metrics as m
from experiments.fidelity import table_notes
from experiments.paths import PAPER_TABLES_DIR, TABLES_DIR, load_named_profile
from experiments.provenance import RunStamp, write_provenance
from experiments.results import BenchmarkResult, ResultsError, load_summary
from experiments.runconfig import RunDirs, load_runner_config
from experiments.table_specs import RowSpec, TableSpec, load_spec

STD_SUFFIX = " std"
NA = "--"  # LaTeX renders "--" as an en dash, the paper's "not applicable" mark


def checkpoint_scores(results: Mapping[str, BenchmarkResult]) -> tuple[dict[str, float], dict[str, float]]:
    """Means and stds of one checkpoint: its benchmarks plus every average it can support."""
    means = {c: r.mean for c, r in results.items()}
    means.update(m.averages(means))
    stds = {c: r.std for c, r in results.items()}
    stds.update(m.average_stds({c: r.set_means for c, r in results.items() if r.set_means is not None}))
    return means, stds


def energy_keys(spec: TableSpec) -> list[str]:
    """The result keys whose update energy the table's energy columns (metrics.ENERGY) read: for each
    row, the key behind each domain that has an energy column."""
    keys = []
    for row in spec.rows:
        sources = row.domain_results or dict.fromkeys(m.ENERGY, row.result)
        keys += [k for d, k in sources.items() if m.ENERGY[d] in spec.columns and k is not None]
    return list(dict.fromkeys(keys))


def build_table(
    spec: TableSpec,
    results_dir: Path,
    missing: list[str] | None = None,
    seeds: ck.Seeds | None = None,
    energies: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Means and stds (NaN where unknown or not applicable), one row per spec row.

    A cell's std is the avg@k std of its checkpoint, except in a seeded row read at several training
    seeds (``seeds``): there every value, derived ones included (Reg. from that seed's own
    checkpoints), is computed per seed; the cell is the mean over seeds and its std the sample std
    over seeds (ddof=1). Base and full-update references (OOD Change, Ret. Gain) are rows' cells.

    By default a missing summary, column or undefined derived metric is an error. With a ``missing``
    list the cell is left NaN (rendered "--") and the reason appended to the list instead: the runner
    uses this where a profile cannot produce a number (a smoke judge that never parses, no PA-GRM-DS
    judge configured) and prints every such cell, so nothing is silently dropped.
    ``energies``: the energy columns' values per result key (``energy_keys``), in percent; the runner
    computes them from the adapters (experiments.render), summaries do not hold them."""
    cache: dict[str, tuple[dict[str, float], dict[str, float]]] = {}

    def scores(key: str) -> tuple[dict[str, float], dict[str, float]]:
        if key not in cache:
            try:
                cache[key] = checkpoint_scores(load_summary(results_dir / key / "summary.json"))
            except ResultsError as e:
                if missing is None:
                    raise
                missing.append(f"table {spec.name}: {e}")
                cache[key] = ({}, {})
        return cache[key]

    def checkpoint_columns(row: RowSpec) -> tuple[dict[str, float], dict[str, float]]:
        """The row's benchmark and average columns, with their avg@k stds, from its checkpoint(s)."""
        if row.result is not None:
            means, stds = scores(row.result)
            return dict(means), dict(stds)
        means, stds = {}, {}
        for domain, key in (row.domain_results or {}).items():
            col = m.DOMAIN_AVG[domain]
            mean, std = scores(key)
            if col not in mean:
                problem = f"table {spec.name}, row {row.label!r}: {results_dir / key} lacks {col}"
                if missing is None:
                    raise ConfigError(problem)
                missing.append(problem)
                continue
            means[col], stds[col] = mean[col], std.get(col, math.nan)
        return means, stds

    def derived(where: str, column: str, compute: Callable[[], float]) -> float:
        try:
            return compute()
        except m.Undefined as e:
            if missing is None:
                raise
            missing.append(f"table {spec.name}, {where}: {column} not computable: {e}")
            return math.nan

    # every row at each of its training seeds: one replicate unless the row is seeded
    replicates = {row.label: row.replicates(seeds) for row in spec.rows}
    read = {label: [checkpoint_columns(r) for _, r in reps] for label, reps in replicates.items()}
    values = {label: [v for v, _ in cols] for label, cols in read.items()}
    means: dict[str, dict[str, float]] = {}
    stds: dict[str, dict[str, float]] = {}
    for row in spec.rows:
        means[row.label] = _over_seeds(values[row.label])[0]
    for row in spec.rows:
        for (seed, replicate), v in zip(replicates[row.label], values[row.label], strict=True):
            where = f"row {row.label!r}" + (f" at training seed {seed}" if row.seeded and seeds else "")
            for domain, key in (
                replicate.domain_results or dict.fromkeys(m.ENERGY, replicate.result)
            ).items():
                if m.ENERGY[domain] not in spec.columns:
                    continue
                if energies is not None and key in energies:
                    v[m.ENERGY[domain]] = energies[key]
                    continue
                problem = (
                    f"table {spec.name}, {where}: no {m.ENERGY[domain]} for {key!r} (computed from the "
                    "adapters when `python -m experiments.run` renders the table)"
                )
                if missing is None:
                    raise ConfigError(problem)
                missing.append(problem)
            if row.ood_target is not None:
                target = row.ood_target
                v[m.OOD] = derived(where, m.OOD, lambda v=v, t=target: m.ood_change(v, means[spec.base], t))
            if replicate.reg_after is not None:
                after = replicate.reg_after
                v[m.REG] = derived(
                    where,
                    m.REG,
                    lambda v=v, a=after: m.regression(v, {d: scores(k)[0] for d, k in a.items()}),
                )
            if m.RET_GAIN in spec.columns and row.label != spec.base:
                domains = [d for d, col in m.DOMAIN_AVG.items() if col in v]
                v[m.RET_GAIN] = derived(
                    where,
                    m.RET_GAIN,
                    lambda v=v, ds=domains: m.retained_gain(
                        *(
                            {d: src[m.DOMAIN_AVG[d]] for d in ds if m.DOMAIN_AVG[d] in src}
                            for src in (v, means[spec.base], means[spec.full])
                        )
                    ),
                )
        means[row.label], seed_stds = _over_seeds(values[row.label])
        stds[row.label] = seed_stds if len(values[row.label]) > 1 else read[row.label][0][1]
    needs = [c for c in spec.columns if c not in (m.OOD, m.REG, m.RET_GAIN, *m.ENERGY.values())]
    for row in spec.rows:
        lacking = [c for c in needs if c not in means[row.label]]
        if lacking:
            problem = f"table {spec.name}, row {row.label!r}: results lack column(s) {lacking}"
            if missing is None:
                raise ConfigError(problem)
            missing.append(problem)
    index = pd.Index([r.label for r in spec.rows], name=spec.row_header)
    frame = pd.DataFrame.from_dict(means, orient="index").reindex(index=index, columns=spec.columns)
    std_frame = pd.DataFrame.from_dict(stds, orient="index").reindex(index=index, columns=spec.columns)
    return frame.astype(float), std_frame.astype(float)


def _over_seeds(values: Sequence[Mapping[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and sample std (ddof=1) over a row's per-seed values, for each column every seed has; one
    seed: its values as they are (std NaN). A column some seed lacks is left out: no mean of fewer seeds."""
    if len(values) == 1:
        return dict(values[0]), {}
    columns = [c for c in values[0] if all(c in v for v in values)]
    return (
        {c: float(np.mean([v[c] for v in values])) for c in columns},
        {c: m.set_std([v[c] for v in values]) for c in columns},
    )


def _fmt(column: str, value: float, formats: Mapping[str, str]) -> str:
    if math.isnan(value):
        return NA
    return format(value, formats.get(column, "+.1f" if column == m.OOD else ".1f"))


def best_mask(df: pd.DataFrame, exclude: Iterable[str] = ()) -> pd.DataFrame:
    """True where a cell holds its column's best value as printed (ties all bold); only columns
    with a known direction (experiments.metrics) take part, and rows in ``exclude`` never do."""
    mask = pd.DataFrame(False, index=df.index, columns=df.columns)
    eligible = ~df.index.isin(list(exclude))
    for col in df.columns:
        if col not in m.KNOWN_COLUMNS or col in m.UNRANKED:
            continue
        shown = df.loc[eligible, col].round(1).dropna()
        if shown.empty:
            continue
        best = shown.min() if col in m.LOWER_IS_BETTER else shown.max()
        mask.loc[shown.index[shown == best], col] = True
    return mask


def latex_escape(text: str) -> str:
    """Escape free text for LaTeX with pandas' own escaper (the one Styler applies to cells)."""
    styler = pd.DataFrame([[text]]).style.format(escape="latex").hide(axis=0).hide(axis=1)
    return styler.to_string().rstrip("\n")


def to_latex(
    df: pd.DataFrame,
    stds: pd.DataFrame | None,
    caption: str,
    label: str,
    exclude: Iterable[str] = (),
    formats: Mapping[str, str] | None = None,
) -> str:
    """A booktabs tabular in a table float; best per column in bold; cells "mean (std)" with stds.
    ``formats`` overrides the one-decimal number format per column (format-spec strings)."""
    text = pd.DataFrame(
        {
            col: [
                _fmt(col, v, formats or {})
                + (f" ({s:.2f})" if stds is not None and not math.isnan(v) and not math.isnan(s) else "")
                for v, s in zip(df[col], stds[col] if stds is not None else [math.nan] * len(df), strict=True)
            ]
            for col in df.columns
        },
        index=df.index,
    )
    bold = best_mask(df, exclude)
    styler = (
        text.reset_index()
        .style.hide(axis=0)
        .format(escape="latex")
        .format_index(escape="latex", axis=1)
        .apply(
            lambda _: bold.reset_index(drop=True).map(lambda b: "font-weight: bold" if b else ""),
            axis=None,
            subset=list(df.columns),
        )
    )
    return styler.to_latex(
        hrules=True,
        caption=latex_escape(caption),
        label=label,
        position="t",
        position_float="centering",
        column_format="l" + "r" * len(df.columns),
        convert_css=True,
    )


def _with_stds(df: pd.DataFrame, stds: pd.DataFrame | None) -> pd.DataFrame:
    if stds is None:
        return df
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        out[col] = df[col]
        out[col + STD_SUFFIX] = stds[col]
    return out


def write_table(
    name: str,
    df: pd.DataFrame,
    profile: str,
    model: str,
    date: str,
    out_dir: Path,
    *,
    stds: pd.DataFrame | None = None,
    paper: pd.DataFrame | None = None,
    title: str | None = None,
    no_bold: Iterable[str] = (),
    formats: Mapping[str, str] | None = None,
    wall_time_s: float | None = None,
    run: RunStamp | None = None,
    compute: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``<out_dir>/<name>.tex``, ``.csv`` and ``.provenance.json``; returns the paths.

    ``df``: one row per method (index = row labels), one column per metric. ``stds`` (same shape)
    adds "(std)" to cells and std columns to the CSV. ``paper`` rows (tables/paper/<name>.csv)
    are appended to the CSV under their own ``source``."""
    out_dir = Path(out_dir)
    caption = f"{(title or name).rstrip('.')}. This run: profile {profile}, model {model}, {date}."
    tex = to_latex(df, stds, caption, f"tab:{name}", no_bold, formats)
    ours = _with_stds(df, stds).rename_axis("method").reset_index()
    ours.insert(0, "source", f"ours ({profile}, {model})")
    csv = pd.concat([ours, paper], ignore_index=True) if paper is not None else ours
    paths = [out_dir / f"{name}.tex", out_dir / f"{name}.csv"]
    write_bytes_atomic(paths[0], tex.encode())
    write_bytes_atomic(paths[1], csv.to_csv(index=False, float_format="%.4f").encode())
    prov = write_provenance(
        out_dir,
        name,
        paths,
        profile=profile,
        model=model,
        date=date,
        wall_time_s=wall_time_s,
        run=run,
        compute=compute,
    )
    return [*paths, prov]


def load_paper(name: str, paper_dir: Path = PAPER_TABLES_DIR) -> pd.DataFrame:
    """The paper's published rows for a table (``source``, ``method``, metric columns)."""
    path = paper_dir / f"{name}.csv"
    if not path.is_file():
        raise ConfigError(f"no published numbers for {name!r}: {path} not found")
    return pd.read_csv(path)


def compare_paper(
    name: str,
    tables_dir: Path = TABLES_DIR,
    paper_dir: Path = PAPER_TABLES_DIR,
    echo: Callable[[str], object] = print,
) -> pd.DataFrame:
    """Print our rows of ``name`` beside the paper's (shared columns only) and return the frame."""
    ours_path = tables_dir / f"{name}.csv"
    if not ours_path.is_file():
        raise ConfigError(
            f"{ours_path} not found: build it first (python -m experiments.tables build {name})"
        )
    ours = pd.read_csv(ours_path)
    ours = ours[~ours["source"].str.startswith("paper")]
    paper = load_paper(name, paper_dir)
    shared = [c for c in paper.columns if c in ours.columns]
    both = pd.concat([ours[shared], paper[shared]], ignore_index=True)
    buf = io.StringIO()
    both.to_string(buf, index=False, float_format=lambda v: f"{v:.1f}", na_rep=NA)
    echo(f"== {name} ==\n{buf.getvalue()}\n")
    return both


def build(
    name: str,
    profile_name: str | None,
    results_dir: Path | None,
    out_dir: Path,
    missing: list[str] | None = None,
    run: RunStamp | None = None,
    compute: dict[str, Any] | None = None,
    seeds: ck.Seeds | None = None,
    energies: Mapping[str, float] | None = None,
) -> list[Path]:
    """Build one table from the profile's eval summaries and write it with the paper's rows beside
    (``missing``, ``energies``: see ``build_table``; ``run``, ``compute``: the run rendering them and
    the compute behind them, for the provenance; ``seeds``: the training seeds of seeded rows, by
    default the profile's, experiments/runner.yaml)."""
    start = time.monotonic()
    profile = load_named_profile(profile_name, check_device=False)
    spec = load_spec(name)
    results_dir = results_dir or cache_dir() / "results" / profile.name
    seeds = seeds or load_runner_config().for_profile(profile.name).training_seeds(profile)
    df, stds = build_table(spec, results_dir, missing, seeds, energies)
    seeded = seeded_rows(spec, seeds)
    shown: pd.DataFrame | None = None  # the stds the cells print
    if spec.show_std:
        shown = stds
    elif seeded:  # a seeded row prints its std over seeds; the other rows print none, as without seeds
        shown = stds.copy()
        shown.loc[~shown.index.isin(seeded)] = math.nan
    notes = table_notes(profile, spec)  # what this profile does unlike the paper, said in the table
    df = df.rename(index=notes.relabel)
    shown = shown.rename(index=notes.relabel) if shown is not None else None
    seed_note = [seeds_caption([notes.relabel.get(r, r) for r in seeded], seeds)] if seeded else []
    paper = load_paper(name) if (PAPER_TABLES_DIR / f"{name}.csv").is_file() else None
    return write_table(
        name,
        df,
        profile.name,
        profile.policy.name_or_path,
        dt.date.today().isoformat(),
        out_dir,
        stds=shown,
        paper=paper,
        title=". ".join([spec.title.rstrip("."), *seed_note, *notes.caption]),
        no_bold=[notes.relabel.get(label, label) for label in spec.no_bold],
        wall_time_s=time.monotonic() - start,
        run=run,
        compute=compute,
    )


def seeded_rows(spec: TableSpec, seeds: ck.Seeds) -> list[str]:
    """The rows whose cells are over several training seeds (none with one seed: those tables render
    exactly as before seeds existed)."""
    return [r.label for r in spec.rows if r.seeded] if len(seeds.all) > 1 else []


def seeds_caption(rows: Sequence[str], seeds: ck.Seeds) -> str:
    """What a seeded row's cell is, said in the caption."""
    n = len(seeds.all)
    return (
        f"{', '.join(rows)}: mean (std) over {n} training seeds ({', '.join(map(str, seeds.all))}); each "
        f"seed's value is its own avg@k mean (Reg. from that seed's checkpoints), std is the sample std "
        f"over seeds (ddof=1, n={n})"
    )


def spread_label(spec: TableSpec, seeds: ck.Seeds) -> str:
    """What a figure's error bars drawn from ``build_table``'s stds show."""
    rows = seeded_rows(spec, seeds)
    if not rows:
        return "avg@k std"
    return f"std over {len(seeds.all)} training seeds ({', '.join(rows)}), else avg@k std"


def profile_tables(profile: str | None) -> Path:
    """Where ``make <table>`` writes the tables of a profile (experiments/runner.yaml ``outputs``)."""
    name = load_named_profile(profile, check_device=False).name
    return RunDirs.of(name, load_runner_config().for_profile(name)).tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.tables", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write tables/<name>.tex/.csv from eval summaries")
    b.add_argument("names", nargs="+")
    b.add_argument("--profile", default=None, help="profile name (default: $CARE_RL_PROFILE or cpu)")
    b.add_argument(
        "--results", type=Path, default=None, help="folder of <result>/summary.json eval summaries"
    )
    b.add_argument("--out", type=Path, default=TABLES_DIR)
    c = sub.add_parser("compare", help="print our tables beside the paper's published numbers")
    c.add_argument("names", nargs="*", help="default: every table built so far")
    c.add_argument(
        "--profile", default=None, help="profile name or YAML path (default: $CARE_RL_PROFILE or cpu)"
    )
    c.add_argument("--tables", type=Path, default=None, help="default: the profile's outputs (runner.yaml)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "build":
            for name in args.names:
                for path in build(name, args.profile, args.results, args.out):
                    print(path)
        else:
            tables = args.tables or profile_tables(args.profile)
            names = args.names or sorted(
                p.stem for p in PAPER_TABLES_DIR.glob("*.csv") if (tables / p.name).is_file()
            )
            if not names:
                raise ConfigError(f"no built tables in {tables}; run 'python -m experiments.run <table>'")
            for name in names:
                compare_paper(name, tables)
    except (ConfigError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
