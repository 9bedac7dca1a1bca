"""Where torch networks run: an execution setting, like the thread count, not part of a run's config.

`REPRO_DEVICE` is `cpu` (the default) or `cuda`. It does not change the algorithm, so a run keeps its budget and
folder whichever device computes it; provenance.json records the device and the GPU's name. Arithmetic differs in
the last bits between devices, so metrics are identical for the same seed on the same device only.
"""
from __future__ import annotations

import os

from .errors import ReproError

DEVICES = ("cpu", "cuda")


def device_name() -> str:
    """The requested device, checked against the valid names (not against the hardware: see `torch_device`)."""
    name = os.environ.get("REPRO_DEVICE") or "cpu"
    if name not in DEVICES:
        raise ReproError(f"REPRO_DEVICE={name!r} is not a device; valid: {', '.join(DEVICES)}")
    return name


def torch_device():
    """The torch device of this process; `cuda` where torch sees no GPU is an error, never a silent fallback."""
    import torch

    name = device_name()
    if name == "cuda" and not torch.cuda.is_available():
        raise ReproError("REPRO_DEVICE=cuda, but torch sees no CUDA device here (a CPU build of torch, or no GPU); "
                         "unset it to run on the CPU")
    return torch.device(name)


def to_cpu(obj):
    """A copy of `obj` (nested dicts, lists, tuples) with every tensor on the CPU: checkpoints load anywhere."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def module_device(module):
    """The device of a module's parameters (the CPU for a module without any)."""
    import torch

    return next(module.parameters(), torch.empty(0)).device
