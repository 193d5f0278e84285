"""The paper's figures and the drift plots its reviewers ask for: ``figures/<name>.pdf`` + ``.png``.

- stagewise: domain averages after each cascade stage (Table 4's rows as lines);
- rewards:   per-domain mean reward over training steps, from the trainer's log JSONL;
- dacsp:     energy fractions of the updates DACSP saw in its subspace, per step and space, against chance;
- surgery:   target-domain averages of the checkpoint-surgery variants (Table 14) as bars;
- surgery_rank: the gain the top-k directions retain against the energy they hold, per k (the rank
  sweep beyond the paper);
- feasibility: each single-domain stage's change of every domain vs. Base (Table 3), against twice
  the base model's avg@k std on the trained domain (can the stage learn its stand-in data at all?).

    python -m experiments.figures stagewise --profile cpu
    python -m experiments.figures rewards --log runs/.../log.jsonl --key 'rewards/{domain}/mean'
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: the backend must be chosen before pyplot is imported
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from care_rl.atomic import write_bytes_atomic
from care_rl.config import ConfigError, cache_dir
from experiments import metrics as m
from experiments.paths import FIGURES_DIR, load_named_profile, method_path
from experiments.provenance import RunStamp, write_provenance

DOMAIN_LABELS = {"math": "Math", "chat": "Chat", "if": "IF"}
ENERGY_PARTS = ("aligned", "opposing", "orthogonal")
ENERGY_SPACES = ("layer", "factor")  # DACSP telemetry spaces (care_rl/dacsp/telemetry.py)
ENERGY_EXTRAS = ("change", "residual", "chance", "chance_step")


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL log; a malformed line is an error naming the file and line."""
    if not path.is_file():
        raise ConfigError(f"{path}: log not found")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}:{lineno}: not valid JSON: {e}") from None
    return rows


