"""Where an iteration of a TRPO-style loop (GAE's, GAIL's) spends its time, timed inside the real run.

`timed_phases(module, timer)` patches, for the duration of a run of `module` (a paper's loop that imports
`sample_trajectories`, `trpo_step` and `fit_value_trust_region` by name), the calls that make up an iteration with
a `common.platform.bench.PhaseTimer`, so that the same code runs with a perf_counter read around each call:

  sampling            `sample_trajectories`, of which
    act                 the policy's action for one raw observation (the filter, the network, the noise draw)
    environment         the task's `step` and `reset`, its gymnasium wrappers included
    (sampling_other     the rest: buffers, the episode's bookkeeping, the batch's arrays)
  cost_update, cost   a cost model's `update` and `cost` (GAIL's discriminator step and its reward; FEM, GTAL)
  advantages          GAE (eq. 16), the discounted returns, the time-dependent baseline
  policy_step         `trpo_step`, of which
    policy_cg           conjugate gradient with its Fisher-vector products
    policy_line_search  the backtracking line search (a forward pass of the batch per try)
    (policy_gradient    the rest: the forward pass at theta_old, the gradient, the maximal step's product)
  value_fit           `fit_value_trust_region` (GAE eq. 30), of which
    value_cg            conjugate gradient with its Gauss-Newton products
  learning_other      the rest of the iteration: the observation filter, the value function's forward pass,
                      entropy, finiteness checks, the run's bookkeeping

`phase_table(marks)` turns the timer's totals at the loop's start and the end of each iteration (`IterationMarks`)
into ms per iteration of each phase. The timer's own cost (two clock reads a call, a few hundred nanoseconds) is
small against the microseconds of an environment step, so the timed run's speed stays close to an untimed one's.
`timed_run` makes both runs for a paper's bench.
"""
from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from unittest import mock

from common.platform.bench import PhaseTimer
from common.platform.records import RunContext

from . import trpo as trpo_module

#: The phases, in the order an iteration runs them; the indented ones of the module docstring are parts of the
#: ones before them, and `phase_table` reports both.
PHASES = ("sampling", "act", "environment", "sampling_other", "cost_update", "cost", "advantages", "policy_step",
          "policy_gradient", "policy_cg", "policy_line_search", "value_fit", "value_cg", "learning_other")
#: The phases that add up to an iteration's time.
TOP_LEVEL = ("sampling", "cost_update", "cost", "advantages", "policy_step", "value_fit", "learning_other")


@dataclass
class IterationMarks(RunContext):
    """A run context that notes, at each count of units (one per iteration), the time and the timer's totals."""

    timer: PhaseTimer | None = None
    marks: list = field(default_factory=list)

    def restore(self):
        """The checkpoint (none in a bench), and the first mark: the loop starts after this."""
        state = super().restore()
        self.marks.append((time.perf_counter(), 0, dict(self.timer.seconds) if self.timer else {}))
        return state

    def count(self, n: int, unit: str) -> None:
        super().count(n, unit)
        self.marks.append((time.perf_counter(), n, dict(self.timer.seconds) if self.timer else {}))


class _TimedEnv:
    """The environment with its `step` and `reset` timed as "environment"; everything else passes through."""

    def __init__(self, env, timer: PhaseTimer):
        self._env = env
        self.step, self.reset = timer.wrap("environment", env.step), timer.wrap("environment", env.reset)

    def __getattr__(self, name):
        return getattr(self._env, name)


