"""Expected ratings: exact values on a model whose next-token distribution we script, and the real
cached/batched path against a plain forward on the smoke model."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from care_rl.judges import LocalBackend
from care_rl.judges.rating import check_prefix, check_scale, common_prefix, digit_ids, expected_rating

OTHER = 0  # a non-digit token that receives whatever probability the script leaves over


class _Cache:
    """Stands in for a DynamicCache: remembers each row's prompt id and how it was repeated."""

    def __init__(self, keys: list[int]) -> None:
        self.keys = keys
        self.repeats: list[int] = []

    def batch_repeat_interleave(self, n: int) -> None:
        self.repeats.append(n)
        self.keys = [k for k in self.keys for _ in range(n)]


class ScriptedLM(torch.nn.Module):
    """Next-token probabilities from ``table[(last prompt token, digits written so far)]`` -> {digit: p}.

    Missing entries mean "no digit at all". Counts its forward passes so tests can check the budget.
    """

    def __init__(self, table: dict[tuple[int, str], dict[int, float]], tokenizer, vocab: int = 64) -> None:
        super().__init__()
        self.table, self.vocab, self.calls = table, vocab, 0
        self.digit = {tid: str(d) for d, tid in enumerate(digit_ids(tokenizer))}
        self.token_of = {int(d): tid for tid, d in self.digit.items()}
        self.vocab = max(vocab, max(self.digit) + 1)

    def _logits(self, key: int, stem: str) -> torch.Tensor:
        probs = torch.zeros(self.vocab, dtype=torch.float64)
        for d, p in self.table.get((key, stem), {}).items():
            probs[self.token_of[d]] = p
        probs[OTHER] = 1.0 - float(probs.sum())
        return probs.log()  # -inf for impossible tokens, as a model can (almost) say

    def forward(self, input_ids, attention_mask, position_ids, use_cache, past_key_values=None, **_):
        self.calls += 1
        if past_key_values is None:  # the prompt pass: read at the last (left-padded) position
            keys = [int(row[-1]) for row in input_ids]
            logits = torch.stack([self._logits(k, "") for k in keys])[:, None]
            return SimpleNamespace(logits=logits, past_key_values=_Cache(keys))
        rows = []
        for key, ids in zip(past_key_values.keys, input_ids, strict=True):
            stems = ["".join(self.digit.get(int(t), "?") for t in ids[: i + 1]) for i in range(len(ids))]
            rows.append(torch.stack([self._logits(key, s) for s in stems]))
        return SimpleNamespace(logits=torch.stack(rows), past_key_values=past_key_values)


def _rate(table, tokenizer, prompts, scale):
    model = ScriptedLM(table, tokenizer)
    return expected_rating(model, tokenizer, prompts, scale), model


def test_one_to_ten_splits_the_first_digit_one_between_1_and_10(tokenizer):
    table = {(5, ""): {1: 0.3, 5: 0.2, 9: 0.1}, (5, "1"): {0: 0.5, 1: 0.2}}  # "11" is off the scale
    (r,), model = _rate(table, tokenizer, [[7, 5]], range(1, 11))
    assert r.mass == pytest.approx(0.6)
    assert r.probs[10] == pytest.approx(0.15 / 0.6) and r.probs[1] == pytest.approx(0.15 / 0.6)
    assert r.expected == pytest.approx((1 * 0.15 + 10 * 0.15 + 5 * 0.2 + 9 * 0.1) / 0.6)
    assert model.calls == 2


def test_all_mass_on_ten_and_on_twenty_gives_exactly_the_top_of_the_scale(tokenizer):
    ten = {(5, ""): {1: 1.0}, (5, "1"): {0: 1.0}}
    assert _rate(ten, tokenizer, [[5]], range(1, 11))[0][0].expected == pytest.approx(10.0)
    twenty = {(5, ""): {2: 0.8}, (5, "2"): {0: 1.0}}
    (r,), _ = _rate(twenty, tokenizer, [[5]], range(0, 21))
    assert r.expected == pytest.approx(20.0) and r.mass == pytest.approx(0.8)


def test_zero_to_twenty_two_stems_in_one_continuation_pass(tokenizer):
    table = {
        (5, ""): {0: 0.1, 1: 0.2, 2: 0.3},  # 0.4 on a non-digit token: off the scale
        (5, "1"): {0: 0.25, 5: 0.5},
        (5, "2"): {0: 0.5, 3: 0.3},  # "23" is off the scale: stays with r = 2
    }
    (r,), model = _rate(table, tokenizer, [[5]], range(0, 21))
    expect = {0: 0.1, 10: 0.05, 15: 0.1, 1: 0.05, 20: 0.15, 2: 0.15}
    assert r.mass == pytest.approx(0.6)
    assert r.expected == pytest.approx(sum(k * v for k, v in expect.items()) / 0.6)
    assert r.probs == pytest.approx({k: expect.get(k, 0.0) / 0.6 for k in range(21)}, abs=1e-6)
    assert model.calls == 2


