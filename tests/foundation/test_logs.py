"""The console filters are narrow: the known-harmless messages go, a neighbour of each stays."""

from __future__ import annotations

import logging
import warnings

from care_rl.logs import KNOWN_WARNINGS, quiet_known_messages


def _warn_from(module: str, message: str, category: type[Warning]) -> list[str]:
    """Issue a warning as if ``module`` had called warnings.warn; the messages that get through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_messages()
        warnings.warn_explicit(message, category, filename=f"{module}.py", lineno=1, module=module)
    return [str(w.message) for w in caught]


# the messages as transformers 5.23 issues them, and where
EMITTED = [
    ("transformers.modeling_utils", "`is_gradient_checkpointing` is deprecated and will be removed in v6."),
    (
        "transformers.modeling_utils",
        "`gradient_checkpointing_enable` is deprecated and will be removed in v6.",
    ),
    (
        "transformers.modeling_utils",
        "`gradient_checkpointing_disable` is deprecated and will be removed in v6.",
    ),
    ("transformers.training_args", "`gradient_checkpointing` is deprecated and will be removed in v6."),
]


def test_known_warnings_are_silenced_only_from_their_module_and_category():
    assert len(KNOWN_WARNINGS) == 3
    for module, text in EMITTED:
        assert _warn_from(module, text, FutureWarning) == []
        assert _warn_from("care_rl.training.dapo", text, FutureWarning) == [text]  # our own code: shown
        assert _warn_from(module, text, UserWarning) == [text]
        other = "`output_attentions` is deprecated and will be removed in v6."
        assert _warn_from(module, other, FutureWarning) == [other]  # another deprecation: shown


def test_trl_reward_dump_is_dropped_and_its_other_warnings_kept(caplog):
    quiet_known_messages()
    trl = logging.getLogger("trl.trainer.grpo_trainer")
    with caplog.at_level(logging.WARNING):
        # TRL logs through accelerate's adapter, which prefixes the process rank
        trl.warning("[RANK 0] All reward functions returned None for the following kwargs:\n{'prompt': 'p'}")
        trl.warning("All reward functions returned None for the following kwargs:\n{'prompt': 'p'}")
        trl.warning("The model's generation config has no pad token")
    assert [r.getMessage() for r in caplog.records] == ["The model's generation config has no pad token"]
