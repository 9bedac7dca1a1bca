"""The update machinery of the off-policy actor-critic methods (DDPG, SAC): minibatches drawn uniformly from the
replay, one backward pass over the summed losses of networks with disjoint parameters, every optimizer's step, and
the losses kept on the device until an evaluation period ends (no host synchronisation per update).

A paper's agent supplies `losses(*minibatch) -> (sum of its losses, the losses it reports)` and its optimizers; the
order of the steps, and the speed of each, live here once."""
from __future__ import annotations

import time
from typing import Callable, Iterable, Sequence

import numpy as np
import torch


def adam(params: Iterable, lr: float, fused: bool = True, **kwargs) -> torch.optim.Adam:
    """Adam (Kingma and Ba 2015), by default with torch's fused kernel: one pass over each parameter group instead of
    about ten elementwise operations per tensor; the same update as the default implementation up to float rounding
    (tests/test_offpolicy_update.py), which a run's trajectory then amplifies. `fused=False`: torch's default."""
    return torch.optim.Adam(params, lr=lr, fused=fused or None, **kwargs)


def gradient_step(loss: torch.Tensor, optimizers: Sequence[torch.optim.Optimizer]) -> None:
    """Gradients of `loss` (one backward pass; the gradients of the previous step dropped, not zeroed), then one step
    of every optimizer."""
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    for opt in optimizers:
        opt.step()


def learn(update: Callable[..., torch.Tensor], replay, rng: np.random.Generator, batch_size: int, updates: int,
          device: torch.device, pending: list, noise: Callable[[], tuple] | None = None) -> None:
    """`updates` updates, each on a minibatch of `batch_size` transitions drawn uniformly (with replacement) from
    the replay's filled rows with `rng`, with the extra inputs `noise()` (SAC's reparameterization noise) after the
    minibatch; each update's loss vector is appended to `pending`, left on the device."""
    for _ in range(updates):
        idx = rng.integers(0, replay.size, batch_size)
        pending.append(update(*replay.sample(idx, device), *(noise() if noise is not None else ())))


def phase_ms(losses: Callable[[], tuple], optimizers: Sequence[torch.optim.Optimizer],
             after: Callable[[], None] | None = None, calls: int = 50, warmup: int = 5) -> dict[str, float]:
    """Milliseconds per update in each of its phases, timed apart (median over `calls` updates): `forward` (the
    losses), `backward` (the old gradients dropped, then the backward pass), `optimizer` (every optimizer's step) and `target_average` (the
    soft target update, `after`). The sum is an update as `gradient_step` runs it."""
    def one() -> list[float]:
        t = [time.perf_counter()]
        total, _ = losses()
        t.append(time.perf_counter())
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        total.backward()
        t.append(time.perf_counter())
        for opt in optimizers:
            opt.step()
        t.append(time.perf_counter())
        if after is not None:
            after()
        t.append(time.perf_counter())
        return [1e3 * (b - a) for a, b in zip(t[:-1], t[1:])]

    for _ in range(warmup):
        one()
    times = np.median(np.array([one() for _ in range(calls)]), axis=0)
    return dict(zip(("forward", "backward", "optimizer", "target_average"), map(float, times)))
