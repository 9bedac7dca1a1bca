"""Small multilayer perceptrons in numpy: forward pass, hand-written backpropagation, and Adam.

For networks as small as PPO's (two hidden layers of 64 units, minibatches of 64) a deep-learning framework spends
more time dispatching operations than doing arithmetic: one PPO minibatch update through torch autograd takes about
1.4 ms here, the same arithmetic in numpy a fraction of that. The gradients are tested against torch autograd
(tests/test_ppo_math.py).

All of a model's parameters live in one flat float64 vector (`Params.flat`), with named views for each weight and
bias, and a gradient vector of the same layout: the optimizer then updates everything with a handful of vector
operations, and a checkpoint is two arrays.
"""
from __future__ import annotations

import numpy as np


class Params:
    """Named parameter arrays that are views into one flat vector, with a gradient vector of the same layout."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]):
        self.shapes = dict(shapes)
        sizes = [int(np.prod(s)) for s in self.shapes.values()]
        self.flat = np.zeros(sum(sizes))
        self.grad = np.zeros_like(self.flat)
        self._value, self._grad = {}, {}
        start = 0
        for (name, shape), size in zip(self.shapes.items(), sizes):
            self._value[name] = self.flat[start:start + size].reshape(shape)
            self._grad[name] = self.grad[start:start + size].reshape(shape)
            start += size

    def __getitem__(self, name: str) -> np.ndarray:
        return self._value[name]

    def g(self, name: str) -> np.ndarray:
        """The gradient view of parameter `name`."""
        return self._grad[name]

    def names(self) -> list[str]:
        return list(self.shapes)

    def layers(self, prefix: str, n_layers: int, grad: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (weight, bias) views of an MLP's layers (`grad`: of their gradients), looked up once per network (the
        views stay valid: the flat vectors are only ever changed in place)."""
        cache = self.__dict__.setdefault("_layers", {})  # (an object unpickled from before this cache has none)
        key = (prefix, n_layers, grad)
        if key not in cache:
            view = self.g if grad else self.__getitem__
            cache[key] = [(view(f"{prefix}.{i}.w"), view(f"{prefix}.{i}.b")) for i in range(n_layers)]
        return cache[key]


def mlp_shapes(prefix: str, sizes: list[int]) -> dict[str, tuple[int, ...]]:
    """Shapes of an MLP's layers: weights stored (n_in, n_out), so a layer is x @ W + b."""
    shapes = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"{prefix}.{i}.w"] = (n_in, n_out)
        shapes[f"{prefix}.{i}.b"] = (n_out,)
    return shapes


def normc_init(p: Params, prefix: str, n_layers: int, out_std: float, rng: np.random.Generator) -> None:
    """Gaussian weights with each unit's incoming weights scaled to norm 1 (hidden layers) or `out_std` (output
    layer), zero biases: the initializer of OpenAI baselines' `ppo1` policies."""
    for i in range(n_layers):
        w = rng.standard_normal(p[f"{prefix}.{i}.w"].shape)
        std = out_std if i == n_layers - 1 else 1.0
        p[f"{prefix}.{i}.w"][...] = w * std / np.linalg.norm(w, axis=0, keepdims=True)
        p[f"{prefix}.{i}.b"][...] = 0.0


def mlp_forward(p: Params, prefix: str, n_layers: int, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """tanh hidden layers, linear output. Returns the output and each layer's input (kept for the backward pass)."""
    inputs = [x]
    h = x
    last = n_layers - 1
    for i, (w, b) in enumerate(p.layers(prefix, n_layers)):
        h = h @ w + b
        if i < last:
            h = np.tanh(h)
            inputs.append(h)
    return h, inputs


def tanh_derivatives(inputs: list[np.ndarray]) -> list[np.ndarray | None]:
    """tanh'(pre_i) = 1 - h_i^2 for each hidden layer's output h_i among `inputs` (as `mlp_forward` returns them; None
    for the network's input): computed once for the many backward and forward-mode passes at the same parameters
    (a conjugate gradient's products), the same numbers `mlp_backward` and `mlp_jvp` compute otherwise."""
    return [None] + [1.0 - h ** 2 for h in inputs[1:]]


def mlp_backward(p: Params, prefix: str, n_layers: int, inputs: list[np.ndarray], d_out: np.ndarray,
                 tanh_grads: list[np.ndarray | None] | None = None) -> None:
    """Writes d(loss)/d(weights) into the gradient views, given d(loss)/d(output) for the batch (overwrites).
    `tanh_grads`: `tanh_derivatives(inputs)`, when the caller keeps them (None: computed here)."""
    d = d_out
    layers, grads = p.layers(prefix, n_layers), p.layers(prefix, n_layers, grad=True)
    for i in range(n_layers - 1, -1, -1):
        grads[i][0][...] = inputs[i].T @ d
        grads[i][1][...] = d.sum(0)
        if i > 0:
            tanh_grad = (1.0 - inputs[i] ** 2) if tanh_grads is None else tanh_grads[i]  # tanh' = 1 - tanh^2
            d = (d @ layers[i][0].T) * tanh_grad


class Adam:
    """Adam (Kingma & Ba 2015) on a flat parameter vector, with torch.optim.Adam's arithmetic:
    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  theta <- theta - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)."""

    def __init__(self, n: int, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m, self.v, self.t = np.zeros(n), np.zeros(n), 0

    def step(self, theta: np.ndarray, grad: np.ndarray, lr: float) -> None:
        self.t += 1
        self.m *= self.beta1
        self.m += (1 - self.beta1) * grad
        self.v *= self.beta2
        self.v += (1 - self.beta2) * grad * grad
        denom = np.sqrt(self.v) / np.sqrt(1 - self.beta2 ** self.t) + self.eps
        theta -= (lr / (1 - self.beta1 ** self.t)) * self.m / denom

    def state_dict(self) -> dict:
        return {"m": self.m.copy(), "v": self.v.copy(), "t": self.t}

    def load_state_dict(self, state: dict) -> None:
        self.m[...], self.v[...], self.t = state["m"], state["v"], state["t"]


class RMSProp:
    """RMSProp as TensorFlow 1's `tf.train.RMSPropOptimizer` computes it (the optimizer of OpenAI baselines' A2C and
    ACER), without momentum: the mean square starts at 1 and epsilon sits inside the square root:
    ms <- rho ms + (1-rho) g^2;  theta <- theta - lr * g / sqrt(ms + eps)."""

    def __init__(self, n: int, rho: float = 0.99, eps: float = 1e-5):
        self.rho, self.eps = rho, eps
        self.ms = np.ones(n)

    def step(self, theta: np.ndarray, grad: np.ndarray, lr: float) -> None:
        self.ms *= self.rho
        self.ms += (1 - self.rho) * grad * grad
        theta -= lr * grad / np.sqrt(self.ms + self.eps)

    def state_dict(self) -> dict:
        return {"ms": self.ms.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.ms[...] = state["ms"]


def clip_by_global_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """Scale the gradient vectors in place so that their joint L2 norm is at most `max_norm` (TensorFlow's
    `tf.clip_by_global_norm`); returns the norm before clipping."""
    norm = float(np.sqrt(sum(float(g @ g) for g in grads)))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / norm
    return norm
