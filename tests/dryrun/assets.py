"""What the paper-scale dry run loads, made locally: tiny random Qwen3 models with a Qwen3-style chat
template (thinking included), saved where the hub loader looks first (``<cache>/models/<hub id>``), and
the shipped minis copied where the dataset hub loader looks first (``<cache>/datasets/<hub id>/...``),
so ``experiments/profiles/paper-dryrun.yaml`` runs through the same loading code as ``qwen3-4b``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase, Qwen3Config

from care_rl.data.io import local_hub_file
from care_rl.data.loaders import SPECS
from care_rl.models import local_model_dir

# Our own rendering of Qwen3's chat format: ChatML turns; an assistant turn's thinking is dropped from
# the history; the last assistant turn of a conversation (an SFT target) is preceded by an empty think
# block, which is also how the generation prompt ends with enable_thinking=False. With thinking on (the
# default, the policy's setting) the generation prompt leaves the model free to open <think>.
QWEN3_STYLE_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message.role == 'assistant' -%}"
    "{%- set content = message.content -%}"
    "{%- if '</think>' in content -%}{%- set content = content.split('</think>')[-1].lstrip('\\n') -%}{%- endif -%}"
    "{%- if loop.last -%}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + content + '<|im_end|>\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"
    "{%- endif -%}"
)
POLICY = "dryrun/qwen3-tiny"
JUDGE = "dryrun/qwen3-judge-tiny"
# Qwen3 at a few thousandths of its width: 2 layers, 4 query / 2 key-value heads of 16 dimensions
SIZES = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 4096,
}
# Random weights almost never emit EOS, so every completion would be truncated and (as at paper scale)
# masked. Scaling the EOS row of the output layer makes replies end after a few tokens, so groups differ
# and the loss has unmasked tokens to act on.
EOS_LOGIT_SCALE = 200.0


def qwen3_style_tokenizer(base: Path) -> PreTrainedTokenizerBase:
    """The ChatML BPE tokenizer in folder ``base`` (SmolLM2's) with Qwen3's think tags as plain added
    tokens, its padding token and the Qwen3-style chat template."""
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.add_tokens(["<think>", "</think>"], special_tokens=False)
    tokenizer.pad_token = "<|endoftext|>"
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = QWEN3_STYLE_TEMPLATE
    return tokenizer


def save_tiny_qwen3(name: str, tokenizer: PreTrainedTokenizerBase, seed: int) -> Path:
    """A seeded random Qwen3 and its tokenizer in ``<cache>/models/<name>``, where the hub loader reads it."""
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=False,
        **SIZES,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        model.lm_head.weight[tokenizer.eos_token_id] *= EOS_LOGIT_SCALE
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = local_model_dir(name)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def copy_minis_as_hub() -> None:
    """Every dataset's shipped mini file at the path the hub loader reads first (the minis carry the
    real schema; CW3 is not on the hub and is pointed to by $CARE_RL_CW3_DIR instead)."""
    for spec in SPECS.values():
        if spec.reader is None:
            target = local_hub_file(spec)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(spec.mini_path, target)


def build(base_tokenizer: Path) -> None:
    """The dry run's models and datasets under the current ``CARE_RL_CACHE`` (``base_tokenizer``: a
    folder holding the ChatML tokenizer the tiny models extend)."""
    tokenizer = qwen3_style_tokenizer(base_tokenizer)
    save_tiny_qwen3(POLICY, tokenizer, seed=42)
    save_tiny_qwen3(JUDGE, tokenizer, seed=7)
    copy_minis_as_hub()
