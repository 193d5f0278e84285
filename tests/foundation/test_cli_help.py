"""Every command-line entry point answers ``--help`` with its usage and exit code 0.

argparse %-formats help strings only when it prints them, so a stray ``%`` in one (a percentage
written with an f-string's ``:%`` format) passes every other test and crashes ``--help`` alone.
"""

from __future__ import annotations

import importlib

import pytest

CLIS = [
    "experiments.run",
    "experiments.train",
    "eval.run",
    "experiments.pagrm_sft",
    "experiments.pagrm_check",
    "care_rl.pagrm.training.collect_traces",
    "care_rl.setup_assets",
    "experiments.tables",
    "experiments.figures",
    "experiments.bootstrap",
]


@pytest.mark.parametrize("module", CLIS)
def test_help_exits_zero(module, capsys):
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(["--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")
