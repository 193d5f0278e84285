"""Does a distilled PA-GRM judge work? Parse rate on the policy's own chat responses, accuracy on held-out pairs.

    python -m experiments.pagrm_check --profile cpu [--adapter DIR | --no-adapter] [--out FILE]

(a) Parse rate: the profile's policy samples ``--samples`` responses to each of ``--prompts`` No-Robots
    prompts (seeded); the chat reward (``make_chat_reward("pagrm", ...)``, exactly as RL calls it) scores
    them; the rate is the share of non-None rewards. Where the synthetic teacher recognises the prompt
    family it scores the same responses too, so the judge's agreement with the teacher is reported as well
    (exact score match, mean absolute difference, and how often the protocol matches the teacher's).
(b) Pairwise accuracy on the held-out side of the pair split (prompts never seen in SFT): a prompt counts
    as correct when the better response (higher human score) gets the strictly higher judge score; ties
    and unparsed responses are counted separately, never as correct.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from care_rl.config import Profile
from care_rl.data.records import PreferencePair
from care_rl.judges.base import JudgeBackend
from care_rl.pagrm.cache import protocol_key
from care_rl.pagrm.reward import ChatReward, make_chat_reward
from care_rl.pagrm.templates import TEMPLATE_DIGEST
from care_rl.pagrm.training.synthetic_teacher import standard, teacher_trace

log = logging.getLogger(__name__)


def pairwise_accuracy(pairs: list[PreferencePair], scores: list[float | None]) -> dict[str, Any]:
    """Per prompt: the best- vs worst-rated response by human score; correct only on a strict win."""
    by_prompt: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    for p, s in zip(pairs, scores, strict=True):
        if p.human_score is None:
            raise ValueError(f"pair {p.id!r} has no human score; it cannot serve as a held-out pair")
        by_prompt[p.prompt].append((p.human_score, s))
    counts = {"correct": 0, "tie": 0, "wrong": 0, "unparsed": 0, "no_preference": 0}
    for rows in by_prompt.values():
        rows.sort(key=lambda r: r[0])
        (lo_h, lo_s), (hi_h, hi_s) = rows[0], rows[-1]
        if hi_h == lo_h:
            counts["no_preference"] += 1
        elif lo_s is None or hi_s is None:
            counts["unparsed"] += 1
        else:
            counts["correct" if hi_s > lo_s else "tie" if hi_s == lo_s else "wrong"] += 1
    judged = len(by_prompt) - counts["no_preference"]
    return {"prompts": judged, **counts, "accuracy": counts["correct"] / judged if judged else None}


def teacher_agreement(
    prompts: list[str], responses: list[str], reward: ChatReward, rewards: list[float | None]
) -> dict[str, Any]:
    """How the judge's scores and protocols compare with the synthetic teacher's on the same responses."""
    diffs, exact, proto_same, proto_n = [], 0, 0, 0
    for p, r, got in zip(prompts, responses, rewards, strict=True):
        trace = teacher_trace(PreferencePair("check", "", p, r))
        if trace is None or got is None:
            continue
        judge_raw = 1.0 + 9.0 * got
        diffs.append(abs(judge_raw - trace.score))
        exact += round(judge_raw) == trace.score
    judge = reward.judge
    for p in dict.fromkeys(prompts):
        proto = judge.cache.get(protocol_key(judge.variant, TEMPLATE_DIGEST, judge.backend.name, p))
        found = standard(p)
        if found is not None and proto is not None:
            proto_n += 1
            proto_same += proto.protocol == found[1].protocol
    return {
        "scored_by_both": len(diffs),
        "exact_score_match": exact / len(diffs) if diffs else None,
        "mean_abs_score_diff": sum(diffs) / len(diffs) if diffs else None,
        "protocol_matches_teacher": proto_same / proto_n if proto_n else None,
    }


def sample_policy_responses(profile: Profile, n_prompts: int, samples: int) -> tuple[list[Any], list[str]]:
    """``samples`` policy responses (T=1) to each of ``n_prompts`` seeded No-Robots mini prompts."""
    from care_rl.data.loaders import load_train
    from care_rl.judges.local import LocalBackend
    from care_rl.models import load_policy

    prompts = load_train("chat", profile.data.source, n_prompts, profile.data.seed)
    model, tokenizer = load_policy(profile)
    sampler = LocalBackend(
        model,
        tokenizer,
        name="policy",
        max_new_tokens=profile.stages["chat"].max_completion_length,
        temperature=profile.dapo.temperature,
        batch_size=profile.eval.batch_size,
        seed=profile.data.seed,
    )
    convs = [p.messages for p in prompts for _ in range(samples)]
    return convs, [t or "" for t in sampler.complete(convs)]


def check(profile: Profile, backend: JudgeBackend, n_prompts: int, samples: int) -> dict[str, Any]:
    """Both measurements for one judge backend."""
    from care_rl.pagrm.reward import prompt_text
    from care_rl.pagrm.training.collect_traces import select_pairs

    convs, responses = sample_policy_responses(profile, n_prompts, samples)
    reward = make_chat_reward("pagrm", backend)
    rewards = reward(completions=responses, prompts=convs)
    parsed = sum(r is not None for r in rewards)
    policy = {
        "responses": len(rewards),
        "parsed": parsed,
        "parse_rate": parsed / len(rewards),
        "metrics": dict(reward.metrics),
        "teacher": teacher_agreement([prompt_text(c) for c in convs], responses, reward, rewards),
    }
    heldout = select_pairs(["ultrafeedback", "helpsteer3"], profile.data.source, 10**9, split="heldout")
    pair_reward = make_chat_reward("pagrm", backend)
    pair_scores = pair_reward(completions=[p.response for p in heldout], prompts=[p.prompt for p in heldout])
    pairs = {**pairwise_accuracy(heldout, pair_scores), "metrics": dict(pair_reward.metrics)}
    examples = [{"response": r, "reward": w} for r, w in zip(responses[:8], rewards[:8], strict=True)]
    return {"policy_responses": policy, "heldout_pairs": pairs, "examples": examples}