def save_figure(
    fig: Figure,
    name: str,
    out_dir: Path,
    *,
    profile: str,
    model: str,
    date: str,
    wall_time_s: float | None = None,
    run: RunStamp | None = None,
    compute: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``<name>.pdf`` and ``.png`` atomically plus ``<name>.provenance.json`` (``compute``: see
    ``experiments.provenance.compute_record``); closes ``fig``."""
    out_dir = Path(out_dir)
    paths = []
    for fmt in ("pdf", "png"):
        buf = io.BytesIO()
        fig.savefig(
            buf,
            format=fmt,
            dpi=150,
            bbox_inches="tight",
            metadata={"CreationDate": None} if fmt == "pdf" else None,
        )
        path = out_dir / f"{name}.{fmt}"
        write_bytes_atomic(path, buf.getvalue())
        paths.append(path)
    plt.close(fig)
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


def _domain_columns(table: pd.DataFrame, order: Sequence[str]) -> list[str]:
    """The table's domain-average columns in training order (``order``: domains, first trained first)."""
    unknown = [d for d in order if d not in m.DOMAIN_AVG]
    if unknown:
        raise ValueError(f"unknown domain(s) {unknown} in the training order {list(order)}")
    return [m.DOMAIN_AVG[d] for d in order if m.DOMAIN_AVG[d] in table.columns]


def _spread(stds: pd.DataFrame | None, rows: Any, col: str) -> Any:
    """The avg@k std of ``col`` for ``rows`` (error bars), 0 where unknown; None without a std frame."""
    if stds is None or col not in stds.columns:
        return None
    return stds.loc[rows, col].fillna(0.0).to_numpy()


def _note_left_out(fig: Figure, left_out: Sequence[str]) -> None:
    """Say which series the figure does not draw because no checkpoint has a number for them."""
    if left_out:
        fig.text(0.01, 0.005, f"no data, not drawn: {', '.join(left_out)}", fontsize=7, color="0.35")


def stagewise_figure(
    table: pd.DataFrame, stds: pd.DataFrame | None, order: Sequence[str], spread: str = "avg@k std"
) -> Figure:
    """Each domain average (line, legend in training order ``order``) across checkpoints (x), from a
    Table 4-shaped frame, with each point's std as an error bar (``spread`` says which: the avg@k std,
    or the std over training seeds of a seeded row). A domain no checkpoint has a number for is not
    drawn, and the figure says so (a legend entry without a line reads as zero)."""
    cols = _domain_columns(table, order)
    if not cols:
        raise ValueError(f"stage-wise frame has no domain-average columns ({list(table.columns)})")
    drawn = [c for c in cols if table[c].notna().any()]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    x = list(range(len(table.index)))
    for col in drawn:
        yerr = _spread(stds, table.index, col)
        ax.errorbar(x, table[col], yerr=yerr, marker="o", capsize=3, label=col)
    ax.set_xticks(x, [str(i) for i in table.index], rotation=20)
    ax.set_ylabel(f"score (%), bars: {spread}" if stds is not None else "score (%)")
    ax.set_title("Domain averages across cascade stages")
    if drawn:
        ax.legend(frameon=False)
    _note_left_out(fig, [c for c in cols if c not in drawn])
    ax.grid(alpha=0.3)
    return fig


def reward_curves_figure(
    rows: Sequence[dict],
    domains: Sequence[str] | None = None,
    key: str = "rewards/{domain}/mean",
    step_key: str = "step",
) -> Figure:
    """Mean reward per domain over training steps; ``key`` is a template with ``{domain}``.

    ``domains`` default: every domain of ``DOMAIN_LABELS`` with data, in the order the log first has
    each (a cascade's training order). Points carry markers: a stage of one logged step is one point,
    which a bare line would not show. A domain the log names but never scores (every reward None or
    NaN, e.g. a judge that never parses) is not drawn, and the figure says so."""
    named, series = [], {}
    for domain in domains if domains is not None else DOMAIN_LABELS:
        k = key.format(domain=domain)
        if any(k in r for r in rows):
            named.append(domain)
        points = [(r[step_key], r[k]) for r in rows if step_key in r and _finite(r.get(k))]
        if points:
            series[domain] = sorted(points)
    if not series:
        wanted = [key.format(domain=d) for d in (domains if domains is not None else DOMAIN_LABELS)]
        raise ValueError(f"no log row has {step_key!r} and a number for any of {wanted}")
    if domains is None:
        series = dict(sorted(series.items(), key=lambda item: item[1][0][0]))
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for domain, points in series.items():
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, marker="o", markersize=3, label=DOMAIN_LABELS.get(domain, domain))
    ax.set_xlabel("training step")
    ax.set_ylabel("mean reward")
    ax.set_title("Per-domain reward during training")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    _note_left_out(fig, [DOMAIN_LABELS.get(d, d) for d in named if d not in series])
    return fig


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def telemetry_rows(records: Sequence[dict], offset: int = 0) -> tuple[list[dict], int]:
    """Flatten DACSP telemetry (dacsp.jsonl records) into one row per step and space: the totals of
    care_rl/dacsp/telemetry.py plus ``space`` and ``active`` (the space DACSP modulated); steps are
    shifted by ``offset``. Steps whose update had no energy (nothing to split) are left out and
    counted. Records written before layer space existed (one ``total``) are factor-space rows."""
    rows, idle = [], 0
    for r in records:
        if "total" in r:  # the earlier format: factor space only, modulated
            spaces = {"factor": r["total"]}
            active = "factor"
        else:
            spaces = {space: r[space]["total"] for space in ENERGY_SPACES}
            active = r["space"]
        if not any(t["energy"] > 0 for t in spaces.values()):
            idle += 1
            continue
        for space, total in spaces.items():
            rows.append({"step": r["step"] + offset, "space": space, "active": space == active, **total})
    return rows, idle


