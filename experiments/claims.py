"""The paper's four claims as statistics with 95% intervals and a verdict each (beyond the paper, which
reports point estimates only): ``make claims`` writes ``tables/claims.{csv,tex}`` + provenance.

One row per statistic. Each statistic is a function of the domain averages (and Total Avg) of the
checkpoints a table row reads, defined as experiments.metrics defines them (Reg., OOD Change, Ret.
Gain); its interval is the 2.5 and 97.5 percentiles over the replicates of one hierarchical paired
bootstrap of exactly those checkpoints (experiments.bootstrap.resample: training seeds, paired by seed
across the checkpoints of one cascade and across methods with the same seeds; then prompts, the same
for every checkpoint that scores a benchmark; then samples). A seeded row reads each checkpoint as its
mean over seeds; every statistic of seeded rows is linear in those means, so it equals the tables' mean
over seeds of the per-seed value.

The claims (statistics from experiments/tables/*.yaml, so a row's keys are the table's):
1. a later stage lowers an earlier domain's score: Table 4's Reg. of the standard cascade (claimed > 0);
2. DACSP lowers Reg. and raises Total against the standard cascade: Table 7's DACSP row minus its
   Standard Cascade row (Reg. < 0, Total > 0), Table 5's CARE-RL w/o PA-GRM (DACSP alone) minus the
   Standard Cascade and CARE-RL minus CARE-RL w/o DACSP (Total > 0);
3. each single-domain stage gains in its domain and changes the others: Table 3's in-domain average
   minus the base's (> 0) and OOD Change (< 0, the paper's reading: "negative OOD Change");
4. the top DACSP subspace carries most of a stage's gain: per domain (math, IF) and k of the rank sweep
   (experiments/tables/surgery_rank.yaml), Ret. Gain of the top edit against the share of the update's
   energy it keeps (claimed: Ret. Gain > energy).
Every Reg. and Total statistic is also given over the verifiable domains only (math, IF), labelled so:
on ``cpu`` the chat columns are scored by a 135M judge at chance on Table 6.

Verdict rule. A statistic's claimed side is a threshold and a direction: 0 for a difference, the edit's
energy share for claim 4. "holds": the interval excludes the threshold on the claimed side; "fails": it
excludes it on the opposite side; "not resolved": it contains the threshold. Claim 4 is decided by its
rows at the smallest k (the rows at larger k and at tau show the curve; at tau the top subspace holds
>= tau of the energy by construction). That rule is our operationalisation: the paper gives none.
A row whose inputs are not produced yet says "missing" and names them; one the results do not define
(a benchmark without a scored sample, a Ret. Gain whose full update did not gain) says "undefined" and
why. A ratio (Ret. Gain) is undefined in a replicate whose full update did not gain; with more such
replicates than the interval's tail (2.5%) there is no interval and the row is "not resolved".
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from care_rl.atomic import write_bytes_atomic
from care_rl.config import ConfigError, cache_dir
from experiments import metrics as m
from experiments.bootstrap import Unscored, resample
from experiments.checkpoints import Seeds
from experiments.paths import TABLES_DIR, load_named_profile
from experiments.provenance import RunStamp, write_provenance
from experiments.results import ResultsError, load_samples
from experiments.runconfig import load_runner_config
from experiments.table_specs import RowSpec, TableSpec, load_spec
from experiments.tables import latex_escape

NAME = "claims"
N_RESAMPLES, SEED, LEVEL = 2000, 0, 0.95
VERIFIABLE: tuple[m.Domain, ...] = ("math", "if")  # scored by checkers, not by a judge
TOTAL_VERIFIABLE = "Total (math, IF)"  # mean over the verifiable domains' benchmarks, as Total Avg is
HOLDS, FAILS, NOT_RESOLVED, MISSING, UNDEFINED = "holds", "fails", "not resolved", "missing", "undefined"
COLUMNS = ["claim", "statistic", "estimate", "CI low", "CI high", "claimed", "n seeds", "verdict", "note"]
SURGERY_DOMAINS: tuple[m.Domain, ...] = ("math", "if")  # the rank sweep's domains

Scores = Mapping[str, Mapping[str, float]]  # checkpoint -> named averages (metrics.DOMAIN_AVG, TOTAL)


@dataclass(frozen=True)
class Input:
    """One checkpoint a statistic reads: its result key at each training seed, and the domains whose
    benchmarks the statistic reads from it (a one-domain evaluation holds only its own)."""

    keys: dict[int | None, str]  # None: a checkpoint trained once, at the profile's seed (or untrained)
    domains: tuple[m.Domain, ...]


@dataclass(frozen=True)
class Statistic:
    """One row: ``value`` maps each input's named averages to a number (raising metrics.Undefined where
    the metric is undefined); the claim says it lies above (``direction`` +1) or below (-1) the
    threshold: 0, or the energy share of ``energy_key``'s edit (claim 4)."""

    claim: int
    name: str
    inputs: dict[str, Input]
    value: Callable[[Scores], float]
    direction: int
    energy_key: str | None = None
    note: str = ""

    @property
    def keys(self) -> list[str]:
        return [k for inp in self.inputs.values() for k in inp.keys.values()]


