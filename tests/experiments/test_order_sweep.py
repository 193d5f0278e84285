"""The order-sweep table's summary rows: spread over orders and the difference paired by order."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.order_sweep import order_sweep_table
from experiments.tables import to_latex

ORDERS = list(itertools.permutations(("if", "chat", "math")))
COLUMNS = ["M.Avg", "Total Avg"]


def sweep(ref_totals, other_totals):
    results = {}
    for order, r, o in zip(ORDERS, ref_totals, other_totals, strict=True):
        results["standard-cascade", order] = {"M.Avg": 2 * r, "Total Avg": r}
        results["care-rl", order] = {"M.Avg": 2 * o, "Total Avg": o}
    return results


def test_summary_rows_by_hand():
    ref = [10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
    other = [11.0, 11.0, 15.0, 17.0, 19.0, 19.0]  # ahead in 4 orders, behind in 2
    df, stds, summary = order_sweep_table(sweep(ref, other), COLUMNS, "standard-cascade")
    assert len(df) == 12 + 6 and len(summary) == 6
    assert df.loc["care-rl: if > chat > math", "Total Avg"] == 11.0
    assert math.isnan(stds.loc["care-rl: if > chat > math", "Total Avg"])
    assert df.loc["standard-cascade: mean over 6 orders", "Total Avg"] == pytest.approx(15.0)
    assert stds.loc["standard-cascade: mean over 6 orders", "Total Avg"] == pytest.approx(np.std(ref))
    assert df.loc["standard-cascade: range over 6 orders", "Total Avg"] == pytest.approx(10.0)
    assert df.loc["care-rl: range over 6 orders", "M.Avg"] == pytest.approx(16.0)
    diff = np.subtract(other, ref)
    paired = "care-rl - standard-cascade, same order (6)"
    assert df.loc[paired, "Total Avg"] == pytest.approx(diff.mean())
    assert stds.loc[paired, "Total Avg"] == pytest.approx(diff.std())
    assert df.loc["care-rl > standard-cascade: orders won", "Total Avg"] == 4


def test_summary_rows_are_never_bold():
    """The mean over orders must not compete with the orders it averages for the best-per-column mark."""
    df, stds, summary = order_sweep_table(sweep([1.0] * 6, [30.0] * 6), COLUMNS, "standard-cascade")
    tex = to_latex(df, stds, "c", "l", summary)
    bold_lines = [line for line in tex.splitlines() if "bfseries" in line]
    assert bold_lines and all(
        line.startswith("care-rl: ") and " > " in line.split("&")[0] for line in bold_lines
    )


def test_paired_rows_use_only_shared_orders():
    results = sweep([1.0] * 6, [2.0] * 6)
    del results["care-rl", ORDERS[0]]
    df, _, _ = order_sweep_table(results, COLUMNS, "standard-cascade")
    assert "care-rl - standard-cascade, same order (5)" in df.index
    assert "care-rl: mean over 5 orders" in df.index


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="reference method 'nope'"):
        order_sweep_table(sweep([1.0] * 6, [2.0] * 6), COLUMNS, "nope")
    disjoint = {("a", ORDERS[0]): {"Total Avg": 1.0}, ("b", ORDERS[1]): {"Total Avg": 2.0}}
    with pytest.raises(ValueError, match="b and a share no order"):
        order_sweep_table(disjoint, ["Total Avg"], "a")
    with pytest.raises(ValueError, match="no \\(method, order\\) results"):
        order_sweep_table({}, COLUMNS, "a")


finite = st.floats(-100, 100, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=6, max_size=6), st.lists(finite, min_size=6, max_size=6), finite)
def test_shifting_a_method_shifts_only_its_location(ref, other, shift):
    """Adding c to every order of one method moves its mean and the paired difference by c and
    leaves its std and range over orders alone."""
    df, stds, _ = order_sweep_table(sweep(ref, other), COLUMNS, "standard-cascade")
    df2, stds2, _ = order_sweep_table(sweep(ref, [o + shift for o in other]), COLUMNS, "standard-cascade")
    mean, rng = "care-rl: mean over 6 orders", "care-rl: range over 6 orders"
    paired = "care-rl - standard-cascade, same order (6)"
    for row in (mean, paired):
        assert df2.loc[row, "Total Avg"] == pytest.approx(df.loc[row, "Total Avg"] + shift, abs=1e-9)
        assert stds2.loc[row, "Total Avg"] == pytest.approx(stds.loc[row, "Total Avg"], abs=1e-9)
    assert df2.loc[rng, "Total Avg"] == pytest.approx(df.loc[rng, "Total Avg"], abs=1e-9)
    assert df2.loc["standard-cascade: mean over 6 orders"].equals(
        df.loc["standard-cascade: mean over 6 orders"]
    )
