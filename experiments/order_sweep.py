"""The order-sweep table (beyond the paper): every domain order per method, and how much order matters.

The paper fixes one order (IF -> Chat -> Math) and names order sensitivity as a limitation. One row per
(method, order) shows the raw results; the summary rows answer the question the sweep exists for:
- ``mean over orders`` with the std across orders: how much a method's result depends on the order.
  The std is the population std (ddof=0) because the sweep enumerates every order, not a sample of them.
- ``range over orders`` (best minus worst order): the order sensitivity in one number.
- ``<method> - <reference>, same order``: the difference paired by order (mean and std over the orders
  both methods ran), i.e. whether a method's advantage survives a change of order, and
  ``<method> > <reference>``: in how many of those orders it came out ahead on each column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from experiments import metrics as m


def order_sweep_table(
    results: Mapping[tuple[str, tuple[str, ...]], Mapping[str, float]],
    columns: Sequence[str],
    reference: str,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """``results``: (method, order) -> column means. Returns (means, stds, summary row labels).

    Per-order rows carry no std (NaN); summary rows are listed third so a table can keep them out of
    the bold best-per-column marking (a mean over orders is not a competitor of its own orders)."""
    if not results:
        raise ValueError("order sweep: no (method, order) results to tabulate")
    methods = list(dict.fromkeys(method for method, _ in results))
    if reference not in methods:
        raise ValueError(f"order sweep: reference method {reference!r} not among {methods}")
    per_order = {
        method: pd.DataFrame.from_dict(
            {
                " > ".join(order): {c: results[method, order].get(c, float("nan")) for c in columns}
                for (mm, order) in results
                if mm == method
            },
            orient="index",
        )
        for method in methods
    }
    means: dict[str, pd.Series] = {}
    stds: dict[str, pd.Series] = {}
    summary: list[str] = []

    def add(label: str, mean: pd.Series, std: pd.Series | None, is_summary: bool) -> None:
        means[label] = mean
        stds[label] = std if std is not None else pd.Series(float("nan"), index=list(columns))
        if is_summary:
            summary.append(label)

    for method, frame in per_order.items():
        for order, values in frame.iterrows():
            add(f"{method}: {order}", values, None, False)
    for method, frame in per_order.items():
        n = len(frame)
        add(f"{method}: mean over {n} orders", frame.mean(), frame.std(ddof=0), True)
        add(f"{method}: range over {n} orders", frame.max() - frame.min(), None, True)
    ref = per_order[reference]
    sign = pd.Series([-1.0 if c in m.LOWER_IS_BETTER else 1.0 for c in columns], index=list(columns))
    for method, frame in per_order.items():
        if method == reference:
            continue
        shared = [o for o in frame.index if o in ref.index]
        if not shared:
            raise ValueError(f"order sweep: {method} and {reference} share no order")
        diff = frame.loc[shared] - ref.loc[shared]
        add(f"{method} - {reference}, same order ({len(shared)})", diff.mean(), diff.std(ddof=0), True)
        add(f"{method} > {reference}: orders won", (diff * sign > 0).sum().astype(float), None, True)
    index = pd.Index(list(means), name="Method: order")
    return (
        pd.DataFrame(means).T.reindex(index)[list(columns)],
        pd.DataFrame(stds).T.reindex(index)[list(columns)],
        summary,
    )
