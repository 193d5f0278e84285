"""Every figure is written as a non-empty PDF and PNG with provenance; bad logs are named; drawn from the
fixture results and stage logs, every series a figure names has data, in training order, with its spread."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from experiments.figures import (
    dacsp_energy_figure,
    energy_frame,
    feasibility_figure,
    feasibility_frame,
    read_jsonl,
    reward_curves_figure,
    save_figure,
    stagewise_figure,
    surgery_figure,
    surgery_rank_figure,
    telemetry_rows,
)
from experiments.render import top_k_ranks
from experiments.stage_logs import reward_rows
from experiments.tables import build_table, load_paper, load_spec

PROV = {"profile": "smoke", "model": "smoke-llama", "date": "2025-01-02"}
FIXTURES = Path(__file__).parent / "fixtures"
ORDER = ("if", "chat", "math")  # the order the NVV and CARE-RL cascades train in


def series(fig) -> dict[str, list[float]]:
    """Every series a legend of ``fig`` names, with its finite values (line points or bar heights)."""
    out = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if isinstance(handle, ErrorbarContainer):
                ys = handle.lines[0].get_ydata()
            elif isinstance(handle, BarContainer):
                ys = [p.get_height() for p in handle.patches]
            else:
                ys = handle.get_ydata()
            out[label] = [float(y) for y in ys if np.isfinite(y)]
    return out


def notes(fig) -> list[str]:
    return [t.get_text() for t in fig.texts]


def saved(fig, name: str, out: Path) -> list[Path]:
    paths = save_figure(fig, name, out, **PROV)
    assert [p.name for p in paths] == [f"{name}.pdf", f"{name}.png", f"{name}.provenance.json"]
    assert paths[0].read_bytes().startswith(b"%PDF") and paths[1].read_bytes().startswith(b"\x89PNG")
    assert json.loads(paths[2].read_text())["files"].keys() == {f"{name}.pdf", f"{name}.png"}
    return paths


def test_stagewise_and_surgery_from_paper_tables(tmp_path):
    saved(stagewise_figure(load_paper("table4").set_index("method"), None, ORDER), "stagewise", tmp_path)
    table14 = load_paper("table14").set_index("method")
    fig = surgery_figure(table14, None, ("math", "chat", "if"))
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "Full update (Ret. Gain 100.0%)" and labels[1] == "Top only (Ret. Gain 91.0%)"
    # one bar per (edited row, domain): its change vs. Base; the paper's Top only M.Avg 59.6 vs 53.5
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 5 * 3 and heights[3] == pytest.approx(59.6 - 53.5)
    saved(fig, "surgery", tmp_path)
    with pytest.raises(ValueError, match="no base row 'Base'"):
        surgery_figure(table14.drop(index="Base"), None, ORDER)


def test_reward_curves_with_configurable_key(tmp_path):
    log = tmp_path / "log.jsonl"
    rows = [{"step": s, "train/if_reward": 0.1 * s, "loss": 1.0} for s in range(1, 6)] + [{"step": 6}]
    log.write_text("\n".join(json.dumps(r) for r in rows))
    fig = reward_curves_figure(read_jsonl(log), domains=["if"], key="train/{domain}_reward")
    assert fig.axes[0].lines[0].get_ydata().tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    saved(fig, "rewards", tmp_path)
    with pytest.raises(ValueError, match=r"rewards/if/mean"):
        reward_curves_figure(read_jsonl(log), domains=["if"])


def test_dacsp_energy(tmp_path):
    rows = [
        {
            "step": s,
            "space": space,
            "aligned": 0.02 + 0.001 * s,
            "opposing": 0.01,
            "orthogonal": 0.97 - 0.001 * s,
            "change": 0.01,
            "chance": 1e-4 if space == "layer" else 1e-3,
            **({"chance_step": 2e-3, "residual": 1e-4} if space == "layer" else {}),
        }
        for s in range(10)
        for space in ("layer", "factor")
        for _module in range(2)
    ]
    frame = energy_frame(rows)
    layer = frame.loc["layer"]
    assert list(layer.index) == list(range(10))
    assert layer["subspace"].tolist() == pytest.approx([0.03 + 0.001 * s for s in range(10)])
    fig = dacsp_energy_figure(frame)
    top = {line.get_label(): line.get_ydata().tolist() for line in fig.axes[0].lines}
    assert top["layer: chance K/D"] == pytest.approx([1e-4] * 10)
    assert top["layer: chance, random LoRA step"] == pytest.approx([2e-3] * 10)
    assert "factor: chance, random LoRA step" not in top  # factor space: K/D is the random-step level
    assert top["factor: aligned + opposing"] == pytest.approx(frame.loc["factor", "subspace"].tolist())
    assert fig.axes[0].get_yscale() == "log"
    saved(fig, "dacsp", tmp_path)
    with pytest.raises(ValueError, match="row 2: fractions"):
        energy_frame([rows[0], {"step": 1, "aligned": 0.5, "opposing": 0.5, "orthogonal": 0.5}])
    with pytest.raises(ValueError, match=r"row 1: missing \['opposing'\]"):
        energy_frame([{"step": 0, "aligned": 1.0, "orthogonal": 0.0}])


def test_telemetry_rows_flatten_both_spaces_and_read_the_earlier_format():
    from care_rl.dacsp.telemetry import step_record

    chance = {"layer": [0.1], "factor": [0.2], "step": [0.3]}
    record = step_record(4, "layer", ["m"], [[1.0, 2.0, 10.0, 1.0, 0.25, 3.0, 1.0, 20.0, 4.0, 0.0]], chance)
    idle = step_record(5, "layer", ["m"], [[0.0] * 10], chance)
    earlier = {
        "step": 1,
        "layers": {},
        "total": {"aligned": 0.5, "opposing": 0.25, "orthogonal": 0.25, "energy": 2.0},
    }
    rows, skipped = telemetry_rows([earlier, record, idle], offset=10)
    assert skipped == 1
    assert [(r["step"], r["space"], r["active"]) for r in rows] == [
        (11, "factor", True),
        (14, "layer", True),
        (14, "factor", False),
    ]
    layer = rows[1]
    assert (layer["aligned"], layer["opposing"], layer["orthogonal"]) == pytest.approx((0.1, 0.2, 0.7))
    assert (layer["change"], layer["residual"], layer["chance_step"]) == pytest.approx(
        (0.1**0.5, 0.025**0.5, 0.3)
    )
    assert "residual" not in rows[2] and rows[2]["change"] == pytest.approx(0.2**0.5)


def test_empty_frames_are_refused():
    with pytest.raises(ValueError, match="no domain-average columns"):
        stagewise_figure(pd.DataFrame({"x": [1.0]}), None, ORDER)


def test_stagewise_from_fixture_results_draws_every_domain_with_its_spread(tmp_path):
    frame, stds = build_table(load_spec("table4"), FIXTURES / "results")
    fig = stagewise_figure(frame, stds, ORDER)
    drawn = series(fig)
    assert list(drawn) == ["IF Avg", "C.Avg", "M.Avg"]  # as trained, not as the table's columns
    assert all(len(values) == len(frame.index) for values in drawn.values())
    bars = {c.get_label(): c for c in fig.axes[0].containers}
    low, high = (seg[:, 1] for seg in np.array(bars["M.Avg"].lines[2][0].get_segments()).transpose(1, 0, 2))
    # +- one avg@4 std; 0 where a fixture summary has no per-sample-set means
    assert high - low == pytest.approx(2 * stds["M.Avg"].fillna(0.0).to_numpy())
    assert notes(fig) == []
    saved(fig, "stagewise", tmp_path)


def test_stagewise_leaves_out_a_domain_without_numbers_and_says_so():
    """Smoke's random judge scores no chat benchmark: C.Avg must not be a legend entry without a line."""
    frame, stds = build_table(load_spec("table4"), FIXTURES / "results")
    frame["C.Avg"] = float("nan")
    fig = stagewise_figure(frame, stds, ORDER)
    assert list(series(fig)) == ["IF Avg", "M.Avg"]
    assert notes(fig) == ["no data, not drawn: C.Avg"]


