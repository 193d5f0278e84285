"""Every figure is written as a non-empty PDF and PNG with provenance; bad logs are named."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from experiments.figures import (
    dacsp_energy_figure,
    energy_frame,
    read_jsonl,
    reward_curves_figure,
    save_figure,
    stagewise_figure,
    surgery_figure,
)
from experiments.tables import load_paper

PROV = {"profile": "smoke", "model": "smoke-llama", "date": "2025-01-02"}


def saved(fig, name: str, out: Path) -> list[Path]:
    paths = save_figure(fig, name, out, **PROV)
    assert [p.name for p in paths] == [f"{name}.pdf", f"{name}.png", f"{name}.provenance.json"]
    assert paths[0].read_bytes().startswith(b"%PDF") and paths[1].read_bytes().startswith(b"\x89PNG")
    assert json.loads(paths[2].read_text())["files"].keys() == {f"{name}.pdf", f"{name}.png"}
    return paths


def test_stagewise_and_surgery_from_paper_tables(tmp_path):
    saved(stagewise_figure(load_paper("table4").set_index("method")), "stagewise", tmp_path)
    table14 = load_paper("table14").set_index("method")
    fig = surgery_figure(table14)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "Full update (Ret. Gain 100.0%)" and labels[1] == "Top only (Ret. Gain 91.0%)"
    # one bar per (edited row, domain): its change vs. Base; the paper's Top only M.Avg 59.6 vs 53.5
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 5 * 3 and heights[3] == pytest.approx(59.6 - 53.5)
    saved(fig, "surgery", tmp_path)
    with pytest.raises(ValueError, match="no base row 'Base'"):
        surgery_figure(table14.drop(index="Base"))


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
        {"step": s, "layer": layer, "aligned": 0.2 + 0.01 * s, "opposing": 0.1, "orthogonal": 0.7 - 0.01 * s}
        for s in range(10)
        for layer in range(2)
    ]
    frame = energy_frame(rows)
    assert list(frame.index) == list(range(10)) and frame.sum(axis=1).tolist() == pytest.approx([1.0] * 10)
    fig = dacsp_energy_figure(frame)
    zoom = {line.get_label(): line.get_ydata().tolist() for line in fig.axes[1].lines}
    assert zoom.keys() == {"aligned", "opposing"} and zoom["aligned"] == pytest.approx(
        frame["aligned"].tolist()
    )
    saved(fig, "dacsp", tmp_path)
    with pytest.raises(ValueError, match="row 2: fractions"):
        energy_frame([rows[0], {"step": 1, "aligned": 0.5, "opposing": 0.5, "orthogonal": 0.5}])
    with pytest.raises(ValueError, match=r"row 1: missing \['opposing'\]"):
        energy_frame([{"step": 0, "aligned": 1.0, "orthogonal": 0.0}])


def test_empty_frames_are_refused():
    with pytest.raises(ValueError, match="no domain-average columns"):
        stagewise_figure(pd.DataFrame({"x": [1.0]}))
