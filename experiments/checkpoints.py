"""Result keys: what a table row reads, as a small typed value, and what produces it.

An experiment has one name, its method file's (``experiments/methods/<name>.yaml``); a result key is
derived from it and names the folder the result is linked to (``<results>/<key>/``). A key is parsed
once into a ``Checkpoint`` and written back from its fields (``Checkpoint.key``):

    base                       the profile's policy, no adapter
    <method>                   the adapter after the method's last stage
    <method>/<domain>          the adapter after the first stage of <method> that trains <domain>
    <key>@<domain>             that checkpoint evaluated on <domain>'s benchmarks only: Reg. (Tables 4,
                               7) reads one domain average from each intermediate checkpoint, so
                               evaluating the other two domains there would cost most of an
                               evaluation for numbers no table prints
    surgery/<domain>/<edit>    Table 14: a checkpoint-surgery edit of <domain>'s single-domain update
                               (experiments/checkpoints.yaml), evaluated on <domain> only
    surgery/<domain>/<edit>-k<rank>  the same edit on a fixed number of directions per layer instead
                               of the energy rule (the rank sweep: keep_top-k4)
    judge/<variant>            Table 6: a reward-judge variant's accuracy (experiments/checkpoints.yaml)
    order/<method>/<d1-d2-d3>  the order sweep: <method>'s last stage, trained in that domain order
    seed/<n>/<key>             a replicate of a stage checkpoint <key> whose cascade trained with
                               ``dapo.seed`` n instead of the profile's: the training seeds of a table's
                               seeded rows (experiments/runner.yaml ``seeds``; ``Seeds``). The replicate
                               of the profile's own seed is the plain key, so every reader of one
                               seed reads what it read before seeds existed

Unknown keys fail naming what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from pydantic import Field

from care_rl.config import DOMAINS, ConfigError, Strict, read_yaml, validate
from experiments.paths import CHECKPOINTS_YAML, METHODS_DIR

BASE = "base"
SEED = "seed"
RANK_SEP = "-k"  # surgery/<domain>/<edit>-k<rank>: edit names hold no '-'


class SurgerySpec(Strict):
    updates: dict[str, str]  # target domain -> the single-domain method whose update is edited


class JudgeStudySpec(Strict):
    variants: list[str] = Field(min_length=1)


class CheckpointTable(Strict):
    surgery: SurgerySpec
    judge: JudgeStudySpec


@dataclass(frozen=True)
class Checkpoint:
    """A result key, parsed. ``method`` is the method file that trains it (for surgery: the method of
    the edited update); ``stage`` a domain of its order (None: its last stage); ``domain`` restricts the
    evaluation to that domain's benchmarks; ``order`` the order-sweep's domain order."""

    kind: Literal["base", "stage", "surgery", "judge"]
    method: str | None = None
    stage: str | None = None
    domain: str | None = None
    edit: str | None = None  # surgery: a care_rl.dacsp checkpoint-surgery edit
    rank: int | None = None  # surgery: directions per layer (None: the energy rule at dacsp.tau)
    variant: str | None = None  # judge
    order: tuple[str, ...] | None = None
    seed: int | None = None  # a stage's training seed (dapo.seed); None: the profile's

    @property
    def key(self) -> str:
        if self.seed is not None:
            return f"{SEED}/{self.seed}/{replace(self, seed=None).key}"
        if self.kind == "judge":
            return f"judge/{self.variant}"
        if self.kind == "surgery":
            rank = "" if self.rank is None else f"{RANK_SEP}{self.rank}"
            return f"surgery/{self.domain}/{self.edit}{rank}"
        if self.kind == "base":
            name = BASE
        elif self.order is not None:
            name = f"order/{self.method}/{'-'.join(self.order)}"
        else:
            name = f"{self.method}/{self.stage}" if self.stage else str(self.method)
        return name + (f"@{self.domain}" if self.domain else "")


def load_table(path: Path = CHECKPOINTS_YAML) -> CheckpointTable:
    table: CheckpointTable = validate(CheckpointTable, read_yaml(path), path)
    for domain, method in table.surgery.updates.items():
        if domain not in DOMAINS:
            raise ConfigError(f"{path}: surgery.updates: unknown domain {domain!r}; known: {list(DOMAINS)}")
        _check_method(method, f"{path}: surgery.updates.{domain}")
    return table


def _check_method(name: str, where: str) -> None:
    if not (METHODS_DIR / f"{name}.yaml").is_file():
        known = sorted(p.stem for p in METHODS_DIR.glob("*.yaml"))
        raise ConfigError(f"{where}: no method {name!r} (experiments/methods/); known methods: {known}")


def _check_domain(domain: str, where: str) -> None:
    if domain not in DOMAINS:
        raise ConfigError(f"{where}: unknown domain {domain!r}; known: {list(DOMAINS)}")


def split_edit(name: str, where: str) -> tuple[str, int | None]:
    """A surgery key's last part: the edit and its fixed rank (``keep_top-k4`` -> keep_top, 4), or the
    edit alone (the energy rule). A rank is a positive integer written without leading zeros, so a key
    is written back as it was read."""
    edit, sep, rank = name.partition(RANK_SEP)
    if not sep:
        return edit, None
    if not re.fullmatch(r"[1-9][0-9]*", rank):
        raise ConfigError(
            f"{where}: rank {rank!r} after {RANK_SEP!r} is not a positive integer "
            f"(surgery/<domain>/<edit>{RANK_SEP}<rank>, e.g. keep_top{RANK_SEP}4)"
        )
    return edit, int(rank)


def resolve(key: str, table: CheckpointTable) -> Checkpoint:
    """The checkpoint result ``key`` names (grammar: module docstring)."""
    where = f"result key {key!r}"
    head, _, seeded = key.partition("/")
    if head == SEED:
        number, _, inner = seeded.partition("/")
        if not number.isdigit() or not inner:
            raise ConfigError(f"{where}: expected {SEED}/<training seed>/<key>, e.g. {SEED}/43/nvv/math")
        checkpoint = resolve(inner, table)
        if checkpoint.kind != "stage" or checkpoint.seed is not None:
            raise ConfigError(f"{where}: only a trained checkpoint (<method>[/<domain>]) has a training seed")
        return replace(checkpoint, seed=int(number))
    inner, at, only = key.partition("@")
    if at:
        _check_domain(only, f"{where}: after '@'")
        checkpoint = resolve(inner, table)
        if checkpoint.kind not in ("base", "stage"):
            raise ConfigError(f"{where}: only base and stage checkpoints take '@<domain>'")
        return replace(checkpoint, domain=only)
    head, *rest = inner.split("/")
    if head == BASE and not rest:
        return Checkpoint("base")
    if head == "surgery" and len(rest) == 2:
        domain, edit = rest
        if domain not in table.surgery.updates:
            raise ConfigError(
                f"{where}: no single-domain update for {domain!r} ({CHECKPOINTS_YAML.name} surgery.updates)"
            )
        edit, rank = split_edit(edit, where)
        method = table.surgery.updates[domain]
        return Checkpoint("surgery", method=method, domain=domain, edit=edit, rank=rank)
    if head == "judge" and len(rest) == 1:
        if rest[0] not in table.judge.variants:
            raise ConfigError(f"{where}: unknown judge variant; known: {table.judge.variants}")
        return Checkpoint("judge", variant=rest[0])
    if head == "order" and len(rest) == 2:
        _check_method(rest[0], where)
        order = tuple(rest[1].split("-"))
        for domain in order:
            _check_domain(domain, where)
        return Checkpoint("stage", method=rest[0], order=order)
    if len(rest) <= 1:
        _check_method(head, where)
        if rest:
            _check_domain(rest[0], where)
        return Checkpoint("stage", method=head, stage=rest[0] if rest else None)
    raise ConfigError(
        f"{where}: expected base, <method>[/<domain>][@<domain>], surgery/<domain>/<edit>[-k<rank>], "
        "judge/<variant>, order/<method>/<d1-d2-d3> or seed/<n>/<key>"
    )


@dataclass(frozen=True)
class Seeds:
    """The training seeds of a table's seeded rows (experiments/runner.yaml ``seeds``). ``plain`` is
    the profile's ``dapo.seed``: its replicate is the plain result key, the one unseeded rows read."""

    plain: int
    all: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.plain not in self.all or len(set(self.all)) != len(self.all):
            raise ConfigError(
                f"training seeds {list(self.all)}: give distinct seeds including the profile's "
                f"dapo.seed {self.plain} (its replicate is the plain result key unseeded rows read)"
            )

    def key(self, key: str, seed: int) -> str:
        """The result key of ``key``'s checkpoint trained with ``seed``."""
        return key if seed == self.plain else f"{SEED}/{seed}/{key}"
