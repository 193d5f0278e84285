"""The per-domain sampler and the eval cap: seeded, order-independent, AIME-all for math."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from care_rl.data import loaders
from care_rl.data.records import TrainPrompt
from care_rl.data.selection import cap_sample, math_mix, seeded_sample


def _prompts(ids, source="x"):
    return [
        TrainPrompt(domain="math", id=i, source=source, messages=[{"role": "user", "content": i}])
        for i in ids
    ]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=40, unique=True),
    st.integers(0, 50),
    st.integers(0, 2**31),
    st.randoms(),
)
def test_seeded_sample_is_order_independent_and_nested(ids, n, seed, rnd):
    items = _prompts(ids)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    picked = seeded_sample(items, n, seed)
    assert [p.id for p in picked] == [p.id for p in seeded_sample(shuffled, n, seed)]
    assert len(picked) == min(n, len(items))
    assert {p.id for p in seeded_sample(items, max(0, n - 3), seed)} <= {p.id for p in picked}


def test_different_seeds_pick_different_subsets():
    items = _prompts([f"p{i}" for i in range(100)])
    assert {p.id for p in seeded_sample(items, 10, 1)} != {p.id for p in seeded_sample(items, 10, 2)}


def test_math_mix_keeps_every_aime_problem_and_fills_with_openr1():
    aime, openr1 = (
        _prompts([f"a{i}" for i in range(7)], "aime"),
        _prompts([f"o{i}" for i in range(50)], "openr1"),
    )
    mixed = math_mix(aime, openr1, 20, 42)
    assert len(mixed) == 20 and {p.id for p in aime} <= {p.id for p in mixed}
    assert sum(p.source == "openr1" for p in mixed) == 13
    assert len(math_mix(aime, openr1, 5, 42)) == 5  # AIME alone exceeds n: sample AIME only


def test_load_train_mini_is_deterministic_and_takes_all_when_short(caplog):
    first = loaders.load_train("math", "mini", 8000, 42)
    assert [p.id for p in first] == [p.id for p in loaders.load_train("math", "mini", 8000, 42)]
    aime_ids = {p.id for p in loaders.load_records("aime_1983_2024", "mini")}
    assert aime_ids <= {p.id for p in first}
    assert len(first) == len(aime_ids) + len(loaders.load_records("openr1_math", "mini"))
    small = loaders.load_train("if", "mini", 16, 42)
    assert len(small) == 16 and len({p.id for p in small}) == 16


def test_cap_sample_keeps_dataset_order():
    items = _prompts([f"e{i}" for i in range(30)])
    capped = cap_sample(items, 10, 42)
    positions = [items.index(c) for c in capped]
    assert len(capped) == 10 and positions == sorted(positions)
    assert cap_sample(items, 500, 42) == items
