"""Evaluation speed, printed in one run (``python -m bench.bench_eval``):

1. Generation throughput of our evaluator's sampler (``eval.hf_generator.HFGenerator``) against lm-eval's HF
   backend (``HFLM.generate_until``) on the cpu profile's SmolLM2-135M-Instruct: the same 64
   chat-templated prompts, 64 new tokens, batch 64, one sample each. Tokens are counted as generated
   tokens up to EOS (ours: from the ids; lm-eval returns text, so its outputs are re-tokenised).
   Measured twice: greedy, where both samplers produce the same texts, so the ratio compares the
   machinery alone (the target row); and T=1.0, top-p 0.95 (the evaluation's setting), where the two
   random streams give texts of different lengths and tokens/s partly measures that. Target: greedy
   ratio ours / lm-eval >= 1.0.
2. avg@4 on the evaluation's own workload (the target row for the sampler as the evaluator uses it):
   the cpu profile's decontaminated mini benchmarks, two prompts from each of the eight, four samples
   per prompt at T=1.0, top-p 0.95, the profile's max_new_tokens, 64 rows per batch for both. Ours
   runs each prompt once for its four samples (a shared prompt prefill); lm-eval receives each prompt
   four times, which is what a task with ``repeats: 4`` sends. The random streams differ, so texts
   differ in length: both token counts are printed. Target: ratio >= 1.0.
3. Decontamination of 4,000 evaluation texts against 32,000 training texts (synthetic, seeded, ~12% of
   eval texts planted as exact or near duplicates). Target: < 10 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from care_rl.models import load_policy
from eval.decontam import flag_contaminated
from eval.hf_generator import HFGenerator
from experiments.paths import load_named_profile

TOPICS = ["a river", "a robot", "the moon", "a bakery", "a violin", "an old map", "a storm", "a garden"]
ASKS = ["Write two sentences about", "Describe", "Give three facts about", "Tell a short story about"]


def bench_prompts(n: int) -> list[list[dict[str, str]]]:
    rng = random.Random(0)
    return [[{"role": "user", "content": f"{rng.choice(ASKS)} {rng.choice(TOPICS)}."}] for _ in range(n)]


SAMPLED = {"temperature": 1.0, "top_p": 0.95}


def ours(model, tokenizer, convs, max_new_tokens: int, greedy: bool, k: int = 1) -> tuple[float, int]:
    """Wall seconds and generated tokens of our sampler: ``k`` samples per conversation."""
    temperature, top_p = (0.0, 1.0) if greedy else (SAMPLED["temperature"], SAMPLED["top_p"])
    gen = HFGenerator(model, tokenizer, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    start = time.perf_counter()
    out = gen.generate(convs, k, seed=0)
    return time.perf_counter() - start, sum(c.n_tokens for cs in out for c in cs)


def eval_prompts(per_benchmark: int) -> tuple[list[list[dict[str, str]]], int]:
    """The first prompts of every benchmark of the cpu evaluation suite, and its max_new_tokens."""
    from eval.benchmarks import select
    from eval.suite import build_suite, training_texts

    profile = load_named_profile("cpu")
    suite = build_suite(select(None), profile.data.source, profile.eval, training_texts(profile))
    convs = [it.messages for entry in suite for it in entry.items[:per_benchmark]]
    return convs, profile.eval.max_new_tokens


def lm_eval_hf(
    model, tokenizer, convs, max_new_tokens: int, batch_size: int, greedy: bool
) -> tuple[float, int]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device="cpu", max_length=2048)
    sampling = (
        {"do_sample": False, "temperature": 0.0} if greedy else {"do_sample": True, **SAMPLED, "top_k": 0}
    )
    gen_kwargs = {"until": [], **sampling, "max_gen_toks": max_new_tokens}
    contexts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in convs]
    requests = [
        Instance(request_type="generate_until", doc={}, arguments=(ctx, dict(gen_kwargs)), idx=i)
        for i, ctx in enumerate(contexts)
    ]
    torch.manual_seed(0)
    start = time.perf_counter()
    texts = lm.generate_until(requests, disable_tqdm=True)
    elapsed = time.perf_counter() - start
    eos = 1  # lm-eval strips the EOS token it stopped on; count it as we do
    tokens = sum(
        min(max_new_tokens, len(tokenizer(t, add_special_tokens=False)["input_ids"]) + eos) for t in texts
    )
    return elapsed, tokens


def synthetic_decontam_texts(n_eval: int, n_train: int) -> tuple[list[str], list[str]]:
    rng = random.Random(42)
    vocab = [f"w{i}" for i in range(5000)]

    def sentence() -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 60)))

    train = [sentence() for _ in range(n_train)]
    evals = []
    for _ in range(n_eval):
        r = rng.random()
        if r < 0.06:
            evals.append(rng.choice(train).upper() + " ?")  # exact after normalisation
        elif r < 0.12:
            words = rng.choice(train).split()
            words[-1] = "changed"  # near duplicate
            evals.append(" ".join(words))
        else:
            evals.append(sentence())
    return evals, train


def report(
    runs_ours: list[tuple[float, int]], runs_lm: list[tuple[float, int]], name: str, target: str
) -> None:
    """Each sampler's fastest run (alternating runs on a shared machine) and the throughput ratio."""
    (t_ours, n_ours), (t_lm, n_lm) = min(runs_ours), min(runs_lm)
    print(f"  {name:<34} {n_ours:5d} tokens in {t_ours:7.2f} s = {n_ours / t_ours:7.1f} tokens/s")
    print(
        f"  {'lm-eval HFLM.generate_until':<34} {n_lm:5d} tokens in {t_lm:7.2f} s = {n_lm / t_lm:7.1f} tokens/s"
    )
    print(f"  throughput ratio ours / lm-eval = {(n_ours / t_ours) / (n_lm / t_lm):.2f}{target}")
    print(
        f"  all runs (s): ours {[round(t, 1) for t, _ in runs_ours]}, lm-eval {[round(t, 1) for t, _ in runs_lm]}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_eval", description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--avg-prompts-per-benchmark", type=int, default=2)
    parser.add_argument("--avg-new-tokens", type=int, default=None, help="default: the cpu profile's")
    parser.add_argument("--eval-texts", type=int, default=4000)
    parser.add_argument("--train-texts", type=int, default=32000)
    parser.add_argument(
        "--repeats", type=int, default=2, help="alternating runs per sampler; the fastest counts"
    )
    args = parser.parse_args()

    model, tokenizer = load_policy(load_named_profile("cpu"))
    model.eval()
    convs = bench_prompts(args.prompts)
    ours(model, tokenizer, convs[:2], 4, greedy=True)  # warm-up (first-call allocations) for both paths
    print(
        f"generation: {args.prompts} prompts x {args.new_tokens} new tokens, batch {args.prompts}, "
        f"SmolLM2-135M fp32, {torch.get_num_threads()} threads",
        flush=True,
    )
    for greedy in (True, False):
        # Alternate the two samplers and keep each one's fastest run: on a shared machine the load
        # changes between runs, and a single back-to-back pair would mostly measure that.
        runs_ours, runs_lm = [], []
        for _ in range(args.repeats):
            runs_ours.append(ours(model, tokenizer, convs, args.new_tokens, greedy))
            runs_lm.append(lm_eval_hf(model, tokenizer, convs, args.new_tokens, args.prompts, greedy))
        print(f" {'greedy (same texts)' if greedy else 'T=1.0, top-p 0.95'}")
        target = " (target >= 1.0)" if greedy else " (different random texts; for reference)"
        report(runs_ours, runs_lm, "ours (HFGenerator)", target)

    convs, max_new = eval_prompts(args.avg_prompts_per_benchmark)
    max_new = args.avg_new_tokens or max_new
    k = 4
    prompt_tokens = HFGenerator(model, tokenizer, **SAMPLED, max_new_tokens=max_new).prompt_lengths(convs)
    print(
        f" avg@{k} on the cpu evaluation's prompts: {len(convs)} prompts (mean {statistics.fmean(prompt_tokens):.0f} "
        f"prompt tokens) x {k} samples, <= {max_new} new tokens, T=1.0, top-p 0.95, {len(convs) * k} rows a batch"
    )
    runs_ours, runs_lm = [], []
    for _ in range(args.repeats):
        runs_ours.append(ours(model, tokenizer, convs, max_new, greedy=False, k=k))
        repeated = [c for c in convs for _ in range(k)]  # lm-eval's repeats: k requests per prompt
        runs_lm.append(lm_eval_hf(model, tokenizer, repeated, max_new, len(repeated), greedy=False))
    report(runs_ours, runs_lm, "ours (HFGenerator, shared prefill)", " (target >= 1.0)")

    evals, train = synthetic_decontam_texts(args.eval_texts, args.train_texts)
    start = time.perf_counter()
    flags = flag_contaminated(evals, train)
    t_dec = time.perf_counter() - start
    print(f"decontamination: {len(evals)} eval texts vs {len(train)} training texts (5-gram Jaccard >= 0.8)")
    print(f"  {t_dec:.2f} s, {sum(flags)} flagged (target < 10 s)")


if __name__ == "__main__":
    main()
