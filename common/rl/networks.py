"""Networks shared by several papers."""
from __future__ import annotations

import torch
from torch import nn


def atari_torso(kind: str, channels: int = 16, hidden_units: int = 20) -> tuple[nn.Sequential, int]:
    """Convolutional torso for 4x84x84 uint8 frame stacks, and its output width.
    "nips2013": Mnih et al. 2013 (16 8x8/4, 32 4x4/2, 256 fully connected), also A3C's (Mnih et al. 2016) and so PPO's.
    "nature2015": Mnih et al. 2015 (32 8x8/4, 64 4x4/2, 64 3x3/1, 512 fully connected).
    "trpo2015": Schulman et al. 2015 Sec. 8.2 (`channels` 4x4/2 twice, `hidden_units` fully connected; the paper's
    16 and 20); ReLU, which the paper does not state."""
    if kind == "trpo2015":
        return nn.Sequential(nn.Conv2d(4, channels, 4, 2), nn.ReLU(), nn.Conv2d(channels, channels, 4, 2), nn.ReLU(),
                             nn.Flatten(), nn.Linear(channels * 19 * 19, hidden_units), nn.ReLU()), hidden_units
    if kind == "nips2013":
        return nn.Sequential(nn.Conv2d(4, 16, 8, 4), nn.ReLU(), nn.Conv2d(16, 32, 4, 2), nn.ReLU(), nn.Flatten(),
                             nn.Linear(32 * 9 * 9, 256), nn.ReLU()), 256
    if kind == "nature2015":
        return nn.Sequential(nn.Conv2d(4, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                             nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 7 * 7, 512), nn.ReLU()), 512
    raise ValueError(f"unknown Atari network '{kind}'; valid: nips2013, nature2015, trpo2015")


def scale_frames(frames_uint8: torch.Tensor) -> torch.Tensor:
    return frames_uint8.float() / 255.0
