"""One DAPO step of the cpu profile's IF stage, phase by phase, the earlier way and today's, in one run.

Run: make bench-train   (or: OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_train [--steps 2])

Both runs start from the same seeded fresh LoRA on the same prompts and take optimizer steps of one
prompt group (8 completions of at most 48 tokens), as the cpu profile does:
  * before: one generation round of two groups feeding two optimizer steps, so TRL runs an extra
    forward for the old log-probs (the second step is off-policy); every copy of a prompt prefilled;
    rollouts with LoRA dropout on; SmolLM2's default system turn in every prompt.
  * after: the cpu profile as it is: one round per optimizer step (on-policy, no extra forward), the
    group's prompt prefilled once (care_rl/prefill.py), dropout off in rollouts, no default system turn;
    DACSP attached (a basis bank from the first run's task vector), so its hook cost is in the step.
Dynamic sampling is the profile's (at most two generation rounds per step). So that both runs refill
alike, rewards are scripted, not the IF verifier (whose cost is nil): in a step's first round the groups
of even-numbered prompts all score 0 (no variance, refilled), every other completion scores a hash of
its text, so both runs refill one group per two steps and no step is empty.
Times are this process's CPU seconds (on a shared machine, wall time also counts the waits for a core
that other processes hold; it is printed for the step), exclusive (a phase nested in another is not
counted twice) and per optimizer step; "other" is the rest of the step. New tokens/s is measured inside generation (prefill included) and compared
with the rate a 1-thread fp32 GEMM of the same machine, measured in this run, would allow for the
model's matmul parameters (2 FLOPs per parameter per token).

Machine throughput (``--machine-threads T``, default: the available cores; 0 skips it): the earlier runs
also took torch's default of one thread per core, while today every process takes one thread and a
machine of T cores runs T jobs side by side (experiments.run --jobs T). So, in the same run: the
'before' step at T threads as the machine's one job, against T processes of today's step at one thread
each, started together (after loading) on the same prompts. Each arm's number is optimizer steps per
wall-clock second of the machine, from the start of training to the end of its last process.
"""

from __future__ import annotations

import argparse
import os
import queue
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import torch
from transformers import TrainerCallback, set_seed
from trl import GRPOTrainer

from care_rl.dacsp import BasisBank
from care_rl.data.loaders import load_train
from care_rl.models import load_model, load_tokenizer, lora_config
from care_rl.threads import available_cores, configure_threads
from care_rl.training.dapo import DacspSetup, DapoTrainer, dapo_config, dynamic_sampling, prompts_dataset
from experiments.paths import load_named_profile

PHASES = (
    ("generate", "model.generate, first round"),
    ("refill generate", "model.generate, refill rounds"),
    ("old log-probs", "extra old-log-prob forward"),
    ("refill old log-probs", "  ... of refill rounds"),
    ("rewards", "rewards (incl. refills)"),
    ("training forward", "training forward"),
    ("backward", "backward"),
    ("optimizer", "optimizer step"),
    ("dacsp", "DACSP hooks"),
    ("logging", "logging"),
    ("other", "other"),
)