def test_single_digit_scale_needs_one_pass_and_rows_stay_aligned(tokenizer):
    table = {(5, ""): {1: 1.0}, (6, ""): {5: 0.5, 3: 0.5}, (8, ""): {}}  # prompt 8: no mass on the scale
    ratings, model = _rate(table, tokenizer, [[5], [9, 9, 9, 6], [8, 8]], range(1, 6))
    assert ratings[0].expected == pytest.approx(1.0) and ratings[1].expected == pytest.approx(4.0)
    assert ratings[2].expected is None and ratings[2].mass == pytest.approx(0.0)
    assert model.calls == 1


def test_rows_of_different_lengths_keep_their_own_continuations(tokenizer):
    table = {(5, ""): {1: 1.0}, (5, "1"): {0: 1.0}, (6, ""): {1: 1.0}, (6, "1"): {}}
    ratings, _ = _rate(table, tokenizer, [[1, 2, 3, 5], [6]], range(1, 11))
    assert [r.expected for r in ratings] == pytest.approx([10.0, 1.0])


@settings(max_examples=40, deadline=None)
@given(
    first=st.lists(st.floats(0, 1), min_size=10, max_size=10),
    second=st.lists(st.floats(0, 1), min_size=10, max_size=10),
    top=st.sampled_from([5, 10, 20, 30]),
)
def test_distribution_is_normalised_and_mass_is_first_digit_mass(tokenizer, first, second, top):
    norm1, norm2 = sum(first) + 1.0, sum(second) + 1.0
    table = {(5, ""): {d: p / norm1 for d, p in enumerate(first)}}
    for stem in range(1, 10):
        table[(5, str(stem))] = {d: p / norm2 for d, p in enumerate(second)}
    scale = range(1, top + 1)
    (r,), _ = _rate(table, tokenizer, [[5]], scale)
    leading = {int(s[0]) for s in check_scale(scale)}
    assert r.mass == pytest.approx(sum(first[d] for d in leading) / norm1, abs=1e-6)
    if r.mass > 1e-6:
        assert sum(r.probs.values()) == pytest.approx(1.0)
        assert scale.start - 1e-6 <= r.expected <= scale.stop - 1 + 1e-6


def test_bad_scales_and_prefixes_are_rejected(tokenizer):
    for bad in (range(3, 4), range(0, 10, 2), range(-1, 5)):
        with pytest.raises(ValueError, match="rating scale"):
            check_scale(bad)
    check_prefix(tokenizer, '{"score": "')
    check_prefix(tokenizer, "Rating (1-5): ")  # SmolLM2 spells numbers digit by digit after any text

    def merging(text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        """One token per character, except that "10" is a single token (as in many BPE vocabularies)."""
        return {"input_ids": [1000 if t == "10" else ord(t) for t in re.findall(r"10|.", text, re.S)]}

    with pytest.raises(ValueError, match="digit by digit"):
        check_prefix(merging, "score: ")


@torch.no_grad()
def _plain_probs(model, ids: list[int], digits: list[int]) -> torch.Tensor:
    return torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, -1].float(), -1)[digits]


def test_smoke_model_cached_batched_path_matches_plain_forward(tokenizer, smoke_model):
    digits = digit_ids(tokenizer)
    prompts = [
        tokenizer(t, add_special_tokens=False)["input_ids"] for t in ("a b c d e f", "x", "hello there")
    ]
    ratings = expected_rating(smoke_model, tokenizer, prompts, range(0, 21))
    for ids, r in zip(prompts, ratings, strict=True):
        p1 = _plain_probs(smoke_model, ids, digits)
        after1 = _plain_probs(smoke_model, [*ids, digits[1]], digits)
        after2 = _plain_probs(smoke_model, [*ids, digits[2]], digits)
        mass = float(p1.sum())  # 0..9 are all ratings of 0..20
        assert r.mass == pytest.approx(mass, rel=1e-4)
        assert r.probs[13] == pytest.approx(float(p1[1] * after1[3]) / mass, rel=1e-3)
        assert r.probs[20] == pytest.approx(float(p1[2] * after2[0]) / mass, rel=1e-3)
        assert r.probs[2] == pytest.approx(float(p1[2] * (1 - after2[0])) / mass, rel=1e-3)


def test_local_backend_rate_batches_in_order(tokenizer, smoke_model):
    convs = [[{"role": "user", "content": "rate " * n}] for n in (9, 1, 5)]
    judge = LocalBackend(smoke_model, tokenizer, batch_size=2, scoring="expected_rating")
    batched = judge.rate(convs, '{"score": "', range(1, 11))
    single = [judge.rate([c], '{"score": "', range(1, 11))[0] for c in convs]
    for a, b in zip(batched, single, strict=True):
        assert a.expected == pytest.approx(b.expected, rel=1e-4) and a.mass == pytest.approx(b.mass, rel=1e-4)
    too_long = [{"role": "user", "content": "word " * 600}]  # smoke model: 512 positions
    assert judge.rate([too_long], '{"score": "', range(1, 11)) == [None]
    assert judge.stats.calls == 7 and judge.stats.failures == 1


