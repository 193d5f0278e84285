"""Collect PA-GRM teacher traces for prompt-response pairs (paper 3.1.3), resumably.

    python -m care_rl.pagrm.training.collect_traces --source ultrafeedback,helpsteer3 --n 10000 \
        --base-url http://localhost:8000/v1 --model deepseek-v4-pro --api-key-env TEACHER_KEY --out traces.jsonl
    python -m care_rl.pagrm.training.collect_traces --source ultrafeedback,helpsteer3 --data mini \
        --teacher synthetic --split train --out traces.jsonl   # the cpu profile's offline stand-in teacher

Pairs are drawn with a fixed seed (the same ``--n`` pairs on every run); pairs whose ``pair_id`` is
already in ``--out`` are skipped, and each new trace is appended as one line, so an interrupted run
resumes where it stopped. A pair the teacher fails on (call failed, unusable JSON) gets no trace: it is
counted and logged, and retried by the next run.

``--split train`` / ``--split heldout`` keep or drop a fixed share of *prompts* (by a hash of the prompt
text, so every response to one prompt lands on the same side): the held-out pairs measure the distilled
judge on prompts it never saw in SFT.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
from collections import Counter
from pathlib import Path
from typing import Literal

from care_rl.data.records import PreferencePair
from care_rl.judges.base import JudgeBackend
from care_rl.logs import setup_logging
from care_rl.pagrm.judge import PAGRMJudge
from care_rl.pagrm.trace import Trace, append_trace
from care_rl.pagrm.training.synthetic_teacher import teacher_trace

log = logging.getLogger(__name__)
Split = Literal["all", "train", "heldout"]
HELDOUT_FRACTION = 0.2


def is_heldout(prompt: str, fraction: float = HELDOUT_FRACTION) -> bool:
    """Whether a prompt belongs to the held-out side: a stable function of its text alone."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"held-out fraction must be in [0, 1), got {fraction}")
    h = int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "big")
    return h / 2**64 < fraction


def select_pairs(
    sources: list[str], data: str, n: int, seed: int = 42, split: Split = "all"
) -> list[PreferencePair]:
    """``n`` pairs (seeded sample) from the sources, restricted to one side of the prompt split."""
    from care_rl.data.loaders import load_pairs

    pairs = [p for s in sources for p in load_pairs(s, data)]
    if split != "all":
        pairs = [p for p in pairs if is_heldout(p.prompt) == (split == "heldout")]
    return random.Random(seed).sample(pairs, min(n, len(pairs)))


def done_ids(out: Path) -> set[str]:
    if not out.is_file():
        return set()
    ids = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["pair_id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            log.warning("%s: skipping an unreadable line (a torn write?): %.80s", out, line)
    return ids


def collect(
    pairs: list[PreferencePair], out: Path, *, backend: JudgeBackend | None = None, chunk: int = 32
) -> Counter[str]:
    """Append one trace per new pair; ``backend=None`` uses the synthetic teacher."""
    done = done_ids(out)
    todo = [p for p in pairs if p.id not in done]
    counts: Counter[str] = Counter(skipped_done=len(pairs) - len(todo))
    judge = PAGRMJudge("pagrm", backend) if backend is not None else None
    for start in range(0, len(todo), chunk):
        batch = todo[start : start + chunk]
        traces: list[Trace | None]
        if judge is None:
            traces = [teacher_trace(p) for p in batch]
        else:
            protos = judge.protocols([p.prompt for p in batch])
            scores = judge.score([p.prompt for p in batch], [p.response for p in batch])
            traces = [
                None
                if s is None
                else Trace(
                    prompt=p.prompt,
                    response=p.response,
                    protocol=protos[p.prompt].protocol,
                    schema=protos[p.prompt].schema,
                    judgments=s.judgments,
                    reasoning=s.reasoning,
                    score=s.raw,
                    source=p.source,
                    pair_id=p.id,
                    judge=judge.backend.name,
                )
                for p, s in zip(batch, scores, strict=True)
            ]
        for pair, trace in zip(batch, traces, strict=True):
            if trace is None:
                counts["failed"] += 1
                log.warning("no teacher trace for pair %s (%.80r)", pair.id, pair.prompt)
                continue
            append_trace(out, trace)
            counts["written"] += 1
    if judge is not None:
        counts.update(judge.metrics)
    return counts


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default="ultrafeedback,helpsteer3", help="comma-separated pair sources")
    ap.add_argument("--data", default="hub", choices=["hub", "mini"], help="real datasets or shipped minis")
    ap.add_argument("--n", type=int, default=10000, help="pairs to sample (seed 42)")
    ap.add_argument(
        "--split",
        default="all",
        choices=["all", "train", "heldout"],
        help=f"all pairs, or the train / held-out side of the prompt split ({HELDOUT_FRACTION * 100:g}%% held out)",
    )
    ap.add_argument("--teacher", default="endpoint", choices=["endpoint", "synthetic"])
    ap.add_argument("--base-url", help="OpenAI-compatible endpoint of the teacher")
    ap.add_argument("--model", help="teacher model name at the endpoint")
    ap.add_argument("--api-key-env", help="environment variable holding the endpoint's API key")
    ap.add_argument("--max-new-tokens", type=int, default=2048)
    ap.add_argument("--max-concurrency", type=int, default=8)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    setup_logging(logging.INFO)
    backend = None
    if args.teacher == "endpoint":
        if not (args.base_url and args.model):
            ap.error("--teacher endpoint needs --base-url and --model")
        from care_rl.judges.openai_backend import OpenAIBackend

        backend = OpenAIBackend(
            base_url=args.base_url,
            model_name=args.model,
            api_key_env=args.api_key_env,
            max_new_tokens=args.max_new_tokens,
            max_concurrency=args.max_concurrency,
        )
    pairs = select_pairs(args.source.split(","), args.data, args.n, split=args.split)
    counts = collect(pairs, args.out, backend=backend)
    print(json.dumps({"pairs": len(pairs), **counts}, sort_keys=True))


if __name__ == "__main__":
    main()
