"""Pieces of the off-policy training loops: the deterministic evaluation rollout and the check of pending losses."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch


@dataclass
class EvalResult:
    """`mean_return`: the undiscounted returns of the episodes, summed in step order over all episodes and divided
    by their number; `returns`, `discounted_returns` (sum_t gamma^t r_t from the first state) and `first_obs`: per
    episode."""
    mean_return: float
    returns: list = field(default_factory=list)
    discounted_returns: list = field(default_factory=list)
    first_obs: list = field(default_factory=list)


def evaluate(env, act: Callable[[np.ndarray], np.ndarray], episodes: int, seed: int, gamma: float = 1.0) -> EvalResult:
    """`episodes` episodes of the policy `act(obs) -> action` (no exploration noise: the papers' evaluation), the
    k-th from `env.reset(seed=seed + k)`, each run to termination or the time limit."""
    total, out = 0.0, EvalResult(0.0)
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        out.first_obs.append(obs)
        ret, disc, discount, done = 0.0, 0.0, 1.0, False
        while not done:
            obs, r, terminated, truncated, _ = env.step(act(obs))
            total += r
            ret += r
            disc += discount * r
            discount *= gamma
            done = terminated or truncated
        out.returns.append(ret)
        out.discounted_returns.append(disc)
    out.mean_return = total / episodes
    return out


def first_nonfinite_loss(pending: Sequence[torch.Tensor]) -> tuple[int, int, float] | None:
    """(update index within `pending`, loss column, value) of the first non-finite loss among `pending` (one loss
    vector per update), or None; one device sync."""
    if not pending:
        return None
    losses = torch.stack(list(pending))
    bad = ~torch.isfinite(losses)
    if not bool(bad.any()):
        return None
    i, j = (int(x) for x in bad.nonzero()[0])
    return i, j, float(losses[i, j])
