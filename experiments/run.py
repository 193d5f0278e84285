"""``python -m experiments.run <target> [--profile P]``: train, evaluate and render one paper artefact.

Targets: table2 ... table14; aliases ood (table3), stagewise (table4), ablation-components (table5),
judge-accuracy (table6), ablation-dacsp (table7), surgery (table14), tables-expanded (the appendix
tables of the profile's model, experiments/runner.yaml); figures; bootstrap; claims (the four claims'
statistics, intervals and verdicts, experiments.claims); order-sweep; surgery-rank (the top edit of
Table 14 at k = 1, 2, 4, 8 against the energy it holds); all (every paper table, figure and the
bootstrap; claims, order-sweep and surgery-rank, beyond the paper, are separate).

Nothing before the plan is printed imports torch, TRL or matplotlib, so the plan (and a bad argument's
error) comes in seconds.

1. Plan (experiments.plan): the target's table specs name result keys, each resolved to the checkpoint
   that produces it; the plan is printed before any compute: stages to train vs cached
   (content-addressed, shared across targets), checkpoints to evaluate vs cached, edited adapters,
   judge studies, and a time estimate.
2. Produce (experiments.produce): cascades are trained, checkpoints evaluated (cached by stage key
   under <cache>/eval/), and each result linked to <results>/<result key>/. With ``--jobs N``, N worker
   processes at one torch thread each produce the jobs side by side (experiments.workers), then the
   run links them from the cache: the same entries, the same tables as ``--jobs 1``.
3. Render (experiments.render): tables and figures with provenance. With everything cached a re-run
   only re-renders.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from care_rl.config import ConfigError, Profile
from care_rl.logs import setup_logging
from care_rl.threads import available_cores
from experiments.paths import load_named_profile
from experiments.plan import ALIASES, SPECIAL, TABLES, Planner
from experiments.provenance import RunStamp, check_clean
from experiments.runconfig import RunDirs, load_runner_config


def run(
    profile: Profile,
    target: str,
    dirs: RunDirs | None = None,
    *,
    plan_only: bool = False,
    allow_dirty: bool = False,
    jobs: int = 1,
    echo: Callable[[str], object] = print,
) -> list[Path]:
    """Plan ``target``, print the plan, then (unless ``plan_only``) produce it (in ``jobs`` worker
    processes when more than one) and render it; returns the written files. Before any compute: every
    output folder must be writable, and committed ones (tables/, figures/) are written only from a
    clean tree unless ``allow_dirty``."""
    check_jobs(jobs, profile)
    stamp = RunStamp.now()
    planner = Planner(profile, dirs)
    plan = planner.plan(target)
    for line in plan.lines:
        echo(line)
    if plan_only:
        return []
    check_clean(stamp.commit, [planner.dirs.tables, planner.dirs.figures], allow_dirty)
    planner.dirs.check_writable()
    # training, evaluation and plotting load torch, TRL and matplotlib: only after the plan is printed
    from care_rl.threads import configure_threads
    from experiments.produce import Producer

    configure_threads(profile.device, processes=jobs)
    from experiments.render import Renderer

    producer = Producer(planner, echo)
    producer.prepare(plan)
    if jobs > 1:
        from experiments.workers import produce_in_workers

        echo(f"produce: {jobs} worker processes, one torch thread each")
        produce_in_workers(profile, planner.dirs, target, jobs)
    producer.link_all(plan)  # after workers: every entry is cached, this only links and records
    paths = Renderer(planner, producer, stamp).render_all(plan)
    for problem in dict.fromkeys(plan.missing):
        echo(f"note: {problem}")
    echo(f"done: {target} in {stamp.elapsed():.1f}s ({len(paths)} files)")
    return paths


def check_jobs(jobs: int, profile: Profile) -> None:
    """``--jobs`` runs that many CPU processes: at least one, at most one per available core."""
    cores = available_cores()
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: a run needs at least one process")
    if jobs > 1 and profile.device != "cpu":
        raise ConfigError(
            f"--jobs {jobs}: worker processes are for the CPU; profile {profile.name!r} runs on "
            f"{profile.device!r} (use accelerate launch for several GPUs)"
        )
    if jobs > cores:
        raise ConfigError(
            f"--jobs {jobs}: this process may run on {cores} core(s); more processes than cores "
            "only share them (care_rl/threads.py)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.run", description=__doc__.splitlines()[0])
    parser.add_argument("target", help=f"one of {[*TABLES, *ALIASES, *SPECIAL]}")
    parser.add_argument("--profile", default=None, help="profile name (default: $CARE_RL_PROFILE or cpu)")
    parser.add_argument("--results", type=Path, default=None, help="default: <cache>/results/<profile>")
    parser.add_argument(
        "--tables-out",
        type=Path,
        default=None,
        help="default: the profile's outputs (experiments/runner.yaml)",
    )
    parser.add_argument(
        "--figures-out",
        type=Path,
        default=None,
        help="default: the profile's outputs (experiments/runner.yaml)",
    )
    parser.add_argument(
        "--plan", action="store_true", help="print the plan and its estimated cost, then exit"
    )
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="write committed tables/figures from a tree with uncommitted changes (the provenance "
        "records the diff's hash)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes, one torch thread each, producing the plan side by side (at most the "
        "available cores; default 1)",
    )
    args = parser.parse_args(argv)
    setup_logging(logging.WARNING)
    try:
        profile = load_named_profile(args.profile)
        settings = load_runner_config().for_profile(profile.name)
        dirs = RunDirs.of(
            profile.name, settings, results=args.results, tables=args.tables_out, figures=args.figures_out
        )
        paths = run(
            profile, args.target, dirs, plan_only=args.plan, allow_dirty=args.allow_dirty, jobs=args.jobs
        )
        for path in paths:
            print(path)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
