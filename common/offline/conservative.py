"""The conservative Q-learning regularizers (Kumar et al. 2020, arXiv 2006.04779), shared by the offline papers.

Equation numbers of 2006.04779:
    CQL(H):   min_Q  alpha E_s[ log sum_a exp Q(s,a) - E_{a~D}[Q(s,a)] ] + 1/2 E_D[(Q - B^pi Qbar)^2]          (eq. 4)
    CQL(rho): min_Q  alpha E_s[ E_{a~mu}[Q(s,a)] - E_{a~D}[Q(s,a)] ] + ...,  mu(a|s) ∝ rho(a|s) exp Q(s,a)      (eq. 3, Sec. 3.2)
    Lagrange: min_Q max_{alpha >= 0}  alpha (E_s[gap(s)] - tau) + ...                                         (Appendix F)
The log-sum-exp over a continuous action space is estimated by importance sampling (Appendix F), with N actions
from a proposal mu of density mu(a|s):
    log ∫ exp Q(s,a) da  ≈  log (1/N) sum_i exp(Q(s,a_i) - log mu(a_i|s))
The authors' code leaves out the constant -log N; it has no gradient, and the Lagrange threshold tau is compared
with the gap as their code computes it, so `cql_gap` follows their code (without -log N) and `logsumexp_estimate`
gives the estimate itself.
"""
from __future__ import annotations

import math

import torch


def logsumexp_estimate(q: torch.Tensor, log_density: torch.Tensor) -> torch.Tensor:
    """log (1/N) sum_i exp(q_i - log mu(a_i)) over the last axis: an estimate of log ∫ exp Q(s,a) da from N
    actions a_i ~ mu (Appendix F)."""
    return torch.logsumexp(q - log_density, dim=-1) - math.log(q.shape[-1])


def uniform_log_density(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """log of the uniform density over the box [low, high]: -sum_i log(high_i - low_i)."""
    return -torch.log(high - low).sum()


def cql_h_gap(q_samples: torch.Tensor, log_density: torch.Tensor, q_data: torch.Tensor) -> torch.Tensor:
    """CQL(H)'s gap, per Q-function (eq. 4): E_s[log sum_a exp Q(s,a)] - E_{s,a~D}[Q(s,a)], the log-sum-exp over the
    sampled actions importance-weighted by their proposal densities (without -log N, as the authors' code).
    q_samples, log_density: (n_q, B, N); q_data: (n_q, B). Returns (n_q,)."""
    return torch.logsumexp(q_samples - log_density, dim=-1).mean(-1) - q_data.mean(-1)


def cql_rho_gap(q_samples: torch.Tensor, q_data: torch.Tensor) -> torch.Tensor:
    """CQL(rho)'s gap, per Q-function (eq. 3 with mu ∝ rho exp Q, Sec. 3.2): E_s[sum_i w_i Q(s,a_i)] -
    E_D[Q(s,a)], a_i ~ rho (here: the current policy), w = softmax_i Q(s,a_i) held fixed (the maximizing mu).
    q_samples: (n_q, B, N); q_data: (n_q, B). Returns (n_q,)."""
    w = torch.softmax(q_samples.detach(), dim=-1)
    return (w * q_samples).sum(-1).mean(-1) - q_data.mean(-1)


def lagrange_losses(log_alpha: torch.Tensor, gap: torch.Tensor, tau: float, alpha_max: float = 1e6):
    """The Lagrange variant (Appendix F): alpha = exp(log_alpha) clamped to [0, alpha_max] (the authors' code).
    Returns (the critic's penalty alpha (gap - tau), alpha held fixed; alpha's loss -alpha (gap - tau), the gap
    held fixed, so that minimizing it raises alpha while the gap exceeds tau and lowers it otherwise)."""
    alpha = log_alpha.exp().clamp(0.0, alpha_max)
    penalty = (alpha.detach() * (gap - tau)).sum()
    alpha_loss = -(alpha * (gap.detach() - tau)).sum()
    return penalty, alpha_loss