def verdict(low: float, high: float, direction: int, threshold: float = 0.0) -> str:
    """The module docstring's rule: the interval [low, high] against the claimed side of ``threshold``."""
    if math.isnan(low) or math.isnan(high):
        return NOT_RESOLVED
    above, below = low > threshold, high < threshold
    if (above and direction > 0) or (below and direction < 0):
        return HOLDS
    if above or below:
        return FAILS
    return NOT_RESOLVED


# --- the statistics' values, from experiments.metrics --------------------------------------------------
def named_averages(means: Mapping[str, float]) -> dict[str, float]:
    """Every domain average and Total the benchmark means support (metrics.averages), and the Total
    over the verifiable domains' benchmarks when it holds them all."""
    out = m.averages(means)
    columns = [c for d in VERIFIABLE for c in m.DOMAIN_BENCHMARKS[d]]
    if all(c in means for c in columns):
        out[TOTAL_VERIFIABLE] = float(np.mean([means[c] for c in columns]))
    return out


def _get(s: Scores, name: str, column: str) -> float:
    if column not in s[name]:
        raise m.Undefined(f"{name} has no {column}")
    return float(s[name][column])


def difference(s: Scores, *, a: str, b: str, column: str) -> float:
    return _get(s, a, column) - _get(s, b, column)


def regression(s: Scores, *, final: str, after: Mapping[m.Domain, str]) -> float:
    return m.regression(s[final], {d: s[k] for d, k in after.items()})


def regression_difference(
    s: Scores, *, a: str, a_after: Mapping[m.Domain, str], b: str, b_after: Mapping[m.Domain, str]
) -> float:
    return regression(s, final=a, after=a_after) - regression(s, final=b, after=b_after)


def ood_change(s: Scores, *, model: str, base: str, target: m.Domain, others: Sequence[m.Domain]) -> float:
    """metrics.ood_change when ``others`` are the two non-target domains; over fewer (the verifiable
    ones), the same mean change vs. the base over those."""
    if set(others) == set(m.DOMAIN_AVG) - {target}:
        return m.ood_change(s[model], s[base], target)
    return float(np.mean([difference(s, a=model, b=base, column=m.DOMAIN_AVG[d]) for d in others]))


def retained_gain(s: Scores, *, edited: str, base: str, full: str, domain: m.Domain) -> float:
    col = m.DOMAIN_AVG[domain]
    return m.retained_gain(
        {domain: _get(s, edited, col)}, {domain: _get(s, base, col)}, {domain: _get(s, full, col)}
    )


# --- the statistics, from the tables' specs -----------------------------------------------------------
def _keys(key: str, seeded: bool, seeds: Seeds | None) -> dict[int | None, str]:
    """A row's key at each training seed it is read at: a seeded row at every seed, another (or any
    row without ``seeds``) once, at the plain key."""
    return {s: seeds.key(key, s) for s in seeds.all} if seeded and seeds else {None: key}


def _row(spec: TableSpec, label: str) -> RowSpec:
    for row in spec.rows:
        if row.label == label:
            return row
    raise ConfigError(f"table {spec.name}: no row {label!r} (the claims read it)")


def _result(row: RowSpec) -> str:
    if row.result is None:
        raise ConfigError(f"row {row.label!r}: the claims need its 'result' key")
    return row.result


def _verifiable(domains: Iterable[m.Domain]) -> tuple[m.Domain, ...]:
    return tuple(d for d in domains if d in VERIFIABLE)


