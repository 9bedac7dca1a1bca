"""Writes curves.csv: the subset of the reference curves (../shared/reference/, described by its SOURCES.md) that the
claims compare with, in one long format. Rerun with `python -m common.analysis.reference_data.extract [DIR]` where DIR holds
the five source files; the output is deterministic.

Kept: only the sources of sources.yaml, only the tasks and step windows in WINDOWS (what claims.yaml's comparisons
use at the budgets recorded), only the value column. Columns of curves.csv:
  key     sources.yaml entry; source, algo, metric, task, seed: as in the source file
  unit    what x counts: agent_steps (Atari: actions taken, each repeated for the frame skip; Dopamine's frames / 4,
          MushroomRL's agent_steps, Tianshou's env_step summed over its 10 environments) or env_steps (MuJoCo)
  x_start, x_end   the span of steps a value summarizes: Dopamine's Atari iteration [frames_start, frames_end) / 4;
          Dopamine SAC's 1,000-step iteration [env_steps, env_steps + 1000); an evaluation point: x_start = x_end
  value   the source's value (returns; rounded as in the source file)
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).parent

# (sources.yaml key, tasks, unit, window [lo, hi] in that unit)
DQN_TASKS = ["BeamRider", "Breakout", "Enduro", "Pong", "Qbert", "Seaquest", "SpaceInvaders"]
WINDOWS = [
    *[(k, DQN_TASKS, "agent_steps", (250_000, 500_000))
      for k in ("dopamine_dqn_tf", "dopamine_dqn_jax_adam_mse_2021", "dopamine_dqn_jax_cnn_2024")],
    ("mushroomrl_dqn", ["Breakout"], "agent_steps", (250_000, 500_000)),
    *[(k, ["Hopper"], "env_steps", (950_000, 1_000_000)) for k in ("dopamine_sac", "jaxrl_sac", "tianshou_sac")],
    *[(k, ["Walker2d", "HalfCheetah", "Ant"], "env_steps", (250_000, 300_000))
      for k in ("dopamine_sac", "jaxrl_sac", "tianshou_sac")],
    ("tianshou_ppo", ["HalfCheetah", "Hopper", "InvertedPendulum", "Walker2d"], "env_steps", (900_000, 1_000_000)),
    ("mushroomrl_ppo", ["HalfCheetah", "Hopper", "Walker2d"], "env_steps", (900_000, 1_000_000)),
    ("tianshou_ppo_atari", ["Pong", "Breakout"], "agent_steps", (900_000, 1_000_000)),
    *[(k, ["Hopper", "Walker2d", "HalfCheetah", "Ant"], "env_steps", window)
      for k in ("tianshou_ddpg", "mushroomrl_ddpg") for window in ((50_000, 100_000), (950_000, 1_000_000))],
]


def task_name(spec: dict, task: str) -> str:
    return (spec.get("task_overrides") or {}).get(task) or spec["task"].format(task=task)


def _long(src: Path, spec: dict) -> pd.DataFrame:
    """The source file's rows of one sources.yaml entry, with unit, x_start and x_end."""
    s, a = spec["source"], spec["algo"]
    if s == "dopamine" and a.startswith("DQN"):
        d = pd.read_csv(src / "atari_dqn_dopamine.csv").rename(columns={"game": "task"})
        return d.assign(unit="agent_steps", x_start=d["frames_start"] // 4, x_end=d["frames_end"] // 4)
    if s == "mushroomrl" and a == "DQN":
        d = pd.read_csv(src / "atari_dqn_mushroomrl.csv").rename(columns={"game": "task"})
        return d.assign(unit="agent_steps", x_start=d["agent_steps"], x_end=d["agent_steps"])
    if s == "tianshou" and spec["metric"].startswith("eval_mean_test"):
        d = pd.read_csv(src / "atari_ppo_tianshou.csv").rename(columns={"game": "task"})
        return d.assign(unit="agent_steps", x_start=d["env_step"], x_end=d["env_step"])
    name = "mujoco_onpolicy.csv" if a in ("PPO", "A2C", "TRPO", "NPG", "REINFORCE") else "mujoco_offpolicy.csv"
    d = pd.read_csv(src / name).rename(columns={"env": "task"})
    span = 1000 if spec["metric"] == "train_iter1k_sampled" else 0
    return d.assign(unit="env_steps", x_start=d["env_steps"], x_end=d["env_steps"] + span)


def extract(src: Path) -> pd.DataFrame:
    specs = yaml.safe_load((HERE / "sources.yaml").read_text())
    parts = []
    for key, tasks, unit, (lo, hi) in WINDOWS:
        spec = specs[key]
        d = _long(src, spec)
        names = {task_name(spec, t): t for t in tasks}
        d = d[(d["source"] == spec["source"]) & (d["algo"] == spec["algo"]) & (d["metric"] == spec["metric"])
              & d["task"].isin(names) & (d["x_start"] >= lo) & (d["x_end"] <= hi)]
        assert (d["unit"] == unit).all() and set(d["task"]) == set(names), (key, set(d["task"]))
        parts.append(d.assign(key=key)[["key", "source", "algo", "metric", "task", "seed", "unit", "x_start", "x_end",
                                        "value"]])
    out = pd.concat(parts, ignore_index=True).drop_duplicates()
    return out.sort_values(["key", "task", "seed", "x_start"], kind="stable").reset_index(drop=True)


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference")
    out = extract(src)
    out.to_csv(HERE / "curves.csv", index=False, lineterminator="\n")
    print(f"{len(out)} rows -> {HERE / 'curves.csv'}")
