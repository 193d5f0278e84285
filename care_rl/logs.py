"""Console set-up shared by every entry point: our log lines, and the library messages that tell the user
something, not the ones that repeat on every model load or training step.

A stage prints its progress line per step (care_rl/training/callbacks.py ``ProgressPrinter``); its full
metrics go to the stage's ``logs.jsonl``. What is silenced here is silenced narrowly -- one message,
one category, the one module that issues it -- and each entry says why it is harmless, so a new warning
from the same library still shows.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownWarning:
    """A Python warning (``warnings.warn``) that is known to be harmless here."""

    category: type[Warning]
    module: str  # regex on the module that calls warnings.warn
    message: str  # regex on the start of the message
    why: str


@dataclass(frozen=True)
class KnownLogRecord:
    """A library logger's message that is known to be redundant here."""

    logger: str
    message: str  # start of the message (after the "[RANK n] " that accelerate's logger adapter adds)
    why: str


KNOWN_WARNINGS = (
    KnownWarning(
        FutureWarning,
        r"transformers\.modeling_utils",
        r"`is_gradient_checkpointing` is deprecated",
        "TRL 1.16 and PEFT 0.21 read transformers' old property name on every model they wrap (each stage "
        "and each evaluation); transformers 5.23 still answers it with the new property's value",
    ),
    KnownWarning(
        FutureWarning,
        r"transformers\.modeling_utils",
        r"`gradient_checkpointing_(enable|disable)` is deprecated",
        "TRL 1.16 switches checkpointing on and off through the old method names (its distillation config "
        "defaults to checkpointing on); transformers 5.23 forwards them to the `activation_checkpointing_*` ones",
    ),
    KnownWarning(
        FutureWarning,
        r"transformers\.training_args",
        r"`gradient_checkpointing` is deprecated",
        "TRL 1.16's configs declare the old field with a default of True, so every TRL config built "
        "without the new name warns; transformers copies the value to `activation_checkpointing`",
    ),
)

KNOWN_LOG_RECORDS = (
    KnownLogRecord(
        "trl.trainer.grpo_trainer",
        "All reward functions returned None",
        "TRL prints the whole row (prompt, reference, completion) of a sample no reward could score; the "
        "judge that failed already logs one summary per call, and the sample is loss-masked as TRL intends",
    ),
)


class _DropKnown(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self._pattern = re.compile(r"(\[RANK \d+\] )?" + re.escape(prefix))

    def filter(self, record: logging.LogRecord) -> bool:
        return not self._pattern.match(str(record.msg))


def quiet_known_messages() -> None:
    """Install the filters for ``KNOWN_WARNINGS`` and ``KNOWN_LOG_RECORDS`` (idempotent)."""
    for w in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=w.message, category=w.category, module=w.module)
    for r in KNOWN_LOG_RECORDS:
        logger = logging.getLogger(r.logger)
        if not any(isinstance(f, _DropKnown) and f.prefix == r.message for f in logger.filters):
            logger.addFilter(_DropKnown(r.message))


def setup_logging(level: int = logging.WARNING, fmt: str = "%(levelname)s %(name)s: %(message)s") -> None:
    """Root logging for a command-line run, with the known-harmless messages filtered."""
    logging.basicConfig(level=level, format=fmt)
    quiet_known_messages()
