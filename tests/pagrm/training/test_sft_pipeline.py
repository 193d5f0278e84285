"""Trace collection (synthetic teacher and endpoint teacher), SFT examples, config, and a smoke SFT run."""

from __future__ import annotations

import json

import pytest

from care_rl.config import ConfigError, cache_dir
from care_rl.data import loaders
from care_rl.data.records import PreferencePair
from care_rl.pagrm import make_chat_reward, read_traces
from care_rl.pagrm.parsing import parse_protocol, parse_score
from care_rl.pagrm.templates import protocol_conversation, score_conversation
from care_rl.pagrm.training.collect_traces import collect, is_heldout, select_pairs
from care_rl.pagrm.training.judge_check import pairwise_accuracy
from care_rl.pagrm.training.sft import (
    SftConfig,
    check_lengths,
    default_out,
    example_lengths,
    load_sft_config,
    sft_examples,
    train,
)
from care_rl.pagrm.training.synthetic_teacher import teacher_trace
from experiments.paths import PAGRM_SFT_YAML, load_named_profile
from tests.pagrm.scripted_judge import backend

PAIRS = [
    PreferencePair("ultrafeedback", "u1", "Tell me the sum of 425 and 725.", "The total is 1150."),
    PreferencePair("ultrafeedback", "u2", "Tell me the sum of 425 and 725.", "The total is 1151."),
    PreferencePair(
        "helpsteer3", "h1", "Which country has Cairo as its capital city?", "Cairo is the capital of Chile."
    ),
    PreferencePair("helpsteer3", "h2", "Write a haiku about snow.", "Soft snow falls."),
]


def test_synthetic_teacher_is_correct_by_construction():
    right, wrong, capital, unknown = (teacher_trace(p) for p in PAIRS)
    assert right.score > wrong.score and right.schema == wrong.schema
    assert right.judgments[0]["satisfaction"] == "met" and wrong.judgments[0]["satisfaction"] == "unmet"
    assert "1150" in right.schema[0]["criterion"]
    assert capital.judgments[0]["satisfaction"] == "unmet" and "Egypt" in capital.schema[0]["criterion"]
    assert unknown is None  # the teacher never guesses outside what it can verify
    for t in (right, wrong, capital):
        t.validate()


def test_collect_is_resumable(tmp_path):
    out = tmp_path / "traces.jsonl"
    assert collect(PAIRS[:2], out)["written"] == 2
    counts = collect(PAIRS, out)
    assert counts["skipped_done"] == 2 and counts["written"] == 1 and counts["failed"] == 1
    assert [t.pair_id for t in read_traces(out)] == ["u1", "u2", "h1"]


def test_collect_from_an_endpoint_teacher_shares_one_protocol_per_prompt(tmp_path):
    judge = backend()
    counts = collect(PAIRS[:2], tmp_path / "t.jsonl", backend=judge)
    traces = read_traces(tmp_path / "t.jsonl")
    assert counts["written"] == 2 and counts["protocol_calls"] == 1
    assert traces[0].schema == traces[1].schema and traces[0].judge == "scripted-judge"


def test_sft_examples_render_the_inference_templates():
    traces = [teacher_trace(p) for p in PAIRS[:3]]
    ex = sft_examples(traces)
    assert len(ex) == 2 + 3  # two distinct prompts -> two protocol examples; three scoring examples
    assert "design the evaluation standard" in ex[0]["prompt"][0]["content"]
    assert json.loads(ex[0]["completion"][0]["content"])["protocol"] == "rubric"
    assert json.loads(ex[1]["completion"][0]["content"])["score"] == traces[0].score


def test_sft_examples_round_trip_to_the_traces():
    """What the judge learns to emit parses back, through the judge's own parsers, into the trace."""
    pairs = select_pairs(list(loaders.PAIR_SOURCES), "mini", 60, split="train")
    traces = [teacher_trace(p) for p in pairs]
    ex = sft_examples(traces)
    target = {e["prompt"][0]["content"]: e["completion"][0]["content"] for e in ex}
    assert len(target) == len(ex) == len(traces) + len({t.prompt for t in traces})
    assert {t.protocol for t in traces} == {"rubric", "holistic"}
    for t in traces:
        proto = parse_protocol(target[protocol_conversation(t.prompt, "pagrm")[0]["content"]])
        assert (proto.protocol, proto.schema) == (t.protocol, t.schema)
        scoring = score_conversation(t.prompt, t.protocol, t.schema, t.response)[0]["content"]
        assert t.response in scoring and t.prompt in scoring
        score = parse_score(target[scoring])
        assert (score.raw, score.judgments, score.reasoning) == (t.score, t.judgments, t.reasoning)


