"""Log-likelihoods and KL divergences of the two policy families of the on-policy papers."""
from __future__ import annotations

import math

import numpy as np


def gaussian_log_prob(mean: np.ndarray, log_std: np.ndarray, act: np.ndarray) -> np.ndarray:
    """log pi(a|s) of a diagonal Gaussian, summed over action dimensions."""
    return (-0.5 * ((act - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def gaussian_kl(mean_old, log_std_old, mean, log_std) -> np.ndarray:
    """KL[pi_old || pi] for diagonal Gaussians, summed over action dimensions."""
    var_old, var = np.exp(2 * log_std_old), np.exp(2 * log_std)
    return (log_std - log_std_old + (var_old + (mean_old - mean) ** 2) / (2 * var) - 0.5).sum(-1)


def gaussian_entropy(log_std: np.ndarray) -> float:
    """Entropy of a diagonal Gaussian (state-independent standard deviation)."""
    return float((log_std + 0.5 * math.log(2 * math.pi * math.e)).sum())


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def categorical_log_prob(logits: np.ndarray, act: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return np.take_along_axis(log_p, np.asarray(act, int)[:, None], -1)[:, 0]


def categorical_kl(probs_old: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """KL[p_old || softmax(logits)] per state."""
    z = logits - logits.max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return (probs_old * (np.log(np.maximum(probs_old, 1e-300)) - log_p)).sum(-1)