@settings(max_examples=60, deadline=None)
@given(
    head=st.lists(st.integers(1, 5), max_size=6),
    tails=st.lists(st.lists(st.integers(1, 5), min_size=1, max_size=4), min_size=1, max_size=4),
)
def test_common_prefix_is_the_longest_shared_head_short_of_every_last_token(head, tails):
    prompts = [head + t for t in tails]
    k = common_prefix(prompts)
    assert all(p[:k] == prompts[0][:k] for p in prompts)
    assert all(k < len(p) for p in prompts)  # every prompt keeps its last token
    longer = k + 1
    assert longer >= min(len(p) for p in prompts) or any(p[:longer] != prompts[0][:longer] for p in prompts)


@pytest.mark.parametrize("scale", [range(0, 21), range(1, 6)])
def test_shared_prefix_pass_gives_the_same_ratings_as_full_prompts(tokenizer, smoke_model, scale):
    head = tokenizer("Judge the response below against one criterion. " * 3, add_special_tokens=False)
    tails = ["Clarity", "Purple prose and overwrought imagery", "Pacing", "x"]
    prompts = [head["input_ids"] + tokenizer(t, add_special_tokens=False)["input_ids"] for t in tails]
    shared = common_prefix(prompts)
    assert shared >= len(head["input_ids"]) - 1
    plain = expected_rating(smoke_model, tokenizer, prompts, scale)
    fast = expected_rating(smoke_model, tokenizer, prompts, scale, shared_prefix=shared)
    for a, b in zip(plain, fast, strict=True):
        assert b.mass == pytest.approx(a.mass, rel=1e-4)
        for r in scale:
            assert b.probs[r] == pytest.approx(a.probs[r], rel=1e-3, abs=1e-7)


def test_shared_prefix_must_be_shared_and_leave_a_token(tokenizer, smoke_model):
    with pytest.raises(ValueError, match="share their first 2"):
        expected_rating(smoke_model, tokenizer, [[5, 6, 7], [5, 9, 7]], range(1, 6), shared_prefix=2)
    with pytest.raises(ValueError, match="at least one token"):
        expected_rating(smoke_model, tokenizer, [[5, 6, 7], [5, 6]], range(1, 6), shared_prefix=2)


def test_local_backend_runs_a_batch_common_prefix_once_with_unchanged_ratings(
    tokenizer, smoke_model, monkeypatch
):
    """CW3-style queries: one long response, one conversation per criterion, plus an unrelated one."""
    import care_rl.judges.local as local

    response = "The sailor traded stories with the sea until dawn. " * 4
    criteria = ["Coherent", "Elegant Prose", "Meandering", "Purple Prose", "Weak Dialogue"]
    convs = [[{"role": "user", "content": f"{response}\nScore this criterion: {c}"}] for c in criteria]
    convs.append([{"role": "user", "content": "Something else entirely. Score: Coherent"}])
    shared_seen: list[int] = []
    real = local.expected_rating

    def spy(*args, shared_prefix=0, **kwargs):
        shared_seen.append(shared_prefix)
        return real(*args, shared_prefix=shared_prefix, **kwargs)

    monkeypatch.setattr(local, "expected_rating", spy)
    judge = LocalBackend(smoke_model, tokenizer, batch_size=8, scoring="expected_rating")
    batched = judge.rate(convs, '{"score": "', range(0, 21))
    assert any(s >= local.MIN_SHARED_PREFIX for s in shared_seen)
    monkeypatch.setattr(local, "expected_rating", real)
    single = [judge.rate([c], '{"score": "', range(0, 21))[0] for c in convs]
    for a, b in zip(batched, single, strict=True):
        assert a.expected == pytest.approx(b.expected, rel=1e-4) and a.mass == pytest.approx(b.mass, rel=1e-4)


def test_prefix_groups_keep_an_unrelated_row_apart_and_preserve_order():
    from care_rl.judges.local import MIN_SHARED_PREFIX, prefix_groups

    head = list(range(100, 100 + 3 * MIN_SHARED_PREFIX))
    batch = [[*head, 1], [*head, 2, 2], [*head, 3], [7] * 40, [8] * 40]
    groups = prefix_groups(batch)
    assert [len(g) for g, _ in groups] == [3, 2]
    assert groups[0][1] == len(head) and groups[1][1] == 0  # no shared prefix among unrelated rows
    assert [ids for g, _ in groups for ids in g] == batch
