"""The Fisher-vector product of a categorical policy whose logits come from a torch module (e.g. a convolutional
network on Atari frames), as in natural.py: F v = mean_n J_n^T (diag(p_n) - p_n p_n^T) J_n v at theta_old, the
Hessian of the mean KL (TRPO Appendix C.1). J v by forward mode (torch.func.jvp), J^T u by one backward pass
through a graph built once per batch (torch.func.vjp): about half the work of differentiating the KL twice."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.func import functional_call, jvp, vjp


def categorical_fvp_fn(module: torch.nn.Module, inputs: torch.Tensor,
                       damping: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """A function v -> F v + damping v on flat float64 numpy vectors (the layout of the module's parameters, in
    `module.parameters()` order), for the batch `inputs` at the module's current parameters (theta_old)."""
    names = [name for name, _ in module.named_parameters()]
    primals = tuple(p.detach() for p in module.parameters())
    sizes = [p.numel() for p in primals]
    n = inputs.shape[0]

    def logits(*params):
        return functional_call(module, dict(zip(names, params)), (inputs,))

    out, vjp_fn = vjp(logits, *primals)
    probs = torch.softmax(out.detach(), -1)

    def fvp(v: np.ndarray) -> np.ndarray:
        tangents = tuple(t.reshape(p.shape) for t, p in
                         zip(torch.as_tensor(v, dtype=primals[0].dtype).split(sizes), primals))
        _, jv = jvp(logits, primals, tangents)  # J v
        m_jv = probs * jv - probs * (probs * jv).sum(-1, keepdim=True)  # (diag(p) - p p^T) J v
        grads = vjp_fn(m_jv / n)  # J^T (...), averaged over the batch
        return torch.cat([g.reshape(-1) for g in grads]).double().numpy() + damping * v

    return fvp
