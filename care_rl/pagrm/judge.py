"""PA-GRM as a judge: protocol and schema once per prompt, then one scoring trace per response.

Variants (Table 6 and the PA-GRM ablation):
  pagrm    -- the judge chooses holistic or rubric per prompt and writes the schema (the paper's method);
  holistic -- the protocol is always holistic, the schema is still written per prompt;
  rubric   -- the protocol is always rubric, the schema is still written per prompt;
  direct   -- one call per response, a scalar score, no protocol. With a backend whose ``scoring`` is
              ``expected_rating`` (a small local judge) the score is the judge's expected rating over
              1-10, read from next-token probabilities instead of generated and parsed.
With such a backend the PA-GRM variants still generate their trace (judgments per schema item: the
method), and the final score is then read the same way, as the expected rating right after the trace's
own ``"score":`` -- conditioned on the judgments it wrote, but continuous, so a small judge whose
greedy integer is nearly always the same still ranks responses.

Every response to one prompt is scored under that prompt's single cached schema (3.1: "all responses
share the same schema to ensure comparability"). Any failure -- judge call failed, empty text, malformed
JSON, schema violation, missing or out-of-range score -- yields ``None`` for that response, is counted
in ``metrics`` and is logged with the offending text. A failure is never a zero reward.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Literal, get_args

from care_rl.judges.base import JudgeBackend
from care_rl.judges.rating import Rating
from care_rl.pagrm.cache import ProtocolCache, protocol_key
from care_rl.pagrm.parsing import (
    SCORE_MAX,
    SCORE_MIN,
    JudgeOutputError,
    Protocol,
    Score,
    judgments_cover,
    parse_protocol,
    parse_score,
)
from care_rl.pagrm.templates import (
    DIRECT_ANSWER_PREFIX,
    TEMPLATE_DIGEST,
    direct_conversation,
    direct_rating_conversation,
    protocol_conversation,
    score_conversation,
)
from care_rl.pagrm.trace import Trace, append_trace

log = logging.getLogger(__name__)

Variant = Literal["direct", "holistic", "rubric", "pagrm"]
VARIANTS: tuple[str, ...] = get_args(Variant)
_LOG_CHARS = 300
SCORE_SCALE = range(int(SCORE_MIN), int(SCORE_MAX) + 1)  # what a rating judge reads: the integers 1-10


# How a forced protocol's reply begins (templates/protocol.txt asks for this JSON object): the protocol
# and the key of its first schema item, so the judge cannot drift back to the other protocol's items.
PROTOCOL_PREFILL = {
    "holistic": '{"protocol": "holistic", "schema": [{"aspect": "',
    "rubric": '{"protocol": "rubric", "schema": [{"criterion": "',
}


class PAGRMJudge:
    """Scores (prompt, response) pairs with one judge backend under one variant."""

    def __init__(
        self,
        variant: Variant,
        backend: JudgeBackend,
        *,
        cache: ProtocolCache | None = None,
        protocol_max_new_tokens: int | None = None,
        score_max_new_tokens: int | None = None,
        trace_path: str | Path | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown PA-GRM variant {variant!r}; expected one of {list(VARIANTS)}")
        self.variant = variant
        self.backend = backend
        self.cache = cache if cache is not None else ProtocolCache()
        self.protocol_max_new_tokens = protocol_max_new_tokens
        self.score_max_new_tokens = score_max_new_tokens
        self.trace_path = Path(trace_path) if trace_path is not None else None
        self.metrics: Counter[str] = Counter()

    def _fail(self, stage: str, err: JudgeOutputError, text: str | None, prompt: str) -> str:
        """Count one failed judgment and log it in full at DEBUG; returns the line for the call's summary."""
        self.metrics[f"{stage}_failed_{err.kind}"] += 1
        detail = f"{err} | prompt: {prompt!r:.80} | judge output: {text!r:.{_LOG_CHARS}}"
        log.debug("PA-GRM %s (%s) failed: %s", stage, self.variant, detail)
        return detail

    def _warn(self, stage: str, failures: list[tuple[str, str]], total: int) -> None:
        """One warning per judge call that lost judgments (a step's batch, not each row): how many, of
        which kinds, and the first one in full."""
        if not failures:
            return
        kinds = Counter(kind for kind, _ in failures)
        log.warning(
            "PA-GRM %s (%s): %d of %d judgments failed (%s); first: %s",
            stage,
            self.variant,
            len(failures),
            total,
            ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())),
            failures[0][1],
        )

    def protocols(self, prompts: list[str]) -> dict[str, Protocol | None]:
        """The protocol of each distinct prompt: cached ones reused, the rest built in one batched call."""
        if self.variant == "direct":
            raise ValueError("the direct variant has no protocol step")
        prefill = self._protocol_prefill()
        variant = self.variant + ("+prefill" if prefill else "")
        keys = {
            p: protocol_key(variant, TEMPLATE_DIGEST, self.backend.name, p) for p in dict.fromkeys(prompts)
        }
        found: dict[str, Protocol | None] = {p: self.cache.get(k) for p, k in keys.items()}
        todo = [p for p, proto in found.items() if proto is None]
        self.metrics["protocol_cache_hits"] += len(found) - len(todo)
        if not todo:
            return found
        convs = [protocol_conversation(p, self.variant) for p in todo]
        if prefill:
            texts = self.backend.complete_from(convs, prefill, self.protocol_max_new_tokens)
        else:
            texts = self.backend.complete(convs, self.protocol_max_new_tokens)
        self.metrics["protocol_calls"] += len(todo)
        expected = None if self.variant == "pagrm" else self.variant
        failures = []
        for prompt, text in zip(todo, texts, strict=True):
            try:
                proto = parse_protocol(text, expected=expected)
            except JudgeOutputError as e:
                failures.append((e.kind, self._fail("protocol", e, text, prompt)))
                continue
            self.metrics[f"protocol_{proto.protocol}"] += 1
            self.cache.put(keys[prompt], proto)
            found[prompt] = proto
        self._warn("protocol", failures, len(todo))
        return found

    def _protocol_prefill(self) -> str:
        """The reply start that pins a forced-protocol variant's choice, on backends that can be prefilled.

        A small distilled judge routes most prompts to the protocol it saw most in SFT whatever the
        instruction says (the cpu judge wrote "rubric" for every Holistic-only prompt, and rubric
        criteria after a bare holistic label), so the ablation would measure instruction following,
        not holistic judging. Endpoints get the instruction only."""
        if self.variant in PROTOCOL_PREFILL and hasattr(self.backend, "complete_from"):
            return PROTOCOL_PREFILL[self.variant]
        return ""

    def score(self, prompts: list[str], responses: list[str]) -> list[Score | None]:
        """One score (or None) per (prompt, response) row; rows sharing a prompt share its schema."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        if not prompts:
            return []
        if self.variant == "direct" and self._rates:
            return self._rate_direct(prompts, responses)
        if self.variant == "direct":
            protos: dict[str, Protocol | None] = {}
            convs = [direct_conversation(p, r) for p, r in zip(prompts, responses, strict=True)]
            rows = list(range(len(prompts)))
        else:
            protos = self.protocols(prompts)
            rows = [i for i, p in enumerate(prompts) if protos[p] is not None]
            self.metrics["skipped_no_protocol"] += len(prompts) - len(rows)
            convs = [
                score_conversation(
                    prompts[i], protos[prompts[i]].protocol, protos[prompts[i]].schema, responses[i]
                )
                for i in rows
            ]
        texts = self.backend.complete(convs, self.score_max_new_tokens) if convs else []
        self.metrics["score_calls"] += len(convs)
        out: list[Score | None] = [None] * len(prompts)
        failures = []
        for i, text in zip(rows, texts, strict=True):
            try:
                parsed = parse_score(text)
            except JudgeOutputError as e:
                failures.append((e.kind, self._fail("score", e, text, prompts[i])))
                continue
            proto = protos.get(prompts[i])
            if proto is not None and not judgments_cover(proto, parsed.judgments):
                self.metrics["judgments_incomplete"] += 1
            out[i] = parsed
        self._warn("score", failures, len(rows))
        if self._rates:
            self._rate_after_traces(convs, rows, texts, out)
        for i in rows:
            if out[i] is not None:
                self.metrics["scored"] += 1
                if self.trace_path is not None:
                    trace = self._trace(prompts[i], responses[i], protos.get(prompts[i]), out[i])
                    append_trace(self.trace_path, trace)
        return out

    @property
    def _rates(self) -> bool:
        return getattr(self.backend, "scoring", "generate") == "expected_rating"

    def _rate_after_traces(
        self, convs: list, rows: list[int], texts: list[str | None], out: list[Score | None]
    ) -> None:
        """Replace each parsed trace's integer score by the expected rating read right after its ``"score":``."""
        todo = []
        for conv, i, text in zip(convs, rows, texts, strict=True):
            prefix = _score_prefix(text) if out[i] is not None else None
            if prefix is not None:
                todo.append((conv, i, prefix))
        if not todo:
            return
        ratings = self.backend.rate([c for c, _, _ in todo], [p for _, _, p in todo], SCORE_SCALE)
        for (_, i, _), rating in zip(todo, ratings, strict=True):
            failure = _rating_failure(rating)
            if failure is not None:
                self.metrics["score_failed_rating"] += 1
                out[i] = None
            else:
                old = out[i]
                out[i] = Score(raw=rating.expected, judgments=old.judgments, reasoning=old.reasoning)

    def _rate_direct(self, prompts: list[str], responses: list[str]) -> list[Score | None]:
        """Direct scores as expected ratings; a failed call or no mass on the scale is None, counted."""
        convs = [direct_rating_conversation(p, r) for p, r in zip(prompts, responses, strict=True)]
        ratings = self.backend.rate(convs, DIRECT_ANSWER_PREFIX, SCORE_SCALE)
        self.metrics["score_calls"] += len(convs)
        out: list[Score | None] = []
        failures = []
        for prompt, response, rating in zip(prompts, responses, ratings, strict=True):
            kind = _rating_failure(rating)
            if kind is not None:
                self.metrics[f"score_failed_{kind}"] += 1
                failures.append((kind, f"{kind} | prompt: {prompt!r:.80}"))
                out.append(None)
                continue
            score = Score(raw=rating.expected, reasoning=f"expected rating, scale mass {rating.mass:.3g}")
            self.metrics["scored"] += 1
            out.append(score)
            if self.trace_path is not None:
                append_trace(self.trace_path, self._trace(prompt, response, None, score))
        self._warn("direct rating", failures, len(convs))
        return out

    def _trace(self, prompt: str, response: str, proto: Protocol | None, score: Score) -> Trace:
        return Trace(
            prompt=prompt,
            response=response,
            protocol=proto.protocol if proto else "direct",
            schema=proto.schema if proto else [],
            judgments=score.judgments,
            reasoning=score.reasoning,
            score=score.raw,
            judge=self.backend.name,
            extra={"variant": self.variant},
        )


def _rating_failure(rating: Rating | None) -> str | None:
    """Why a rating gives no score: the judge call failed, or no probability fell on the scale."""
    if rating is None:
        return "judge_call"
    return "off_scale" if rating.expected is None else None


_SCORE_KEY = re.compile(r'"score"\s*:')


def _score_prefix(text: str | None) -> str | None:
    """The trace up to its last ``"score":`` plus one space (where the number starts), or None.

    One space whatever the judge wrote: runs of spaces merge with a digit into one token, and then
    the rating could not be read digit by digit.
    """
    matches = list(_SCORE_KEY.finditer(text or ""))
    return (text or "")[: matches[-1].end()] + " " if matches else None
