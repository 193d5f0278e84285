"""CLI: ``python -m experiments.train --profile smoke --method nvv [--order if,chat,math]``: train one method.

Prints the plan (stages, cached or not, estimated cost), then trains the stages that are not cached,
with one progress line per logged step, and finally the stage directories (one per line).
"""

from __future__ import annotations

import argparse
import logging
import sys

from care_rl.config import ConfigError
from care_rl.logs import setup_logging
from care_rl.threads import configure_threads
from care_rl.training import distributed
from care_rl.training.cascade import run_cascade
from care_rl.training.cascade_plan import check_order, load_method, method_stages, plan
from experiments.paths import load_named_profile, method_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.train", description=__doc__)
    parser.add_argument(
        "--profile", default=None, help="profile name or YAML path (default: $CARE_RL_PROFILE or cpu)"
    )
    parser.add_argument(
        "--method", required=True, help="a method in experiments/methods/ (e.g. nvv, care-rl)"
    )
    parser.add_argument("--order", default=None, help="comma-separated domain order overriding the method's")
    parser.add_argument("--monitor-every", type=int, default=0, help="interference monitor interval (0: off)")
    parser.add_argument(
        "--monitor-prompts", type=int, default=4, help="held-out prompts per domain for the monitor"
    )
    parser.add_argument("--plan", action="store_true", help="print the plan and exit")
    args = parser.parse_args(argv)
    setup_logging(logging.WARNING)
    try:
        profile = load_named_profile(args.profile)
        method = load_method(method_path(args.method))
        order = [d.strip() for d in args.order.split(",")] if args.order else None
        if order is not None:
            check_order(method, order)  # a repeated or left-out domain is an error, not a shorter run
        runs = method_stages(method, order, args.monitor_every, args.monitor_prompts)
        if args.plan:
            for stage in plan(profile, runs):
                print(stage.describe())
            return 0
        configure_threads(profile.device)
        results = run_cascade(profile, runs)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if distributed.is_main():  # every rank holds the same results; one list on stdout
        for result in results:
            print(result.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
