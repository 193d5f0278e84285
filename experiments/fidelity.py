"""What a profile knowingly does unlike the paper, said in every table it touches.

A profile may name two departures (``deviations`` in its YAML, care_rl.config.Deviations); without
them the code refuses before compute (the missing adapter at plan time, experiments/judge_adapter.py;
the missing evaluation panel when the evaluator is built, eval/run.py ``judge_specs``). With them the
tables say what ran:

* ``untrained_pagrm_judge``: every row whose checkpoint trained a PA-GRM stage (or a Table 6 row
  scored by the PA-GRM judge) gets `` (untrained judge)`` after its label;
* ``chat_eval_by_training_judge``: a table with a chat-derived column gets a caption sentence saying
  that the chat benchmarks were scored by the baselines' training judge, not the paper's panel.

Which rows read the judge adapter follows from the tables, checkpoints and method YAML alone, so a
table rendered from cached results (``python -m experiments.tables build``) says the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from care_rl.config import JudgeSpec, Profile
from care_rl.training.cascade_plan import load_method, method_stages
from eval.panel import scored_by_training_judge
from experiments import checkpoints as ck
from experiments import metrics as m
from experiments.judge_adapter import uses_adapter, variant_reads_adapter
from experiments.paths import method_path
from experiments.table_specs import TableSpec

UNTRAINED_SUFFIX = " (untrained judge)"
# columns whose numbers include a chat benchmark (or can: a Reg. or OOD Change over chat)
CHAT_COLUMNS = frozenset(
    {*m.DOMAIN_BENCHMARKS["chat"], m.DOMAIN_AVG["chat"], m.TOTAL, m.OOD, m.REG, m.RET_GAIN}
)


@dataclass(frozen=True)
class TableNotes:
    """How a rendered table departs from the paper: relabelled rows and caption sentences."""

    relabel: dict[str, str] = field(default_factory=dict)
    caption: list[str] = field(default_factory=list)


def key_reads_adapter(key: str, table: ck.CheckpointTable) -> bool:
    """Whether result ``key`` depends on the PA-GRM judge adapter: a Table 6 row scored by the
    profile's PA-GRM judge, or a checkpoint after a stage rewarded by PA-GRM (or one of its variants)."""
    checkpoint = ck.resolve(key, table)
    if checkpoint.kind == "judge":
        assert checkpoint.variant is not None
        return variant_reads_adapter(checkpoint.variant)
    if checkpoint.method is None:  # the base policy
        return False
    order = list(checkpoint.order) if checkpoint.order else None
    stages = method_stages(load_method(method_path(checkpoint.method)), order)
    last = next((i for i, s in enumerate(stages) if checkpoint.stage in s.domains), len(stages) - 1)
    return any(uses_adapter(s.rewards) for s in stages[: last + 1])


def judge_name(spec: JudgeSpec) -> str:
    """A judge as a caption names it: its model file or hub name, or an endpoint's model name."""
    if spec.model is not None:
        return spec.model.gguf_file or spec.model.name_or_path
    return str(spec.model_name)


def table_notes(profile: Profile, spec: TableSpec) -> TableNotes:
    """The notes table ``spec`` needs on ``profile``."""
    notes = TableNotes()
    if profile.deviations.untrained_pagrm_judge and profile.judge.adapter is None:
        table = ck.load_table()
        for row in spec.rows:
            if any(key_reads_adapter(k, table) for k in row.keys):
                notes.relabel[row.label] = row.label + UNTRAINED_SUFFIX
    if CHAT_COLUMNS.intersection(spec.columns) and scored_by_training_judge(profile):
        notes.caption.append(
            f"Chat benchmarks are scored by the baselines' training judge ({judge_name(profile.judge)}), "
            "not the paper's evaluation panel"
        )
    return notes
