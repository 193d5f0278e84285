"""Side-by-side agreement of our verifiers with the original implementations they re-implement or wrap.

Every input is scored twice: by the original code, imported from checkouts of its public repositories
(``--src``), and by ours. The report gives agreement per instruction id / function and the exceptions
on each side, and rewrites the block between its markers in docs/verifier_agreement.md, which also
says how to lay out ``--src`` (the repositories and commits are :data:`SOURCES`). Nothing here is
networked: NLTK downloads are refused, and the NLTK data the originals need comes from ``--nltk-data``.

=========  ========================================  ===============================================
family     ours                                      original
=========  ========================================  ===============================================
ifbench    eval.verifiers.ifbench.score_ifbench      allenai/IFBench ``evaluation_lib`` strict/loose
           eval.verifiers.ifbench.check_instruction  ``Instruction.check_following`` (unit tests)
ifeval     eval.verifiers.ifeval.score_ifeval        lm-eval ``tasks/ifeval/utils`` strict/loose
rlvr_if    care_rl.rewards.rlvr_if.score             open-instruct ``IFEvalVerifierOld`` (its
                                                     ``remove_thinking_section``, ``IF_FUNCTIONS_MAP``)
           care_rl.rewards.rlvr_if.IF_FUNCTIONS      ``open_instruct/if_functions.py`` (unit tests)
math       care_rl.rewards.math.score                math-verify's test helper ``compare_strings``
=========  ========================================  ===============================================

Inputs per family: ``unit`` -- the originals' own unit tests, recorded by running them with the checks
instrumented; ``real`` -- responses the repositories ship; ``generated`` -- those transformed, and
responses templated from each prompt's own arguments (``inputs.py``).

    python scripts/verifier_agreement/run.py --src SRC --nltk-data NLTK_DATA \\
        --markdown docs/verifier_agreement.md --details /tmp/agreement
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # ours, imported from this checkout of the repository

from families import IFBench, IFEval, MathVerify, OpenInstruct  # noqa: E402
from harness import REFUSED_DOWNLOADS, Case, offline_nltk  # noqa: E402
from report import render, tagger_disagreement, write_block  # noqa: E402

FAMILIES = ("ifbench", "ifeval", "rlvr_if", "math")

# --src/<folder>: the public source, the version compared, and the sha256 (first 16 hex digits) of the
# files that decide the comparison, so a run on other versions says so in the report.
SOURCES: dict[str, dict[str, Any]] = {
    "IFBench": {
        "source": "allenai/IFBench, main",
        "version": "db69a6f05689830b0068b8f1529ebcfd2f3b164c",
        "files": {
            "ifbench/instructions.py": "0afced39ddd57eec",
            "ifbench/instructions_util.py": "6996a6efaf6e3c92",
            "ifbench/instructions_registry.py": "5119f2919261c775",
            "evaluation_lib.py": "e681a4b03a6a9dfb",
            "instructions_test.py": "cc9b7b2b35784f97",
            "ifbench/data/IFBench_test.jsonl": "a2bf7b8e7ed11d39",
            "data/sample_output.jsonl": "a784024a2d40f96c",
        },
    },
    "open-instruct": {
        "source": "allenai/open-instruct, main",
        "version": "e6c3044aa6201c8bfa4573c1b03142af599e730d",
        "files": {
            "open_instruct/if_functions.py": "afea345e3bc100e6",
            "open_instruct/ground_truth_utils.py": "9c5a5fe88e44bc8f",
            "open_instruct/test_if_functions.py": "3ea7a17a5dbd13c5",
        },
    },
    "open-instruct-prs": {
        "source": "allenai/open-instruct, open pull requests: open_instruct/test_if_functions.py as <PR>.py",
        "version": "refs/pull/<PR>/head",
        "files": {},
    },
    "lm-evaluation-harness": {
        "source": "EleutherAI/lm-evaluation-harness, main (tasks/ifeval identical to lm_eval 0.4.13)",
        "version": "4e7e0d47f33bc71070c1d38394bafbb52b117163",
        "files": {
            "lm_eval/tasks/ifeval/instructions.py": "511cc41a53787d81",
            "lm_eval/tasks/ifeval/instructions_registry.py": "9db1c062cdb70a91",
            "lm_eval/tasks/ifeval/instructions_util.py": "e8c4d9187bac1482",
            "lm_eval/tasks/ifeval/utils.py": "1ab8f14808c826f9",
        },
    },
    "google-ifeval": {
        "source": "google-research instruction_following_eval (unit tests, prompts, GPT-4 responses), "
        "as imported into Podtech-AI/IFEval",
        "version": "5bdf377eb9cc20f16d377dc5c38413cee22550a6",
        "files": {
            "instructions_test.py": "2d937f29f1af066f",
            "data/input_data.jsonl": "67ffeee0fcb87c31",
            "data/input_response_data_gpt4_20231107_145030.jsonl": "0cff1d1469b774e8",
        },
    },
    "math_verify-0.9.0": {
        "source": "math-verify 0.9.0 source distribution (pip download --no-binary :all: math-verify==0.9.0)",
        "version": "sdist sha256 45ac6c61344ba056b9e99a660a4bc8d044ed408f730aed68c60435aa5eec4645",
        "files": {
            "src/math_verify/parser.py": "ea527a5a2403d971",
            "src/math_verify/grader.py": "8a789b7a17063330",
            "tests/test_all.py": "e63fba7e3e4ffe27",
        },
    },
    "math500.jsonl": {
        "source": "MATH-500 (openai/prm800k math_splits/test.jsonl, its Git LFS object), optional",
        "version": "sha256 35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132",
        "files": {"": "35dc41080a368085"},
    },
    "gsm8k.jsonl": {
        "source": "GSM8K test (openai/grade-school-math grade_school_math/data/test.jsonl), optional",
        "version": "3101c7d5072418e28b9008a6636bde82a006892c",
        "files": {"": "3730d312f6e34405"},
    },
}


def checkout(src: Path, name: str, optional: bool = False) -> Path | None:
    """``src/name``, checked against :data:`SOURCES`; a file that differs is reported, not fatal."""
    path = src / name
    if not path.exists():
        if optional:
            return None
        raise SystemExit(f"--src {src}: {path} not found (docs/verifier_agreement.md says how to lay it out)")
    differs = []
    for rel, digest in SOURCES[name]["files"].items():
        file = path / rel if rel else path
        if not file.is_file() or hashlib.sha256(file.read_bytes()).hexdigest()[:16] != digest:
            differs.append(rel or name)
    SOURCES[name]["checked"] = (
        "as recorded" if not differs else f"differs from the recorded version: {differs}"
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, required=True, help="folder of the originals (see SOURCES)")
    parser.add_argument(
        "--nltk-data", type=Path, required=True, help="NLTK data for the originals: stopwords, the POS tagger"
    )
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--math-golds", type=int, default=100, help="golds per math set for generated inputs")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="rewrite the generated block of this file"
    )
    parser.add_argument(
        "--details", type=Path, default=None, help="write cases.jsonl (every input, both answers)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    random.seed(0)
    offline_nltk(args.nltk_data.resolve())
    src = args.src.resolve()

    cases: list[Case] = []
    tests: dict[str, Any] = {}
    sides: dict[str, Any] = {}
    google = checkout(src, "google-ifeval")
    if "ifbench" in args.families:
        sides["ifbench"] = side = IFBench(checkout(src, "IFBench"))
        cases += side.unit_cases() + side.data_cases(generated=False) + side.data_cases(generated=True)
        tests["IFBench instructions_test.py"] = side.unit_stats
    if "ifeval" in args.families:
        sides["ifeval"] = side = IFEval(checkout(src, "lm-evaluation-harness"), google)
        cases += side.unit_cases() + side.data_cases(generated=False) + side.data_cases(generated=True)
        tests["Google's IFEval instructions_test.py, on lm-eval's checks"] = side.unit_stats
    if "rlvr_if" in args.families:
        sides["rlvr_if"] = side = OpenInstruct(
            checkout(src, "open-instruct"), checkout(src, "open-instruct-prs", True)
        )
        cases += (
            side.unit_cases()
            + side.data_cases(google, generated=False)
            + side.data_cases(google, generated=True)
        )
        tests.update(
            {
                f"open-instruct test_if_functions.py ({k}), on main's functions": v
                for k, v in side.unit_stats.items()
            }
        )
    if "math" in args.families:
        sides["math"] = side = MathVerify(checkout(src, "math_verify-0.9.0"))
        sets = {name: checkout(src, f"{name}.jsonl", True) for name in ("math500", "gsm8k")}
        cases += side.unit_cases()
        cases += side.data_cases(sets["math500"], sets["gsm8k"], generated=False, n_golds=args.math_golds)
        cases += side.data_cases(sets["math500"], sets["gsm8k"], generated=True, n_golds=args.math_golds)
        tests["math-verify 0.9.0 tests"] = side.unit_stats

    for i, case in enumerate(cases):
        case.original = sides[case.family].original(case)
        case.ours = sides[case.family].mine(case)
        if i % 5000 == 0:
            print(f"{i}/{len(cases)} scored", file=sys.stderr)
    tagger = None
    if {"ifbench", "ifeval"} & set(args.families):
        texts = sorted({c.payload["response"] for c in cases if c.family in ("ifbench", "ifeval")})
        real = {
            c.payload["response"] for c in cases if c.family in ("ifbench", "ifeval") and c.source == "real"
        }
        tagger = tagger_disagreement(texts, real)

    used = {k: v for k, v in SOURCES.items() if "checked" in v}
    block = render(cases, used, tests, tagger, sorted(set(REFUSED_DOWNLOADS)))
    print(block)
    if args.markdown is not None:
        write_block(args.markdown, block)
    if args.details is not None:
        args.details.mkdir(parents=True, exist_ok=True)
        with (args.details / "cases.jsonl").open("w", encoding="utf-8") as out:
            for c in cases:
                row = {"family": c.family, "source": c.source, "group": c.group, "payload": c.payload}
                row |= {"original": c.original, "ours": c.ours, **c.extra}
                out.write(json.dumps(row, ensure_ascii=False, default=repr) + "\n")
    return 1 if any(c.ours and c.ours[0] == "exception" for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
