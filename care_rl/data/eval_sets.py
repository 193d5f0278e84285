"""Evaluation benchmarks (paper Sec. 4.1): math (MATH-500, GSM8K, AIME 2025), chat (WildBench v2,
Creative Writing v3, ResearchQA), IF (IFBench, IFEval). Each row becomes one ``EvalItem`` whose
``reference`` holds what that benchmark's scorer needs. This module knows the data (where it lives, its
schema, how a row becomes items); the benchmark built on each data set (table column, domain, scorer,
metric) is one row of the table in eval/benchmarks.py.

AIME: the paper trains on AIME 1983-2024, so AIME is evaluated on 2025 (math-ai/aime25, the set
lm-eval's ``aime25`` task reads; ``problem``/``answer`` confirmed by that task, ``id`` from the card).
CW3 is not on the hub: ``source: hub`` reads a local copy of EQ-bench creative-writing-bench's
``data/`` folder named by $CARE_RL_CW3_DIR. ResearchQA ships as ``test.json`` in realliyifei/ResearchQA.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from care_rl.config import ConfigError
from care_rl.data.io import read_json_file
from care_rl.data.records import EvalItem, Message
from care_rl.data.spec import DatasetSpec, Origin, Row, content_id

CW3_DIR_ENV = "CARE_RL_CW3_DIR"
CW3_FILES = ("creative_writing_prompts_v3.json", "creative_writing_criteria.txt", "negative_criteria.txt")


def _user(text: str) -> list[Message]:
    return [{"role": "user", "content": text}]


def _present(kwargs: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """IFEval/IFBench kwargs as the verifiers take them: loading through ``datasets`` fills every
    instruction's dict with all keys of the union (None when unset); the verifiers want only the set ones."""
    return [{k: v for k, v in (kw or {}).items() if v is not None} for kw in kwargs]


def math500_to_records(row: Row) -> list[EvalItem]:
    return [
        EvalItem(
            benchmark="math500",
            domain="math",
            id=row["unique_id"],
            messages=_user(row["problem"]),
            reference={"answer": row["answer"], "subject": row["subject"], "level": row["level"]},
        )
    ]


def gsm8k_final_answer(answer_field: str) -> str:
    """GSM8K stores the worked solution, then '#### N'; N may carry thousands separators."""
    if "####" not in answer_field:
        raise ValueError(f"gsm8k answer has no '####' final-answer marker: {answer_field[-80:]!r}")
    return answer_field.rsplit("####", 1)[1].strip().replace(",", "")


def gsm8k_to_records(row: Row) -> list[EvalItem]:
    return [
        EvalItem(
            benchmark="gsm8k",
            domain="math",
            id=content_id("gsm8k", row["question"]),
            messages=_user(row["question"]),
            reference={"answer": gsm8k_final_answer(row["answer"])},
        )
    ]


def aime2025_to_records(row: Row) -> list[EvalItem]:
    return [
        EvalItem(
            benchmark="aime2025",
            domain="math",
            id=f"aime2025-{row['id']}",
            messages=_user(row["problem"]),
            reference={"answer": str(row["answer"])},
        )
    ]


def wildbench_to_records(row: Row) -> list[EvalItem]:
    turns = [{"role": t["role"], "content": t["content"]} for t in row["conversation_input"]]
    refs = row["references"] or {}
    return [
        EvalItem(
            benchmark="wildbench",
            domain="chat",
            id=str(row["session_id"]),
            messages=turns,
            reference={
                "checklist": list(row["checklist"]),
                "reference_response": refs.get("gpt-4"),
                "primary_tag": row["primary_tag"],
            },
        )
    ]


def cw3_to_records(row: Row) -> list[EvalItem]:
    """EQ-bench fills the prompt's <SEED> slot with seed_modifiers[(iteration-1) % len]; one
    iteration (the first modifier) per prompt here, as in a single-iteration EQ-bench run."""
    mods = row["seed_modifiers"]
    if not mods:
        raise ValueError(f"cw3 prompt {row['id']!r} has no seed_modifiers")
    text = row["writing_prompt"].replace("<SEED>", mods[0])
    return [
        EvalItem(
            benchmark="cw3",
            domain="chat",
            id=f"cw3-{row['id']}",
            messages=_user(text),
            reference={
                "criteria": list(row["criteria"]),
                "negative_criteria": list(row["negative_criteria"]),
                "category": row["category"],
                "title": row["title"],
            },
        )
    ]


