"""A paper table as data: ``experiments/tables/<name>.yaml`` names its rows (the result key each row
reads), its columns (metric names from experiments.metrics), the reference rows some metrics need
(base for OOD Change and Ret. Gain, full update for Ret. Gain) and which rows are trained once per
training seed (``seeded``). Rendering: experiments.tables.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from care_rl.config import ConfigError, Strict, read_yaml, validate
from experiments import metrics as m
from experiments.checkpoints import Seeds
from experiments.paths import TABLE_SPECS_DIR


class RowSpec(Strict):
    """One row. ``result`` is the checkpoint key; ``domain_results`` takes each domain average from
    its own checkpoint (Table 14: each column is a different single-domain update);
    ``reg_after`` maps each previously trained domain to the checkpoint saved right after its stage.
    A ``seeded`` row is trained once per training seed (experiments/runner.yaml ``seeds``): each of
    its cells is the mean over seeds of the per-seed value, printed with the std over seeds."""

    label: str
    result: str | None = None
    domain_results: dict[str, str] | None = None
    reg_after: dict[str, str] | None = None
    ood_target: str | None = None
    seeded: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> RowSpec:
        if (self.result is None) == (self.domain_results is None):
            raise ValueError(f"row {self.label!r}: give exactly one of 'result' and 'domain_results'")
        for domains in (self.domain_results or {}, self.reg_after or {}):
            unknown = sorted(set(domains) - set(m.DOMAIN_AVG))
            if unknown:
                raise ValueError(f"row {self.label!r}: unknown domain(s) {unknown}")
        if self.ood_target is not None and self.ood_target not in m.DOMAIN_AVG:
            raise ValueError(f"row {self.label!r}: unknown ood_target {self.ood_target!r}")
        return self

    @property
    def keys(self) -> list[str]:
        """Every result key the row reads: its checkpoint(s) and those Reg. compares against."""
        keys = [self.result] if self.result else list((self.domain_results or {}).values())
        return keys + list((self.reg_after or {}).values())

    def replicates(self, seeds: Seeds | None) -> list[tuple[int | None, RowSpec]]:
        """The row at each training seed it is read at, each with its keys naming that seed's
        replicate; an unseeded row (or no ``seeds``) is read once, at the plain keys."""
        if seeds is None or not self.seeded:
            return [(None if seeds is None else seeds.plain, self)]

        def keyed(keys: dict[str, str] | None, seed: int) -> dict[str, str] | None:
            return None if keys is None else {d: seeds.key(k, seed) for d, k in keys.items()}

        return [
            (
                seed,
                self.model_copy(
                    update={
                        "result": None if self.result is None else seeds.key(self.result, seed),
                        "domain_results": keyed(self.domain_results, seed),
                        "reg_after": keyed(self.reg_after, seed),
                    }
                ),
            )
            for seed in seeds.all
        ]


class TableSpec(Strict):
    """One paper table: rows, columns, reference rows, and whether cells carry a std."""

    name: str
    title: str
    row_header: str = "Method"
    columns: list[str]
    rows: list[RowSpec]
    show_std: bool = False
    base: str | None = None
    full: str | None = None
    no_bold: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> TableSpec:
        unknown = [c for c in self.columns if c not in m.KNOWN_COLUMNS]
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}; known: {sorted(m.KNOWN_COLUMNS)}")
        labels = [r.label for r in self.rows]
        if len(set(labels)) != len(labels):
            raise ValueError(f"duplicate row labels in {labels}")
        for field in ("base", "full"):
            if getattr(self, field) is not None and getattr(self, field) not in labels:
                raise ValueError(f"{field} {getattr(self, field)!r} is not a row label ({labels})")
        if m.OOD in self.columns and self.base is None:
            raise ValueError(f"column {m.OOD!r} needs 'base' (the base-model row)")
        if m.RET_GAIN in self.columns and (self.base is None or self.full is None):
            raise ValueError(f"column {m.RET_GAIN!r} needs 'base' and 'full' rows")
        missing = sorted(set(self.no_bold) - set(labels))
        if missing:
            raise ValueError(f"no_bold names unknown rows {missing}")
        seeded = [r.label for r in self.rows if r.seeded]
        if seeded and self.show_std:
            raise ValueError(
                f"rows {seeded} are seeded and show_std is on: a cell prints one spread, either the "
                "std over training seeds or the std over sample sets"
            )
        return self


def load_spec(name: str) -> TableSpec:
    """Read and validate ``experiments/tables/<name>.yaml``."""
    path = TABLE_SPECS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in TABLE_SPECS_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown table {name!r} ({path} not found); known tables: {known}")
    spec: TableSpec = validate(TableSpec, read_yaml(path), path)
    if spec.name != name:
        raise ConfigError(f"{path}: name {spec.name!r} does not match the file name {name!r}")
    return spec
