"""avg@k arithmetic (mean of sample scores, ddof=1 std of per-set means) and the HF sampler."""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eval.avg_at_k import avg_at_k
from eval.hf_generator import HFGenerator


def test_avg_at_4_reproduces_the_papers_aime_cell():
    """30 problems; sample sets solve 0, 1, 2, 2 problems -> "4.2 (3.19)" as in Appendix A (Qwen2.5-7B base)."""
    solved = [0, 1, 2, 2]
    scores = [[100.0 if i < solved[j] else 0.0 for j in range(4)] for i in range(30)]
    r = avg_at_k(scores)
    assert r.set_means == pytest.approx((0.0, 10 / 3, 20 / 3, 20 / 3))
    assert round(r.mean, 1) == 4.2
    assert round(r.std, 2) == 3.19  # ddof=0 would give 2.76
    assert (r.n_prompts, r.k, r.n_missing) == (30, 4, 0)


def test_missing_samples_are_excluded_and_counted():
    scores = [[100.0, None, 0.0, 100.0], [0.0, 50.0, None, 100.0]]
    r = avg_at_k(scores)
    assert r.mean == pytest.approx((100 + 0 + 100 + 0 + 50 + 100) / 6)
    assert r.set_means == pytest.approx((50.0, 50.0, 0.0, 100.0))
    assert r.n_missing == 2


def test_all_missing_gives_nan_not_zero():
    r = avg_at_k([[None, None], [None, None]])
    assert math.isnan(r.mean) and math.isnan(r.std) and r.n_missing == 4


def test_ragged_or_empty_scores_are_rejected():
    with pytest.raises(ValueError, match="same k"):
        avg_at_k([[1.0, 2.0], [1.0]])
    with pytest.raises(ValueError, match="at least one"):
        avg_at_k([])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(0, 100), min_size=4, max_size=4), min_size=1, max_size=20))
def test_mean_is_mean_of_set_means_when_nothing_is_missing(scores):
    r = avg_at_k(scores)
    assert r.mean == pytest.approx(statistics.fmean(r.set_means), abs=1e-9)
    assert r.std == pytest.approx(statistics.stdev(r.set_means), abs=1e-9)


def test_hf_generator_samples_k_per_prompt_seeded(smoke_model, tokenizer):
    gen = HFGenerator(smoke_model, tokenizer, temperature=1.0, top_p=0.95, max_new_tokens=5)
    convs = [
        [{"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "A much longer prompt than the first"}],
    ]
    lengths = gen.prompt_lengths(convs)
    assert lengths[1] > lengths[0]  # chat template applied, lengths in tokens
    a = gen.generate(convs, 3, seed=7)
    b = gen.generate(convs, 3, seed=7)
    assert [len(x) for x in a] == [3, 3]
    assert [[c.text for c in x] for x in a] == [[c.text for c in x] for x in b]
    assert all(1 <= c.n_tokens <= 5 for x in a for c in x)
    c = gen.generate(convs, 3, seed=8)
    assert [[s.text for s in x] for x in a] != [[s.text for s in x] for x in c]


def test_hf_generator_temperature_zero_is_greedy_whatever_the_seed(smoke_model, tokenizer):
    gen = HFGenerator(smoke_model, tokenizer, temperature=0.0, top_p=1.0, max_new_tokens=6)
    convs = [[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "Tell me more"}]]
    a, b = gen.generate(convs, 2, seed=1), gen.generate(convs, 2, seed=2)
    assert [[c.text for c in x] for x in a] == [[c.text for c in x] for x in b]
    assert all(x[0].text == x[1].text for x in a)  # every sample of a prompt is the argmax path


def _plain_hf_samples(model, tokenizer, gen: HFGenerator, convs, k: int, seed: int) -> list[str]:
    """What transformers' own ``num_return_sequences=k`` samples (each prompt prefilled k times)."""
    enc = tokenizer(
        [gen.render(c) for c in convs],
        return_tensors="pt",
        padding=True,
        padding_side="left",
        add_special_tokens=False,
    )
    torch.manual_seed(seed)
    out = model.generate(
        **enc,
        do_sample=True,
        temperature=1.0,
        top_p=0.95,
        top_k=0,
        num_return_sequences=k,
        max_new_tokens=gen.max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
    )
    return [gen._completion(ids).text for ids in out[:, enc["input_ids"].shape[1] :].tolist()]


@pytest.mark.parametrize("lora", [False, True])
def test_shared_prompt_prefill_samples_the_same_tokens_as_num_return_sequences(smoke_model, tokenizer, lora):
    """The prompt runs once for its k samples, yet every sample is the one HF's num_return_sequences
    gives for the same seed: left-padded prompts of different lengths, with and without a LoRA."""
    model = smoke_model
    if lora:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(0)
        model = get_peft_model(
            model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        )
    model.eval()
    gen = HFGenerator(model, tokenizer, temperature=1.0, top_p=0.95, max_new_tokens=8)
    convs = [
        [{"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "A much longer prompt than the first, so the first is left-padded"}],
    ]
    ours = [c.text for cs in gen.generate(convs, 4, seed=3) for c in cs]
    assert ours == _plain_hf_samples(model, tokenizer, gen, convs, 4, seed=3)
    assert len(set(ours)) > 1  # sampled, not one path copied