def _criteria_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise ConfigError(f"{path}: CW3 criteria file not found")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cw3_rows(spec: DatasetSpec, source: Origin) -> list[Row]:
    """CW3 rows: each prompt of the prompts JSON (id -> {category, title, writing_prompt,
    seed_modifiers}) joined with the benchmark-wide criteria and negative-criteria lists."""
    if source == "hub":
        root = os.environ.get(CW3_DIR_ENV)
        if not root:
            raise ConfigError(
                f"CW3 is not on the hub: set ${CW3_DIR_ENV} to a folder holding {list(CW3_FILES)} "
                "(EQ-bench/creative-writing-bench, data/)"
            )
        folder = Path(root)
    else:
        folder = spec.mini_path
    prompts = read_json_file(folder / CW3_FILES[0])
    if not isinstance(prompts, dict):
        raise ConfigError(
            f"{folder / CW3_FILES[0]}: expected a mapping id -> prompt, got {type(prompts).__name__}"
        )
    criteria, negative = _criteria_lines(folder / CW3_FILES[1]), _criteria_lines(folder / CW3_FILES[2])
    return [
        {"id": pid, **p, "criteria": criteria, "negative_criteria": negative} for pid, p in prompts.items()
    ]


def researchqa_to_records(row: Row) -> list[EvalItem]:
    return [
        EvalItem(
            benchmark="researchqa",
            domain="chat",
            id=str(row["id"]),
            messages=_user(row["query"]),
            reference={
                "rubric": [{"rubric_item": r["rubric_item"], "type": r["type"]} for r in row["rubric"]],
                "field": row["field"],
            },
        )
    ]


def _ifeval_like(benchmark: str):
    def to_records(row: Row) -> list[EvalItem]:
        ids, kwargs = list(row["instruction_id_list"]), _present(row["kwargs"])
        if len(ids) != len(kwargs):
            raise ValueError(
                f"{benchmark} key {row['key']}: {len(ids)} instruction ids but {len(kwargs)} kwargs"
            )
        return [
            EvalItem(
                benchmark=benchmark,
                domain="if",
                id=f"{benchmark}-{row['key']}",
                messages=_user(row["prompt"]),
                reference={"instruction_id_list": ids, "kwargs": kwargs, "prompt": row["prompt"]},
            )
        ]

    to_records.__name__ = f"{benchmark}_to_records"
    return to_records


IFEVAL_COLUMNS = {"key": int, "prompt": str, "instruction_id_list": list, "kwargs": list}

MATH500 = DatasetSpec(
    name="math500",
    kind="eval",
    hub_id="HuggingFaceH4/MATH-500",
    hub_split="test",
    mini_file="math500.jsonl",
    to_records=math500_to_records,
    columns={
        "problem": str,
        "solution": str,
        "answer": str,
        "subject": str,
        "level": int,
        "unique_id": str,
    },
)

GSM8K = DatasetSpec(
    name="gsm8k",
    kind="eval",
    hub_id="openai/gsm8k",
    hub_config="main",
    hub_split="test",
    mini_file="gsm8k.jsonl",
    to_records=gsm8k_to_records,
    columns={"question": str, "answer": str},
)

AIME2025 = DatasetSpec(
    name="aime2025",
    kind="eval",
    hub_id="math-ai/aime25",
    hub_split="test",
    mini_file="aime2025.jsonl",
    to_records=aime2025_to_records,
    columns={"problem": str, "answer": str, "id": str},
)

WILDBENCH = DatasetSpec(
    name="wildbench",
    kind="eval",
    hub_id="allenai/WildBench",
    hub_config="v2",
    hub_split="test",
    mini_file="wildbench_v2.jsonl",
    to_records=wildbench_to_records,
    columns={
        "id": str,
        "session_id": str,
        "conversation_input": list,
        "references": dict,
        "length": int,
        "checklist": list,
        "intent": str,
        "primary_tag": str,
        "secondary_tags": list,
    },
)

CW3 = DatasetSpec(
    name="cw3",
    kind="eval",
    hub_id="",
    hub_split="",
    mini_file="cw3",
    to_records=cw3_to_records,
    reader=cw3_rows,
    columns={
        "id": str,
        "category": str,
        "title": str,
        "writing_prompt": str,
        "seed_modifiers": list,
        "criteria": list,
        "negative_criteria": list,
    },
)

RESEARCHQA = DatasetSpec(
    name="researchqa",
    kind="eval",
    hub_id="realliyifei/ResearchQA",
    hub_split="train",
    hub_data_files="test.json",
    mini_file="researchqa_test.json",
    to_records=researchqa_to_records,
    columns={
        "id": str,
        "general_domain": str,
        "subdomain": str,
        "field": str,
        "query": str,
        "date": str,
        "rubric": list,
    },
)

IFBENCH = DatasetSpec(
    name="ifbench",
    kind="eval",
    hub_id="allenai/IFBench_test",
    hub_split="train",
    mini_file="ifbench_test.jsonl",
    to_records=_ifeval_like("ifbench"),
    columns=IFEVAL_COLUMNS,
)

IFEVAL = DatasetSpec(
    name="ifeval",
    kind="eval",
    hub_id="google/IFEval",
    hub_split="train",
    mini_file="ifeval.jsonl",
    to_records=_ifeval_like("ifeval"),
    columns=IFEVAL_COLUMNS,
)

# The loaders' registry of evaluation datasets (care_rl.data.loaders); eval/benchmarks.py holds the
# benchmarks built on them.
EVAL_SPECS = (MATH500, GSM8K, AIME2025, WILDBENCH, CW3, RESEARCHQA, IFBENCH, IFEVAL)
