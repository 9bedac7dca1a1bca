"""Networks shared by several papers."""
from __future__ import annotations

import torch
from torch import nn


def atari_torso(kind: str) -> tuple[nn.Sequential, int]:
    """Convolutional torso for 4x84x84 uint8 frame stacks, and its output width.
    "nips2013": Mnih et al. 2013 (16 8x8/4, 32 4x4/2, 256 fully connected), also A3C's (Mnih et al. 2016) and so PPO's.
    "nature2015": Mnih et al. 2015 (32 8x8/4, 64 4x4/2, 64 3x3/1, 512 fully connected)."""
    if kind == "nips2013":
        return nn.Sequential(nn.Conv2d(4, 16, 8, 4), nn.ReLU(), nn.Conv2d(16, 32, 4, 2), nn.ReLU(), nn.Flatten(),
                             nn.Linear(32 * 9 * 9, 256), nn.ReLU()), 256
    if kind == "nature2015":
        return nn.Sequential(nn.Conv2d(4, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                             nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 7 * 7, 512), nn.ReLU()), 512
    raise ValueError(f"unknown Atari network '{kind}'; valid: nips2013, nature2015")


def scale_frames(frames_uint8: torch.Tensor) -> torch.Tensor:
    return frames_uint8.float() / 255.0