def _label(domains: Sequence[m.Domain]) -> str:
    """How a statistic over some domains only is labelled: "(IF only)", "(math, IF)"."""
    names = {"math": "math", "chat": "chat", "if": "IF"}
    return f"({names[domains[0]]} only)" if len(domains) == 1 else f"({', '.join(names[d] for d in domains)})"


def _judge_note(domains: Iterable[m.Domain]) -> str:
    return "reads chat (judge-scored, see Table 6)" if "chat" in domains else ""


def reg_inputs(
    row: RowSpec, after: Mapping[m.Domain, str], seeds: Seeds | None, domains: Sequence[m.Domain]
) -> dict[str, Input]:
    """The inputs of a row's Reg. over ``domains``: its checkpoint and each after-stage checkpoint."""
    inputs = {_result(row): Input(_keys(_result(row), row.seeded, seeds), tuple(domains))}
    for d in domains:
        inputs[after[d]] = Input(_keys(after[d], row.seeded, seeds), (d,))
    return inputs


def claim1(seeds: Seeds | None) -> list[Statistic]:
    """Table 4: the standard cascade's Reg. after each stage that has an earlier one."""
    out = []
    for row in load_spec("table4").rows:
        if not row.reg_after:
            continue
        method = _result(row).split("/")[0]
        for domains in dict.fromkeys([tuple(row.reg_after), _verifiable(row.reg_after)]):
            if not domains:
                continue
            after = {d: row.reg_after[d] for d in domains}
            scope = "" if domains == tuple(row.reg_after) else f" {_label(domains)}"
            out.append(
                Statistic(
                    1,
                    f"Reg. {row.label[0].lower()}{row.label[1:]}{scope}, {method}",
                    reg_inputs(row, after, seeds, domains),
                    partial(regression, final=_result(row), after=after),
                    +1,
                    note=_judge_note(domains),
                )
            )
    return out


def _total_differences(
    claim: int, a: RowSpec, b: RowSpec, seeds: Seeds | None, where: str
) -> list[Statistic]:
    """Total(a) - Total(b), over every benchmark and over the verifiable ones."""
    out = []
    for column, domains in ((m.TOTAL, tuple(m.DOMAIN_AVG)), (TOTAL_VERIFIABLE, VERIFIABLE)):
        inputs = {k: Input(_keys(k, r.seeded, seeds), domains) for k, r in ((_result(a), a), (_result(b), b))}
        label = "Total" if column == m.TOTAL else f"Total {_label(domains)}"
        out.append(
            Statistic(
                claim,
                f"{label}: {_result(a).split('/')[0]} - {_result(b).split('/')[0]} ({where})",
                inputs,
                partial(difference, a=_result(a), b=_result(b), column=column),
                +1,
                note=_judge_note(domains),
            )
        )
    return out


def claim2(seeds: Seeds | None) -> list[Statistic]:
    """Tables 7 and 5: DACSP against the standard cascade."""
    t7, t5 = load_spec("table7"), load_spec("table5")
    dacsp, standard = _row(t7, "DACSP"), _row(t7, "Standard Cascade")
    a_after, b_after = dacsp.reg_after or {}, standard.reg_after or {}
    out = []
    for domains in dict.fromkeys([tuple(a_after), _verifiable(a_after)]):
        scope = "" if domains == tuple(a_after) else f" {_label(domains)}"
        a_sub, b_sub = {d: a_after[d] for d in domains}, {d: b_after[d] for d in domains}
        names = (_result(dacsp).split("/")[0], _result(standard).split("/")[0])
        out.append(
            Statistic(
                2,
                f"Reg.{scope}: {names[0]} - {names[1]} (Table 7)",
                {**reg_inputs(dacsp, a_sub, seeds, domains), **reg_inputs(standard, b_sub, seeds, domains)},
                partial(
                    regression_difference, a=_result(dacsp), a_after=a_sub, b=_result(standard), b_after=b_sub
                ),
                -1,
                note=_judge_note(domains),
            )
        )
    out += _total_differences(2, dacsp, standard, seeds, "Table 7")
    out += _total_differences(
        2, _row(t5, "CARE-RL w/o PA-GRM"), _row(t5, "Standard Cascade"), seeds, "Table 5"
    )
    out += _total_differences(2, _row(t5, "CARE-RL"), _row(t5, "CARE-RL w/o DACSP"), seeds, "Table 5")
    return out