def test_surgery_from_fixture_results_draws_every_edit_with_its_spread(tmp_path):
    """Table 14's checkpoints, each linked to a fixture summary (the fixtures hold no surgery runs)."""
    spec = load_spec("table14")
    sources = sorted((FIXTURES / "results").rglob("summary.json"))
    keys = sorted({k for row in spec.rows for k in [row.result, *(row.domain_results or {}).values()] if k})
    for i, key in enumerate(keys):
        (tmp_path / key).mkdir(parents=True)
        (tmp_path / key / "summary.json").write_text(sources[i % len(sources)].read_text())
    missing: list[str] = []
    frame, stds = build_table(spec, tmp_path, missing)
    fig = surgery_figure(frame, stds, ORDER)
    drawn = series(fig)
    assert [name.split(" (")[0] for name in drawn] == [r.label for r in spec.rows if r.label != "Base"]
    assert all(len(values) == 3 for values in drawn.values())
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["IF Avg", "C.Avg", "M.Avg"]
    bars = [c for c in fig.axes[0].containers if isinstance(c, BarContainer)]
    assert len(bars) == len(drawn) and all(c.errorbar is not None for c in bars)
    saved(fig, "surgery", tmp_path)


def test_rewards_from_fixture_stage_logs_in_training_order_with_visible_points(tmp_path):
    """A cascade's reward curves: the legend follows the training order (IF, Chat, Math), and a stage
    that logged one reward (one point) is drawn with a marker, not as an invisible zero-length line."""
    stages = sorted((FIXTURES / "stages").iterdir())
    fig = reward_curves_figure(reward_rows(stages), key="rewards_by_domain/{domain}/mean")
    drawn = series(fig)
    assert drawn == {"IF": [0.31, 0.35], "Chat": [0.52], "Math": [0.0, 0.125]}
    assert all(line.get_marker() not in (None, "None", "") for line in fig.axes[0].lines)
    assert [line.get_xdata().tolist() for line in fig.axes[0].lines] == [[1, 3], [5], [7, 9]]
    saved(fig, "rewards", tmp_path)


