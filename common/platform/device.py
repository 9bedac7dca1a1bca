"""Where torch networks run: an execution setting, like the thread count, not part of a run's config.

`REPRO_DEVICE` is `cpu` (the default) or `cuda`. It does not change the algorithm, so a run keeps its budget and
folder whichever device computes it; provenance.json records the device and the GPU's name. Arithmetic differs in
the last bits between devices, so metrics are identical for the same seed on the same device only.

Determinism on CUDA: when a run asks for the CUDA device (`torch_device`), it first sets the cuBLAS workspace
(`CUBLAS_WORKSPACE_CONFIG=:4096:8`, read when cuBLAS starts, so before any work reaches the GPU) and then
`torch.use_deterministic_algorithms(True)`, under which an operation without a deterministic CUDA kernel is an
error rather than a silent source of run-to-run differences. `REPRO_DETERMINISTIC=0` opts out (faster kernels,
reruns on the same GPU may differ in the last bits). Either way provenance.json says which (`determinism()`:
"deterministic" true/false and "deterministic_reason"); a run on the CPU is deterministic (same seed, same metrics).
"""
from __future__ import annotations

import os

from common.platform.errors import ReproError

DEVICES = ("cpu", "cuda")
CUBLAS_WORKSPACE = ":4096:8"  # one of the two settings NVIDIA documents as deterministic (":16:8" is the other)
DETERMINISTIC_CUBLAS = (":4096:8", ":16:8")

_cuda_determinism: dict | None = None  # set when this process first asked for the CUDA device (torch_device)


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
    if name == "cuda":
        requested = deterministic_requested()  # a bad value is an error before anything is set
        # cuBLAS reads its workspace setting once, when CUDA's first cuBLAS handle is created: set it before that
        late = requested and torch.cuda.is_initialized() and os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in \
            DETERMINISTIC_CUBLAS
        if requested and os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in DETERMINISTIC_CUBLAS:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
        if not torch.cuda.is_available():
            raise ReproError("REPRO_DEVICE=cuda, but torch sees no CUDA device here (a CPU build of torch, or no GPU); "
                             "unset it to run on the CPU")
        configure_cuda_determinism(requested, late or (_cuda_determinism or {}).get("late", False))
    return torch.device(name)


def deterministic_requested() -> bool:
    """REPRO_DETERMINISTIC: 1 (the default) makes CUDA runs deterministic, 0 opts out."""
    value = os.environ.get("REPRO_DETERMINISTIC", "1")
    if value not in ("0", "1"):
        raise ReproError(f"REPRO_DETERMINISTIC={value!r} is not valid; use 1 (deterministic CUDA kernels, the default) "
                         "or 0 (opt out)")
    return value == "1"


def configure_cuda_determinism(requested: bool, late: bool = False) -> dict:
    """Turn deterministic CUDA kernels on (or, with REPRO_DETERMINISTIC=0, off) in this process and remember for
    provenance whether the run is deterministic: only with deterministic kernels and a deterministic cuBLAS workspace
    that was in place before CUDA started here (`late`: it was not)."""
    import torch

    global _cuda_determinism
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    torch.use_deterministic_algorithms(requested)
    if not requested:
        ok, why = False, ("REPRO_DETERMINISTIC=0: CUDA kernels were free to be non-deterministic (atomic adds, "
                          "cuBLAS workspaces), so a rerun on the same GPU may differ in the last bits")
    else:
        torch.backends.cudnn.benchmark = False  # cuDNN picks its algorithm by rule, not by timing
        if workspace not in DETERMINISTIC_CUBLAS:
            ok, why = False, f"CUBLAS_WORKSPACE_CONFIG={workspace!r} is not a deterministic setting"
        elif late:
            ok, why = False, ("CUDA had started in this process before CUBLAS_WORKSPACE_CONFIG was set, so cuBLAS may "
                              "not have read it")
        else:
            ok, why = True, (f"torch.use_deterministic_algorithms(True) and CUBLAS_WORKSPACE_CONFIG={workspace}, set "
                             "before CUDA started; cudnn.benchmark off")
    _cuda_determinism = {"deterministic": ok, "deterministic_reason": why, "late": late}
    return _cuda_determinism


def determinism(threads: str = "") -> dict:
    """For provenance.json: {"deterministic": bool, "deterministic_reason": str} for this process's run; `threads`
    names the thread counts in force (common/platform/threads.py: describe)."""
    if device_name() == "cpu":
        return {"deterministic": True, "deterministic_reason": (
            "cpu: the same seed, config and thread counts give identical metrics"
            + (f" (this run: {threads})" if threads else ""))}
    if _cuda_determinism is None:
        return {"deterministic": True, "deterministic_reason": (
            "REPRO_DEVICE=cuda, but this run's code never asked for the CUDA device (common.platform.device.torch_device): "
            "it computed on the CPU")}
    return {k: _cuda_determinism[k] for k in ("deterministic", "deterministic_reason")}


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
