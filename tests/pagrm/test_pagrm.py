"""PA-GRM end to end with a scripted judge: caching, shared schemas, failure accounting, variants, traces."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from care_rl.judges import LocalBackend, ScriptedBackend
from care_rl.pagrm import Trace, make_chat_reward, read_traces, write_traces
from care_rl.pagrm.parsing import JudgeOutputError, Score, extract_json, parse_protocol, parse_score
from tests.pagrm.scripted_judge import FAILURES, HOLISTIC, RUBRIC, backend, is_protocol_call, reply

POEM = [{"role": "user", "content": "Write a poem about rain."}]
LIST = [{"role": "user", "content": "Give a list of three fruits."}]


def _completion(text):
    return [{"role": "assistant", "content": text}]


def test_one_protocol_call_per_prompt_and_shared_schema(tmp_path):
    judge = backend()
    reward = make_chat_reward("pagrm", judge, cache_path=tmp_path / "protocols.jsonl")
    prompts = [POEM] * 4 + [LIST] * 4
    completions = [_completion("w " * n) for n in (1, 2, 3, 4, 1, 2, 3, 4)]
    out = reward(completions=completions, prompts=prompts, domain=["chat"] * 8)
    assert out == pytest.approx([(1 + n - 1) / 9 for n in (1, 2, 3, 4, 1, 2, 3, 4)])
    assert sum(is_protocol_call(c) for c in judge.seen) == 2
    score_calls = [c[-1]["content"] for c in judge.seen if not is_protocol_call(c)]
    assert all("[Considerations]" in s for s in score_calls[:4]) and all(
        "[Rubric]" in s for s in score_calls[4:]
    )
    schemas = {s.split("[Response]")[0] for s in score_calls[:4]}
    assert len(schemas) == 1  # every response to the poem saw the very same schema text
    assert reward.metrics["protocol_holistic"] == 1 and reward.metrics["protocol_rubric"] == 1

    reward(completions=completions, prompts=prompts, domain=["chat"] * 8)  # the next RL step
    assert sum(is_protocol_call(c) for c in judge.seen) == 2
    assert reward.metrics["protocol_cache_hits"] == 2

    fresh = backend()  # a restarted run reads the JSONL cache and calls the judge only to score
    again = make_chat_reward("pagrm", fresh, cache_path=tmp_path / "protocols.jsonl")
    assert again(completions=completions, prompts=prompts) == out
    assert not any(is_protocol_call(c) for c in fresh.seen)


def test_every_failure_mode_is_none_counted_and_logged(caplog):
    reward = make_chat_reward("pagrm", backend())
    texts = ["a good poem", *FAILURES, "TIMEOUT"]
    judge_log = "care_rl.pagrm.judge"
    with caplog.at_level(logging.DEBUG, logger=judge_log):
        out = reward(completions=[_completion(t) for t in texts], prompts=[POEM] * len(texts))
    assert out[0] == pytest.approx(3 / 9)
    assert out[1:] == [None] * (len(texts) - 1)
    m = reward.metrics
    assert m["score_failed_empty"] == 1 and m["score_failed_malformed_json"] == 1
    assert m["score_failed_missing_score"] == 1 and m["score_failed_out_of_range_score"] == 1
    assert m["score_failed_schema_invalid"] == 1 and m["score_failed_judge_failed"] == 1
    assert m["scored"] == 1
    assert '"score": 11' in caplog.text and "out_of_range_score" in caplog.text  # each one at DEBUG
    # the console gets one line for the whole call: how many failed, of which kinds
    warnings = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == judge_log
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith("PA-GRM score (pagrm): 6 of 7 judgments failed (empty 1, judge_failed 1,")


def test_protocol_failure_skips_the_group_without_caching_it():
    calls = []

    def reply(conv):
        calls.append(conv)
        return "not json at all" if len(calls) == 1 else '{"protocol": "holistic", "schema": []}'

    from care_rl.judges import ScriptedBackend

    reward = make_chat_reward("pagrm", ScriptedBackend(reply))
    assert reward(completions=["a", "b"], prompts=["p", "p"]) == [None, None]
    assert reward(completions=["a"], prompts=["p"]) == [None]  # empty schema violates minItems
    assert reward.metrics["protocol_failed_malformed_json"] == 1
    assert reward.metrics["protocol_failed_schema_invalid"] == 1
    assert reward.metrics["skipped_no_protocol"] == 3 and len(calls) == 2


def test_non_chat_rows_are_none_and_never_judged():
    judge = backend()
    reward = make_chat_reward("pagrm", judge)
    out = reward(completions=["x", "y", "z z"], prompts=["p1", "p2", POEM], domain=["math", "if", "chat"])
    assert out[:2] == [None, None] and out[2] == pytest.approx(2 / 9)
    assert all("p1" not in c[-1]["content"] and "p2" not in c[-1]["content"] for c in judge.seen)
    assert reward.metrics["skipped_non_chat"] == 2


def test_variants_direct_and_forced_protocols():
    judge = backend()
    direct = make_chat_reward("direct", judge)
    assert direct(completions=["one two"], prompts=[POEM]) == [pytest.approx(2 / 9)]
    assert len(judge.seen) == 1 and not is_protocol_call(judge.seen[0])
    assert direct.__name__ == "chat_direct"

    rubric = make_chat_reward("rubric", backend())
    assert rubric(completions=["a"], prompts=[LIST]) == [pytest.approx(1 / 9)]
    holistic_judge = backend()
    holistic = make_chat_reward("holistic", holistic_judge)
    assert holistic(completions=["a"], prompts=[POEM]) == [pytest.approx(1 / 9)]
    assert 'Use the "holistic" protocol' in holistic_judge.seen[0][-1]["content"]
    # a judge that ignores the forced protocol is counted, not obeyed
    wrong = make_chat_reward("holistic", backend())
    assert wrong(completions=["a"], prompts=["FORCE_WRONG"]) == [None]
    assert wrong.metrics["protocol_failed_schema_invalid"] == 1
    with pytest.raises(ValueError, match="unknown PA-GRM variant"):
        make_chat_reward("listwise", backend())


class PrefillBackend(ScriptedBackend):
    """A scripted judge that can be prefilled. Left to itself it writes the wrong protocol for
    FORCE_WRONG prompts; prefilled, it continues the schema its own reply has begun."""

    def __init__(self):
        super().__init__(reply)
        self.prefixes: list[str] = []

    def complete_from(self, conversations, answer_prefix, max_new_tokens=None):
        self.prefixes.append(answer_prefix)
        self.complete(conversations, max_new_tokens)  # counts the calls like a real backend
        schema = HOLISTIC if '"holistic"' in answer_prefix else RUBRIC
        return [answer_prefix + json.dumps(schema)[len(answer_prefix) :] for _ in conversations]


def test_forced_protocol_is_prefilled_on_backends_that_can_be_prefilled():
    judge = PrefillBackend()
    holistic = make_chat_reward("holistic", judge)
    assert holistic(completions=["a"], prompts=["FORCE_WRONG"]) == [pytest.approx(1 / 9)]
    assert judge.prefixes == ['{"protocol": "holistic", "schema": [{"aspect": "']
    assert (
        holistic.metrics["protocol_holistic"] == 1
        and "protocol_failed_schema_invalid" not in holistic.metrics
    )
    free = PrefillBackend()  # PA-GRM routes freely: never prefilled
    make_chat_reward("pagrm", free)(completions=["a"], prompts=[POEM])
    assert free.prefixes == []


def test_local_complete_from_continues_the_prefix_on_the_smoke_judge(smoke_model, tokenizer):
    judge = LocalBackend(smoke_model, tokenizer, max_new_tokens=5)
    conv = [{"role": "user", "content": "Judge this."}]
    assert judge.complete_from([conv], "") == judge.complete([conv])  # no prefix: the same greedy text
    out = judge.complete_from([conv, conv], '{"protocol": "rubric", "schema": [')
    assert out[0] == out[1] and out[0].startswith('{"protocol": "rubric", "schema": [')
    assert len(out[0]) > len('{"protocol": "rubric", "schema": [')


def test_variants_use_separate_cache_entries(tmp_path):
    path = tmp_path / "c.jsonl"
    make_chat_reward("holistic", backend(), cache_path=path)(completions=["a"], prompts=[LIST])
    judge = backend()
    make_chat_reward("rubric", judge, cache_path=path)(completions=["a"], prompts=[LIST])
    assert sum(is_protocol_call(c) for c in judge.seen) == 1


def test_judge_output_logging_writes_readable_traces(tmp_path):
    reward = make_chat_reward("pagrm", backend(), trace_path=tmp_path / "judge.jsonl")
    reward(completions=["a b", "EMPTY"], prompts=[LIST, LIST])
    (trace,) = read_traces(tmp_path / "judge.jsonl")
    assert trace.protocol == "rubric" and trace.score == 3 and trace.response == "a b"
    assert trace.judgments[0]["criterion"] == "lists three fruits"


def test_trace_round_trip_and_errors(tmp_path):
    t = Trace(
        prompt="p",
        response="r",
        protocol="holistic",
        schema=[{"aspect": "a", "guidance": "g"}],
        judgments=[{"aspect": "a", "judgment": "fine"}],
        reasoning="ok",
        score=7.0,
        source="s",
        pair_id="1",
    )
    write_traces(tmp_path / "t.jsonl", [t, t])
    assert read_traces(tmp_path / "t.jsonl") == [t, t]
    assert json.loads(t.protocol_target())["schema"] == t.schema
    assert parse_score(t.score_target()).raw == 7.0
    (tmp_path / "bad.jsonl").write_text(json.dumps({**json.loads(t.score_target()), "prompt": "p"}) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        read_traces(tmp_path / "bad.jsonl")
    bad_score = dict(t.__dict__, score=0.0)
    (tmp_path / "range.jsonl").write_text(json.dumps(bad_score) + "\n")
    with pytest.raises(ValueError, match="out_of_range_score"):
        read_traces(tmp_path / "range.jsonl")


def test_extract_json_tolerates_prose_and_fences():
    assert extract_json('Sure! {"a": 1} trailing') == {"a": 1}
    assert extract_json('```json\n{"a": {"b": 2}}\n```') == {"a": {"b": 2}}
    assert extract_json('{broken {"a": 3}') == {"a": 3}
    for bad, kind in [(None, "judge_failed"), ("", "empty"), ("[1, 2]", "malformed_json")]:
        with pytest.raises(JudgeOutputError) as e:
            extract_json(bad)
        assert e.value.kind == kind


def test_protocol_schema_rejects_bad_rubric_items():
    ok = {"protocol": "rubric", "schema": [{"criterion": "c", "weight": 1.5, "type": "constraint"}]}
    assert parse_protocol(json.dumps(ok)).schema[0]["weight"] == 1.5
    for item in [
        {"criterion": "c", "weight": 0, "type": "constraint"},
        {"criterion": "c", "weight": 1, "type": "vibe"},
    ]:
        with pytest.raises(JudgeOutputError, match="schema_invalid"):
            parse_protocol(json.dumps({"protocol": "rubric", "schema": [item]}))
    with pytest.raises(JudgeOutputError, match="schema_invalid"):
        parse_protocol(json.dumps({"protocol": "holistic", "schema": ok["schema"]}))


@given(st.floats(1, 10), st.floats(1, 10))
def test_normalised_reward_is_monotone_in_unit_interval(a, b):
    ra, rb = Score(raw=a).reward, Score(raw=b).reward
    assert 0.0 <= ra <= 1.0 and (ra <= rb) == (a <= b)


class _RatingBackend:
    """A local-judge stand-in with ``scoring: expected_rating``: rates from a lookup, never generates."""

    name, scoring = "rating", "expected_rating"

    def __init__(self, by_response):
        self.by_response, self.calls = by_response, []

    def complete(self, conversations, max_new_tokens=None):
        raise AssertionError("an expected-rating direct judge must not generate")

    def rate(self, conversations, answer_prefix, scale):
        from care_rl.judges.rating import Rating

        self.calls.append((answer_prefix, scale))
        out = []
        for conv in conversations:
            value = next((v for k, v in self.by_response.items() if k in conv[0]["content"]), "missing")
            if value == "missing":
                out.append(None)  # the backend's failed row
            elif value is None:
                out.append(Rating({r: 0.0 for r in scale}, 0.0))  # no mass on the scale
            else:
                out.append(Rating({r: float(r == value) for r in scale}, 0.7))
        return out


def test_direct_variant_reads_an_expected_rating_from_a_rating_backend():
    from care_rl.pagrm.judge import PAGRMJudge

    rater = _RatingBackend({"good answer": 10, "poor answer": 1, "odd answer": None})
    judge = PAGRMJudge("direct", rater)
    scores = judge.score(["q"] * 4, ["good answer", "poor answer", "odd answer", "lost answer"])
    assert [s.reward if s else None for s in scores] == [1.0, 0.0, None, None]
    assert rater.calls == [('{"score": "', range(1, 11))]
    assert judge.metrics["scored"] == 2 and judge.metrics["score_calls"] == 4
    assert judge.metrics["score_failed_off_scale"] == 1 and judge.metrics["score_failed_judge_call"] == 1


def test_direct_rating_on_the_smoke_judge_runs_the_real_local_path(smoke_model, tokenizer):
    from care_rl.judges import LocalBackend
    from care_rl.pagrm.judge import PAGRMJudge

    local = LocalBackend(smoke_model, tokenizer, scoring="expected_rating")
    scores = PAGRMJudge("direct", local).score(["Say hi."] * 2, ["Hi!", "Goodbye forever."])
    assert all(s is not None and 1.0 <= s.raw <= 10.0 for s in scores)
    assert scores[0].raw != scores[1].raw  # a different response moves the rating


class _TraceThenRating:
    """Generates the scripted traces, then rates every trace 5.0 (half its mass on 4, half on 6)."""

    name, scoring = "trace-then-rating", "expected_rating"

    def __init__(self):
        self.inner, self.prefixes = backend(), []

    def complete(self, conversations, max_new_tokens=None):
        return self.inner.complete(conversations, max_new_tokens)

    def rate(self, conversations, answer_prefix, scale):
        from care_rl.judges.rating import Rating

        self.prefixes += list(answer_prefix)
        out = []
        for prefix in answer_prefix:
            assert '"judgments": [{' in prefix  # rated after the judgments the trace wrote
            out.append(Rating({r: 0.5 if r in (4, 6) else 0.0 for r in scale}, 0.4))
        return out


def test_pagrm_trace_is_generated_then_its_score_read_as_an_expected_rating():
    from care_rl.pagrm.judge import PAGRMJudge

    rater = _TraceThenRating()
    judge = PAGRMJudge("rubric", rater)
    scores = judge.score(["list fruits"] * 3, ["apple pear plum", "MALFORMED", "fig"])
    assert scores[1] is None and judge.metrics["score_failed_malformed_json"] == 1  # unparsed: never rated
    assert [s.raw for s in scores if s] == [5.0, 5.0]  # the rating, not the trace's integer (4 and 2)
    assert all(s.judgments for s in scores if s)  # the generated judgments are kept
    assert len(rater.prefixes) == 2 and all(p.rstrip().endswith('"score":') for p in rater.prefixes)
    assert judge.metrics["scored"] == 2


def test_local_rate_with_one_prefix_per_conversation_fails_only_a_bad_row(smoke_model, tokenizer):
    from care_rl.judges import LocalBackend

    local = LocalBackend(smoke_model, tokenizer, scoring="expected_rating")
    convs = [[{"role": "user", "content": f"Rate answer {k}."}] for k in range(3)]
    good = '{"judgments": [], "score": '
    together = local.rate(convs, [good, '{"score":  ', good], range(1, 11))  # two spaces merge with a digit
    assert together[1] is None and local.stats.failures == 1
    alone = [local.rate([c], good, range(1, 11))[0] for c in (convs[0], convs[2])]
    for a, b in zip([together[0], together[2]], alone, strict=True):
        assert a.expected == pytest.approx(b.expected, rel=1e-4)
