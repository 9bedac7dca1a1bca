"""The untrained policy's return on Figure 4's tasks: the floor the forward-progress claims' thresholds stand above.

Figure 4's curves start from a Gaussian policy whose mean is near zero and whose log standard deviation is 0, so
its actions are close to N(0, I) draws (clipped to the task's range by the simulator). `random_returns` plays that
policy, actions N(0, I) from numpy's generator seeded `seed`, for `episodes` episodes (episode k reset with seed
`seed + k`, the episode loop of common/offpolicy/loop.py: evaluate) and returns the episodes' returns; the claims'
notes (claims.yaml) quote its mean and standard deviation over 100 episodes, and tests/test_trpo.py checks that
they do.

    python -m papers.schulman2015_trpo.random_policy Swimmer-v5 InvertedPendulum-v5
"""
from __future__ import annotations

import argparse

import numpy as np

from common.platform.errors import ReproError

EPISODES = 100


def random_returns(env_id: str, episodes: int = EPISODES, seed: int = 0) -> np.ndarray:
    """Returns of `episodes` episodes of N(0, I) actions on `env_id` (the task's own time limit)."""
    from common.offpolicy.loop import evaluate
    from common.rl.envs import make_env

    if episodes < 1:
        raise ReproError(f"episodes must be at least 1, got {episodes}")
    env = make_env(env_id, seed)
    if hasattr(env.action_space, "n"):
        raise ReproError(f"{env_id} has discrete actions; the untrained Gaussian policy is for continuous ones")
    rng = np.random.default_rng(seed)
    returns = np.asarray(evaluate(env, lambda obs: rng.standard_normal(env.action_space.shape), episodes, seed).returns)
    env.close()
    return returns


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_ids", nargs="+")
    parser.add_argument("--episodes", type=int, default=EPISODES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for env_id in args.env_ids:
        r = random_returns(env_id, args.episodes, args.seed)
        print(f"{env_id}: {r.mean():.1f} +- {r.std():.1f} over {args.episodes} episodes (N(0, I) actions, seeds "
              f"{args.seed}-{args.seed + args.episodes - 1})")


if __name__ == "__main__":
    main()
