"""D4RL's normalized score and its reference returns (Fu et al. 2020, arXiv 2004.07219).

    normalized score = 100 (R - R_random) / (R_expert - R_random)

with D4RL's REF_MIN_SCORE (a uniformly random policy) and REF_MAX_SCORE (the expert policy) of `d4rl/infos.py`
(Farama-Foundation/D4RL at commit 0ace16de1795f9e99b0e413f3617f797a997b57e, the same constants for the -v0, -v1 and
-v2 datasets of a task; copied in ../shared/reported/cql2020.yaml). `d4rl.get_normalized_score` returns the
fraction; papers, CQL's Table 1 among them, print it x 100, as here.

D4RL's constants were measured on Gym's -v2/-v3 MuJoCo tasks (mujoco-py); the tasks here are gymnasium's v5, so a
normalized score here is "on D4RL's scale", not the same quantity: every table labels which scale it uses. The
second scale, `own_normalized`, uses this repository's own random and expert returns (recorded with the datasets).
"""
from __future__ import annotations

import math

#: task -> (REF_MIN_SCORE, REF_MAX_SCORE), undiscounted returns of 1000-step episodes (d4rl/infos.py)
REFERENCE_RETURNS = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
}

#: gymnasium task -> D4RL task name
D4RL_TASK = {"HalfCheetah-v5": "halfcheetah", "Hopper-v5": "hopper", "Walker2d-v5": "walker2d", "Ant-v5": "ant"}


def d4rl_task(env_id: str) -> str | None:
    """D4RL's name of a gymnasium task (None: D4RL has no such task)."""
    return D4RL_TASK.get(env_id)


def normalized_score(returns, low: float, high: float):
    """100 (R - low) / (high - low), elementwise."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        raise ValueError(f"normalization needs finite reference returns with high > low; got low={low}, high={high}")
    return 100.0 * (returns - low) / (high - low)


def d4rl_normalized(env_id: str, returns):
    """The return(s) on D4RL's normalized scale (0 = D4RL's random policy, 100 = D4RL's expert); a task D4RL does
    not have is an error."""
    task = d4rl_task(env_id)
    if task is None:
        raise ValueError(f"D4RL has no reference returns for {env_id}; it has {', '.join(D4RL_TASK)}")
    return normalized_score(returns, *REFERENCE_RETURNS[task])
