"""The experts' datasets of GAIL's experiments, and the two ends of Figure 1's scale:

    python -m papers.ho2016_gail.datasets ENV_ID [--trajectories N] [--seed S] [--expert-run RUN_DIR] [--root DIR]
    python -m papers.ho2016_gail.datasets all     # every task whose expert exists
    python -m papers.ho2016_gail.datasets ENV_ID --train-expert   # first trains the expert if it has no complete run

Samples N whole trajectories (default: at least 50, and at least the paper's largest dataset of the task) of the
expert's stochastic policy, and 50 episodes of a uniformly random policy, and records them with the shared
recording helpers of common/offline/datasets.py under `<root>/datasets/<ENV_ID>/gail-expert/`: dataset.npz (the
trajectories, one row a pair; git-ignored, regenerable: the same expert, seed and N give the same bytes) and
dataset.json (committed: the expert's run folder, its agent.json's SHA-256 and recorded return, the config,
provenance, the checksum of dataset.npz, and the scale: the expert's and the random policy's mean and sd returns,
over the stored trajectories and the 50 random episodes). A record without its dataset.npz (a fresh clone) stops an
imitation run before it starts, with the command that rebuilds it (gail_config.py: check_dataset). A run with
`trajectories: n` imitates the first n trajectories (papers/ho2016_gail/gail.py: expert_pairs), subsampled there (MuJoCo: every 20th pair, ~50 a trajectory).

Where the experts come from:
  - CartPole-v1, Acrobot-v1, MountainCar-v0, Ant-v5, Humanoid-v5: this paper's own `expert_*` experiments (TRPO on
    the true reward, `method: expert`), seed 0 of the paper budget in the results folder;
  - Reacher, HalfCheetah, Hopper, Walker2d (v5): PPO Table 1's committed runs that kept their policy
    (results/schulman2017_ppo/runs/table1/paper/*__ENV/seed_*/agent.json, 1M steps), the run with the best mean
    return over its last 100 training episodes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from common.platform.errors import ReproError

from .gail_config import CLASSIC_TASKS, DATASET_KIND, TASKS

#: Table 3's dataset sizes (expert trajectories) per task
PAPER_SIZES = {"CartPole-v1": (1, 4, 7, 10), "Acrobot-v1": (1, 4, 7, 10), "MountainCar-v0": (1, 4, 7, 10),
               "Reacher-v5": (4, 11, 18), "HalfCheetah-v5": (4, 11, 18, 25), "Hopper-v5": (4, 11, 18, 25),
               "Walker2d-v5": (4, 11, 18, 25), "Ant-v5": (4, 11, 18, 25), "Humanoid-v5": (80, 160, 240)}
PPO_EXPERTS = ("Reacher-v5", "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
CLASSIC_TIME_LIMIT = 200  # Gym v0's limit for all three classic tasks (Table 1: the random policy's -200.00)
RANDOM_EPISODES = 50


def default_trajectories(env_id: str) -> int:
    return max(50, max(PAPER_SIZES[env_id]))


def time_limit(env_id: str) -> int:
    """The episode limit the datasets and runs use: 200 on the classic tasks (Gym v0's), the task's own otherwise."""
    return CLASSIC_TIME_LIMIT if env_id in CLASSIC_TASKS else 0


def final_return(run_dir: Path, last: int = 100) -> float:
    import pandas as pd

    episodes = pd.read_csv(run_dir / "episodes.csv.gz")
    return float(episodes["episode_return"].tail(last).mean())


def find_expert(env_id: str, results: Path | None = None, committed: Path | None = None) -> tuple[Path, str]:
    """The expert's run folder for `env_id` and how it was chosen; an error naming the command that makes it."""
    from common import REPO_ROOT
    from common.platform.runs import results_root

    if env_id in PPO_EXPERTS:
        root = Path(committed or REPO_ROOT / "results") / "schulman2017_ppo" / "runs" / "table1" / "paper"
        runs = sorted(p.parent for p in root.glob(f"*__{env_id}/seed_*/agent.json") if (p.parent / "DONE").exists())
        if not runs:
            raise ReproError(f"no PPO Table 1 run of {env_id} with a saved policy under {root}")
        scores = {run: final_return(run) for run in runs}
        best = max(runs, key=lambda r: (scores[r], str(r)))
        return best, (f"the best of {len(runs)} PPO Table 1 runs with a saved policy by the mean return of its last "
                      f"100 training episodes ({scores[best]:.2f})")
    experiment = "expert_classic" if env_id in CLASSIC_TASKS else "expert_mujoco"
    run = Path(results or results_root()) / "ho2016_gail" / "runs" / experiment / "paper" / env_id / "seed_0"
    if not (run / "DONE").exists() or not (run / "agent.json").exists():
        raise ReproError(f"no expert of {env_id} at {run}; train it with `repro run ho2016_gail {experiment} "
                         f"--variant {env_id}` (TRPO on the true reward), or build the dataset with --train-expert")
    return run, f"this paper's {experiment} run (TRPO on the true reward), seed 0"


def rollouts(env_id: str, act, n_episodes: int, seed: int, max_episode_steps: int):
    """`n_episodes` whole episodes of `act(obs, rng)`, each from a reset seeded by one generator: the Dataset
    (common/offline/datasets.py fields; terminals = the task ended, timeouts = the time limit cut it) and the
    returns."""
    from common.offline.datasets import Dataset
    from common.rl.envs import make_env

    env = make_env(env_id, seed, max_episode_steps or None)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 31]))
    rows = {k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")}
    returns = []
    for _ in range(n_episodes):
        obs, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
        total, done = 0.0, False
        while not done:
            action = act(obs, rng)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            for key, value in (("observations", obs), ("actions", np.atleast_1d(action)), ("rewards", reward),
                               ("next_observations", next_obs), ("terminals", terminated),
                               ("timeouts", truncated and not terminated)):
                rows[key].append(value)
            total += float(reward)
            obs, done = next_obs, bool(terminated or truncated)
        returns.append(total)
    env.close()
    ds = Dataset(**{k: np.asarray(v, dtype=bool if k in ("terminals", "timeouts") else np.float32)
                    for k, v in rows.items()})
    ds.cut_at_end = False
    return ds, np.array(returns)


def random_act(env_id: str, max_episode_steps: int):
    """A uniformly random policy over the task's actions (Table 1's "random policy")."""
    from common.rl.envs import make_env

    space = make_env(env_id, 0, max_episode_steps or None).action_space
    if hasattr(space, "n"):
        return lambda obs, rng: int(rng.integers(space.n))
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    return lambda obs, rng: rng.uniform(low, high)


def train_expert(env_id: str) -> None:
    """This paper's expert of `env_id` at the paper budget, seed 0 (`expert_classic` or `expert_mujoco`), run here
    unless its record is complete (an interrupted one resumes from its checkpoint): the same run `repro run` makes."""
    from common.platform.runs import RunSpec, execute

    if env_id in PPO_EXPERTS:
        raise ReproError(f"{env_id}'s expert is a committed PPO Table 1 run (papers/schulman2017_ppo), not trained here")
    experiment = "expert_classic" if env_id in CLASSIC_TASKS else "expert_mujoco"
    print(f"{experiment} {env_id}: {execute(RunSpec('ho2016_gail', experiment, 'paper', env_id, 0))}")


def build(env_id: str, trajectories: int | None = None, seed: int = 0, expert_run: str | None = None,
          root=None, train: bool = False) -> Path:
    """Sample and record the expert dataset of `env_id` (see the module's docstring); returns its folder. `train`:
    first train this paper's expert if it has no complete run (`train_expert`)."""
    from common.offline.datasets import save_dataset
    from common.platform import kernels
    from common.rl.agents import load_agent

    kernels.check()  # the same expert, seed and N give the same bytes on the same kernels (common/platform/kernels.py)

    if env_id not in TASKS:
        raise ReproError(f"unknown task '{env_id}'; valid: {', '.join(TASKS)}, all")
    n = int(trajectories or default_trajectories(env_id))
    if n < 1:
        raise ReproError(f"--trajectories must be at least 1, got {n}")
    if train and not expert_run and env_id not in PPO_EXPERTS:
        train_expert(env_id)
    run, chosen = (Path(expert_run), "given on the command line") if expert_run else find_expert(env_id)
    agent = load_agent(run)
    if agent.meta.get("env_id") != env_id:
        raise ReproError(f"{run} trained on {agent.meta.get('env_id')}, not {env_id}")
    limit = time_limit(env_id)
    ds, expert_returns = rollouts(env_id, lambda obs, rng: agent.act(obs, False, rng), n, seed, limit)
    _, random_returns = rollouts(env_id, random_act(env_id, limit), RANDOM_EPISODES, seed + 1, limit)
    meta_file = run / "agent.json"
    from common import REPO_ROOT

    shown = str(run.resolve().relative_to(REPO_ROOT)) if run.resolve().is_relative_to(REPO_ROOT) else str(run)
    commit = json.loads((run / "provenance.json").read_text()).get("git", {}) if (run / "provenance.json").exists() \
        else {}
    source = {"expert_run": shown, "chosen": chosen, "agent_json_sha256": hashlib.sha256(meta_file.read_bytes())
              .hexdigest(), "expert_algorithm": agent.meta.get("algorithm"),
              "expert_env_steps": agent.meta.get("env_steps"), "expert_commit": commit,
              "actions": "sampled (the expert's stochastic policy)",
              "scale": {"expert_return_mean": float(expert_returns.mean()),
                        "expert_return_sd": float(expert_returns.std()),
                        "expert_episodes": int(len(expert_returns)),
                        "random_return_mean": float(random_returns.mean()),
                        "random_return_sd": float(random_returns.std()), "random_episodes": RANDOM_EPISODES,
                        "random_policy": "uniform over the action space"}}
    config = {"env_id": env_id, "trajectories": n, "seed": seed, "max_episode_steps": limit,
              "paper_sizes": list(PAPER_SIZES[env_id]), "expert_run": shown}
    return save_dataset(ds, env_id, DATASET_KIND, config, source, root)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m papers.ho2016_gail.datasets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id", help=f"one of {', '.join(TASKS)}, or all")
    p.add_argument("--trajectories", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--expert-run", default=None)
    p.add_argument("--root", default=None)
    p.add_argument("--train-expert", action="store_true",
                   help="train this paper's expert first when it has no complete run (classic: minutes; Ant, "
                        "Humanoid: hours, better through `repro sweep ho2016_gail expert_mujoco --launcher slurm`)")
    a = p.parse_args(argv)
    tasks = TASKS if a.env_id == "all" else (a.env_id,)
    status = 0
    for env_id in tasks:
        try:
            folder = build(env_id, a.trajectories, a.seed, a.expert_run, a.root, a.train_expert)
        except ReproError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        doc = json.loads((folder / "dataset.json").read_text())
        print(folder)
        print(json.dumps({"scale": doc["source"]["scale"], "statistics": doc["statistics"]}, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
