"""Table specs -> numbers, bold, LaTeX structure, CSV/provenance files, and the paper comparison."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from care_rl.config import ConfigError
from care_rl.revision import git_commit
from experiments import metrics as m
from experiments.paths import TABLE_SPECS_DIR
from experiments.provenance import RunStamp
from experiments.tables import (
    TableSpec,
    best_mask,
    build_table,
    compare_paper,
    load_paper,
    load_spec,
    main,
    to_latex,
    write_table,
)

FIXTURES = Path(__file__).parent / "fixtures" / "results"


BEYOND_PAPER = ["surgery_rank"]  # specs of tables the paper does not have: no published numbers


def test_every_spec_loads_and_has_published_numbers():
    names = sorted(p.stem for p in TABLE_SPECS_DIR.glob("*.yaml"))
    assert names == sorted([*(f"table{n}" for n in (2, 3, 4, 5, 6, 7, *range(8, 15))), *BEYOND_PAPER])
    for name in BEYOND_PAPER:
        load_spec(name)
    for name in sorted(set(names) - set(BEYOND_PAPER)):
        spec = load_spec(name)
        paper = load_paper(name)
        assert set(spec.columns) <= set(paper.columns), name
        assert [r.label for r in spec.rows] == paper["method"].drop_duplicates().tolist(), name


def test_table2_from_fixtures_reproduces_the_papers_qwen3_rows():
    """The fixtures hold Table 2's Qwen3-4B benchmark scores; every average must come back."""
    ours, stds = build_table(load_spec("table2"), FIXTURES)
    paper = load_paper("table2")
    paper = paper[paper["source"] == "paper (Qwen3-4B)"].set_index("method")[ours.columns]
    pd.testing.assert_frame_equal(ours, paper, check_names=False, atol=0.1)
    assert stds.loc["CARE-RL", "AIME"] == pytest.approx(3.19)
    assert stds.loc["Base", "M.Avg"] > 0  # from the fixtures' per-sample-set means


def test_table4_from_fixtures_regression():
    ours, _ = build_table(load_spec("table4"), FIXTURES)
    assert ours.loc["After Chat", m.REG] == pytest.approx(38.6 - 36.9)
    assert ours.loc["After Math", m.REG] == pytest.approx(((38.6 - 36.7) + (43.4 - 42.1)) / 2)
    assert ours.loc["After IF", m.REG] == 0.0 and pd.isna(ours.loc["CARE-RL", m.REG])


