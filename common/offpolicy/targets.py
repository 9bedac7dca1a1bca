"""Soft ("Polyak") target-network updates."""
from __future__ import annotations

from typing import Iterable

import torch


def polyak_update(target: Iterable[torch.Tensor], source: Iterable[torch.Tensor], tau: float) -> None:
    """theta' <- tau theta + (1 - tau) theta', in place, for each pair of tensors (DDPG Algorithm 1, tau = 0.001;
    SAC Table 1, tau = 0.005). tau = 1 copies the source: a target network that is the online network."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target), list(source), tau)
