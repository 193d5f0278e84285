"""k samples per prompt from one prefill of the prompt: the KV cache is computed once and repeated.

``generate(num_return_sequences=k)`` (or a batch holding k copies of each prompt, as TRL builds its
rollout batch) runs every prompt k times through the model before the first new token. Here each
prompt, all but its last token, is prefilled once into a KV cache that is then repeated k times, so
``generate`` starts from the last prompt token with the cache of rows i*k .. i*k+k-1 already filled.
Row i*k+j is sample j of prompt i, the row order of ``num_return_sequences`` and of TRL's groups, so
a seeded sampler draws the same tokens (up to floating-point order in the prefill's matmuls); used by
both the rollouts (care_rl/training/dapo.py) and the evaluator (eval/sampling.py).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache


def shared_prefill_inputs(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, k: int
) -> dict[str, Any]:
    """``generate`` inputs for k samples of each left-padded prompt, the prompt computed once.

    Positions follow ``generate``'s own rule for left padding (cumulative mask, pads at 1), so the
    cached keys carry the positions ``generate`` would have given them. Call under ``torch.no_grad``.
    """
    if input_ids.shape[1] < 2:
        raise ValueError(
            "a shared prefill needs prompts of at least two tokens (the last one starts generate)"
        )
    cache = DynamicCache(config=model.config)
    positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
    model(
        input_ids=input_ids[:, :-1],
        attention_mask=attention_mask[:, :-1],
        position_ids=positions[:, :-1],
        past_key_values=cache,
        use_cache=True,
    )
    cache.batch_repeat_interleave(k)
    return {
        "input_ids": input_ids.repeat_interleave(k, dim=0),
        "attention_mask": attention_mask.repeat_interleave(k, dim=0),
        "past_key_values": cache,
    }