def write_summary(path: Path, domain_avgs: dict[str, float]) -> None:
    """A summary whose benchmarks all sit at their domain's average."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bench = {c: {"mean": domain_avgs[d]} for d, cols in m.DOMAIN_BENCHMARKS.items() for c in cols}
    path.write_text(json.dumps(bench))


def test_table14_surgery_takes_each_column_from_its_own_checkpoint(tmp_path):
    paper = load_paper("table14").set_index("method")
    spec = load_spec("table14")
    for row in spec.rows:
        sources = row.domain_results or {d: row.result for d in m.DOMAIN_AVG}
        for domain, key in sources.items():
            avgs = dict.fromkeys(m.DOMAIN_AVG, 0.0) | {domain: paper.loc[row.label, m.DOMAIN_AVG[domain]]}
            if row.result is not None:
                avgs = {d: paper.loc[row.label, c] for d, c in m.DOMAIN_AVG.items()}
            write_summary(tmp_path / key / "summary.json", avgs)
    ours, _ = build_table(spec, tmp_path)
    assert ours[m.RET_GAIN].round(1).tolist()[1:] == pytest.approx([100.0, 91.0, 4.9, 1.4, 86.5], abs=0.15)
    assert pd.isna(ours.loc["Base", m.RET_GAIN])


def test_table14_ret_gain_is_left_out_with_a_reason_when_a_full_update_lost(tmp_path):
    spec = load_spec("table14")
    base = {"math": 4.0, "chat": 38.0, "if": 22.0}
    full = {"math": 3.0, "chat": 39.0, "if": 25.0}  # the math-only run lowered M.Avg
    for row in spec.rows:
        for key in (row.domain_results or {"all": row.result}).values():
            write_summary(tmp_path / key / "summary.json", base if row.label == "Base" else full)
    missing: list[str] = []
    ours, _ = build_table(spec, tmp_path, missing)
    assert ours[m.RET_GAIN].isna().all()
    assert ours.loc["Full update", "M.Avg"] == 3.0  # the edited checkpoints' scores still show
    assert len(missing) == len(spec.rows) - 1
    assert all("Ret. Gain" in note and "'math'" in note for note in missing)
    with pytest.raises(ValueError, match="did not raise it"):
        build_table(spec, tmp_path)


def test_surgery_rank_ret_gain_and_energy_columns(tmp_path):
    """Fixture numbers: Base 10/20, full update 20/30 (math/IF); top-k rows keep 5, 7, 9, 10 of the
    10-point gain. The energy columns are the rows' keys' energies; they are never bold."""
    spec = load_spec("surgery_rank")
    base, full = {"math": 10.0, "chat": 38.0, "if": 20.0}, {"math": 20.0, "chat": 38.0, "if": 30.0}
    kept = {"Top k=1": 5.0, "Top k=2": 7.0, "Top k=4": 9.0, "Top k=8": 10.0, "Top (tau)": 10.0}
    energies = {"base": 0.0, "math-only": 100.0, "if-only": 100.0}
    for row in spec.rows:
        for domain, key in (row.domain_results or {"math": row.result}).items():
            if row.label == "Base":
                scores = base
            elif row.label == "Full update":
                scores = full
            else:
                scores = {d: base[d] + kept[row.label] for d in base}
                energies[key] = 40.0 + kept[row.label] + (1.0 if domain == "if" else 0.0)
            write_summary(tmp_path / key / "summary.json", scores)
    ours, _ = build_table(spec, tmp_path, energies=energies)
    assert ours[m.RET_GAIN].tolist()[1:] == pytest.approx([100.0, 50.0, 70.0, 90.0, 100.0, 100.0])
    assert ours["M.Energy (%)"].tolist() == pytest.approx([0.0, 100.0, 45.0, 47.0, 49.0, 50.0, 50.0])
    assert ours["IF Energy (%)"].tolist() == pytest.approx([0.0, 100.0, 46.0, 48.0, 50.0, 51.0, 51.0])
    assert list(ours.columns) == ["M.Avg", "IF Avg", m.RET_GAIN, "M.Energy (%)", "IF Energy (%)"]
    assert not best_mask(ours, spec.no_bold)[["M.Energy (%)", "IF Energy (%)"]].any().any()
    # the energies come from adapters, not summaries: without them a cell is named, or an error
    with pytest.raises(ConfigError, match=r"no M.Energy \(%\) for 'base'.*experiments.run"):
        build_table(spec, tmp_path)
    missing: list[str] = []
    partial, _ = build_table(
        spec, tmp_path, missing, energies={k: v for k, v in energies.items() if "k1" not in k}
    )
    assert partial.loc["Top k=1", ["M.Energy (%)", "IF Energy (%)"]].isna().all()
    assert len(missing) == 2 and all("'Top k=1'" in note for note in missing)


def test_table3_ood_change(tmp_path):
    paper = load_paper("table3").set_index("method")
    spec = load_spec("table3")
    for row in spec.rows:
        write_summary(
            tmp_path / row.result / "summary.json",
            {d: paper.loc[row.label, c] for d, c in m.DOMAIN_AVG.items()},
        )
    ours, _ = build_table(spec, tmp_path)
    assert ours[m.OOD].tolist()[1:4] == pytest.approx([-1.0, 0.05, -0.95], abs=1e-9)


def test_missing_column_is_named(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "summary.json").write_text(json.dumps({"gsm8k": {"mean": 50.0}}))
    spec = TableSpec(
        name="t", title="t", columns=["GSM", "M.Avg"], rows=[{"label": "Base", "result": "base"}]
    )
    with pytest.raises(ConfigError, match=r"row 'Base': results lack column\(s\) \['M.Avg'\]"):
        build_table(spec, tmp_path)


def test_spec_validation_names_the_problem():
    with pytest.raises(ValueError, match="unknown column"):
        TableSpec(name="t", title="t", columns=["Speed"], rows=[{"label": "A", "result": "a"}])
    with pytest.raises(ValueError, match="needs 'base'"):
        TableSpec(
            name="t", title="t", columns=[m.OOD], rows=[{"label": "A", "result": "a", "ood_target": "math"}]
        )
    with pytest.raises(ValueError, match="exactly one of"):
        TableSpec(name="t", title="t", columns=["GSM"], rows=[{"label": "A"}])
    with pytest.raises(ConfigError, match="unknown table 'table99'"):
        load_spec("table99")


def test_bold_is_best_per_column_with_direction_and_ties():
    df = pd.DataFrame(
        {"M.Avg": [50.0, 60.04, 59.96], "Reg.": [0.0, 1.5, 0.7], "note": [1.0, 2.0, 3.0]},
        index=["Base", "A", "B"],
    )
    mask = best_mask(df, exclude=["Base"])
    assert mask["M.Avg"].tolist() == [False, True, True]  # 60.0 and 60.0 as printed: a tie
    assert mask["Reg."].tolist() == [False, False, True]  # lower is better; Base excluded
    assert not mask["note"].any()  # unknown direction: never bold


def test_latex_structure_and_escaping():
    df = pd.DataFrame(
        {"M.Avg": [1.0, 2.0], m.RET_GAIN: [50.0, 91.0]}, index=pd.Index(["w/o PA_GRM", "A&B"], name="Row")
    )
    stds = df * 0 + 0.25
    tex = to_latex(df, stds, "Run 50% of qwen_3 & co", "tab:x")
    lines = tex.splitlines()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrr}", r"\end{tabular}"):
        assert rule in lines
    assert lines.index(r"\toprule") < lines.index(r"\midrule") < lines.index(r"\bottomrule")
    assert r"\caption{Run 50\% of qwen\_3 \& co}" in tex
    assert r"Ret. Gain (\%)" in tex and r"w/o PA\_GRM" in tex and r"A\&B" in tex
    assert r"\bfseries 91.0 (0.25)" in tex and r"\bfseries 2.0 (0.25)" in tex
    body = lines[lines.index(r"\toprule") + 1 : lines.index(r"\bottomrule")]
    for line in (x for x in body if x != r"\midrule"):
        assert len(re.findall(r"(?<!\\)&", line)) == 2 and line.endswith(r"\\")
    assert tex.count("{") == tex.count("}")


def test_write_table_files_and_compare(tmp_path, capsys):
    spec = load_spec("table2")
    df, _ = build_table(spec, FIXTURES)
    paths = write_table(
        "table2", df, "smoke", "smoke-llama", "2025-01-02", tmp_path, paper=load_paper("table2")
    )
    assert [p.name for p in paths] == ["table2.tex", "table2.csv", "table2.provenance.json"]
    tex = paths[0].read_text()
    assert "profile smoke, model smoke-llama, 2025-01-02" in tex
    csv = pd.read_csv(paths[1])
    assert csv["source"].tolist()[:7] == ["ours (smoke, smoke-llama)"] * 7 and len(csv) == 7 + 14
    prov = json.loads(paths[2].read_text())
    assert (
        prov["profile"] == "smoke"
        and prov["date"] == "2025-01-02"
        and set(prov["files"]) == {"table2.tex", "table2.csv"}
    )
    assert re.fullmatch(r"([0-9a-f]{40}(-dirty)?|unknown)", prov["commit"])
    both = compare_paper("table2", tables_dir=tmp_path)
    assert len(both) == 7 + 14
    assert "paper (Qwen3-4B)" in capsys.readouterr().out


def test_cli_build_then_compare(tmp_path, capsys):
    assert (
        main(["build", "table5", "--profile", "smoke", "--results", str(FIXTURES), "--out", str(tmp_path)])
        == 2
    )
    assert "care-rl-no-pagrm/math/summary.json: eval summary not found" in capsys.readouterr().err
    assert (
        main(["build", "table11", "--profile", "smoke", "--results", str(FIXTURES), "--out", str(tmp_path)])
        == 0
    )
    assert main(["compare", "--tables", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "== table11 ==" in out and "80.1" in out


def test_provenance_names_the_run_not_the_render(tmp_path):
    """A table rendered at the end of a long run carries the run's start commit and whole wall time;
    a HEAD that moved on during the run is recorded beside it, not in its place."""
    started = RunStamp("0" * 40, "2025-01-02T03:04:05+00:00", time.monotonic() - 100.0)
    df, _ = build_table(load_spec("table2"), FIXTURES)
    paths = write_table("table2", df, "smoke", "smoke-llama", "2025-01-02", tmp_path, run=started)
    prov = json.loads(paths[-1].read_text())
    assert prov["commit"] == "0" * 40 and prov["started_at"] == "2025-01-02T03:04:05+00:00"
    assert 100.0 <= prov["wall_time_s"] < 1000.0
    assert prov["render_commit"] == git_commit() != "0" * 40


def test_reg_without_a_chat_score_is_a_note_in_words(tmp_path):
    """A smoke judge that never parses leaves the chat benchmarks unscored, hence no C.Avg: Table 4's Reg.
    after math is left out with a note a user can read (it once said ``(KeyError('C.Avg'))``)."""
    spec = load_spec("table4")
    for key in {k for row in spec.rows for k in [row.result, *(row.reg_after or {}).values()] if k}:
        bench = {c: {"mean": 20.0} for c in m.BENCHMARK_COLUMNS if c not in m.DOMAIN_BENCHMARKS["chat"]}
        (tmp_path / key).mkdir(parents=True, exist_ok=True)
        (tmp_path / key / "summary.json").write_text(json.dumps(bench))
    missing: list[str] = []
    ours, _ = build_table(spec, tmp_path, missing)
    assert ours.loc["After Chat", m.REG] == 0.0  # only IF came before chat: IF Avg is there
    assert pd.isna(ours.loc["After Math", m.REG])
    reg = [note for note in missing if "Reg." in note]
    assert reg == [
        "table table4, row 'After Math': Reg. not computable: needs ['C.Avg']: the checkpoint has "
        "no C.Avg; the checkpoint after the chat stage has no C.Avg"
    ]
    assert not any("Error(" in note for note in missing)
    with pytest.raises(m.Undefined, match=r"has no C\.Avg"):
        build_table(spec, tmp_path)
