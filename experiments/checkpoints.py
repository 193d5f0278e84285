"""Result keys -> checkpoints, from experiments/checkpoints.yaml (one mapping table, as data).

A table row names a result key (``nvv/chat``, ``math_only``, ``surgery/math/top_only``, ``judge/pagrm``);
this module says what produces it: a method's stage, the base policy, an edited single-domain adapter,
or a judge-accuracy run. Unknown keys fail with the list of known ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import Field

from care_rl.config import DOMAINS, ConfigError, Strict, read_yaml, validate
from care_rl.dacsp.surgery import EDITS
from experiments.paths import CHECKPOINTS_YAML


class StageRef(Strict):
    method: str | None = None  # None: the base policy
    stage: str | None = None  # a domain of the method's order; None: the last stage


class SurgerySpec(Strict):
    updates: dict[str, str]  # target domain -> result key of its single-domain update
    edits: dict[str, str]  # row name -> care_rl.dacsp.surgery edit


class JudgeStudySpec(Strict):
    variants: list[str] = Field(min_length=1)


class CheckpointTable(Strict):
    checkpoints: dict[str, StageRef]
    surgery: SurgerySpec
    judge: JudgeStudySpec


@dataclass(frozen=True)
class Checkpoint:
    """A result key resolved: ``kind`` is base | stage | surgery | judge."""

    key: str
    kind: str
    method: str | None = None
    stage: str | None = None
    domain: str | None = None  # evaluated on this domain's benchmarks only (surgery, '@<domain>' keys)
    edit: str | None = None  # surgery: care_rl.dacsp.surgery edit
    update: str | None = None  # surgery: result key of the edited single-domain update
    variant: str | None = None  # judge


def load_table(path: Path = CHECKPOINTS_YAML) -> CheckpointTable:
    table: CheckpointTable = validate(CheckpointTable, read_yaml(path), path)
    for key, ref in table.checkpoints.items():
        if ref.stage is not None and (ref.method is None or ref.stage not in DOMAINS):
            raise ConfigError(f"{path}: checkpoints.{key}: stage {ref.stage!r} needs a method and a domain")
    for domain, update in table.surgery.updates.items():
        if domain not in DOMAINS or update not in table.checkpoints:
            raise ConfigError(f"{path}: surgery.updates.{domain}: {update!r} is not a checkpoint key")
    bad = sorted(e for e in table.surgery.edits.values() if e not in EDITS)
    if bad:
        raise ConfigError(f"{path}: surgery.edits: unknown edit(s) {bad}; known: {list(EDITS)}")
    return table


def known_keys(table: CheckpointTable) -> list[str]:
    surgery = [f"surgery/{d}/{e}" for d in table.surgery.updates for e in table.surgery.edits]
    return [*table.checkpoints, *surgery, *(f"judge/{v}" for v in table.judge.variants)]


def resolve(key: str, table: CheckpointTable) -> Checkpoint:
    """What produces result ``key``.

    ``<key>@<domain>`` is ``<key>`` evaluated on that domain's benchmarks only: Reg. (Tables 4, 7)
    reads one domain average from each intermediate checkpoint, so evaluating the other two domains
    there would cost most of an evaluation for numbers no table prints.
    """
    if "@" in key:
        inner, domain = key.rsplit("@", 1)
        if domain not in DOMAINS:
            raise ConfigError(
                f"result key {key!r}: unknown domain {domain!r} after '@'; known: {list(DOMAINS)}"
            )
        checkpoint = resolve(inner, table)
        if checkpoint.kind not in ("base", "stage"):
            raise ConfigError(f"result key {key!r}: only base and stage checkpoints take '@<domain>'")
        return replace(checkpoint, key=key, domain=domain)
    if key in table.checkpoints:
        ref = table.checkpoints[key]
        if ref.method is None:
            return Checkpoint(key, "base")
        return Checkpoint(key, "stage", method=ref.method, stage=ref.stage)
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == "surgery":
        domain, row = parts[1], parts[2]
        if domain in table.surgery.updates and row in table.surgery.edits:
            update = table.surgery.updates[domain]
            ref = table.checkpoints[update]
            return Checkpoint(
                key,
                "surgery",
                method=ref.method,
                stage=ref.stage,
                domain=domain,
                edit=table.surgery.edits[row],
                update=update,
            )
    if len(parts) == 2 and parts[0] == "judge" and parts[1] in table.judge.variants:
        return Checkpoint(key, "judge", variant=parts[1])
    raise ConfigError(
        f"result key {key!r} is not in {CHECKPOINTS_YAML.name}; known keys: {known_keys(table)}"
    )
