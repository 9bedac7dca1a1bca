"""Values checked before any work: a run's resolved config (each runner's `validate`) and the REPRO_* settings.

A runner's `validate(cfg)` (common/platform/registry.py: `Runner`) uses the checks below; each raises `ConfigValueError`
naming the key, the bad value and what is valid. `common.platform.runs.resolve` calls it on every config it resolves, so
`repro run`, `repro sweep` (any launcher) and `repro bench` stop with exit status 2 before a run folder is made or a
job submitted, and the message adds which layer set the value (experiments.yaml, a budget, a variant, the command
line, the seed).

Environment settings (`REPRO_*`) are read through `ENVIRONMENT` and checked together by `check_environment`, which
the CLI calls before any command runs (and the Slurm launcher on the variables it passes to its tasks).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from common.platform.errors import ReproError


class ConfigValueError(ReproError):
    """A config value the runner cannot use: `key`, its `value` and what is `valid`."""

    def __init__(self, key: str, value, valid: str):
        self.key, self.value, self.valid = key, value, valid
        super().__init__(self.text())

    def text(self, source: str = "") -> str:
        """The message; `source` names the layer that set the value ("command line", "variant 'ts'", ...)."""
        origin = f" (from {source})" if source else ""
        return f"config key '{self.key}'{origin} is {_show(self.value)}; valid: {self.valid}"


def _show(value) -> str:
    if hasattr(value, "_content") or isinstance(value, (list, tuple)):  # an omegaconf ListConfig, or a list
        return repr(list(value))
    return repr(value)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---- config values ---------------------------------------------------------------------------------------------
def one_of(cfg, key: str, valid) -> None:
    if getattr(cfg, key) not in valid:
        raise ConfigValueError(key, getattr(cfg, key), ", ".join(map(str, valid)))


def at_least(cfg, minimum, *keys: str) -> None:
    """Each key's value is a finite number >= minimum (counts, sizes, steps: at_least(cfg, 1, ...))."""
    for key in keys:
        value = getattr(cfg, key)
        if not (_number(value) and value >= minimum):
            kind = "an integer" if isinstance(minimum, int) and not isinstance(value, float) else "a number"
            raise ConfigValueError(key, value, f"{kind} >= {minimum}")


def positive(cfg, *keys: str) -> None:
    """Each key's value is a finite number > 0 (rates, scales, standard deviations)."""
    for key in keys:
        value = getattr(cfg, key)
        if not (_number(value) and value > 0):
            raise ConfigValueError(key, value, "a finite number > 0")


def between(cfg, lo: float, hi: float, *keys: str, lo_open: bool = False) -> None:
    """Each key's value lies in [lo, hi] ((lo, hi] with lo_open): probabilities, discounts, rates of change."""
    for key in keys:
        value = getattr(cfg, key)
        if not (_number(value) and (lo < value if lo_open else lo <= value) and value <= hi):
            raise ConfigValueError(key, value, f"a number in {'(' if lo_open else '['}{lo}, {hi}]")


def finite(cfg, *keys: str) -> None:
    for key in keys:
        if not _number(getattr(cfg, key)):
            raise ConfigValueError(key, getattr(cfg, key), "a finite number")


def each(cfg, key: str, length: int, length_of: str, lo: float, hi: float = math.inf, lo_open: bool = False) -> None:
    """A list of `length` numbers (one per `length_of`), each in [lo, hi] ((lo, hi] with lo_open)."""
    values = getattr(cfg, key)
    if values is None or len(values) != length:
        raise ConfigValueError(key, values, f"a list of {length} numbers (one per {length_of})")
    for v in values:
        if not (_number(v) and (lo < v if lo_open else lo <= v) and v <= hi):
            valid = f"numbers {'>' if lo_open else '>='} {lo}" + ("" if hi == math.inf else f" and <= {hi}")
            raise ConfigValueError(key, values, valid)


def require(ok: bool, key: str, value, valid: str) -> None:
    """A check between keys (e.g. minibatch_size <= horizon)."""
    if not ok:
        raise ConfigValueError(key, value, valid)


def seed(cfg) -> None:
    at_least(cfg, 0, "seed")


