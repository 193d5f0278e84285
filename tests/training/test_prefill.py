"""The shared prompt prefill (care_rl/prefill.py) gives the next-token distribution of a full forward."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model

from care_rl.prefill import shared_prefill_inputs


@pytest.mark.parametrize("lora", [False, True])
def test_prefilled_cache_gives_the_log_probs_of_a_full_batch(smoke_model, tokenizer, lora):
    """k sampled continuations per left-padded prompt: the log-probs ``generate`` sampled from with the
    prompt prefilled once equal (within float tolerance) those of the same tokens in one teacher-forced
    forward over k full copies of every prompt, position by position."""
    model = smoke_model
    if lora:
        torch.manual_seed(0)
        model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    model.eval()
    texts = [
        "<|im_start|>user\nHi<|im_end|>\n",
        "<|im_start|>user\nA longer prompt, so the first is padded<|im_end|>\n",
    ]
    enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    k, new = 3, 6
    with torch.no_grad():
        inputs = shared_prefill_inputs(model, enc["input_ids"], enc["attention_mask"], k)
        torch.manual_seed(1)
        out = model.generate(
            **inputs,
            do_sample=True,
            top_k=0,
            max_new_tokens=new,
            min_new_tokens=new,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=tokenizer.pad_token_id,
        )
        sampled = torch.stack(out.logits, dim=1).log_softmax(-1)  # [rows, new, vocab]
        ids = out.sequences
        mask = torch.cat([inputs["attention_mask"], torch.ones(ids.shape[0], new, dtype=torch.long)], dim=1)
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
        full = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.log_softmax(-1)
    prompt_len = enc["input_ids"].shape[1]
    torch.testing.assert_close(sampled, full[:, prompt_len - 1 : -1], rtol=1e-4, atol=1e-4)
    assert ids.shape[0] == 2 * k and len({tuple(r) for r in ids[:, prompt_len:].tolist()}) > 1


def test_prompts_of_one_token_are_refused(smoke_model):
    with pytest.raises(ValueError, match="at least two tokens"):
        shared_prefill_inputs(smoke_model, torch.tensor([[5]]), torch.tensor([[1]]), 2)
