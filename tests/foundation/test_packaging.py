"""Installs are reproducible: every requirement is pinned to one version, and the package metadata
uses the non-deprecated SPDX license string (setuptools >= 77 warns on a TOML table)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PINNED = re.compile(r"^[A-Za-z0-9_.\-\[\],]+==[0-9][0-9A-Za-z.+!]*$")


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-gpu.txt"])
def test_every_requirement_is_pinned(name):
    lines = [ln.split("#")[0].strip() for ln in (ROOT / name).read_text().splitlines()]
    unpinned = [ln for ln in lines if ln and not PINNED.match(ln)]
    assert unpinned == [], f"{name}: not pinned with ==: {unpinned}"


def test_license_is_an_spdx_string():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]
