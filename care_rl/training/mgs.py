"""MGS baseline (Cai et al., 2026): mixed-domain RL with PCGrad applied to each parameter tensor.

PCGrad (Yu et al., 2020) over the whole model sees one cosine between two domains' gradients; MGS
applies it locally, so a conflict in one part of the model does not project away another part's
agreeing update. The paper calls the unit "the Transformer-module level"; the official code
(StringNLPLAB/MGS, ``LayerWisePCGradUtility`` in ``verl/workers/actor/dp_actor.py``) projects each
trainable parameter tensor separately, and this module follows the code. For each tensor p and each
domain i (visiting the other domains j in a seeded random order), if <g_i^p, g_j^p> < 0 the
conflicting component is removed,

    g_i^p <- g_i^p - <g_i^p, g_j^p> / ||g_j^p||^2 * g_j^p        (g_j^p: the *original* gradient of j)

and the tensor's update is the sum over domains of the projected g_i^p. As in the reference, a
projection onto a vanishing gradient (||g_j||^2 <= 1e-12) is skipped and the cosine of a pair with a
vanishing gradient (norm <= 1e-8) is recorded as 0. Under LoRA the trainable tensors are the factors,
so lora_A and lora_B of every adapted weight are projected separately.

Trainer: :class:`MgsTrainer` is the Naive Mixing trainer (same mixed batch, same per-domain
advantages) whose step computes one gradient per domain present in the micro batch (one backward
each, on that domain's rows, with DAPO's global token normaliser so the per-domain gradients sum to
the Naive Mixing gradient), accumulates them over the accumulation window, and at the optimizer
step writes the surgically merged gradient into ``.grad``. Without conflicts MGS equals Naive Mixing.
The statistics are logged per Transformer module (:func:`transformer_module_of`): the mean cosine of
its tensors per domain pair and the number of projections.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from care_rl.config import DOMAINS
from care_rl.training.dapo import DapoTrainer
from care_rl.training.dynamic_sampling import DOMAIN_KEY
from care_rl.training.mixing import PerDomainScoring, row_domain

_LAYER_BLOCK = re.compile(r"(?:^|\.)layers\.(\d+)\.([^.]+)")
_WRAPPER_PREFIXES = ("base_model.model.", "model.")
# The reference's thresholds (LayerWisePCGradUtility): no projection onto a gradient with a squared norm
# at or below NORM_SQ_EPS, cosine 0 for a pair with a norm at or below NORM_EPS.
NORM_SQ_EPS = 1e-12
NORM_EPS = 1e-8


def transformer_module_of(param_name: str) -> str:
    """The Transformer module a parameter belongs to: ``layers.<k>.<block>`` inside a decoder layer,
    else the first component after the model/PEFT wrappers (``embed_tokens``, ``norm``, ``lm_head``)."""
    match = _LAYER_BLOCK.search(param_name)
    if match:
        return f"layers.{match.group(1)}.{match.group(2)}"
    name = param_name
    for prefix in _WRAPPER_PREFIXES:
        while name.startswith(prefix):
            name = name[len(prefix) :]
    return name.split(".", 1)[0]


@dataclass
class TensorSurgery:
    """What surgery did to one parameter tensor: the original cosine of each domain pair, and how many
    ordered pairs were found in conflict (each one projection, unless the other gradient vanished)."""

    cosines: dict[tuple[str, str], float] = field(default_factory=dict)
    projections: int = 0

    @property
    def conflicts(self) -> int:
        """Unordered domain pairs whose original gradients point against each other in this tensor."""
        return sum(c < 0 for c in self.cosines.values())


def _check(grads_by_domain: Mapping[str, Mapping[str, Tensor]]) -> list[str]:
    if not grads_by_domain:
        raise ValueError("gradient_surgery needs gradients of at least one domain (got none)")
    domains = sorted(grads_by_domain)
    names = set(grads_by_domain[domains[0]])
    for d in domains[1:]:
        if set(grads_by_domain[d]) != names:
            diff = sorted(names.symmetric_difference(grads_by_domain[d]))[:5]
            raise ValueError(
                f"domains {domains[0]!r} and {d!r} have gradients for different parameters: {diff}"
            )
    for name in names:
        shapes = {tuple(grads_by_domain[d][name].shape) for d in domains}
        if len(shapes) != 1:
            raise ValueError(f"parameter {name!r} has gradients of different shapes across domains: {shapes}")
    return domains


def pcgrad(grads: Mapping[str, Tensor], generator: torch.Generator) -> tuple[Tensor, TensorSurgery]:
    """PCGrad over one tensor's per-domain gradients (float32/64 arithmetic): the sum of the projected
    gradients, and the statistics."""
    domains = sorted(grads)
    flat = {d: grads[d].reshape(-1).to(torch.promote_types(grads[d].dtype, torch.float32)) for d in domains}
    stats = TensorSurgery()
    norms_sq = {d: flat[d].dot(flat[d]) for d in domains}
    for a_i, a in enumerate(domains):
        for b in domains[a_i + 1 :]:
            norm_a, norm_b = norms_sq[a].sqrt(), norms_sq[b].sqrt()
            cosine = flat[a].dot(flat[b]) / (norm_a * norm_b)
            stats.cosines[(a, b)] = float(cosine) if norm_a > NORM_EPS and norm_b > NORM_EPS else 0.0
    total = torch.zeros_like(flat[domains[0]])
    for i in domains:
        g = flat[i].clone()
        others = [d for d in domains if d != i]
        for k in torch.randperm(len(others), generator=generator).tolist():
            j = others[k]
            inner = g.dot(flat[j])
            if inner < 0:
                stats.projections += 1
                if norms_sq[j] > NORM_SQ_EPS:
                    g -= inner / norms_sq[j] * flat[j]
        total += g
    return total.view_as(grads[domains[0]]).to(grads[domains[0]].dtype), stats


def gradient_surgery(
    grads_by_domain: Mapping[str, Mapping[str, Tensor]], generator: torch.Generator
) -> tuple[dict[str, Tensor], dict[str, TensorSurgery]]:
    """Merge per-domain gradients with PCGrad applied to each parameter tensor separately.

    ``grads_by_domain[d][param_name]`` is domain d's gradient of that parameter (every domain must
    cover the same parameters: pass zeros where a domain does not reach a parameter). Tensors are
    visited in sorted name order and draw their random projection orders from ``generator``, so a seed
    fixes the result. Returns the merged gradient per parameter and the per-tensor statistics.
    """
    domains = _check(grads_by_domain)
    merged: dict[str, Tensor] = {}
    stats: dict[str, TensorSurgery] = {}
    for name in sorted(grads_by_domain[domains[0]]):
        merged[name], stats[name] = pcgrad({d: grads_by_domain[d][name] for d in domains}, generator)
    return merged, stats


def _rows(inputs: dict[str, Any], keep: Tensor) -> dict[str, Any]:
    """The micro batch restricted to the rows in ``keep`` (scalars such as the normaliser are shared)."""
    batch = keep.numel()
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == batch:
            out[key] = value[keep]
        elif isinstance(value, list) and len(value) == batch:
            out[key] = [v for v, k in zip(value, keep.tolist(), strict=True) if k]
        else:
            out[key] = value
    return out


class DomainTagging(PerDomainScoring):
    """Adds each row's domain (as an index tensor, since TRL's buffering and dynamic sampling move
    tensors) to every generation round, below DapoTrainer in the MRO like :class:`PerDomainScoring`."""

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        output[DOMAIN_KEY] = torch.tensor(
            [DOMAINS.index(row_domain(x)) for x in inputs], device=output["advantages"].device
        )
        return output


class MgsTrainer(DapoTrainer, DomainTagging):
    """Naive Mixing + per-module gradient surgery between the domains of each optimizer step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.accelerator.num_processes > 1:
            raise ValueError(
                "MgsTrainer computes per-domain gradients with torch.autograd.grad, outside DDP's all-reduce; "
                f"run it on one process (got {self.accelerator.num_processes})"
            )
        self._mgs_generator = torch.Generator().manual_seed(self.args.seed)
        self._mgs_pending: dict[str, dict[str, Tensor]] = {}

    def training_step(self, model: torch.nn.Module, inputs: Any, num_items_in_batch: Any = None) -> Tensor:
        """One micro batch: a backward per domain into per-domain buffers; surgery at the sync step.

        Replaces GRPOTrainer/Trainer.training_step (which would run one backward over the mixed rows);
        it keeps their contract: prepare the buffered generation batch, advance ``self._step``, return the
        detached loss.
        """
        model.train()
        inputs = self._prepare_inputs(inputs)
        domain_index = inputs.pop(DOMAIN_KEY)
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        loss_total = torch.zeros((), device=domain_index.device)
        for index in domain_index.unique().tolist():
            with self.compute_loss_context_manager():
                loss = self.compute_loss(model, _rows(inputs, domain_index == index))
            grads = torch.autograd.grad(loss, [p for _, p in params], allow_unused=True)
            pending = self._mgs_pending.setdefault(DOMAINS[index], {})
            for (name, _), grad in zip(params, grads, strict=True):
                if grad is not None:
                    pending[name] = pending[name] + grad if name in pending else grad
            loss_total = loss_total + loss.detach()
        self._step += 1
        if self.accelerator.sync_gradients:
            self._apply_surgery(params)
        return loss_total

    def _apply_surgery(self, params: list[tuple[str, torch.nn.Parameter]]) -> None:
        """Merge the window's per-domain gradients tensor by tensor, write ``.grad``, log the statistics
        per Transformer module (mean cosine of its tensors per domain pair, projections summed)."""
        pending, self._mgs_pending = self._mgs_pending, {}
        if not pending:
            return
        full = {d: {n: grads.get(n, torch.zeros_like(p)) for n, p in params} for d, grads in pending.items()}
        merged, stats = gradient_surgery(full, self._mgs_generator)
        for name, p in params:
            p.grad = merged[name] if p.grad is None else p.grad + merged[name]
        by_module: dict[str, list[TensorSurgery]] = {}
        for name, s in stats.items():
            by_module.setdefault(transformer_module_of(name), []).append(s)
        metrics = self._metrics["train"]
        for module, tensors in sorted(by_module.items()):
            metrics[f"mgs/projections/{module}"].append(float(sum(s.projections for s in tensors)))
            for pair in tensors[0].cosines:
                cosine = sum(s.cosines[pair] for s in tensors) / len(tensors)
                metrics[f"mgs/cosine/{module}/{pair[0]}-{pair[1]}"].append(cosine)
        pairs = sum(len(s.cosines) for s in stats.values())
        metrics["mgs/domains"].append(float(len(pending)))
        metrics["mgs/conflict_frac"].append(
            sum(s.conflicts for s in stats.values()) / pairs if pairs else 0.0
        )