def energy_frame(rows: Sequence[dict], source: str = "telemetry") -> pd.DataFrame:
    """Per (space, step) mean of the telemetry rows (e.g. per module); each row's fractions must lie in
    [0, 1] and sum to 1. Rows without ``space`` count as layer space (a plain tensor is its own layer)."""
    for i, r in enumerate(rows, start=1):
        missing = [k for k in ("step", *ENERGY_PARTS) if k not in r]
        if missing:
            raise ValueError(f"{source} row {i}: missing {missing}")
        parts = [float(r[k]) for k in ENERGY_PARTS]
        if any(not 0 <= p <= 1 for p in parts) or not math.isclose(sum(parts), 1.0, abs_tol=1e-3):
            raise ValueError(
                f"{source} row {i}: fractions {dict(zip(ENERGY_PARTS, parts, strict=True))} "
                "must lie in [0, 1] and sum to 1"
            )
    if not rows:
        raise ValueError(f"{source}: no telemetry rows")
    frame = pd.DataFrame(rows)
    if "space" not in frame:
        frame["space"] = "layer"
    frame["subspace"] = frame["aligned"] + frame["opposing"]
    columns = [c for c in (*ENERGY_PARTS, "subspace", *ENERGY_EXTRAS) if c in frame]
    return frame.groupby(["space", "step"])[columns].mean().sort_index()


