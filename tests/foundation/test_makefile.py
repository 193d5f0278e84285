"""``make`` alone prints the target list (it once started ``make setup``), and the list names every
target with a one-line description."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def make(*args: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def phony_targets() -> list[str]:
    """Every target the Makefile declares, as make itself expands ``.PHONY`` (-p: print its database,
    -n: run nothing)."""
    line = next(ln for ln in make("-pn", "help").splitlines() if ln.startswith(".PHONY:"))
    return line.removeprefix(".PHONY:").split()


def test_bare_make_prints_help():
    assert make() == make("help")


def test_help_describes_every_target_on_one_line():
    lines = make("help").splitlines()
    assert lines[0].startswith("usage: make <target>")
    described: dict[str, str] = {}
    for line in lines[1:]:
        names, _, text = line.strip().partition("  ")
        for name in names.split(", "):
            described[name] = text.strip()
    targets = phony_targets()
    assert len(targets) > 30
    assert [t for t in targets if not described.get(t)] == []
