"""Seeded subsampling: the paper's 8,000 prompts per domain and the 500-item eval cap.

Selection ranks items by sha256(seed, id) and keeps the lowest ranks, so the chosen ids depend only
on the seed and the set of ids -- not on the order rows arrive in (hub shards, dataset versions that
reorder rows) -- and a larger n is a superset of a smaller one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Protocol, TypeVar

from care_rl.data.records import TrainPrompt

log = logging.getLogger(__name__)


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)


def rank_key(seed: int, item_id: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{item_id}".encode()).hexdigest()


def _check_unique(items: Sequence[HasId], what: str) -> None:
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"{what}: duplicate ids {dup} make seeded selection ambiguous")


def seeded_sample(items: Sequence[T], n: int, seed: int, what: str = "items") -> list[T]:
    """The n items with the lowest seeded rank, in rank order (a seeded shuffle of the kept ones).
    Fewer than n items: all of them, logged, because the mini sets are smaller than the paper's n."""
    if n < 0:
        raise ValueError(f"{what}: n must be >= 0, got {n}")
    _check_unique(items, what)
    if len(items) < n:
        log.info("%s: %d rows available, fewer than n=%d; taking all of them", what, len(items), n)
    return sorted(items, key=lambda it: rank_key(seed, it.id))[:n]


def cap_sample(items: Sequence[T], cap: int, seed: int, what: str = "benchmark") -> list[T]:
    """At most ``cap`` items (paper: 500 per benchmark), seeded, kept in the dataset's own order."""
    if cap <= 0:
        raise ValueError(f"{what}: cap must be > 0, got {cap}")
    if len(items) <= cap:
        return list(items)
    keep = {it.id for it in seeded_sample(items, cap, seed, what)}
    return [it for it in items if it.id in keep]


def math_mix(
    aime: Sequence[TrainPrompt], openr1: Sequence[TrainPrompt], n: int, seed: int
) -> list[TrainPrompt]:
    """Paper Sec. 4.1: all AIME 1983-2024 problems plus a seeded OpenR1-Math sample filling up to n.
    If AIME alone exceeds n (tiny smoke profiles), n AIME problems are sampled instead (logged)."""
    if len(aime) >= n:
        if len(aime) > n:
            log.info("math: %d AIME rows exceed n=%d; sampling %d of them, no OpenR1", len(aime), n, n)
        return seeded_sample(aime, n, seed, "aime_1983_2024")
    fill = seeded_sample(openr1, n - len(aime), seed, "openr1_math")
    mixed = list(aime) + fill
    _check_unique(mixed, "math mix")
    return seeded_sample(mixed, len(mixed), seed, "math mix")