def dacsp_energy_figure(energy: pd.DataFrame) -> Figure:
    """Does DACSP do anything? Per space (layer: each LoRA module's weight; factor: its A and B): the
    fraction of the proposed update's energy inside the historical subspace against the chance level
    K/D of a random update (and, in layer space, of a random step of the LoRA factors), on a log
    scale (top); the aligned and opposing fractions (middle); and how much the modulation changed the
    update, relative to its norm, with the part no rank-r change could make (bottom)."""
    fig, (top, mid, bottom) = plt.subplots(3, 1, figsize=(6.0, 7.5), sharex=True, height_ratios=(3, 2, 2))
    colors = dict(zip(ENERGY_SPACES, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for space in [s for s in ENERGY_SPACES if s in energy.index.get_level_values("space")]:
        frame, color = energy.loc[space], colors[space]
        top.plot(
            frame.index,
            frame["subspace"],
            marker="o",
            ms=3,
            color=color,
            label=f"{space}: aligned + opposing",
        )
        if "chance" in frame:
            top.plot(frame.index, frame["chance"], ls="--", color=color, label=f"{space}: chance K/D")
        if "chance_step" in frame and frame["chance_step"].notna().any():
            top.plot(
                frame.index,
                frame["chance_step"],
                ls=":",
                color=color,
                label=f"{space}: chance, random LoRA step",
            )
        mid.plot(frame.index, frame["aligned"], color=color, label=f"{space}: aligned")
        mid.plot(frame.index, frame["opposing"], ls="--", color=color, label=f"{space}: opposing")
        if "change" in frame:
            bottom.plot(frame.index, frame["change"], color=color, label=f"{space}: change")
        if "residual" in frame and frame["residual"].notna().any():
            bottom.plot(
                frame.index, frame["residual"], ls=":", color=color, label=f"{space}: unrepresentable"
            )
    top.set_yscale("log")
    top.set_ylabel("energy fraction in subspace")
    top.set_title("DACSP: proposed updates vs. the historical capability subspace")
    top.legend(frameon=False, fontsize=7)
    mid.set_ylim(bottom=0)
    mid.set_ylabel("energy fraction")
    mid.legend(frameon=False, fontsize=7, ncol=2)
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("training step (cascade)")
    bottom.set_ylabel("‖applied − proposed‖ / ‖proposed‖")
    bottom.legend(frameon=False, fontsize=7)
    for ax in (top, mid, bottom):
        ax.grid(alpha=0.3)
    return fig


def surgery_figure(
    table: pd.DataFrame,
    stds: pd.DataFrame | None,
    order: Sequence[str],
    base: str = "Base",
    spread: str = "avg@k std",
) -> Figure:
    """Grouped bars: per domain (group, in training order ``order``), each edited checkpoint's change of
    its target-domain average vs. the base row (bar). Changes, not levels: the domains sit at very
    different levels (cpu: M.Avg 4, C.Avg 38), which would hide every edit's effect, and a change reads
    the same whether the full update gained or lost. Error bars: the std of the change (``spread`` says
    which std), the edited and the base checkpoint independent (sqrt of the sum of the two variances).
    The legend names each row's Ret. Gain where it is defined."""
    cols = _domain_columns(table, order)
    if not cols:
        raise ValueError(f"surgery frame has no domain-average columns ({list(table.columns)})")
    if base not in table.index:
        raise ValueError(f"surgery frame has no base row {base!r} (rows: {list(table.index)})")
    edited = table.drop(index=base)
    changes = edited[cols] - table.loc[base, cols]
    drawn = [label for label in edited.index if changes.loc[label].notna().any()]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    width = 0.8 / max(len(drawn), 1)
    for i, label in enumerate(drawn):
        row = edited.loc[label]
        gain = row.get(m.RET_GAIN, math.nan)
        name = f"{label} (Ret. Gain {gain:.1f}%)" if not math.isnan(gain) else str(label)
        change = row[cols] - table.loc[base, cols]
        yerr = None
        if stds is not None:
            yerr = ((stds.loc[label, cols] ** 2 + stds.loc[base, cols] ** 2) ** 0.5).fillna(0.0).to_numpy()
        # an edge in the bar's own colour keeps a zero change visible as a short bar-wide line
        bars = ax.bar(
            [j + i * width for j in range(len(cols))], change, width, yerr=yerr, capsize=2, label=name
        )
        for bar in bars:
            bar.set_edgecolor(bar.get_facecolor())
            bar.set_linewidth(1.5)
    ax.axhline(0.0, color="black", linewidth=0.8, zorder=0.5)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cols))], cols)
    ax.set_ylabel(f"change vs. {base} (points)" + (f", bars: {spread}" if stds is not None else ""))
    ax.set_title("Checkpoint surgery: target-domain change of each edit")
    if drawn:
        ax.legend(frameon=False, fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    empty = [str(label) for label in edited.index if label not in drawn]
    _note_left_out(fig, empty + [c for c in cols if changes[c].isna().all() and len(empty) < len(edited)])
    return fig


def surgery_rank_figure(
    table: pd.DataFrame,
    ranks: Mapping[str, int | None],
    order: Sequence[str],
    base: str = "Base",
    full: str = "Full update",
) -> Figure:
    """Per domain (colour, legend in training order ``order``): the Ret. Gain (%) of the top-k edit at
    each k (points on a line) and the energy (%) its k directions hold (dashed), so gain and energy
    read at a glance; the energy rule's row (``ranks`` None) sits right of a dotted line with its own
    markers. ``ranks``: row label -> k of each top-k row (``base``, ``full``: the reference rows).
    A domain whose full update did not gain has no Ret. Gain (metrics.retained_gain): its energy is
    still drawn, and the figure says why its gain is not."""
    missing = [r for r in [base, full, *ranks] if r not in table.index]
    if missing:
        raise ValueError(f"rank-sweep frame lacks row(s) {missing} (rows: {list(table.index)})")
    domains = [d for d in order if m.DOMAIN_AVG[d] in _domain_columns(table, order)]
    if not domains:
        raise ValueError(f"rank-sweep frame has no domain-average columns ({list(table.columns)})")
    fixed = [label for _, label in sorted((k, label) for label, k in ranks.items() if k is not None)]
    rule = [label for label, k in ranks.items() if k is None]
    x = {label: float(i) for i, label in enumerate(fixed)} | {label: float(len(fixed)) for label in rule}
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    no_gain = []
    for color, domain in zip(colors, domains, strict=False):
        col, name = m.DOMAIN_AVG[domain], DOMAIN_LABELS[domain]
        ref = {row: {domain: float(table.loc[row, col])} for row in (base, full)}
        try:
            gains = {
                label: m.retained_gain({domain: float(table.loc[label, col])}, ref[base], ref[full])
                for label in ranks
            }
        except m.Undefined:
            gains = {}
            no_gain.append(name)
        energy = table.get(m.ENERGY[domain])
        for rows, style in ((fixed, {"ls": "-"}), (rule, {"ls": "none", "ms": 11})):
            if not rows:
                continue
            tag = "" if rows is fixed else f", {' / '.join(rows)}"
            xs = [x[r] for r in rows]
            if gains:
                marker = "o" if rows is fixed else "*"
                ax.plot(
                    xs,
                    [gains[r] for r in rows],
                    marker=marker,
                    color=color,
                    label=f"{name}: Ret. Gain{tag}",
                    **style,
                )
            if energy is not None and energy[rows].notna().any():
                dashed = {"ls": "--", "marker": "."} if rows is fixed else {"ls": "none", "marker": "x"}
                ax.plot(xs, energy[rows], color=color, label=f"{name}: energy held{tag}", **dashed)
    if rule and fixed:
        ax.axvline(len(fixed) - 0.5, color="0.5", ls=":", lw=1)
    ax.axhline(0.0, color="black", lw=0.8, zorder=0.5)
    ax.axhline(100.0, color="0.5", lw=0.8, zorder=0.5)
    ticks = [str(ranks[label]) for label in fixed] + ([" / ".join(rule)] if rule else [])
    ax.set_xticks([x[label] for label in fixed] + ([x[rule[0]]] if rule else []), ticks)
    ax.set_xlabel("top-k directions kept per layer")
    ax.set_ylabel(f"% of the {full.lower()}")
    ax.set_title("Top-k surgery: gain retained vs. energy held")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    ax.grid(alpha=0.3)
    if no_gain:  # above the title: the legend takes the space under the axes
        note = f"Ret. Gain undefined, the full update did not gain: {', '.join(no_gain)}"
        fig.text(0.5, 0.99, note, ha="center", va="top", fontsize=7, color="0.35")
    return fig


FEASIBILITY_SIGMAS = 2.0  # issue 20: a stage must move its own domain by at least twice the base std


def feasibility_frame(
    table: pd.DataFrame, stds: pd.DataFrame, targets: Mapping[str, str], base: str = "Base"
) -> pd.DataFrame:
    """Per single-domain row (``targets``: row label -> its training domain): the change of its own
    domain average vs. ``base``, the base model's avg@k std on that domain, and their ratio. A stand-in
    set a stage can learn from moves its domain by more than ``FEASIBILITY_SIGMAS`` base stds."""
    rows = []
    for label, domain in targets.items():
        col = m.DOMAIN_AVG[domain]
        gain = float(table.loc[label, col] - table.loc[base, col])
        sigma = float(stds.loc[base, col])
        rows.append(
            {
                "row": label,
                "domain": domain,
                "base": float(table.loc[base, col]),
                "stage": float(table.loc[label, col]),
                "gain": gain,
                "base_std": sigma,
                "gain_in_base_stds": gain / sigma if sigma > 0 else math.nan,
                "clears": gain >= FEASIBILITY_SIGMAS * sigma,
            }
        )
    return pd.DataFrame(rows).set_index("row")


def feasibility_figure(
    table: pd.DataFrame,
    stds: pd.DataFrame | None,
    targets: Mapping[str, str],
    order: Sequence[str],
    base: str = "Base",
) -> Figure:
    """One group per single-domain stage (Table 3's rows, ``targets``: label -> trained domain, groups
    in training order ``order``): the change vs. ``base`` of every domain average (bars; error bars
    the avg@k std of the difference, sample sets independent), and on the trained domain a dashed
    line at ``FEASIBILITY_SIGMAS`` x the base model's std there: the bar must reach it for the domain's
    stand-in data to be learnable at this budget; the gain in base stds is written above it."""
    if stds is None:
        raise ValueError("the feasibility figure needs the avg@k stds of the table's cells")
    missing = [r for r in [base, *targets] if r not in table.index]
    if missing:
        raise ValueError(f"feasibility frame lacks row(s) {missing} (rows: {list(table.index)})")
    cols = _domain_columns(table, order)
    untrained = sorted(set(targets.values()) - set(order))
    if untrained:
        raise ValueError(f"target domain(s) {untrained} not in the training order {list(order)}")
    ranked = sorted(targets.items(), key=lambda kv: list(order).index(kv[1]))
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    width = 0.8 / len(cols)
    feas = feasibility_frame(table, stds, dict(ranked), base)
    labels = [label for label, _ in ranked]
    change = table.loc[labels, cols] - table.loc[base, cols]
    spread = ((stds.loc[labels, cols] ** 2 + stds.loc[base, cols] ** 2) ** 0.5).fillna(0.0)
    for j, col in enumerate(cols):  # one series per domain average, one bar per stage
        xs = [g + j * width for g in range(len(labels))]
        ax.bar(xs, change[col], width, yerr=spread[col].to_numpy(), capsize=2, label=col)
    for g, (label, domain) in enumerate(ranked):  # the bar each stage must reach on its own domain
        x = g + cols.index(m.DOMAIN_AVG[domain]) * width
        need = FEASIBILITY_SIGMAS * feas.loc[label, "base_std"]
        ax.hlines(need, x - width / 2, x + width / 2, colors="black", linestyles="dashed")
        top = max(float(change.loc[label, m.DOMAIN_AVG[domain]]), need)
        ratio = feas.loc[label, "gain_in_base_stds"]
        ax.annotate(
            f"{ratio:+.1f} sd", (x, top), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=7
        )
    ax.axhline(0.0, color="black", linewidth=0.8, zorder=0.5)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(labels))], labels)
    ax.set_ylabel(f"change vs. {base} (points)")
    ax.set_title(
        f"Single-domain stages: change of each domain (dashed: {FEASIBILITY_SIGMAS:g} x base avg@k std)",
        fontsize=9,
    )
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return fig