def claim3(seeds: Seeds | None) -> list[Statistic]:
    """Table 3: each single-domain stage's in-domain gain and OOD Change against the base model."""
    spec = load_spec("table3")
    base = _result(_row(spec, str(spec.base)))
    out = []
    for row in spec.rows:
        if row.ood_target is None:
            continue
        key, target = _result(row), row.ood_target

        def inputs(domains: Sequence[m.Domain], key: str = key, row: RowSpec = row) -> dict[str, Input]:
            """The stage's checkpoint and the base, read on ``domains`` only."""
            return {
                key: Input(_keys(key, row.seeded, seeds), tuple(domains)),
                base: Input({None: base}, tuple(domains)),
            }

        col = m.DOMAIN_AVG[target]
        out.append(
            Statistic(
                3,
                f"{col}: {key} - {base}",
                inputs([target]),
                partial(difference, a=key, b=base, column=col),
                +1,
                note=_judge_note([target]),
            )
        )
        everything = [d for d in m.DOMAIN_AVG if d != target]
        for others in dict.fromkeys([tuple(everything), _verifiable(everything)]):
            scope = "" if list(others) == everything else f" {_label(others)}"
            out.append(
                Statistic(
                    3,
                    f"{m.OOD}{scope}: {key}",
                    inputs(others),
                    partial(ood_change, model=key, base=base, target=target, others=others),
                    -1,
                    note=_judge_note(others),
                )
            )
    return out


def claim4() -> list[Statistic]:
    """The rank sweep: per domain and k, Ret. Gain of the top edit against the energy it keeps (each
    edit and update trained once: the sweep's rows are not seeded)."""
    spec = load_spec("surgery_rank")
    base = _result(_row(spec, str(spec.base)))
    full = _row(spec, str(spec.full)).domain_results or {}
    out = []
    for domain in SURGERY_DOMAINS:
        for row in spec.rows:
            if row.label in (spec.base, spec.full) or domain not in (row.domain_results or {}):
                continue
            edited = (row.domain_results or {})[domain]
            inputs = {
                edited: Input({None: edited}, (domain,)),
                base: Input({None: base}, (domain,)),
                full[domain]: Input({None: full[domain]}, (domain,)),
            }
            out.append(
                Statistic(
                    4,
                    f"{m.RET_GAIN} on {m.DOMAIN_AVG[domain]}, {row.label.lower()}",
                    inputs,
                    partial(retained_gain, edited=edited, base=base, full=full[domain], domain=domain),
                    +1,
                    energy_key=edited,
                )
            )
    return out


def statistics(seeds: Seeds | None) -> list[Statistic]:
    """Every row of the claims table, in claim order."""
    return [*claim1(seeds), *claim2(seeds), *claim3(seeds), *claim4()]


def claim_keys(seeds: Seeds | None = None) -> list[str]:
    """Every result key the claims read, seeded rows at every seed of ``seeds``: what ``make claims``
    plans."""
    return list(dict.fromkeys(k for stat in statistics(seeds) for k in stat.keys))


def energy_keys() -> list[str]:
    """The edited checkpoints whose energy share is a claim-4 threshold."""
    return [s.energy_key for s in claim4() if s.energy_key is not None]


# --- one row ------------------------------------------------------------------------------------------
@dataclass
class Row:
    claim: int
    statistic: str
    estimate: float = math.nan
    low: float = math.nan
    high: float = math.nan
    claimed: str = ""
    seeds: str = ""
    verdict: str = NOT_RESOLVED
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        values = [self.claim, self.statistic, self.estimate, self.low, self.high, self.claimed, self.seeds]
        return dict(zip(COLUMNS, [*values, self.verdict, "; ".join(n for n in self.notes if n)], strict=True))


def _seed_counts(stat: Statistic) -> str:
    """How many training seeds the statistic's checkpoints were read at: one number when all agree,
    else per method ("care-rl-no-pagrm 1, nvv 3")."""
    counts = {k.split("/")[0]: len(inp.keys) for k, inp in stat.inputs.items()}
    if len(set(counts.values())) == 1:
        return str(next(iter(counts.values())))
    return ", ".join(f"{method} {n}" for method, n in counts.items())


