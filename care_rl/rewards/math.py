"""Binary math reward: does the completion's final answer equal the gold answer (math-verify)?

The paper scores math by "binary answer matching". math-verify does the matching (LaTeX/sympy
equivalence), but its own timeouts use ``signal.alarm``, which raises when called off the main
thread (TRL and eval loops may do that) and cannot stop C-level sympy work reliably. So both of its
timeouts are disabled here and every comparison runs in one persistent worker process instead: a
call that exceeds ``timeout`` kills and replaces the worker, scores 0.0, and is counted and logged
(:func:`timeout_count`), so a pathological completion costs one timeout, never a hung training step.

A gold answer that cannot be parsed says nothing about the completion: :func:`score` raises
:class:`~care_rl.rewards.unscorable.Unscorable` for it, which the training reward and the evaluation
scorer count instead of scoring 0 or crashing.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import re
import threading
from multiprocessing.connection import Connection

from care_rl.rewards.unscorable import Unscorable
from care_rl.thinking import strip_thinking

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0  # math-verify's own default per parse/verify call
_NUMERIC_GOLD = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?(/\d+)?%?$")


def _delimited(text: str) -> bool:
    """Whether LaTeX text already carries math delimiters or a ``\\boxed{}`` (an escaped dollar,
    ``\\$18.90``, is a currency sign, not a delimiter)."""
    return "$" in text.replace("\\$", "") or "\\boxed" in text or "\\(" in text or "\\[" in text


def _parse_gold(gold: str) -> list:
    """Parse the gold answer; raise :class:`Unscorable` if it cannot be parsed (a data problem).

    Numeric golds ("42", "-3.5", "1,000", "3/4") go through the plain-expression extractor. Anything
    else is LaTeX as datasets store it ("\\frac{1}{2}", "\\$18.90") and is wrapped in ``$...$`` so the
    LaTeX extractor sees one math environment, unless it already has delimiters or a ``\\boxed``. It is
    read with the configurations math-verify's own test helper gives a gold (LaTeX with ``\\boxed``
    first, then plain expressions), and if that finds nothing, the text as it is with the same
    configurations: so an unclosed ``\\boxed{5`` falls back to the expression extractor as there.
    """
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    text = gold.strip()
    if not text:
        raise Unscorable("math gold is empty", repr(gold))
    if _NUMERIC_GOLD.match(text):
        parsed = parse(text, [ExprExtractionConfig()], parsing_timeout=None)
    else:
        configs = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
        parsed = parse(text if _delimited(text) else f"${text}$", configs, parsing_timeout=None)
        if not parsed:
            parsed = parse(text, configs, parsing_timeout=None)
    if not parsed:
        raise Unscorable("math gold cannot be parsed by math-verify", repr(gold))
    return parsed


def score_unbounded(completion: str, gold: str) -> float:
    """1.0 if the completion's answer verifies against ``gold``, else 0.0 -- with no time limit.

    Completions are read with the LaTeX extractor (``\\boxed{}`` matched first) and the expression
    extractor, so both "... \\boxed{\\frac12}" and "The answer is 0.5" are found. Runs in the worker.
    """
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    gold_parsed = _parse_gold(gold)
    pred = parse(
        completion,
        [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()],
        parsing_timeout=None,
    )
    if not pred:
        return 0.0
    return 1.0 if verify(gold_parsed, pred, timeout_seconds=None) else 0.0


def _serve(conn: Connection) -> None:
    """Worker loop: announce readiness once math-verify is imported, then answer (completion, gold)
    requests with ("ok", score) or ("unscorable", (reason, detail))."""
    import math_verify  # noqa: F401  (the slow import happens before "ready", outside any call's timeout)

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # the "timeout disabled" warning is expected
    conn.send(("ready", None))
    while True:
        try:
            completion, gold = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", score_unbounded(completion, gold)))
        except Unscorable as err:
            conn.send(("unscorable", (err.reason, err.detail)))
        except Exception as err:  # math-verify failing on some input must not kill the worker
            conn.send(("unscorable", (f"math-verify raised {type(err).__name__}", str(err))))


class _Worker:
    """One spawned scoring process, restarted after a timeout. Thread-safe (one call at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: mp.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self.timeouts = 0

    def _start(self) -> Connection:
        ctx = mp.get_context("spawn")  # fork would copy torch's thread pools and CUDA state
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="care-rl-math-verify")
        self._proc.start()
        child.close()
        parent.recv()  # "ready": start-up (imports) is not charged to the first call's timeout
        self._conn = parent
        return parent

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn = None, None

    def call(self, completion: str, gold: str, timeout: float) -> float:
        with self._lock:
            conn = self._conn if self._proc is not None and self._proc.is_alive() else self._start()
            conn.send((completion, gold))
            if not conn.poll(timeout):
                self._kill()
                self.timeouts += 1
                logger.warning(
                    "math-verify timed out after %.1fs (timeout #%d); scoring 0.0 for a completion of %d chars",
                    timeout,
                    self.timeouts,
                    len(completion),
                )
                return 0.0
            status, value = conn.recv()
        if status == "unscorable":
            raise Unscorable(*value)
        return value

    def close(self) -> None:
        with self._lock:
            self._kill()


_WORKER = _Worker()


def score(completion: str, gold: str, timeout: float = DEFAULT_TIMEOUT_S) -> float:
    """Binary reward for one completion: 1.0 iff its final answer equals ``gold`` (math-verify).

    Only the answer is read: a Qwen3 thinking block is removed first (care_rl.thinking), so a boxed
    value inside the thoughts never counts.

    Bounded by ``timeout`` seconds per call (the first call also pays the worker's start-up, which is
    not counted against it). Raises :class:`Unscorable` (a ValueError) if ``gold`` cannot be parsed.
    """
    if not isinstance(completion, str) or not isinstance(gold, str):
        raise TypeError(f"math score needs str completion and gold, got {type(completion)}, {type(gold)}")
    if timeout <= 0:
        raise ValueError(f"math score timeout must be > 0 seconds, got {timeout}")
    return _WORKER.call(strip_thinking(completion), gold, timeout)


def timeout_count() -> int:
    """How many math-verify calls in this process have hit the time limit (each scored 0.0)."""
    return _WORKER.timeouts
