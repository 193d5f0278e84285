"""Layer-space DACSP for LoRA: §3.2 applied to each LoRA module's weight, as the paper writes it.

A LoRA module has the effective weight W = W_0 + s·B·A (B [m, r], A [r, n], s = lora_alpha / r).
The paper's "layer" is W (m x n), so everything below acts on changes of W, never on A or B alone,
and nothing m x n is ever materialised:

Stage directions (§3.2.1). The stage changes B_{t-1}A_{t-1} into B_tA_t, so
    ΔW_t = s (B_t A_t - B_{t-1} A_{t-1}) = s L Rᵀ,   L = [B_t - B_{t-1}, B_{t-1}],  R = [A_tᵀ, (A_t - A_{t-1})ᵀ]
(written through the differences, so nothing cancels). QR of L [m, 2r] and R [n, 2r] and an SVD of
the 2r x 2r core give ΔW_t's thin SVD; the energy rule (τ) keeps k directions u_i v_iᵀ, which go into
the factored basis (factored.py) of the module. s scales singular values, not directions, so the
directions do not depend on it.

One optimizer step (§3.2.3). The optimizer proposes δA, δB; the module's proposed change is
    δW = s((B + δB)(A + δA) - BA) = s(δB A' + B δA),   A' = A + δA, B' = B + δB   (exact, second-order
term included). Its coefficients on the pivot directions are d_j = u_jᵀ δW v_j = s[(u_jᵀδB)(A'v_j) +
(u_jᵀB)(δA v_j)], so c = C d costs O(K r (m + n)). The modulation asks for δW' = δW + E with
E = Σ_k (γ_k - 1) c_k Q_k = U diag(w) Vᵀ, w = Cᵀ correction_weights(c) (modulate.py).

Back onto the factors. A change (X onto δB, Y onto δA) moves W by s(X A' + B' Y + X Y): to first order
only within the tangent space T = {X A' + B' Y} of rank-r matrices at B'A'. With F = E / s we take the
minimum-norm least-squares (Gauss-Newton) step: in the singular bases of B' (σ = b_i) and A' (σ = a_j),
F's entries inside col(B') x row(A') are shared, x = f a_j / (a_j² + b_i²), y = f b_i / (a_j² + b_i²);
the block outside col(B') only X can make (X = F Q_A / a), the block outside row(A') only Y; the block
outside both no rank-r change can make. To first order s(X A' + B' Y) is the projection of E onto T and
(X, Y) has no component along LoRA's gauge (B'G, -GA'). What is applied differs from the paper's δW' by
    R = E - s(X A' + B' Y + X Y)        (the unreachable block and the second-order term),
whose norm is computed every step from r x r and K x r matrices (``residual``). The minimum norm
matters: routing all of F onto δB first lets the gauge drift (B grows, A loses rank) until the
corrections blow up.

Chance levels (telemetry.py). For an isotropic random step of the trainable parameters, the expected
fraction of the factor-space energy inside the factor basis is K/D (D = r(m + n)); in layer space the
expected fraction of ‖δW‖² inside span{Q_k} is
    [Σ_k ‖Q_k Aᵀ‖² + ‖BᵀQ_k‖²] / [m ‖A‖² + n ‖B‖²]           (``random_step_fraction``)
which is far above K/(mn) because the Q_k themselves lie (mostly) in LoRA's tangent space.

Numerics: the r x r Gram algebra runs in float64; factor singular directions whose Gram eigenvalue is
below GRAM_RTOL of the largest are not inverted (a direction that weak carries nothing the step can
use; what it would have carried is counted in R).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import Parameter

from care_rl.dacsp.basis import Basis
from care_rl.dacsp.directions import energy_rank
from care_rl.dacsp.factored import FactoredBasis

LORA_FACTOR = re.compile(r"^(?P<module>.+)\.lora_(?P<factor>[AB])(?:\.[^.]+)?\.weight$")
GRAM_RTOL = 1e-6


def lora_pairs(names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """module -> (lora_A name, lora_B name), for every module whose two factors are both in ``names``.

    Matches PEFT parameter names (``<module>.lora_A.<adapter>.weight``) and adapter state-dict keys
    (``<module>.lora_A.weight``); the module name is the part before ``.lora_A``."""
    found: dict[str, dict[str, str]] = {}
    for name in names:
        match = LORA_FACTOR.match(name)
        if match:
            found.setdefault(match["module"], {})[match["factor"]] = name
    return {module: (f["A"], f["B"]) for module, f in sorted(found.items()) if len(f) == 2}


def check_lora_shapes(name: str, a: Tensor, b: Tensor) -> tuple[int, int, int]:
    """(m, n, r) of a module with B [m, r] and A [r, n]; raises naming the module otherwise."""
    if a.ndim != 2 or b.ndim != 2 or b.shape[1] != a.shape[0]:
        raise ValueError(
            f"LoRA module {name!r}: lora_B {tuple(b.shape)} and lora_A {tuple(a.shape)} are not "
            "B [m, r], A [r, n]"
        )
    return b.shape[0], a.shape[1], a.shape[0]


def update_factors(b0: Tensor, a0: Tensor, b1: Tensor, a1: Tensor) -> tuple[Tensor, Tensor]:
    """(L, R) with B1 A1 - B0 A0 = L Rᵀ, through the differences: (B1 - B0) A1 + B0 (A1 - A0)."""
    return torch.cat([b1 - b0, b0], 1), torch.cat([a1.T, (a1 - a0).T], 1)


def low_rank_svd(left: Tensor, right: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Thin SVD (U, s, V) of left @ rightᵀ (left [m, k], right [n, k]) without forming it: QR of each
    factor, SVD of the k x k core."""
    q_left, r_left = torch.linalg.qr(left)
    q_right, r_right = torch.linalg.qr(right)
    u, s, vh = torch.linalg.svd(r_left @ r_right.T)
    return q_left @ u, s, q_right @ vh.T


