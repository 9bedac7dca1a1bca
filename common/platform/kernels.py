"""The SIMD kernels a run computes with: AVX2's on every x86-64 CPU that has AVX2, whatever wider ones it offers.

numpy's BLAS (OpenBLAS) and torch (its own vectorized kernels, MKL, oneDNN) choose their kernels from the CPU when
they load. An AVX-512 kernel sums in another order than an AVX2 one, so the same run differs in the last bits from
one machine to another, and on a chaotic task (MuJoCo's) soon in every bit. Measured: GAIL's Hopper expert dataset
(papers/ho2016_gail/datasets.py), the same policy sampled with the same seed, came out with other trajectories on an
AVX-512 machine (dataset.npz SHA-256 3c45ac8c..., 39,215 pairs) than its record (4ad19c4d..., 36,260 pairs, made on an
AVX2 machine), and byte for byte the record's with OpenBLAS held to its Haswell (AVX2) kernels. A dataset rebuilt
from its record, a resumed run and a run made again on another machine all rely on the same kernels.

The rule: `REPRO_KERNELS` chooses, `avx2` when it is unset.
  - `avx2`: on an x86-64 CPU with AVX2, `pin()` sets, before numpy or torch loads, OPENBLAS_CORETYPE=Haswell,
    ATEN_CPU_CAPABILITY=avx2, MKL_ENABLE_INSTRUCTIONS=AVX2 and ONEDNN_MAX_CPU_ISA=AVX2 (a shell's own values of these
    are replaced: they would change the bits silently). On another CPU (no AVX2, or not x86-64) the libraries
    choose, and provenance says so. MKL is limited to AVX2's instructions, not put in its conditional-reproducibility
    mode (MKL_CBWR=AVX2): that mode sums in yet another order, and offline SAC's first 1,000 gradient steps on Hopper
    then evaluated at 90.218 instead of the 90.227 that the AVX2 machine recorded and the pin above reproduces.
  - `native`: the libraries choose from the CPU (results then hold on this kind of CPU only).
`pin()` runs when the package `common` is imported (common/__init__.py; papers/__init__.py and tests/conftest.py
import it first), so every entry point (`repro`, `python -m common...`, `python -m papers...`, Slurm tasks, which
inherit the environment) loads the libraries pinned. `check()`, at the start of every run
(common/platform/runs.py: execute), stops a run whose process loaded numpy before the pin (OpenBLAS on other kernels
than the rule's), before any run folder is made; `in_force()` is what provenance.json records.

Cost: none measurable. `repro bench --no-peer` alternating REPRO_KERNELS=avx2 and native, two rounds each, on an
AVX-512 machine with two other runs sharing its 2 cores (env-steps/s, avx2 / native): SAC v2 on Hopper (torch) 82, 89
/ 86, 87; PPO on Hopper (numpy) 5,482, 5,448 / 5,407, 4,729; TRPO single path on Swimmer (numpy) 13,893, 14,031 /
14,486, 14,207.
"""
from __future__ import annotations

import os
import platform
import sys

from common.platform.errors import ReproError

VALID = ("avx2", "native")

#: the variables that hold each library to its AVX2 kernels, read when the library loads
AVX2_ENV = {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
            "ONEDNN_MAX_CPU_ISA": "AVX2"}


def requested() -> str:
    """REPRO_KERNELS: `avx2` (unset) or `native`; anything else is an error naming what is valid."""
    value = os.environ.get("REPRO_KERNELS", "avx2").strip().lower() or "avx2"
    if value not in VALID:
        raise ReproError(f"REPRO_KERNELS={os.environ['REPRO_KERNELS']!r} is not valid; valid: "
                         f"{', '.join(VALID)} (common/platform/kernels.py)")
    return value


def cpu_has_avx2() -> bool:
    """Whether this is an x86-64 CPU with AVX2 (Linux: /proc/cpuinfo's flags; elsewhere: not assumed)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx2" in line.split()
    except OSError:
        return False
    return False


def pinned() -> bool:
    """Whether this process computes with the pinned AVX2 kernels (the rule asks for them and the CPU has AVX2)."""
    try:
        return requested() == "avx2" and cpu_has_avx2()
    except ReproError:
        return False


def pin() -> None:
    """Set the variables of AVX2_ENV where the rule asks for them; a bad REPRO_KERNELS is left for `check()` to name
    (importing `common` never fails on it)."""
    if pinned():
        os.environ.update(AVX2_ENV)


def openblas_architectures() -> list[str]:
    """The kernel family ("Haswell", "SkylakeX", ...) of every OpenBLAS loaded in this process."""
    from threadpoolctl import threadpool_info

    return [str(lib.get("architecture")) for lib in threadpool_info() if lib.get("internal_api") == "openblas"]


def in_force() -> dict:
    """What provenance.json records: the rule, whether it held the kernels here, OpenBLAS's kernel family and torch's
    CPU capability (None where torch is not loaded)."""
    torch = sys.modules.get("torch")
    capability = None
    if torch is not None:
        capability = str(torch.backends.cpu.get_cpu_capability())
    return {"rule": requested(), "pinned": pinned(), "cpu_has_avx2": cpu_has_avx2(),
            "openblas": openblas_architectures(), "torch_cpu_capability": capability,
            "env": {k: os.environ.get(k) for k in AVX2_ENV}}


def check() -> dict:
    """`in_force()`, or an error where the rule holds the kernels but a library loaded before the pin."""
    state = in_force()
    if state["pinned"]:
        wrong = [a for a in state["openblas"] if a.lower() != AVX2_ENV["OPENBLAS_CORETYPE"].lower()]
        if state["torch_cpu_capability"] not in (None, "AVX2"):
            wrong.append(f"torch {state['torch_cpu_capability']}")
        if wrong or any(os.environ.get(k) != v for k, v in AVX2_ENV.items()):
            raise ReproError(
                f"this process computes with kernels {', '.join(wrong) or 'unpinned'}, not AVX2's (OpenBLAS "
                f"{AVX2_ENV['OPENBLAS_CORETYPE']}, torch AVX2): numpy or torch was loaded before the package "
                f"`common` set {', '.join(f'{k}={v}' for k, v in AVX2_ENV.items())}; import `common` first, or set "
                "REPRO_KERNELS=native to compute with this CPU's own kernels (common/platform/kernels.py)")
    return state
