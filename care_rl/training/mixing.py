"""Naive Mixing: all domains in one run and one batch, with per-domain advantage normalisation.

The paper's baseline "places prompts from all domains into a single training batch with per-domain
advantage normalization". TRL's GRPO advantage is ``(r - mean_group) / (std_group + 1e-4)``: dividing by
each group's own std equalises every prompt, whatever its domain, and blows up near-constant groups.
Per-domain normalisation keeps GRPO's per-prompt baseline and replaces the per-group scale by one scale
per domain, so that a domain with a wide reward range (a 0-10 chat judge) cannot drown a binary one
(math answer matching) in the shared gradient, while prompts within a domain keep their relative weight:

    A_i = (r_i - mean_{g(i)} r) / (std_{j : d_j = d_i}(r_j - mean_{g(j)} r) + eps)

where ``g(i)`` is row i's group (the ``num_generations`` completions of one prompt, which all share a
domain), the std is Bessel-corrected over every row of that domain in the whole (cross-process)
generation batch, and ``eps = 1e-4`` as in TRL. Rows whose reward is NaN (no reward function applied)
are left out of the means and stds and get advantage 0, exactly as TRL treats unscorable completions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from accelerate.utils import gather_object
from trl import GRPOTrainer

from care_rl.config import DOMAINS, ConfigError
from care_rl.training.dapo import DapoTrainer

EPS = 1e-4


def _check(rewards: torch.Tensor, domains: Sequence[str], group_size: int) -> None:
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D (one per completion), got shape {tuple(rewards.shape)}")
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if len(domains) != rewards.numel():
        raise ValueError(f"{len(domains)} domains for {rewards.numel()} rewards")
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    for start in range(0, len(domains), group_size):
        group = set(domains[start : start + group_size])
        if len(group) != 1:
            raise ValueError(
                f"group at rows {start}..{start + group_size - 1} mixes domains {sorted(group)}; "
                "every completion of one prompt must share its domain"
            )


def _nanstd(x: torch.Tensor) -> torch.Tensor:
    """Bessel-corrected std of the non-NaN entries; 0 when fewer than two (no spread to measure)."""
    valid = x[~torch.isnan(x)]
    return valid.std() if valid.numel() > 1 else x.new_zeros(())


def per_domain_advantages(
    rewards: torch.Tensor, domains: Sequence[str], group_size: int, eps: float = EPS
) -> torch.Tensor:
    """Group-centred advantages scaled by the std of their domain's centred advantages (module docstring).

    ``rewards`` is the flat ``(num_prompts * group_size,)`` tensor TRL builds, groups contiguous;
    ``domains[i]`` is row i's domain.
    """
    _check(rewards, domains, group_size)
    grouped = rewards.to(torch.promote_types(rewards.dtype, torch.float32)).view(-1, group_size)
    centred = (grouped - torch.nanmean(grouped, dim=1, keepdim=True)).view(-1)
    advantages = torch.zeros_like(centred)
    for domain in sorted(set(domains)):
        rows = torch.tensor([d == domain for d in domains], device=rewards.device)
        advantages[rows] = centred[rows] / (_nanstd(centred[rows]) + eps)
    return torch.nan_to_num(advantages, nan=0.0).to(rewards.dtype)


class PerDomainScoring(GRPOTrainer):
    """Replaces TRL's group-normalised advantages of each generation round by :func:`per_domain_advantages`.

    Meant to sit *below* :class:`DapoTrainer` in the MRO (``class X(DapoTrainer, PerDomainScoring)``), so
    that DapoTrainer's dynamic sampling, which calls ``super()._generate_and_score_completions`` once per
    round, gets per-domain advantages for the first round and for every refill round alike.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.multi_objective_aggregation != "sum_then_normalize":
            raise ConfigError(
                "per-domain advantages normalise the weighted sum of rewards: GRPOConfig.multi_objective_aggregation "
                f"must be 'sum_then_normalize' (got {self.multi_objective_aggregation!r})"
            )
        self._round_rewards: torch.Tensor | None = None

    def _calculate_rewards(
        self,
        inputs: list[dict[str, Any]],
        prompts: list[Any],
        completions: list[Any],
        completion_ids_list: list[Any],
    ) -> torch.Tensor:
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._round_rewards = rewards_per_func  # gathered over processes, as TRL normalises them
        return rewards_per_func

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        per_func = self._round_rewards
        if per_func is None:
            raise RuntimeError("no rewards were computed for this round")
        rewards = (per_func * self.reward_weights.to(per_func.device).unsqueeze(0)).nansum(dim=1)
        rewards[torch.isnan(per_func).all(dim=1)] = torch.nan  # unscorable rows, as TRL marks them
        domains = gather_object([row_domain(x) for x in inputs])
        group = self.num_generations if self.model.training else self.num_generations_eval
        advantages = per_domain_advantages(rewards, domains, group)
        start = self.accelerator.process_index * len(inputs)
        output["advantages"] = advantages[start : start + len(inputs)].to(output["advantages"])
        self._round_rewards = None
        return output


def row_domain(row: dict[str, Any]) -> str:
    """A training row's domain, which mixed-domain training cannot do without."""
    domain = row.get("domain")
    if domain not in DOMAINS:
        raise ValueError(
            f"training row {row.get('id', '?')!r} has domain {domain!r}; expected one of {DOMAINS}"
        )
    return domain


class NaiveMixingTrainer(DapoTrainer, PerDomainScoring):
    """The Naive Mixing baseline: DAPO (with dynamic sampling) on a mixed batch, per-domain advantages."""