def lora_directions(b0: Tensor, a0: Tensor, b1: Tensor, a1: Tensor, tau: float) -> tuple[Tensor, Tensor]:
    """Unit factors (U [m, k], V [n, k], float64) of the capability directions u_i v_iᵀ of the module's
    stage change B1 A1 - B0 A0 (energy rule τ, singular-value order)."""
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must lie in (0, 1], got {tau!r}")
    tensors = [t.detach().to(torch.float64) for t in (b0, a0, b1, a1)]
    if not all(torch.isfinite(t).all() for t in tensors):
        raise ValueError("LoRA factors contain NaN or Inf")
    u, s, v = low_rank_svd(*update_factors(*tensors))
    k = energy_rank(s, tau)
    return u[:, :k].contiguous(), v[:, :k].contiguous()


@dataclass(frozen=True, eq=False)
class LoraUnit:
    """One LoRA module as the optimizer hook sees it: its factors, its scale s, and its bases in both
    spaces (layer: of W, m x n; factor: of A and of B; None where a space has no directions yet)."""

    name: str
    a: Parameter
    b: Parameter
    scale: float
    layer: FactoredBasis | None
    factor_a: Basis | None
    factor_b: Basis | None


def _singular(gram: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Singular values σ, 1/σ (0 below GRAM_RTOL of the largest eigenvalue: not representable) and right
    singular vectors W of a factor M from its Gram matrix MᵀM = W diag(σ²) Wᵀ (batched, r x r)."""
    eig, vectors = torch.linalg.eigh(gram)
    kept = eig > GRAM_RTOL * eig.amax(-1, keepdim=True).clamp(min=0)
    sigma = torch.where(kept, eig.clamp(min=0).sqrt(), 0.0)
    return sigma, torch.where(kept, 1.0 / sigma.clamp(min=torch.finfo(sigma.dtype).tiny), 0.0), vectors


def _dot(x: Tensor, y: Tensor) -> Tensor:
    """Frobenius inner product over the last two dims."""
    return (x * y).sum((-2, -1))


@dataclass
class LayerStep:
    """What one step's decomposition leaves for the correction (P modules; small tensors only)."""

    c: Tensor  # [P, K] coefficients c_k = ⟨δW, Q_k⟩
    energy: Tensor  # [P] ‖δW‖²
    ub_new: Tensor  # [P, K, r] Uᵀ B' (float64)
    av_new: Tensor  # [P, r, K] A' V (float64)
    gram_a: Tensor  # [P, r, r] A' A'ᵀ (float64)
    gram_b: Tensor  # [P, r, r] B'ᵀ B' (float64)


@dataclass
class Correction:
    """What the correction of one step did, per module: ‖applied‖², ‖E - applied‖² in W (scaled by s),
    and ‖X‖² + ‖Y‖² in the factors."""

    applied: Tensor
    residual: Tensor
    factor: Tensor


class LayerStack:
    """P LoRA modules with the same (m, n, r): their layer-space bases zero-padded to a common K (a
    zero slot gives c = 0 and contributes nothing) and the batched per-step algebra of the docstring."""

    def __init__(
        self,
        bases: Sequence[FactoredBasis | None],
        shape: tuple[int, int],
        scale: Sequence[float],
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        m, n = shape
        p = len(bases)
        k = max([b.rank for b in bases if b is not None] + [1])
        u = torch.zeros(p, m, k, dtype=torch.float64)
        v = torch.zeros(p, n, k, dtype=torch.float64)
        c = torch.zeros(p, k, k, dtype=torch.float64)
        for i, b in enumerate(bases):
            if b is not None:
                if tuple(b.shape) != (m, n):
                    raise ValueError(f"layer basis of shape {tuple(b.shape)} for a LoRA module of {m} x {n}")
                u[i, :, : b.rank], v[i, :, : b.rank], c[i, : b.rank, : b.rank] = b._pivot_factors(
                    torch.float64, torch.device("cpu")
                )
        self.ranks = [b.rank if b is not None else 0 for b in bases]
        self.gram_u, self.gram_v = (u.mT @ u).to(device), (v.mT @ v).to(device)
        self.c64 = c.to(device)
        self.u, self.v, self.c = (t.to(dtype=dtype, device=device) for t in (u, v, c))
        self.ut, self.vt = self.u.mT.contiguous(), self.v.mT.contiguous()
        self.scale = torch.tensor(list(scale), dtype=dtype, device=device)

    def decompose(self, left: Tensor, right: Tensor) -> LayerStep:
        """Coefficients and ‖δW‖² of δW = s(δB A' + B δA), from left = [δB | B] [P, m, 2r] and
        right = [A ; δA] [P, 2r, n] (the hook keeps snapshot and proposal side by side in these two
        buffers, so each product below is one batched matmul)."""
        r, s = left.shape[2] // 2, self.scale
        ul = torch.bmm(self.ut, left)  # [P, K, 2r]: Uᵀ δB | Uᵀ B
        rv = torch.bmm(right, self.v)  # [P, 2r, K]: A V ; δA V
        udb, ub, dav = ul[..., :r], ul[..., r:], rv[:, r:]
        av_new = rv[:, :r] + dav
        d = s[:, None] * ((udb * av_new.mT).sum(2) + (ub * dav.mT).sum(2))
        c = torch.bmm(self.c, d.unsqueeze(2)).squeeze(2)
        gl = torch.bmm(left.mT, left).double()  # [[δBᵀδB, δBᵀB], [BᵀδB, BᵀB]]
        gr = torch.bmm(right, right.mT).double()  # [[AAᵀ, AδAᵀ], [δAAᵀ, δAδAᵀ]]
        dbdb, bdb, bb = gl[:, :r, :r], gl[:, r:, :r], gl[:, r:, r:]
        aa, ada, dada = gr[:, :r, :r], gr[:, :r, r:], gr[:, r:, r:]
        gram_a = aa + ada + ada.mT + dada
        energy = _dot(dbdb, gram_a) + 2 * _dot(bdb, ada.mT + dada) + _dot(bb, dada)
        energy = (s.double() ** 2 * energy).clamp(min=0)
        return LayerStep(c, energy, (ub + udb).double(), av_new.double(), gram_a, bb + bdb + bdb.mT + dbdb)

    def correction(
        self, step: LayerStep, weights: Tensor, left: Tensor, right: Tensor, x_out: Tensor, y_out: Tensor
    ) -> Correction:
        """Write the minimum-norm least-squares factor change X (onto δB, [P, m, r]), Y (onto δA,
        [P, r, n]) for E = Σ_k weights_k Q_k (module docstring), and measure what it did.

        In the singular bases of B' = Q_B S_B W_Bᵀ and A' = W_A S_A Q_Aᵀ (from the r x r Gram matrices),
        F = E / s splits into four blocks; entry (i, j) of Q_Bᵀ F Q_A is shared as x = f a_j / (a_j² + b_i²),
        y = f b_i / (a_j² + b_i²), the block outside col(B') only X can make (X = F Q_A / a), the block
        outside row(A') only Y (Y = Q_Bᵀ F / b), the fourth neither. Everything is assembled from r x r and
        K x r matrices, so X = U M1 + B' M2 and Y = N1 Vᵀ + N2 A' are four batched matmuls."""
        w = torch.bmm(self.c64.mT, weights.double().unsqueeze(2)).squeeze(2)  # E = U diag(w) Vᵀ
        f = w / self.scale.double()[:, None]  # F = E / s = U diag(f) Vᵀ
        b, inv_b, w_b = _singular(step.gram_b)  # B' = Q_B diag(b) W_Bᵀ
        a, inv_a, w_a = _singular(step.gram_a)  # A' = W_A diag(a) Q_Aᵀ
        pu = inv_b.unsqueeze(2) * (w_b.mT @ step.ub_new.mT)  # Q_Bᵀ U [P, r, K]
        qv = inv_a.unsqueeze(2) * (w_a.mT @ step.av_new)  # Q_Aᵀ V [P, r, K]
        pf = pu * f.unsqueeze(1)  # Q_Bᵀ U diag(f)
        f11 = pf @ qv.mT  # Q_Bᵀ F Q_A [P, r, r]
        denom = b.unsqueeze(2) ** 2 + a.unsqueeze(1) ** 2
        share = torch.where(denom > 0, f11 / denom.clamp(min=torch.finfo(denom.dtype).tiny), 0.0)
        x11, y11 = share * a.unsqueeze(1), share * b.unsqueeze(2)
        qv_a = qv.mT * inv_a.unsqueeze(1)  # Vᵀ Q_A diag(1/a) [P, K, r]
        m1 = (f.unsqueeze(2) * qv_a) @ w_a.mT  # X = U M1 + B' M2
        m2 = w_b @ (inv_b.unsqueeze(2) * (x11 - pf @ qv_a)) @ w_a.mT
        n1 = w_b @ (inv_b.unsqueeze(2) * pf)  # Y = N1 Vᵀ + N2 A'
        n2 = w_b @ (y11 - inv_b.unsqueeze(2) * (pf @ qv.mT)) @ (inv_a.unsqueeze(2) * w_a.mT)
        dtype = x_out.dtype
        torch.bmm(self.u, m1.to(dtype), out=x_out)
        x_out.baddbmm_(left, torch.cat([m2, m2], 1).to(dtype))  # B' M2 = [δB | B] [M2 ; M2]
        torch.bmm(n1.to(dtype), self.vt, out=y_out)
        y_out.baddbmm_(torch.cat([n2, n2], 2).to(dtype), right)  # N2 A' = [N2, N2] [A ; δA]
        # what the change does to W, from r x r and K x r matrices (second-order term included)
        ub, av = step.ub_new, step.av_new  # Uᵀ B', A' V
        xx = m1.mT @ self.gram_u @ m1 + m1.mT @ ub @ m2
        xx = xx + (m1.mT @ ub @ m2).mT + m2.mT @ step.gram_b @ m2  # Xᵀ X
        bx = ub.mT @ m1 + step.gram_b @ m2  # B'ᵀ X
        ya = n1 @ av.mT + n2 @ step.gram_a  # Y A'ᵀ
        yy = n1 @ self.gram_v @ n1.mT + n1 @ av.mT @ n2.mT
        yy = yy + (n1 @ av.mT @ n2.mT).mT + n2 @ step.gram_a @ n2.mT  # Y Yᵀ
        s2 = self.scale.double() ** 2
        applied = s2 * (
            _dot(xx, step.gram_a + ya + ya.mT + yy) + 2 * _dot(bx, ya + yy) + _dot(step.gram_b, yy)
        )
        ux = self.gram_u @ m1 + ub @ m2  # Uᵀ X
        yv = n1 @ self.gram_v + n2 @ av  # Y V
        inner = self.scale.double() * (w * ((ux @ (av + yv)) + ub @ yv).diagonal(dim1=1, dim2=2)).sum(1)
        target = weights.double().square().sum(1)  # ‖E‖², Q orthonormal
        residual = (target - 2 * inner + applied).clamp(min=0)
        factor = xx.diagonal(dim1=1, dim2=2).sum(1) + yy.diagonal(dim1=1, dim2=2).sum(1)
        return Correction(applied.clamp(min=0), residual, factor)

    def applied_energy(self, step: LayerStep, left: Tensor, right: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """‖s((B' + X)(A' + Y) - B'A')‖² = s²‖X A'' + B' Y‖², A'' = A' + Y: how much a factor change
        (X, Y) moved W, from r x r Gram matrices (left = [δB | B], right = [A ; δA])."""
        r = x.shape[2]
        lx, yr = torch.bmm(left.mT, x).double(), torch.bmm(y, right.mT).double()
        bx = lx[:, :r] + lx[:, r:]  # B'ᵀ X
        ya = yr[..., :r] + yr[..., r:]  # Y A'ᵀ
        xx, yy = torch.bmm(x.mT, x).double(), torch.bmm(y, y.mT).double()
        gram_a2 = step.gram_a + ya + ya.mT + yy
        energy = _dot(xx, gram_a2) + 2 * _dot(bx, ya + yy) + _dot(step.gram_b, yy)
        return (self.scale.double() ** 2 * energy).clamp(min=0)

    def random_step_fraction(self, b: Tensor, a: Tensor) -> Tensor:
        """[P] expected fraction of ‖δW‖² inside span{Q_k} for an isotropic random step (δA, δB) at (B, A)."""
        ub = torch.bmm(self.ut, b).double()  # [P, K, r]
        av = torch.bmm(a, self.v).double()  # [P, r, K]
        inner = (
            self.gram_u * (av.mT @ av) + (ub @ ub.mT) * self.gram_v
        )  # Σ_k ‖Q_kAᵀ‖² + ‖BᵀQ_k‖² = tr(C M Cᵀ)
        numerator = _dot(self.c64 @ inner, self.c64)
        m, n = self.u.shape[1], self.v.shape[1]
        denominator = m * a.double().square().sum((1, 2)) + n * b.double().square().sum((1, 2))
        return torch.where(denominator > 0, numerator / denominator.clamp(min=1e-300), 0.0)