def main(argv: list[str] | None = None) -> int:
    from experiments.tables import build_table, load_spec

    parser = argparse.ArgumentParser(
        prog="python -m experiments.figures", description=__doc__.splitlines()[0]
    )
    parser.add_argument("figure", choices=["stagewise", "rewards", "dacsp", "surgery", "feasibility"])
    parser.add_argument("--profile", default=None)
    parser.add_argument("--results", type=Path, default=None, help="eval summaries (stagewise, surgery)")
    parser.add_argument(
        "--log", type=Path, help="trainer log JSONL (rewards) or DACSP telemetry JSONL (dacsp)"
    )
    parser.add_argument(
        "--stages",
        type=Path,
        nargs="+",
        help="instead of --log: a cascade's stage folders in training order (rewards, dacsp), drawn "
        "end to end as make figures draws the CARE-RL cascade",
    )
    parser.add_argument("--key", default="rewards/{domain}/mean", help="reward key template (rewards)")
    parser.add_argument(
        "--method",
        default="care-rl",
        help="method whose domain order the legends follow (stagewise, surgery)",
    )
    parser.add_argument("--out", type=Path, default=FIGURES_DIR)
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        profile = load_named_profile(args.profile, check_device=False)
        results = args.results or cache_dir() / "results" / profile.name
        if args.figure in ("rewards", "dacsp") and (args.log is None) == (args.stages is None):
            raise ConfigError(f"figure {args.figure!r} needs --log or --stages (one of them)")
        if args.figure in ("stagewise", "surgery", "feasibility"):
            from care_rl.training.cascade_plan import load_method

            order = load_method(method_path(args.method)).order
            spec = load_spec(
                {"stagewise": "table4", "surgery": "table14", "feasibility": "table3"}[args.figure]
            )
            frame, stds = build_table(spec, results)
            if args.figure == "feasibility":
                targets = {r.label: r.ood_target for r in spec.rows if r.ood_target}
                fig = feasibility_figure(frame, stds, targets, order, base=str(spec.base))
            else:
                draw = stagewise_figure if args.figure == "stagewise" else surgery_figure
                fig = draw(frame, stds, order=order)
        elif args.stages is not None:
            from experiments.stage_logs import energy_rows, reward_rows  # it imports this module

            missing = [str(d) for d in args.stages if not (d / "metrics.json").is_file()]
            if missing:
                raise ConfigError(f"--stages: not a finished stage folder (no metrics.json): {missing}")
            if args.figure == "rewards":
                fig = reward_curves_figure(reward_rows(args.stages), key=args.key)
            else:
                rows, _ = energy_rows(args.stages)
                fig = dacsp_energy_figure(energy_frame(rows, "dacsp.jsonl of --stages"))
        elif args.figure == "rewards":
            fig = reward_curves_figure(read_jsonl(args.log), key=args.key)
        else:
            rows, _ = telemetry_rows(read_jsonl(args.log))
            fig = dacsp_energy_figure(energy_frame(rows, str(args.log)))
        paths = save_figure(
            fig,
            args.figure,
            args.out,
            profile=profile.name,
            model=profile.policy.name_or_path,
            date=dt.date.today().isoformat(),
            wall_time_s=time.monotonic() - start,
        )
    except (ConfigError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