class Phases:
    """Exclusive CPU time per phase (``time.process_time``: this process's compute, not the time it
    waited for a core another process held); entering a nested phase pauses the enclosing one."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[list[Any]] = []

    @contextmanager
    def phase(self, name: str):
        now = time.process_time()
        if self._stack:
            outer = self._stack[-1]
            self.seconds[outer[0]] += now - outer[1]
        self._stack.append([name, now])
        try:
            yield
        finally:
            now = time.process_time()
            inner_name, start = self._stack.pop()
            self.seconds[inner_name] += now - start
            if self._stack:
                self._stack[-1][1] = now

    def wrap(self, fn: Callable, name: Callable[[], str] | str) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name() if callable(name) else name):
                return fn(*args, **kwargs)

        timed.__wrapped_by_phases__ = True  # type: ignore[attr-defined]
        return timed


class Instrument(TrainerCallback):
    """Times every phase of the trainer's steps and counts what generation produced."""

    def __init__(self, trainer: DapoTrainer) -> None:
        self.trainer, self.phases = trainer, Phases()
        self.round_in_step = 0  # generation rounds of the current step so far
        self.step_seconds: list[float] = []
        self.step_wall: list[float] = []
        self.new_tokens = self.prompt_tokens = self.rollouts = self.rounds = 0
        self._start = self._wall = 0.0
        t, p = trainer, self.phases
        refill = lambda rounds: "refill " if self.round_in_step >= rounds else ""  # noqa: E731
        t._generate_and_score_completions = self._first_round(t._generate_and_score_completions)
        t._generate_single_turn = self._count(p.wrap(t._generate_single_turn, lambda: refill(1) + "generate"))
        t._get_per_token_logps_and_entropies = p.wrap(
            t._get_per_token_logps_and_entropies,
            lambda: "training forward" if torch.is_grad_enabled() else refill(2) + "old log-probs",
        )
        t._calculate_rewards = p.wrap(t._calculate_rewards, "rewards")
        t.accelerator.backward = p.wrap(t.accelerator.backward, "backward")
        t.log = p.wrap(t.log, "logging")

    def _first_round(self, fn: Callable) -> Callable:
        """A step's rollouts start here; every generation after its first one is a refill round."""

        def first(*args: Any, **kwargs: Any) -> Any:
            self.round_in_step = 0
            return fn(*args, **kwargs)

        return first

    def _count(self, fn: Callable) -> Callable:
        def counted(prompt_ids: list[list[int]], *args: Any, **kwargs: Any) -> Any:
            completions, logprobs = fn(prompt_ids, *args, **kwargs)
            self.round_in_step += 1
            self.new_tokens += sum(len(c) for c in completions)
            self.prompt_tokens += sum(len(p) for p in prompt_ids)
            self.rollouts += len(prompt_ids)
            self.rounds += 1
            return completions, logprobs

        return counted

    def on_train_begin(
        self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any
    ) -> None:
        optimizer.step = self.phases.wrap(optimizer.step, "optimizer")

    def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
        self._start, self._wall = time.process_time(), time.perf_counter()

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Time the DACSP hooks (torch step hooks, re-registered once the model is prepared)."""
        inner = self.trainer.optimizer.optimizer
        for hooks in (inner._optimizer_step_pre_hooks, inner._optimizer_step_post_hooks):
            for key, hook in hooks.items():
                if not getattr(hook, "__wrapped_by_phases__", False):
                    hooks[key] = self.phases.wrap(hook, "dacsp")

    def on_step_end(self, *args: Any, **kwargs: Any) -> None:
        self.step_seconds.append(time.process_time() - self._start)
        self.step_wall.append(time.perf_counter() - self._wall)

    def per_step(self) -> dict[str, float]:
        steps = len(self.step_seconds)
        out = {name: self.phases.seconds.get(name, 0.0) / steps for name, _ in PHASES if name != "other"}
        out["other"] = sum(self.step_seconds) / steps - sum(out.values())  # the rest of the step
        out["total"] = sum(self.step_seconds) / steps
        out["wall"] = sum(self.step_wall) / steps
        return out


class ScriptedReward:
    """In a step's first generation round the groups of even-numbered prompts all score 0; every other
    completion scores a hash of its text in [0, 1) (so its group has variance)."""

    __name__ = "scripted"

    def __init__(self, prompts: list) -> None:
        self.even = {p.id for i, p in enumerate(prompts) if i % 2 == 0}
        self.instrument: Instrument | None = None

    def __call__(self, completions: list, id: list[str], **columns: Any) -> list[float]:
        first_round = self.instrument is not None and self.instrument.round_in_step == 1
        return [
            0.0 if first_round and i in self.even else zlib.crc32(str(c).encode()) / 2**32
            for c, i in zip(completions, id, strict=True)
        ]


class BeforeTrainer(DapoTrainer):
    """The rollouts as TRL generates them: every copy of a prompt prefilled, in train mode (dropout on)."""

    _generate_single_turn = GRPOTrainer._generate_single_turn


def gemm_gflops(n: int = 2048, repeats: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        torch.mm(a, b)
        best = min(best, time.process_time() - start)
    return 2 * n**3 / best / 1e9


def matmul_parameters(model: torch.nn.Module) -> int:
    """Weights a token multiplies through (every Linear, the LM head included; embeddings are lookups)."""
    return sum(m.weight.numel() for m in model.modules() if type(m) is torch.nn.Linear)


def run(
    profile: Any,
    stage: Any,
    prompts: list,
    before: bool,
    bank: BasisBank | None,
    ready: Callable[[], object] | None = None,
) -> tuple[Instrument, Any, tuple[float, float]]:
    """One timed run: its instrument, the trainable weights (start, end), and the wall-clock (epoch)
    times training started and ended; ``ready`` is called when everything is loaded, just before."""
    from peft import get_peft_model

    if before:
        dapo = profile.dapo.model_copy(update={"oversampling": 1})
        policy = profile.policy.model_copy(update={"chat_template": None})
        profile = profile.model_copy(update={"dapo": dapo, "policy": policy})
    tokenizer = load_tokenizer(profile.policy)
    set_seed(profile.dapo.seed)
    model = get_peft_model(load_model(profile.policy, tokenizer), lora_config(profile.lora))
    start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    with tempfile.TemporaryDirectory() as out:
        args = dapo_config(profile, stage, out, save_steps=10**6)
        if before:  # one round of two groups for two optimizer steps of one group each
            args.steps_per_generation = 2
            args.generation_batch_size = args.per_device_train_batch_size * 2
        reward = ScriptedReward(prompts)
        trainer = (BeforeTrainer if before else DapoTrainer)(
            model=model,
            reward_funcs=[reward],
            args=args,
            train_dataset=prompts_dataset(prompts),
            processing_class=tokenizer,
            sampling=dynamic_sampling(profile.dapo),
            dacsp=DacspSetup(bank, profile.dacsp) if bank is not None else None,
        )
        instrument = reward.instrument = Instrument(trainer)
        trainer.add_callback(instrument)
        if ready is not None:
            ready()
        began = time.time()
        trainer.train()
        ended = time.time()
    end = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return instrument, (start, end), (began, ended)


def setup(steps: int) -> tuple[Any, Any, list]:
    """The cpu profile, its IF stage cut to ``steps`` optimizer steps, and the prompts both runs use."""
    profile = load_named_profile("cpu")
    stage = profile.stages["if"].model_copy(update={"max_steps": steps})
    prompts = load_train("if", profile.data.source, stage.prompts_per_step * steps * 4, profile.data.seed)
    return profile, stage, prompts


def side_by_side_job(steps: int, bank_path: str, start: Any, results: Any) -> None:
    """One of the machine arm's processes: today's step at one thread, training once all are loaded."""
    torch.set_num_threads(1)
    profile, stage, prompts = setup(steps)
    warm_up(profile)
    _, _, wall = run(profile, stage, prompts, before=False, bank=BasisBank.load(bank_path), ready=start.wait)
    results.put(wall)


def side_by_side(processes: int, steps: int, bank: BasisBank) -> tuple[float, float]:
    """``processes`` jobs of today's step side by side: (first start, last end) of their training."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # fresh interpreters, each with its own thread pool
    start, results = context.Barrier(processes), context.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        bank_path = os.path.join(tmp, "bank.safetensors")
        bank.save(bank_path)
        jobs = [
            context.Process(target=side_by_side_job, args=(steps, bank_path, start, results))
            for _ in range(processes)
        ]
        for job in jobs:
            job.start()
        walls: list[tuple[float, float]] = []
        while len(walls) < processes:
            try:
                walls.append(results.get(timeout=5))
            except queue.Empty:
                if any(job.exitcode not in (None, 0) for job in jobs):  # the others wait at the barrier
                    for job in jobs:
                        job.terminate()
                    raise RuntimeError("a side-by-side process failed (its traceback is above)") from None
        for job in jobs:
            job.join()
    return min(w[0] for w in walls), max(w[1] for w in walls)