@contextmanager
def timed_phases(module, timer: PhaseTimer, cost_classes: tuple = ()):
    """Within the block, `module`'s sampling, policy step and value fit (and the `update` and `cost` methods of
    `cost_classes`) are timed by `timer` under the names of PHASES; their results are unchanged."""
    cg_phase = ["policy_cg"]  # which step's conjugate gradient is running
    bare_cg = trpo_module.conjugate_gradient
    bare_sample, bare_trpo, bare_fit = module.sample_trajectories, module.trpo_step, module.fit_value_trust_region
    timed_cg = {name: timer.wrap(name, bare_cg) for name in ("policy_cg", "value_cg")}

    def conjugate_gradient(*args, **kwargs):
        return timed_cg[cg_phase[0]](*args, **kwargs)

    def in_phase(name: str, fn):
        timed = timer.wrap(name, fn)

        def call(*args, **kwargs):
            cg_phase[0] = "value_cg" if name == "value_fit" else "policy_cg"
            return timed(*args, **kwargs)
        return call

    def sample_trajectories(env, act, **kwargs):
        return bare_sample(_TimedEnv(env, timer), timer.wrap("act", act), **kwargs)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(trpo_module, "conjugate_gradient", conjugate_gradient))
        stack.enter_context(mock.patch.object(trpo_module, "line_search",
                                              timer.wrap("policy_line_search", trpo_module.line_search)))
        stack.enter_context(mock.patch.multiple(
            module, sample_trajectories=timer.wrap("sampling", sample_trajectories),
            trpo_step=in_phase("policy_step", bare_trpo), fit_value_trust_region=in_phase("value_fit", bare_fit)))
        for name in ("gae", "discounted_returns", "time_dependent_baseline"):
            if hasattr(module, name):
                stack.enter_context(mock.patch.object(module, name, timer.wrap("advantages", getattr(module, name))))
        for cls in cost_classes:
            stack.enter_context(mock.patch.object(cls, "update", timer.wrap("cost_update", cls.update)))
            stack.enter_context(mock.patch.object(cls, "cost", timer.wrap("cost", cls.cost)))
        yield timer


def phase_table(marks: list) -> dict[str, float]:
    """Milliseconds per iteration of each of PHASES and in all ("total") between the first and the last of `marks`
    (`IterationMarks`: the loop's start, then the end of each iteration; the run's set-up and anything after the
    loop are left out), and the env steps per iteration ("env_steps")."""
    (t0, _, s0), (t1, _, s1) = marks[0], marks[-1]
    iterations = len(marks) - 1
    if iterations < 1:
        raise ValueError(f"phase_table needs the loop's start and at least one iteration's end, got {len(marks)} marks")
    ms = {k: 1e3 * (s1.get(k, 0.0) - s0.get(k, 0.0)) / iterations for k in PHASES if k in s1 or k in s0}
    for k in PHASES:
        ms.setdefault(k, 0.0)
    ms["total"] = 1e3 * (t1 - t0) / iterations
    ms["sampling_other"] = ms["sampling"] - ms["act"] - ms["environment"]
    ms["policy_gradient"] = ms["policy_step"] - ms["policy_cg"] - ms["policy_line_search"]
    ms["learning_other"] = ms["total"] - sum(ms[k] for k in TOP_LEVEL if k != "learning_other")
    ms["env_steps"] = sum(n for _, n, _ in marks[1:]) / iterations
    return {k: ms[k] for k in (*PHASES, "total", "env_steps")}


def timed_run(run, cfg, scratch, module, cost_classes: tuple = (), learned_batches: int | None = None) -> dict:
    """Two runs of `run(cfg, ctx)` from a fresh start in `scratch`: one as it is, for its env steps per second over
    the whole run (set-up and anything after the loop included) and over the loop alone (between `IterationMarks`'
    first and last marks), then one under `timed_phases`, for the ms per iteration of each phase. `learned_batches`:
    how many of the run's batches are learned from (GAE samples one more after its last update; its mark is left
    out), None for all. Returns {"run_env_steps_per_s", "loop_env_steps_per_s", "phases_ms"}."""
    from common.platform.records import RunRecord

    def marks_of(ctx: IterationMarks) -> list:
        return ctx.marks[:1 + learned_batches] if learned_batches is not None else ctx.marks

    start = time.perf_counter()
    plain = IterationMarks(RunRecord(scratch / "untimed"), checkpoint_every_s=1e9, show_progress=False)
    run(cfg, plain)
    whole = sum(n for _, n, _ in plain.marks) / (time.perf_counter() - start)
    untimed = phase_table(marks_of(plain))
    timer = PhaseTimer()
    ctx = IterationMarks(RunRecord(scratch / "timed"), checkpoint_every_s=1e9, show_progress=False, timer=timer)
    with timed_phases(module, timer, cost_classes):
        run(cfg, ctx)
    return {"run_env_steps_per_s": whole, "loop_env_steps_per_s": untimed["env_steps"] / (untimed["total"] * 1e-3),
            "phases_ms": phase_table(marks_of(ctx))}
