"""The one way a verifier says "this input cannot be scored": an exception that is counted, not a 0.

A gold answer math-verify cannot parse, a malformed RLVR-IFeval ground truth, an instruction whose
arguments its check cannot take, a check that raises: none of these says anything about the
completion, so scoring it 0 would bias a reward or a table silently, and raising would stop a
training step or an evaluation. Verifiers raise :class:`Unscorable`; the training reward turns it
into ``None`` (TRL leaves that completion out of the group baseline and gives it no advantage) and
counts it, the evaluation scorer records the sample as missing and counts it per benchmark with its
reason in ``summary.json``.
"""

from __future__ import annotations


class Unscorable(ValueError):
    """An input a verifier cannot score. ``reason`` is short and shared by every input that fails the
    same way (it is what gets counted); ``detail`` names the offending value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