def evaluate(
    stat: Statistic,
    samples: Mapping[str, pd.DataFrame],
    energies: Mapping[str, float] | None = None,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> Row:
    """One row: the statistic on the observed means, its bootstrap interval and verdict (module
    docstring). ``samples``: per-sample scores by result key (results.load_samples); a key not in it is
    missing. ``energies``: percent of the update's energy per edited key (claim 4's thresholds)."""
    threshold = 0.0
    if stat.energy_key is not None:
        threshold = (energies or {}).get(stat.energy_key, math.nan)
    sign = ">" if stat.direction > 0 else "<"
    claimed = f"{sign} 0"
    if stat.energy_key is not None:
        claimed = f"{sign} energy" if math.isnan(threshold) else f"{sign} {threshold:.1f} (energy)"
    row = Row(stat.claim, stat.name, claimed=claimed, seeds=_seed_counts(stat), notes=[stat.note])
    absent = [k for k in stat.keys if k not in samples]
    if stat.energy_key is not None and math.isnan(threshold):
        absent.append(f"energy of {stat.energy_key}")
    if absent:
        row.verdict = MISSING
        row.notes.insert(0, f"missing: {', '.join(absent)}")
        return row
    checkpoints = {}
    for name, inp in stat.inputs.items():
        columns = [c for d in inp.domains for c in m.DOMAIN_BENCHMARKS[d]]
        runs = {s: samples[k][samples[k]["column"].isin(columns)] for s, k in inp.keys.items()}
        lacking = {k: sorted(set(columns) - set(runs[s]["column"])) for s, k in inp.keys.items()}
        lacking = {k: cols for k, cols in lacking.items() if cols}
        if lacking:
            row.verdict = UNDEFINED
            row.notes.insert(0, "; ".join(f"{k} has no {', '.join(c)}" for k, c in lacking.items()))
            return row
        checkpoints[name] = runs
    try:
        rep = resample(checkpoints, n_resamples=n_resamples, seed=seed)
        row.estimate = stat.value({n: named_averages(means) for n, means in rep.observed.items()})
    except (Unscored, m.Undefined) as e:
        row.verdict = UNDEFINED
        row.notes.insert(0, str(e))
        return row
    draws = np.array([_replicate(stat, rep.draws, r) for r in range(n_resamples)])
    tail = (1 - level) / 2
    undefined = float(np.mean(np.isnan(draws)))
    if undefined > tail:
        row.notes.insert(
            0, f"undefined in {100 * undefined:.1f}% of replicates (no gain to retain): no interval"
        )
        return row
    row.low, row.high = (float(q) for q in np.nanquantile(draws, [tail, 1 - tail]))
    row.verdict = verdict(row.low, row.high, stat.direction, threshold)
    return row


def _replicate(stat: Statistic, draws: Mapping[str, Mapping[str, np.ndarray]], r: int) -> float:
    """The statistic in replicate ``r``; NaN where the replicate leaves it undefined (a ratio whose
    full update did not gain)."""
    scores = {n: named_averages({c: float(v[r]) for c, v in means.items()}) for n, means in draws.items()}
    try:
        return stat.value(scores)
    except m.Undefined:
        return math.nan


# --- the table ----------------------------------------------------------------------------------------
def load_available(results: Path, keys: Iterable[str]) -> dict[str, pd.DataFrame]:
    """Per-sample scores of every key produced under ``results``; keys without a summary are left out
    (their rows say "missing"), a summary that cannot be read is an error."""
    out = {}
    for key in dict.fromkeys(keys):
        path = results / key / "summary.json"
        if path.is_file():
            out[key] = load_samples(path)
    return out


def claims_table(
    stats: Sequence[Statistic],
    samples: Mapping[str, pd.DataFrame],
    energies: Mapping[str, float] | None = None,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> pd.DataFrame:
    """One row per statistic (``COLUMNS``)."""
    rows = [evaluate(s, samples, energies, n_resamples=n_resamples, seed=seed).record() for s in stats]
    return pd.DataFrame(rows, columns=COLUMNS)


def caption(n_resamples: int, seed: int, seeds: Seeds) -> str:
    return (
        f"The paper's four claims: each statistic with its 95% interval from a hierarchical paired "
        f"bootstrap ({n_resamples} resamples of training seeds ({len(seeds.all)} for seeded rows), prompts "
        f"and samples; seed {seed}). Verdict: holds if the interval excludes the claimed threshold on the "
        "claimed side, fails if on the other side, not resolved if it contains it; claim 4 is decided at "
        "the smallest k (experiments/claims.py)"
    )


def to_latex(table: pd.DataFrame, title: str) -> str:
    """A booktabs tabular: numbers to one decimal, the interval as [low, high], the claimed side in
    words (LaTeX text mode has no ">")."""

    def num(v: float) -> str:
        return "--" if math.isnan(v) else f"{v:+.1f}"

    shown = pd.DataFrame(
        {
            "Claim": table["claim"],
            "Statistic": table["statistic"],
            "Estimate": table["estimate"].map(num),
            "95% CI": [
                "--" if math.isnan(lo) else f"[{lo:+.1f}, {hi:+.1f}]"
                for lo, hi in zip(table["CI low"], table["CI high"], strict=True)
            ],
            "Claimed": table["claimed"]
            .str.replace(">", "above", regex=False)
            .str.replace("<", "below", regex=False),
            "Seeds": table["n seeds"],
            "Verdict": table["verdict"],
            "Note": table["note"],
        }
    )
    styler = shown.style.hide(axis=0).format(escape="latex").format_index(escape="latex", axis=1)
    return styler.to_latex(
        hrules=True,
        caption=latex_escape(title),
        label=f"tab:{NAME}",
        position="t",
        position_float="centering",
        column_format="rlrrllll",
    )


def write_claims(
    table: pd.DataFrame,
    profile: str,
    model: str,
    out_dir: Path,
    *,
    title: str,
    run: RunStamp | None = None,
    compute: dict[str, Any] | None = None,
    wall_time_s: float | None = None,
) -> list[Path]:
    """Write ``<out_dir>/claims.{tex,csv}`` and its provenance; returns the paths."""
    date = dt.date.today().isoformat()
    full = f"{title}. This run: profile {profile}, model {model}, {date}."
    paths = [out_dir / f"{NAME}.tex", out_dir / f"{NAME}.csv"]
    write_bytes_atomic(paths[0], to_latex(table, full).encode())
    write_bytes_atomic(paths[1], table.to_csv(index=False, float_format="%.4f").encode())
    prov = write_provenance(
        out_dir,
        NAME,
        paths,
        profile=profile,
        model=model,
        date=date,
        wall_time_s=wall_time_s,
        run=run,
        compute=compute,
    )
    return [*paths, prov]


def cached_energies(profile_name: str | None) -> dict[str, float]:
    """Claim 4's energy shares, computed from the adapters of single-domain stages already trained (a
    stage not trained yet leaves its rows "missing"; nothing is trained here)."""
    from experiments import checkpoints as ck
    from experiments.adapter_surgery import update_energy
    from experiments.plan import Planner
    from experiments.produce import Producer

    profile = load_named_profile(profile_name, check_device=False)
    planner = Planner(profile)
    producer: Producer | None = None
    out = {}
    for key in energy_keys():
        job = planner.job(ck.resolve(key, planner.table))
        assert job.cascade is not None and job.checkpoint.edit is not None
        if not all(st.cached and st.decided for st in job.cascade.stages):  # never train here
            continue
        producer = producer or Producer(planner, echo=lambda _: None)
        adapter = producer.train(job.cascade)[job.stage].checkpoint.adapter_dir
        c = job.checkpoint
        out[key] = update_energy(adapter, producer.initial_adapter, c.edit, profile.dacsp, c.rank)
    return out


def main(argv: list[str] | None = None) -> int:
    """Write tables/claims.{tex,csv} from the results produced so far (rows of what is not produced say
    "missing"); `make claims` produces everything first."""
    parser = argparse.ArgumentParser(prog="python -m experiments.claims", description=main.__doc__)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--results", type=Path, default=None, help="folder of <key>/summary.json checkpoints")
    parser.add_argument("--n-resamples", type=int, default=N_RESAMPLES)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-energy", action="store_true", help="do not read adapters (claim 4: missing)")
    parser.add_argument("--out", type=Path, default=TABLES_DIR)
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        profile = load_named_profile(args.profile, check_device=False)
        results = args.results or cache_dir() / "results" / profile.name
        seeds = load_runner_config().for_profile(profile.name).training_seeds(profile)
        stats = statistics(seeds)
        samples = load_available(results, (k for s in stats for k in s.keys))
        energies = {} if args.no_energy else cached_energies(args.profile)
        table = claims_table(stats, samples, energies, n_resamples=args.n_resamples, seed=args.seed)
        paths = write_claims(
            table,
            profile.name,
            profile.policy.name_or_path,
            args.out,
            title=caption(args.n_resamples, args.seed, seeds),
            wall_time_s=time.monotonic() - start,
        )
    except (ConfigError, ResultsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
