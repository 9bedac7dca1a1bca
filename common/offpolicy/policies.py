"""Acting in numpy with a trained deterministic actor (DDPG's; TD3's has the same form), on the arrays of its torch
state dict: the training loop acts with it on views of the weights, a saved agent on the saved arrays."""
from __future__ import annotations

import numpy as np


def deterministic_actor(w: dict, obs: np.ndarray, bn_eps: float = 1e-5) -> np.ndarray:
    """mu(s) = tanh(l3 relu(l2 relu(l1 s))) in [-1, 1]; where the arrays hold batch normalization (`bns.i.*`: of the
    state input, i = 0, and of the hidden layers' pre-activations, i = 1, 2), with its running statistics."""
    def norm(h, i):
        if f"bns.{i}.running_mean" not in w:
            return h
        return ((h - w[f"bns.{i}.running_mean"]) / np.sqrt(w[f"bns.{i}.running_var"] + bn_eps)
                * w[f"bns.{i}.weight"] + w[f"bns.{i}.bias"])

    h = np.maximum(norm(norm(obs, 0) @ w["l1.weight"].T + w["l1.bias"], 1), 0)
    h = np.maximum(norm(h @ w["l2.weight"].T + w["l2.bias"], 2), 0)
    return np.tanh(h @ w["l3.weight"].T + w["l3.bias"])
