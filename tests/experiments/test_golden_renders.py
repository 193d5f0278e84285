"""Guards for a refactor that must not change behaviour, against committed bytes in ``fixtures/rendered/``:
- every table the fixture results allow, rendered as ``make tableN`` renders it (Tables 3, 5, 6, 7
  and 14 need checkpoints the fixtures do not hold);
- the plan of ``make all`` on smoke and cpu with an empty cache: every content hash a cached stage,
  evaluation (and each benchmark's results file), surgery edit or judge study is stored under, and
  the PA-GRM template digest.

Regenerate after an intended change of output: ``python -m tests.experiments.test_golden_renders``.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from experiments.tables import build

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures" / "results"
GOLDEN = HERE / "fixtures" / "rendered"
PLAN_PROFILES = ["smoke", "cpu"]
RENDERABLE = ["table2", "table4", "table8", "table9", "table10", "table11", "table12", "table13"]


def render(name: str, out: Path) -> dict[str, bytes]:
    """The table's CSV and LaTeX from the fixtures on the smoke profile; the render date is masked."""
    build(name, "smoke", FIXTURES, out)
    today = dt.date.today().isoformat().encode()
    return {
        f"{name}.csv": (out / f"{name}.csv").read_bytes(),
        f"{name}.tex": (out / f"{name}.tex").read_bytes().replace(today, b"<date>"),
    }


def plan(profile_name: str, root: Path) -> bytes:
    """``make all --plan`` with every cache root under ``root`` (so nothing is cached), plus the
    judge-study result files and the template digest; ``root`` itself is masked."""
    import os

    from care_rl.pagrm.templates import TEMPLATE_DIGEST
    from eval.checkpoint_eval import config_hash
    from experiments.paths import load_named_profile
    from experiments.plan import Planner, study_uses_adapter
    from experiments.runconfig import RunDirs

    lines: list[str] = []
    saved = os.environ.get("CARE_RL_CACHE")
    os.environ["CARE_RL_CACHE"] = str(root)
    try:
        dirs = RunDirs(
            results=root / "results",
            tables=root / "tables",
            figures=root / "figures",
            stages=root / "stages",
            evals=root / "eval",
        )
        planner = Planner(load_named_profile(profile_name, check_device=False), dirs)
        plan = planner.plan("all")
        lines += plan.lines
        jobs = planner.jobs([f"judge/{v}" for v in planner.table.judge.variants])
        for job in jobs:  # a row scored by an adapter not built yet has no content hash yet
            pending = plan.adapter is not None and study_uses_adapter(job.checkpoint)
            assert job.checkpoint.variant is not None
            lines.append(
                f"judge study {job.key}: {'pending' if pending else planner.studies.path(job.checkpoint.variant)}"
            )
        ev = planner.evaluator
        for entry in ev.suite:  # the results file of each benchmark is named by this hash
            h = config_hash(
                entry.benchmark, entry.items, planner.profile.eval, ev.specs, planner.profile.prompt_format
            )
            lines.append(f"eval config hash {entry.benchmark.name}: {h}")
    finally:
        if saved is None:
            del os.environ["CARE_RL_CACHE"]
        else:
            os.environ["CARE_RL_CACHE"] = saved
    lines.append(f"PA-GRM template digest: {TEMPLATE_DIGEST}")
    return ("\n".join(lines) + "\n").replace(str(root), "<cache>").encode()


@pytest.mark.parametrize("profile_name", PLAN_PROFILES)
def test_plan_hashes_match_golden(profile_name, tmp_path):
    file = GOLDEN / f"plan-{profile_name}.txt"
    assert plan(profile_name, tmp_path) == file.read_bytes(), f"{file} differs"


@pytest.mark.parametrize("name", RENDERABLE)
def test_render_matches_golden(name, tmp_path):
    for file, data in render(name, tmp_path).items():
        assert data == (GOLDEN / file).read_bytes(), f"{file} differs from {GOLDEN / file}"


def test_every_golden_file_is_checked():
    expected = {f"{n}.{ext}" for n in RENDERABLE for ext in ("csv", "tex")}
    expected |= {f"plan-{p}.txt" for p in PLAN_PROFILES}
    assert {p.name for p in GOLDEN.iterdir()} == expected


if __name__ == "__main__":
    import tempfile

    GOLDEN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in RENDERABLE:
            for file, data in render(name, Path(tmp)).items():
                (GOLDEN / file).write_bytes(data)
                print(GOLDEN / file, file=sys.stderr)
        for name in PLAN_PROFILES:
            (GOLDEN / f"plan-{name}.txt").write_bytes(plan(name, Path(tmp) / name))
            print(GOLDEN / f"plan-{name}.txt", file=sys.stderr)
