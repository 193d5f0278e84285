"""Per-benchmark evaluation caps: each benchmark takes its first ``cap_for`` items, never more than
the global cap, and a cap naming no benchmark is refused before anything loads."""

from __future__ import annotations

import pytest

from care_rl.config import ConfigError, EvalSpec
from care_rl.data.loaders import load_eval
from eval.benchmarks import select
from eval.suite import build_suite


def spec(**kw) -> EvalSpec:
    return EvalSpec(max_new_tokens=8, **kw)


def test_cap_for_takes_the_lower_of_the_global_and_own_cap() -> None:
    s = spec(cap=10, caps={"gsm8k": 3, "ifeval": 50})
    assert (s.cap_for("gsm8k"), s.cap_for("ifeval"), s.cap_for("math500")) == (3, 10, 10)


def test_nonpositive_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="gsm8k"):
        spec(caps={"gsm8k": 0})


def test_suite_applies_each_benchmark_cap_in_dataset_order() -> None:
    benchmarks = select(["gsm8k", "ifeval", "aime"])
    suite = build_suite(benchmarks, "mini", spec(cap=6, caps={"gsm8k": 2, "aime": 4}), [])
    sizes = {e.benchmark.name: len(e.items) for e in suite}
    assert sizes == {"gsm8k": 2, "ifeval": 6, "aime": 4}
    first = [it.id for it in load_eval("gsm8k", "mini")[:2]]
    assert [it.id for it in suite[0].items] == first


def test_unknown_benchmark_in_caps_names_it() -> None:
    with pytest.raises(ConfigError, match="gsm9k"):
        build_suite(select(["gsm8k"]), "mini", spec(caps={"gsm9k": 2}), [])
