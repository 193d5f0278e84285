"""One class per verifier family: the original (loaded from its checkout), ours, and the original's unit
tests recorded as inputs. ``original(case)`` and ``mine(case)`` return an outcome (``harness.outcome``)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
import re
import sys
import types
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness import (
    Case,
    function_from_source,
    jsonl,
    load_file,
    outcome,
    package,
    recording_checkers,
    run_unittests,
)
from inputs import generated_responses, math_variants, prompt_cases, rlvr_ground_truth

from care_rl.rewards.unscorable import Unscorable


class IFBench:
    """allenai/IFBench, imported from its checkout (``ifbench`` package and top-level ``evaluation_lib``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        sys.path.insert(0, str(root))
        import ifbench

        self.package = ifbench
        self.registry = ifbench.instructions_registry.INSTRUCTION_DICT
        self.lib = load_file("ifbench_evaluation_lib", root / "evaluation_lib.py")
        from eval.verifiers import ifbench as ours

        self.ours = ours
        self.unit_stats: dict[str, Any] = {}

    def original(self, case: Case) -> tuple[str, Any]:
        p = case.payload
        if case.source == "unit":
            return case.original  # the answer recorded while the original's own test ran
        inp = self.lib.InputExample(
            key=0, instruction_id_list=[p["id"]], prompt=p["prompt"], kwargs=[dict(p["kwargs"])]
        )
        table = {p["prompt"]: p["response"]}

        def run() -> tuple[bool, bool]:  # strict first: it drops the null kwargs that loose then reuses
            strict = self.lib.test_instruction_following_strict(inp, table).follow_instruction_list[0]
            loose = self.lib.test_instruction_following_loose(inp, table).follow_instruction_list[0]
            return bool(strict), bool(loose)

        return outcome(run)

    def mine(self, case: Case) -> tuple[str, Any]:
        p = case.payload
        if case.source == "unit":
            return outcome(
                lambda: self.ours.check_instruction(p["id"], p["response"], p["kwargs"]), Unscorable
            )
        res = outcome(
            lambda: self.ours.score_ifbench(p["response"], [p["id"]], [p["kwargs"]], p["prompt"]), Unscorable
        )
        return (res[0], (res[1]["inst_strict"][0], res[1]["inst_loose"][0])) if res[0] == "ok" else res

    def unit_cases(self) -> list[Case]:
        test = load_file("ifbench_instructions_test", self.root / "instructions_test.py")
        id_of = {cls: iid for iid, cls in self.registry.items()}
        modules = [self.package.instructions, self.package.classic_instructions]
        with recording_checkers(modules, id_of) as calls:
            run, failed = run_unittests(test)
        ours = [c for c in calls if c["id"] in self.ours.CHECKS]
        self.unit_stats = {"tests": run, "failed": failed, "checks": len(calls), "ifbench_ids": len(ours)}
        return [
            Case(
                "ifbench",
                "unit",
                c["id"],
                {"id": c["id"], "kwargs": c["kwargs"] or {}, "response": c["value"]},
                original=c["answer"],
            )
            for c in ours
        ]

    def data_cases(self, generated: bool) -> list[Case]:
        rows = jsonl(self.root / "ifbench" / "data" / "IFBench_test.jsonl")
        responses = {r["prompt"]: r["response"] for r in jsonl(self.root / "data" / "sample_output.jsonl")}
        responses |= {k.strip(): v for k, v in responses.items()}
        return prompt_cases("ifbench", rows, responses, generated)


class IFEval:
    """lm-eval's ``tasks/ifeval`` from its checkout (its package ``__init__``s, which import the whole
    harness, are not run), Google's unit tests and GPT-4 responses from ``--google-ifeval``."""

    def __init__(self, root: Path, google: Path) -> None:
        self.google = google
        package("lm_eval", root / "lm_eval")
        package("lm_eval.tasks", root / "lm_eval" / "tasks")
        from lm_eval.tasks.ifeval import instructions, instructions_registry, instructions_util, utils

        self.instructions, self.registry, self.util, self.utils = (
            instructions,
            instructions_registry.INSTRUCTION_DICT,
            instructions_util,
            utils,
        )
        from eval.verifiers import ifeval as ours

        self.ours = ours
        self.unit_stats: dict[str, Any] = {}

    def original(self, case: Case) -> tuple[str, Any]:
        p = case.payload
        # process_results' two calls, each under our seed (its draws for an invalid argument are then
        # the ones ours makes; unseeded they change from run to run, see eval/verifiers/ifeval.py)
        inp = self.utils.InputExample(
            key=0, instruction_id_list=[p["id"]], prompt=p["prompt"], kwargs=[copy.deepcopy(p["kwargs"])]
        )

        def seeded(test: Callable[..., Any]) -> bool:
            state = random.getstate()
            random.seed(self.ours.SEED)
            try:
                return bool(test(inp, p["response"]).follow_instruction_list[0])
            finally:
                random.setstate(state)

        def run() -> tuple[bool, bool]:
            return seeded(self.utils.test_instruction_following_strict), seeded(
                self.utils.test_instruction_following_loose
            )

        return outcome(run)

    def mine(self, case: Case) -> tuple[str, Any]:
        p = case.payload
        res = outcome(
            lambda: self.ours.score_ifeval(
                p["response"], [p["id"]], [copy.deepcopy(p["kwargs"])], p["prompt"]
            ),
            Unscorable,
        )
        return (res[0], (res[1]["inst_strict"][0], res[1]["inst_loose"][0])) if res[0] == "ok" else res

    def unit_cases(self) -> list[Case]:
        package(
            "instruction_following_eval",
            self.google,
            instructions=self.instructions,
            instructions_util=self.util,
        )
        sys.modules["instruction_following_eval.instructions"] = self.instructions
        sys.modules["instruction_following_eval.instructions_util"] = self.util
        test = load_file("google_ifeval_instructions_test", self.google / "instructions_test.py")
        id_of = {cls: iid for iid, cls in self.registry.items()}
        with recording_checkers([self.instructions], id_of) as calls:
            run, failed = run_unittests(test)
        self.unit_stats = {"tests": run, "failed": failed, "checks": len(calls)}
        return [
            Case(
                "ifeval",
                "unit",
                c["id"],
                {"prompt": "", "response": c["value"], "id": c["id"], "kwargs": c["kwargs"] or {}},
            )
            for c in calls
            if c["id"] in self.registry and isinstance(c["value"], str)
        ]

    def data_cases(self, generated: bool) -> list[Case]:
        rows = jsonl(self.google / "data" / "input_data.jsonl")
        responses = {
            r["prompt"]: r["response"]
            for r in jsonl(self.google / "data" / "input_response_data_gpt4_20231107_145030.jsonl")
        }
        return prompt_cases("ifeval", rows, responses, generated)


class OpenInstruct:
    """open-instruct's ``if_functions.py`` (main) and the verifier that calls it. ``IFEvalVerifierOld``
    lives in ``ground_truth_utils.py``, whose imports (litellm, the judge stack) cannot load offline: its
    ``remove_thinking_section`` is compiled from that file, and its six-line dispatch is written out in
    :meth:`verify` (same order: clean, parse the JSON, pop ``func_name``, drop null arguments, call)."""

    def __init__(self, root: Path, pr_tests: Path | None) -> None:
        self.root, self.pr_tests = root, pr_tests
        self.functions = load_file("open_instruct_if_functions", root / "open_instruct" / "if_functions.py")
        self.clean = function_from_source(
            root / "open_instruct" / "ground_truth_utils.py", "remove_thinking_section"
        )
        from care_rl.rewards import rlvr_if

        self.ours = rlvr_if
        self.unit_stats: dict[str, Any] = {}

    def verify(self, completion: str, ground_truth: str) -> float:
        constraint = json.loads(ground_truth)
        answer = self.clean(completion)
        if "func_name" not in constraint:
            return 0.0
        func = self.functions.IF_FUNCTIONS_MAP[constraint.pop("func_name")]
        non_none_args = {k: v for k, v in constraint.items() if v is not None}
        if not constraint:
            return float(func(answer))
        return float(func(answer, **non_none_args))

    def original(self, case: Case) -> tuple[str, Any]:
        p = case.payload
        if case.source == "unit":
            func = getattr(self.functions, p["function"], None)
            if func is None:
                return ("exception", "NotOnMain")
            return outcome(lambda: bool(func(*copy.deepcopy(p["args"]), **copy.deepcopy(p["kwargs"]))))
        return outcome(lambda: self.verify(p["completion"], p["ground_truth"]))

    def mine(self, case: Case) -> tuple[str, Any]:
        p = case.payload
        if case.source == "unit":
            func = self.ours.IF_FUNCTIONS.get(p["function"])
            if func is None:
                return ("exception", "NotOurs")
            return outcome(lambda: bool(func(*copy.deepcopy(p["args"]), **copy.deepcopy(p["kwargs"]))))
        return outcome(lambda: self.ours.score(p["completion"], p["ground_truth"]), Unscorable)

    def _record(self, label: str, path: Path) -> tuple[list[Case], int, int]:
        calls: list[dict[str, Any]] = []

        class Recorder(types.ModuleType):
            def __getattr__(self, name: str) -> Callable:
                def record(*args: Any, **kwargs: Any) -> Any:
                    calls.append(
                        {"function": name, "args": copy.deepcopy(args), "kwargs": copy.deepcopy(kwargs)}
                    )
                    return getattr(functions, name)(*args, **kwargs)

                return record

        functions = self.functions
        package(
            "open_instruct", self.root / "open_instruct", if_functions=Recorder("open_instruct.if_functions")
        )
        sys.modules["open_instruct.if_functions"] = sys.modules["open_instruct"].if_functions
        run, failed = run_unittests(load_file(f"open_instruct_test_{label}", path))
        cases = [Case("rlvr_if", "unit", c["function"], c, extra={"test": label}) for c in calls]
        return cases, run, failed

    def unit_cases(self) -> list[Case]:
        files = [("main", self.root / "open_instruct" / "test_if_functions.py")]
        if self.pr_tests is not None:
            files += [
                (f"PR #{p.stem}", p) for p in sorted(self.pr_tests.glob("*.py"), key=lambda p: int(p.stem))
            ]
        cases = []
        for label, path in files:
            found, run, failed = self._record(label, path)
            cases += found
            self.unit_stats[label] = {"tests": run, "failed": failed, "checks": len(found)}
        return cases

    def data_cases(self, google: Path, generated: bool) -> list[Case]:
        rows = jsonl(google / "data" / "input_data.jsonl")
        responses = {
            r["prompt"]: r["response"]
            for r in jsonl(google / "data" / "input_response_data_gpt4_20231107_145030.jsonl")
        }
        cases = []
        for row in rows:
            response = responses.get(row["prompt"])
            if response is None:
                continue
            truths = [
                t
                for t in (
                    rlvr_ground_truth(i, k)
                    for i, k in zip(row["instruction_id_list"], row["kwargs"], strict=True)
                )
                if t
            ]
            variants = generated_responses(response, truths) if generated else [("real", response)]
            for generator, text in variants:
                for truth in truths:
                    payload = {"completion": text, "ground_truth": json.dumps(truth)}
                    cases.append(
                        Case(
                            "rlvr_if",
                            "generated" if generated else "real",
                            truth["func_name"],
                            payload,
                            extra={"gen": generator},
                        )
                    )
        return cases


PLAIN_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


def helper_gold(gold: str) -> str:
    """The gold as math-verify's helper is given one: a plain number, a ``\\boxed{}`` or an expression
    with math delimiters as it is, bare LaTeX as datasets store it between ``$...$`` (math-verify's
    README parses golds as ``parse("$...$")``; an escaped ``\\$`` is a currency sign, not a delimiter)."""
    text = gold.strip()
    if (
        PLAIN_NUMBER.match(text)
        or "$" in text.replace("\\$", "")
        or any(d in text for d in ("\\boxed", "\\(", "\\["))
    ):
        return text
    return f"${text}$"


class MathVerify:
    """math-verify 0.9.0 from its source distribution (``src/`` and ``tests/``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        sys.path.insert(0, str(root / "src"))
        import math_verify

        if Path(math_verify.__file__).resolve().parents[1] != (root / "src").resolve():
            raise SystemExit(f"math_verify was imported from {math_verify.__file__}, not {root / 'src'}")
        self.helper = self._helper()
        from care_rl.rewards import math as ours

        self.ours = ours
        self.unit_stats: dict[str, Any] = {}

    @contextlib.contextmanager
    def _tests_package(self) -> Iterator[None]:
        """math-verify's tests import ``tests.test_all``; this repository has its own ``tests``."""
        saved = {k: v for k, v in sys.modules.items() if k == "tests" or k.startswith("tests.")}
        for k in saved:
            del sys.modules[k]
        package("tests", self.root / "tests")
        try:
            yield
        finally:
            for k in [k for k in sys.modules if k == "tests" or k.startswith("tests.")]:
                del sys.modules[k]
            sys.modules.update(saved)

    def _helper(self) -> Callable[..., Any]:
        with self._tests_package():
            import tests.test_all

            return tests.test_all.compare_strings

    def original(self, case: Case) -> tuple[str, Any]:
        p = case.payload
        if case.source == "unit":
            return case.original
        return outcome(lambda: bool(self.helper(helper_gold(p["gold"]), p["pred"])))

    def mine(self, case: Case) -> tuple[str, Any]:
        p = case.payload
        return outcome(lambda: bool(self.ours.score(p["pred"], p["gold"])), Unscorable)

    def unit_cases(self) -> list[Case]:
        import pytest

        recorder = _MathRecorder()
        with self._tests_package():
            args = [
                str(self.root / "tests"),
                "-q",
                "-p",
                "no:cacheprovider",
                "--rootdir",
                str(self.root),
                "-o",
                "addopts=",
            ]
            with contextlib.redirect_stdout(io.StringIO()):
                pytest.main(args, plugins=[recorder])
        outcomes = Counter(recorder.outcomes.values())
        self.unit_stats = {
            "tests": sum(outcomes.values()),
            "failed": outcomes["failed"],
            "checks": len(recorder.calls),
        }
        cases = []
        for c in recorder.calls:
            config = ", ".join(
                f"{k}={v}"
                for k, v in sorted(c["kwargs"].items())
                if k != "match_types" or v != ["latex", "expr"]
            )
            group = c["test"].split("::")[0].split("/")[-1] + (f" [{config}]" if config else "")
            payload = {"gold": c["gold"], "pred": c["pred"], "helper_kwargs": c["kwargs"]}
            cases.append(
                Case("math", "unit", group, payload, original=c["answer"], extra={"test": c["test"]})
            )
        return cases

    def data_cases(
        self, math500: Path | None, gsm8k: Path | None, generated: bool, n_golds: int
    ) -> list[Case]:
        pairs: list[tuple[str, str, str]] = []  # (set, gold, solution)
        if math500 is not None:
            pairs += [("MATH-500", r["answer"], r["solution"]) for r in jsonl(math500)]
        if gsm8k is not None:
            pairs += [("GSM8K", r["answer"].split("####")[-1].strip(), r["answer"]) for r in jsonl(gsm8k)]
        cases = []
        if not generated:
            return [Case("math", "real", name, {"gold": g, "pred": s}) for name, g, s in pairs]
        per_set: Counter[str] = Counter()
        for name, gold, solution in pairs:
            per_set[name] += 1
            if per_set[name] <= n_golds:
                for label, g, pred in math_variants(gold, solution):
                    cases.append(
                        Case("math", "generated", name, {"gold": g, "pred": pred}, extra={"gen": label})
                    )
        return cases


class _MathRecorder:
    """pytest plugin: wraps every test module's ``compare_strings`` to record (gold, pred, kwargs, answer)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.outcomes: dict[str, str] = {}
        self.current = ""

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        for item in items:
            module = getattr(item, "module", None)
            helper = getattr(module, "compare_strings", None)
            if helper is not None and not getattr(helper, "recording", False):
                module.compare_strings = self._wrap(helper)

    def pytest_runtest_setup(self, item: Any) -> None:
        self.current = item.nodeid

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" or report.outcome != "passed":
            self.outcomes[report.nodeid] = report.outcome

    def _wrap(self, helper: Callable[..., Any]) -> Callable[..., Any]:
        def compare_strings(gold: str, pred: str, *args: Any, **kwargs: Any) -> Any:
            raised: Exception | None = None
            try:
                answer: tuple[str, Any] = ("ok", bool(helper(gold, pred, *args, **kwargs)))
            except Exception as err:  # recorded, then raised on: a test may expect it
                answer, raised = ("exception", type(err).__name__), err
            self.calls.append(
                {
                    "test": self.current,
                    "gold": gold,
                    "pred": pred,
                    "kwargs": {**dict(enumerate(args)), **kwargs},
                    "answer": answer,
                }
            )
            if raised is not None:
                raise raised
            return answer[1]

        compare_strings.recording = True  # type: ignore[attr-defined]
        return compare_strings