def warm_up(profile: Any) -> None:
    """First calls of torch kernels cost extra: pay them before either run is timed."""
    tokenizer = load_tokenizer(profile.policy)
    model = load_model(profile.policy, tokenizer)
    ids = torch.randint(100, 1000, (8, 60))
    with torch.no_grad():
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=True)
    model(ids).logits.float().mean().backward()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=4, help="optimizer steps per run (even: 'before' pairs them)"
    )
    parser.add_argument(
        "--machine-threads",
        type=int,
        default=available_cores(),
        help="machine throughput: the 'before' step at this many torch threads as one job (torch's "
        "default, one per core, as the runs before care_rl/threads.py took) against this many 1-thread "
        "processes of today's step side by side (default: the available cores; 0: skip)",
    )
    args = parser.parse_args()
    if args.steps < 2 or args.steps % 2:
        parser.error("--steps must be even and at least 2 (one 'before' round feeds two steps)")
    profile, stage, prompts = setup(args.steps)
    threads = configure_threads(profile.device)
    gflops = gemm_gflops()
    tokenizer = load_tokenizer(profile.policy)
    params = matmul_parameters(load_model(profile.policy, tokenizer))
    ceiling = gflops * 1e9 / (2 * params)
    warm_up(profile)

    load_start = os.getloadavg()[0]
    before, (start, end), before_wall = run(profile, stage, prompts, before=True, bank=None)
    bank = BasisBank(profile.dacsp.backend, profile.dacsp.tol)
    bank.add_stage(start, end, profile.dacsp.tau)
    after, _, after_wall = run(profile, stage, prompts, before=False, bank=bank)
    machine = args.machine_threads
    rates = {  # optimizer steps per wall second of training
        f"'before', one job at {threads} thread(s)": args.steps / (before_wall[1] - before_wall[0]),
        f"'after', one job at {threads} thread(s)": args.steps / (after_wall[1] - after_wall[0]),
    }
    if machine:
        torch.set_num_threads(machine)
        _, _, (began, ended) = run(profile, stage, prompts, before=True, bank=None)
        one_job = rates[f"'before', one job at {machine} threads"] = args.steps / (ended - began)
        torch.set_num_threads(threads)
        began, ended = side_by_side(machine, args.steps, bank)
        jobs = rates[f"'after', {machine} jobs of 1 thread side by side"] = (
            machine * args.steps / (ended - began)
        )

    load = os.getloadavg()[0]
    print(
        f"cpu profile, IF stage: steps of {stage.prompts_per_step} prompt group x {stage.num_generations} "
        f"completions x <= {stage.max_completion_length} tokens, {args.steps} optimizer steps per run; "
        f"{threads} torch thread(s), 1-minute load average {load_start:.1f} at the start and {load:.1f} at "
        f"the end, on {available_cores()} cores"
    )
    print(
        f"GEMM ceiling: 2048^3 fp32 at {gflops:.1f} GFLOP/s -> {ceiling:.0f} new tokens/s for the "
        f"{params / 1e6:.1f}M matmul parameters of a token's forward"
    )
    b, a = before.per_step(), after.per_step()
    print(f"\n{'CPU seconds per optimizer step':<34}{'before':>9}{'after':>9}")
    for name, label in PHASES:
        print(f"  {label:<32}{b[name]:>9.2f}{a[name]:>9.2f}")
    print(f"  {'step':<32}{b['total']:>9.2f}{a['total']:>9.2f}")
    print(f"  {'step, wall clock':<32}{b['wall']:>9.2f}{a['wall']:>9.2f}")
    for label, key in (("generation rounds per step", "rounds"), ("new tokens per step", "new_tokens")):
        print(
            f"  {label:<32}{getattr(before, key) / args.steps:>9.2f}{getattr(after, key) / args.steps:>9.2f}"
        )
    print(
        f"  {'prompt tokens per rollout':<32}{before.prompt_tokens / before.rollouts:>9.1f}"
        f"{after.prompt_tokens / after.rollouts:>9.1f}"
    )
    for name, inst, per in (("before", before, b), ("after", after, a)):
        seconds = (per["generate"] + per["refill generate"]) * args.steps
        rate = inst.new_tokens / seconds
        print(
            f"new tokens/s in generation, {name:<6}: {rate:6.1f} = {rate / ceiling:.1%} of the GEMM ceiling"
        )
    ratio = b["total"] / a["total"]
    print(
        f"\nstep CPU time before / after, both at {threads} thread(s): {ratio:.2f}x "
        f"(wall clock: {b['wall'] / a['wall']:.2f}x)   target >= 2: {'met' if ratio >= 2 else 'NOT met'}"
    )
    print(f"\nmachine throughput: optimizer steps per wall second of the machine ({available_cores()} cores)")
    for label, rate in rates.items():
        print(f"  {label:<44}{rate:>9.4f}")
    if machine:
        print(
            f"machine throughput after / before: {machine} 1-thread jobs side by side / one job at {machine} "
            f"threads: {jobs / one_job:.2f}x   target >= 2: {'met' if jobs / one_job >= 2 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