# ---- environment settings --------------------------------------------------------------------------------------
def _seconds(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ReproError(f"{name}={text!r} is not a number of seconds; valid: a finite number >= 0")
    return value


def _folder(name: str, text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ReproError(f"{name}={text!r} is a file, not a folder; valid: a folder (made if missing)")
    return path


def _positive_int(name: str, text: str) -> int:
    if not (text.isdigit() and int(text) >= 1):
        raise ReproError(f"{name}={text!r} is not a thread count; valid: a whole number >= 1")
    return int(text)


def _choice(*valid: str):
    def check(name: str, text: str) -> str:
        if text not in valid:
            raise ReproError(f"{name} must be {' or '.join(valid)}, got {text!r}")
        return text
    return check


def _device(name: str, text: str) -> str:
    from common.platform.device import DEVICES

    if text not in DEVICES:
        raise ReproError(f"{name}={text!r} is not a device; valid: {', '.join(DEVICES)}")
    return text


def _tensorboard(name: str, text: str) -> bool:
    """0 or 1; 1 needs the optional extra `tensorboard` (an error where it is not installed, never a silent no-op)."""
    import importlib.util

    if text not in ("0", "1"):
        raise ReproError(f"{name} must be 0 or 1, got {text!r}")
    if text == "1" and importlib.util.find_spec("tensorboard") is None:
        raise ReproError(f"{name}=1 streams live metrics to TensorBoard, but tensorboard is not installed: "
                         "pip install -e '.[tensorboard]' (or unset it)")
    return text == "1"


#: name -> (what it sets, its default, how it is checked and parsed)
ENVIRONMENT = {
    "REPRO_RESULTS": ("the folder of run records and reports", "results/ of the repository", _folder),
    "REPRO_CHECKPOINT_EVERY_S": ("seconds between a run's checkpoints", "60", _seconds),
    "REPRO_PROGRESS_EVERY_S": ("seconds between a run's progress records", "30", _seconds),
    "REPRO_DEVICE": ("where torch networks run (common/platform/device.py)", "cpu", _device),
    "REPRO_BLAS_THREADS": ("threads of numpy's BLAS in a run (common/platform/threads.py)", "1", _positive_int),
    "REPRO_KERNELS": ("the SIMD kernels of numpy and torch: avx2, the same on every x86-64 CPU with AVX2, or "
                      "native (common/platform/kernels.py)", "avx2", _choice("avx2", "native")),
    "REPRO_LAUNCHER": ("where a sweep's runs execute", "local", _choice("local", "slurm")),
    "REPRO_SLURM_PROFILE": ("the Slurm profile (checked when the Slurm launcher loads it)", "", None),
    "REPRO_SLURM_LOGS": ("the folder of submitit's logs", "results/../.submitit", _folder),
    "REPRO_TENSORBOARD": ("stream live metrics as TensorBoard scalars to <run>/tensorboard/ (common/platform/live.py)",
                          "0", _tensorboard),
    "REPRO_KEEP_FREED_MEMORY": ("1: the loops that ask for it keep freed memory for reuse; 0: they do not, as `repro "
                                "bench --kept-memory` times them; no number changes (common/platform/memory.py)", "1",
                                _choice("0", "1")),
}


def env_setting(name: str, default=None, environ=None):
    """The checked value of one REPRO_* setting of `environ` (default: this process's); `default` when it is unset
    or empty."""
    text = (os.environ if environ is None else environ).get(name, "")
    check = ENVIRONMENT[name][2]
    if not text:
        return default
    return check(name, text) if check else text


def check_environment(environ=None) -> None:
    """Every REPRO_* setting of `environ` (default: this process's) checked: one line naming the variable, its value
    and what is valid."""
    for name in ENVIRONMENT:
        env_setting(name, environ=environ)


def snapshot_steps(cfg, key: str = "save_agent_at_steps", total_key: str = "total_env_steps") -> None:
    """Every step at which a run keeps a snapshot of its agent lies in 1..the run's total steps."""
    total, steps = getattr(cfg, total_key), list(getattr(cfg, key))
    bad = [s for s in steps if not (isinstance(s, int) and not isinstance(s, bool) and 0 < s <= total)]
    if bad:
        raise ConfigValueError(key, steps, f"a list of integer steps in 1..{total_key} ({total:,}); not {bad}")
