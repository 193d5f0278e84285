"""DAPO dynamic sampling as tensor bookkeeping, independent of the trainer.

A prompt group whose G rewards are all equal has zero advantage for every member: it contributes no
policy gradient but still counts in DAPO's token-level normaliser, diluting the step. DAPO drops such
groups and samples fresh prompts until the batch is full again (verl's ``filter_groups``, bounded by
``max_num_gen_batches``). Here a group is *informative* iff some member has a non-zero advantage,
which is exactly "the group carries learning signal" whatever the reward aggregation
(sum-then-normalise or normalise-then-sum) and also drops groups whose rewards were all unscorable
(TRL zeroes their advantages).

The trainer generates one round, then refill rounds, and assembles a batch of the original size from
the rounds' informative groups with :func:`assemble`. When the rounds run out (:class:`Policy`) with
too few informative groups, verl raises (:class:`RoundsExhausted`); a ``partial`` policy instead fills
the remaining slots with degenerate groups whose loss mask is zeroed: the tensor shapes TRL's
buffering expects stay fixed, and the filler neither adds gradient nor inflates the normaliser, so the
step equals a DAPO step over the informative groups only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from trl.trainer.utils import pad

# Output keys of GRPOTrainer._generate_and_score_completions that this module knows how to merge.
LEFT_PADDED = ("prompt_ids", "prompt_mask")
RIGHT_PADDED = (
    "completion_ids",
    "completion_mask",
    "old_per_token_logps",
    "sampling_per_token_logps",
    "ref_per_token_logps",
    "importance_sampling_ratio",
    "tool_mask",
)
# Per-row index into care_rl.config.DOMAINS that mixed-domain trainers (MGS, MOPD) add to every round,
# so each merged row keeps its domain through refills and TRL's buffering.
DOMAIN_KEY = "domain_index"
PER_ROW = ("advantages", DOMAIN_KEY)
SUPPORTED = (*LEFT_PADDED, *RIGHT_PADDED, *PER_ROW, "num_items_in_batch")


@dataclass(frozen=True)
class Policy:
    """At most ``max_rounds`` generation rounds per step (the first one included), each sampling
    ``oversampling`` x the groups still needed; then a short step is an error, or with ``partial`` a
    step on the informative groups found."""

    max_rounds: int
    partial: bool = False
    oversampling: int = 1

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise ValueError(f"dynamic sampling needs at least one generation round, got {self.max_rounds}")
        if self.oversampling < 1:
            raise ValueError(f"oversampling must be a whole factor >= 1, got {self.oversampling}")


class RoundsExhausted(RuntimeError):
    """The generation rounds allowed for one step did not find enough informative groups."""


def informative_groups(advantages: Tensor, num_generations: int) -> Tensor:
    """Boolean [num_groups]: True where some completion of the group has a non-zero advantage."""
    if advantages.ndim != 1 or advantages.numel() % num_generations:
        raise ValueError(
            f"advantages of shape {tuple(advantages.shape)} do not split into groups of {num_generations}"
        )
    return (advantages.view(-1, num_generations) != 0).any(dim=1)


@dataclass(frozen=True)
class Round:
    """One generation round's scored output and which of its groups are informative."""

    output: dict[str, Any]
    informative: Tensor


@dataclass(frozen=True)
class Selection:
    """Which (round, group) pairs fill the batch; ``filler`` groups are degenerate and loss-masked."""

    picks: list[tuple[int, int]]
    filler: list[tuple[int, int]]


def select(rounds: list[Round], target_groups: int) -> Selection:
    """The first ``target_groups`` informative groups in round order, padded with degenerate ones."""
    picks = [(r, g) for r, rd in enumerate(rounds) for g in torch.nonzero(rd.informative).flatten().tolist()]
    picks = picks[:target_groups]
    degenerate = [
        (r, g) for r, rd in enumerate(rounds) for g in torch.nonzero(~rd.informative).flatten().tolist()
    ]
    filler = degenerate[: target_groups - len(picks)]
    if len(picks) + len(filler) < target_groups:
        raise ValueError(
            f"rounds hold {len(picks) + len(filler)} groups, fewer than the batch's {target_groups}"
        )
    return Selection(picks, filler)


def _check_keys(output: dict[str, Any]) -> None:
    unknown = sorted(k for k, v in output.items() if v is not None and k not in SUPPORTED)
    if unknown:
        raise ValueError(
            f"dynamic sampling cannot merge generation outputs with keys {unknown} (multimodal/tool inputs); "
            "set dapo.dynamic_sampling: false for such data"
        )


def assemble(
    rounds: list[Round], selection: Selection, num_generations: int, pad_token_id: int
) -> dict[str, Any]:
    """Concatenate the selected groups of every round into one generation batch (re-padded).

    Rows come in selection order (informative groups, then filler). Prompt tensors are left-padded and
    completion tensors right-padded to the longest round, as TRL pads them; filler rows get an all-zero ``completion_mask``; ``num_items_in_batch`` is recounted
    over the merged loss mask (single process: the count TRL would gather).
    """
    for rd in rounds:
        _check_keys(rd.output)
    keys = [k for k in SUPPORTED if k != "num_items_in_batch" and rounds[0].output.get(k) is not None]
    groups = selection.picks + selection.filler
    merged: dict[str, Any] = {}
    for key in keys:
        rows = [
            rounds[r].output[key][g * num_generations + i] for r, g in groups for i in range(num_generations)
        ]
        if key in PER_ROW:
            merged[key] = torch.stack(rows)
            continue
        value = pad_token_id if key in ("prompt_ids", "completion_ids") else 0
        merged[key] = pad(rows, padding_value=value, padding_side="left" if key in LEFT_PADDED else "right")
    keep = torch.ones(len(groups) * num_generations, dtype=merged["completion_mask"].dtype)
    keep[len(selection.picks) * num_generations :] = 0
    merged["completion_mask"] = merged["completion_mask"] * keep.to(
        merged["completion_mask"].device
    ).unsqueeze(1)
    loss_mask = merged["completion_mask"]
    if "tool_mask" in merged:
        loss_mask = loss_mask * merged["tool_mask"]
    merged["num_items_in_batch"] = loss_mask.sum()
    return merged