def test_cli_draws_a_cascade_end_to_end_from_its_stage_folders(tmp_path, capsys, monkeypatch):
    """``--stages``: the DACSP telemetry of every stage, each stage's steps after the previous stage's
    (as make figures draws the CARE-RL cascade), so a later stage's log is not drawn over the first's."""
    from experiments import figures

    stages = []
    for i, steps in enumerate((3, 2)):
        d = tmp_path / f"stage{i}"
        d.mkdir()
        (d / "metrics.json").write_text(json.dumps({"global_step": steps}))
        total = {"aligned": 0.01 * (i + 1), "opposing": 0.0, "orthogonal": 1 - 0.01 * (i + 1), "energy": 1.0}
        records = [{"step": s, "layers": {}, "total": total} for s in range(1, steps + 1)]
        (d / "dacsp.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        stages.append(d)
    drawn = []
    draw = figures.dacsp_energy_figure
    monkeypatch.setattr(figures, "dacsp_energy_figure", lambda frame: drawn.append(frame) or draw(frame))
    out = tmp_path / "out"
    assert (
        figures.main(["dacsp", "--profile", "smoke", "--stages", *map(str, stages), "--out", str(out)]) == 0
    )
    assert (out / "dacsp.png").is_file()
    factor = drawn[0].loc["factor"]
    assert list(factor.index) == [1, 2, 3, 4, 5]  # the second stage's steps 1-2 continue at 4-5
    assert factor["aligned"].tolist() == pytest.approx([0.01, 0.01, 0.01, 0.02, 0.02])
    assert figures.main(["dacsp", "--profile", "smoke", "--out", str(out)]) == 2
    assert "needs --log or --stages" in capsys.readouterr().err
    assert figures.main(["dacsp", "--profile", "smoke", "--stages", str(tmp_path), "--out", str(out)]) == 2
    assert "no metrics.json" in capsys.readouterr().err


def test_rewards_leave_out_a_domain_the_log_never_scored_and_say_so():
    """Smoke's random judge gives chat no reward: the log names the key with None (or NaN) only."""
    key = "rewards_by_domain/{domain}/mean"
    rows = [
        {"step": 1, key.format(domain="if"): 0.5},
        {"step": 3, key.format(domain="chat"): None},
        {"step": 4, key.format(domain="chat"): float("nan")},
        {"step": 5, key.format(domain="math"): 0.0},
    ]
    fig = reward_curves_figure(rows, key=key)
    assert series(fig) == {"IF": [0.5], "Math": [0.0]}
    assert notes(fig) == ["no data, not drawn: Chat"]


def test_surgery_notes_a_domain_no_edit_has_a_number_for():
    spec = load_spec("table14")
    frame = pd.DataFrame(
        {
            "M.Avg": [10.0] * len(spec.rows),
            "C.Avg": [float("nan")] * len(spec.rows),
            "IF Avg": [20.0] * len(spec.rows),
        },
        index=[r.label for r in spec.rows],
    )
    fig = surgery_figure(frame, None, ORDER)
    assert all(values == [0.0, 0.0] for values in series(fig).values())  # zero changes, still drawn
    assert notes(fig) == ["no data, not drawn: C.Avg"]


def feasibility_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 3's shape: Base and three single-domain rows, domain averages with avg@4 stds."""
    cols = ["M.Avg", "C.Avg", "IF Avg"]
    means = pd.DataFrame(
        [[10.0, 40.0, 20.0], [16.0, 39.0, 19.0], [9.0, 41.0, 20.5], [10.5, 40.0, 31.0]],
        index=["Base", "Math-only", "Chat-only", "IF-only"],
        columns=cols,
    )
    stds = pd.DataFrame(
        [[2.0, 1.0, 4.0], [2.0, 1.0, 4.0], [2.0, 1.0, 4.0], [2.0, 1.0, 3.0]], index=means.index, columns=cols
    )
    return means, stds


TARGETS = {"Math-only": "math", "Chat-only": "chat", "IF-only": "if"}


def test_feasibility_frame_measures_each_gain_in_base_stds() -> None:
    means, stds = feasibility_table()
    feas = feasibility_frame(means, stds, TARGETS)
    assert feas.loc["Math-only", ["gain", "base_std", "gain_in_base_stds"]].tolist() == [6.0, 2.0, 3.0]
    assert feas.loc["Chat-only", "gain_in_base_stds"] == 1.0
    assert feas.loc["IF-only", "gain_in_base_stds"] == 11.0 / 4.0  # the base row's std, not the stage's
    assert feas["clears"].to_dict() == {"Math-only": True, "Chat-only": False, "IF-only": True}


def test_feasibility_figure_draws_every_domain_change_and_the_bar_to_clear(tmp_path: Path) -> None:
    means, stds = feasibility_table()
    fig = feasibility_figure(means, stds, TARGETS, ORDER)
    drawn = series(fig)
    # one series per domain, one bar per stage in training order (IF, Chat, Math)
    assert drawn["IF Avg"] == [11.0, 0.5, -1.0]
    assert drawn["M.Avg"] == [0.5, -1.0, 6.0]
    lines = [c for c in fig.axes[0].collections if c.get_linestyle()[0][1] is not None]
    heights = sorted(float(seg[0][1]) for c in lines for seg in c.get_segments())
    assert heights == [2.0, 4.0, 8.0]  # 2 x the base std of chat, math, IF
    saved(fig, "feasibility", tmp_path)


def test_feasibility_figure_names_a_missing_row() -> None:
    means, stds = feasibility_table()
    with pytest.raises(ValueError, match="Chat-only"):
        feasibility_figure(means.drop(index="Chat-only"), stds, TARGETS, ORDER)


def rank_sweep_frame(math_full: float = 20.0) -> pd.DataFrame:
    """A rank-sweep frame (experiments/tables/surgery_rank.yaml): Base 10/20, the full update math_full/30."""
    rows = {
        "Base": (10.0, 20.0, 0.0, 0.0),
        "Full update": (math_full, 30.0, 100.0, 100.0),
        "Top k=1": (16.0, 24.0, 40.0, 30.0),
        "Top k=2": (18.0, 26.0, 60.0, 50.0),
        "Top k=4": (19.0, 28.0, 80.0, 75.0),
        "Top k=8": (20.0, 29.0, 95.0, 90.0),
        "Top (tau)": (20.0, 29.0, 92.0, 91.0),
    }
    columns = ["M.Avg", "IF Avg", "M.Energy (%)", "IF Energy (%)"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


RANKS = {"Top k=1": 1, "Top k=2": 2, "Top k=4": 4, "Top k=8": 8, "Top (tau)": None}


def test_surgery_rank_draws_gain_and_energy_per_k_for_every_domain(tmp_path):
    fig = surgery_rank_figure(rank_sweep_frame(), RANKS, ORDER)
    drawn = series(fig)
    assert drawn == {  # legends in training order (IF before math); every series has every point
        "IF: Ret. Gain": pytest.approx([40.0, 60.0, 80.0, 90.0]),
        "IF: energy held": [30.0, 50.0, 75.0, 90.0],
        "IF: Ret. Gain, Top (tau)": pytest.approx([90.0]),
        "IF: energy held, Top (tau)": [91.0],
        "Math: Ret. Gain": pytest.approx([60.0, 80.0, 90.0, 100.0]),
        "Math: energy held": [40.0, 60.0, 80.0, 95.0],
        "Math: Ret. Gain, Top (tau)": pytest.approx([100.0]),
        "Math: energy held, Top (tau)": [92.0],
    }
    assert next(iter(drawn)) == "IF: Ret. Gain"
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "8", "Top (tau)"]
    assert top_k_ranks(load_spec("surgery_rank")) == RANKS  # the rows the run hands the figure
    assert notes(fig) == []
    saved(fig, "surgery_rank", tmp_path)


def test_surgery_rank_without_a_gain_draws_the_energy_and_says_why():
    fig = surgery_rank_figure(rank_sweep_frame(math_full=9.0), RANKS, ORDER)  # math lost: no Ret. Gain
    drawn = series(fig)
    assert "Math: Ret. Gain" not in drawn and drawn["Math: energy held"] == [40.0, 60.0, 80.0, 95.0]
    assert notes(fig) == ["Ret. Gain undefined, the full update did not gain: Math"]
    with pytest.raises(ValueError, match=r"lacks row\(s\) \['Top k=8'\]"):
        surgery_rank_figure(rank_sweep_frame().drop(index="Top k=8"), RANKS, ORDER)