def test_too_long_examples_are_refused_not_truncated(tokenizer):
    traces = [teacher_trace(p) for p in PAIRS[:3]]
    lengths = example_lengths(sft_examples(traces), tokenizer)
    check_lengths(lengths, max(lengths))
    with pytest.raises(ValueError, match=r"1 of 5 SFT examples exceed max_length=\d+.*SFT config"):
        check_lengths(lengths, sorted(lengths)[-2])


def test_cpu_max_length_fits_every_synthetic_trace(tokenizer):
    pairs = select_pairs(list(loaders.PAIR_SOURCES), "mini", 10**6, split="train")
    lengths = example_lengths(sft_examples([teacher_trace(p) for p in pairs]), tokenizer)
    check_lengths(lengths, load_sft_config(PAGRM_SFT_YAML).for_profile("cpu").max_length)


def test_heldout_split_is_by_prompt_and_disjoint():
    all_pairs = select_pairs(list(loaders.PAIR_SOURCES), "mini", 10**6)
    train = select_pairs(list(loaders.PAIR_SOURCES), "mini", 10**6, split="train")
    held = select_pairs(list(loaders.PAIR_SOURCES), "mini", 10**6, split="heldout")
    assert held and train and len(train) + len(held) == len(all_pairs)
    assert not {p.prompt for p in train} & {p.prompt for p in held}
    assert is_heldout("x", 0.0) is False
    with pytest.raises(ValueError, match="fraction"):
        is_heldout("x", 1.0)


def test_pairwise_accuracy_counts_only_strict_wins():
    def pair(prompt, human):
        return PreferencePair("s", f"{prompt}{human}", prompt, "r", human)

    pairs = [pair(p, h) for p in "abcde" for h in (0.0, 1.0)]
    # a: right, b: wrong, c: tie, d: worse one unparsed, e: right
    scores = [0.1, 0.9, 0.8, 0.2, 0.5, 0.5, None, 0.7, 0.0, 0.3]
    out = pairwise_accuracy(pairs, scores)
    assert out == {
        "prompts": 5,
        "correct": 2,
        "tie": 1,
        "wrong": 1,
        "unparsed": 1,
        "no_preference": 0,
        "accuracy": 0.4,
    }


def test_cpu_profile_names_the_adapter_that_sft_writes():
    cpu = load_named_profile("cpu")
    assert cpu.judge.adapter is not None
    assert cache_dir() / cpu.judge.adapter == default_out(cpu) / "adapter"


def test_sft_config_validation_and_profile_overrides(tmp_path):
    cfg = load_sft_config(PAGRM_SFT_YAML)
    assert (cfg.lora.r, cfg.lora.alpha, cfg.max_length, cfg.gradient_accumulation_steps) == (32, 64, 4096, 16)
    assert cfg.for_profile("smoke").max_steps == 2 and cfg.for_profile("qwen3-4b") == cfg
    assert cfg.gradient_checkpointing and not cfg.for_profile("cpu").gradient_checkpointing
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_length: 0\nprofiles: {cpu: {max_lenght: 5}}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml") as e:
        load_sft_config(bad)
    assert "max_length" in str(e.value) and "max_lenght" in str(e.value)


def test_smoke_sft_produces_an_adapter_that_serves_as_the_chat_judge(tmp_path, smoke_profile):
    from care_rl.judges import build_backend

    traces = [teacher_trace(p) for p in PAIRS[:3]]
    config = SftConfig(
        max_length=1024, gradient_checkpointing=False, gradient_accumulation_steps=1, max_steps=1
    )
    adapter = train(traces, smoke_profile, config, tmp_path)
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 32
    judge = build_backend(smoke_profile.judge, tokenizer_spec=smoke_profile.tokenizer, adapter_path=adapter)
    reward = make_chat_reward("pagrm", judge, protocol_max_new_tokens=8, score_max_new_tokens=8)
    out = reward(completions=["The total is 1150."] * 2, prompts=[PAIRS[0].prompt] * 2)
    # a random 2-layer judge after one step emits noise: every row is skipped and counted, none is 0
    assert out == [None, None]
    assert reward.metrics["protocol_calls"] == 1 and reward.metrics["skipped_no_protocol"] == 2
