"""``python -m experiments.train --order``: a repeated or left-out domain is an error naming it, before
anything loads (it used to train ``if,if,math`` as IF -> Math and drop chat silently)."""

from __future__ import annotations

import pytest

from care_rl.config import ConfigError
from care_rl.training.cascade_plan import load_method, method_stages
from experiments.paths import method_path
from experiments.train import main


@pytest.mark.parametrize(
    ("order", "named"),
    [("if,if,math", "repeats ['if']"), ("if,math", "leaves out ['chat']"), ("if,chat,math,code", "'code'")],
)
def test_bad_order_is_refused_naming_the_domain(order, named, capsys):
    assert main(["--profile", "smoke", "--method", "nvv", "--order", order, "--plan"]) == 2
    assert named in capsys.readouterr().err


def test_a_permutation_is_planned(capsys):
    assert main(["--profile", "smoke", "--method", "nvv", "--order", "math,if,chat", "--plan"]) == 0
    names = [line.split()[1] for line in capsys.readouterr().out.splitlines()]
    assert names == ["math", "if", "chat"]


def test_a_method_file_never_repeats_a_domain():
    with pytest.raises(ConfigError, match="repeats"):
        method_stages(load_method(method_path("nvv")), order=["if", "if"])
