"""D4RL-style datasets built here, from this repository's own SAC runs (D4RL's files cannot be downloaded here).

The five gym datasets of D4RL (Fu et al. 2020, arXiv 2004.07219, Sec. 5 and Appendix C), built the way D4RL built
them, on gymnasium's v5 tasks:

    random          uniform actions over the action bounds, 1M transitions (D4RL's own random datasets came from a
                    randomly initialized policy; uniform actions are this repository's choice, stated in every record)
    medium          a SAC policy stopped at about a third of the expert's return (a snapshot of a SAC run,
                    `save_agent_at_steps`), its sampled actions, 1M transitions
    expert          the fully trained SAC policy of the same kind of run, its sampled actions, 1M transitions
    medium-replay   the SAC run's replay buffer up to the step the medium snapshot was taken (`save_replay: true`)
    medium-expert   medium followed by expert (2M transitions)

Fields, one row a transition (D4RL's names): observations, actions, rewards, next_observations, terminals (the task
ended: no bootstrap) and timeouts (the episode was cut: by the task's time limit, or by the dataset's size at its
end; bootstrap). Both false: the episode goes on at the next row. An episode ends at a row where either is true.

Storage: `<root>/datasets/<env_id>/<kind>/` (`root`: $REPRO_RESULTS or results/, git-ignored, regenerable):
    dataset.npz    the six arrays (float32; terminals and timeouts bool), written byte-for-byte reproducibly
    dataset.json   what the dataset is: env and version, kind, how it was built (config), where its policy came from
                   (the SAC run folder, its agent.json's SHA-256, the snapshot step), provenance (commit, packages,
                   machine, time), the SHA-256 of dataset.npz (checked on loading) and the returns of its episodes
Minari's format (`minari`) was the first choice, but it is not installed here and writes its datasets only through its
`hdf5` (h5py) or `arrow` (pyarrow) extra, neither installed; the layout here carries the same fields, and a conversion
is a loop over episodes.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from common.offline.d4rl import d4rl_normalized, d4rl_task
from common.platform.errors import ReproError

FORMAT = 1
KINDS = ("random", "medium", "expert", "medium-replay", "medium-expert")
FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
#: transitions of D4RL's gym datasets where D4RL has a fixed size (medium-replay is whatever the replay held)
D4RL_SIZES = {"random": 1_000_000, "medium": 1_000_000, "expert": 1_000_000, "medium-expert": 2_000_000}


@dataclass
class Dataset:
    observations: np.ndarray  # (N, obs_dim) float32
    actions: np.ndarray  # (N, act_dim) float32
    rewards: np.ndarray  # (N,) float32
    next_observations: np.ndarray  # (N, obs_dim) float32
    terminals: np.ndarray  # (N,) bool: the task ended
    timeouts: np.ndarray  # (N,) bool: the episode was cut (time limit, or the dataset's end)

    def __post_init__(self):
        n = len(self.rewards)
        for name in FIELDS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"dataset field {name} has {len(getattr(self, name))} rows; rewards has {n}")
        if np.any(self.terminals & self.timeouts):
            raise ValueError("a transition is both terminal and timed out; D4RL keeps them apart")

    def __len__(self) -> int:
        return len(self.rewards)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in FIELDS}

    def episode_ends(self) -> np.ndarray:
        """Row indices where an episode ends (terminal or timed out)."""
        return np.flatnonzero(self.terminals | self.timeouts)


def episode_returns(ds: Dataset, complete_only: bool = True) -> np.ndarray:
    """Undiscounted return of each episode, in order. An episode ends at a terminal or a time-out; rows after the
    last end (an episode still running) are left out, and with `complete_only` so is an episode cut by the dataset's
    own end (its last row, timed out without reaching the task's time limit: see `collect`'s `cut_at_end`)."""
    ends = ds.episode_ends()
    sums = np.add.reduceat(ds.rewards.astype(np.float64), np.r_[0, ends[:-1] + 1]) if len(ends) else np.array([])
    if complete_only and len(ends) and getattr(ds, "cut_at_end", False) and ends[-1] == len(ds) - 1:
        sums = sums[:-1]
    return sums


def concatenate(*parts: Dataset) -> Dataset:
    """The datasets one after the other (medium-expert = medium then expert)."""
    return Dataset(*(np.concatenate([getattr(p, name) for p in parts]) for name in FIELDS))


# ---- collection ------------------------------------------------------------------------------------------------
def uniform_policy(low: np.ndarray, high: np.ndarray) -> Callable:
    """Uniform actions over [low, high] (the random datasets)."""
    return lambda obs, rng: rng.uniform(low, high)


def agent_policy(run_dir, snapshot: int | None = None, deterministic: bool = False) -> tuple[Callable, dict]:
    """A saved agent's policy (common/rl/agents.py): its sampled actions unless `deterministic`, and where it came
    from (run folder, agent file's SHA-256, step)."""
    from common.rl.agents import base_name, load_agent

    agent = load_agent(run_dir, snapshot)
    meta_file = Path(run_dir) / f"{base_name(snapshot)}.json"
    source = {"run_dir": str(run_dir), "agent_file": meta_file.name,
              "agent_json_sha256": hashlib.sha256(meta_file.read_bytes()).hexdigest(),
              "algorithm": agent.meta.get("algorithm"), "env_id": agent.meta.get("env_id"),
              "env_steps": agent.meta.get("env_steps"), "actions": "mean" if deterministic else "sampled"}
    return (lambda obs, rng: agent.act(obs, deterministic, rng)), source


def collect(env_id: str, policy: Callable, n_transitions: int, seed: int) -> Dataset:
    """`n_transitions` rows of `policy(obs, rng)` acting in `env_id` (gymnasium v5, its 1000-step time limit),
    episodes one after another from `make_env(env_id, seed)`; the policy's draws from a generator seeded by `seed`.
    terminals = the task ended (gymnasium's `terminated`), timeouts = the time limit cut it (`truncated`); the last
    row, if its episode is still running, is marked timed out (cut by the dataset's size) and `cut_at_end` set."""
    from common.rl.envs import make_env

    if n_transitions < 1:
        raise ValueError(f"a dataset needs at least one transition; got {n_transitions}")
    env = make_env(env_id, seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 23]))
    out = {"observations": np.zeros((n_transitions, obs_dim), np.float32),
           "actions": np.zeros((n_transitions, act_dim), np.float32),
           "rewards": np.zeros(n_transitions, np.float32),
           "next_observations": np.zeros((n_transitions, obs_dim), np.float32),
           "terminals": np.zeros(n_transitions, bool), "timeouts": np.zeros(n_transitions, bool)}
    obs, _ = env.reset(seed=seed)
    for i in range(n_transitions):
        action = np.asarray(policy(obs, rng), dtype=np.float64)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        out["observations"][i], out["actions"][i], out["rewards"][i] = obs, action, reward
        out["next_observations"][i], out["terminals"][i] = next_obs, terminated
        out["timeouts"][i] = truncated and not terminated
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    ds = Dataset(**out)
    ds.cut_at_end = not (ds.terminals[-1] or ds.timeouts[-1])
    if ds.cut_at_end:
        ds.timeouts[-1] = True
    return ds


def from_replay(run_dir, until_step: int) -> tuple[Dataset, dict]:
    """The first `until_step` transitions a SAC run stored in its replay buffer (`save_replay: true`: replay.* in
    agent.large.npz), in the order it collected them: D4RL's medium-replay when `until_step` is the step of the
    medium snapshot. The buffer keeps `done` = terminated only; an episode the time limit cut is found where the next
    row does not start from this row's next observation (a reset), and marked timed out."""
    from common.rl.agents import load_agent

    agent = load_agent(run_dir, with_large=True)
    large = agent.large or {}
    if "replay.obs" not in large:
        raise ReproError(f"{run_dir} kept no replay buffer: run it with save_replay=true (papers/haarnoja2018_sac)")
    size, pos = (int(np.ravel(large[f"replay.{k}"])[0]) for k in ("size", "pos"))
    steps = int(agent.meta["env_steps"])
    if size != steps or not 0 < until_step <= size:
        raise ReproError(f"{run_dir}: its replay holds {size:,} of {steps:,} env steps (pos {pos:,}); medium-replay needs "
                         f"the first {until_step:,} in order, so replay_size must be at least the run's total_env_steps")
    obs, next_obs = large["replay.obs"][:until_step], large["replay.next_obs"][:until_step]
    terminals = large["replay.done"][:until_step] > 0.5
    reset_follows = np.r_[np.any(next_obs[:-1] != obs[1:], axis=1), True]  # the last row: cut by until_step
    ds = Dataset(obs, large["replay.act"][:until_step], large["replay.rew"][:until_step], next_obs, terminals,
                 reset_follows & ~terminals)
    ds.cut_at_end = not terminals[-1]
    meta_file = Path(run_dir) / "agent.json"
    return ds, {"run_dir": str(run_dir), "agent_json_sha256": hashlib.sha256(meta_file.read_bytes()).hexdigest(),
                "replay_rows": until_step, "replay_size": size}


def medium_step(run_dir, fraction: float = 1 / 3) -> tuple[int, dict]:
    """The env step of the run's snapshot (`save_agent_at_steps`) whose evaluation return lies closest to `fraction`
    of the expert's (the mean of the run's last 10 evaluations): D4RL's medium policy, "about a third of the
    expert's return". Returns the step and the numbers it was chosen from."""
    import pandas as pd

    from common.rl.agents import snapshots

    kept = snapshots(run_dir)
    table = Path(run_dir) / "evaluations.csv.gz"
    if not kept or not table.exists():
        raise ReproError(f"{run_dir}: a medium policy needs snapshots (save_agent_at_steps) and the run's evaluations")
    ev = pd.read_csv(table).sort_values("env_step")
    expert = float(ev["eval_return"].tail(10).mean())
    at = {s: float(ev.loc[ev["env_step"] <= s, "eval_return"].iloc[-1]) for s in kept if (ev["env_step"] <= s).any()}
    if not at:
        raise ReproError(f"{run_dir}: no evaluation precedes any snapshot ({kept})")
    target = fraction * expert
    step = min(at, key=lambda s: (abs(at[s] - target), s))
    return step, {"expert_return": expert, "target_return": target, "snapshot_eval_returns": at}


# ---- records ---------------------------------------------------------------------------------------------------
def dataset_dir(env_id: str, kind: str, root=None) -> Path:
    from common.platform.runs import results_root

    return Path(root or results_root()) / "datasets" / env_id / kind


def return_statistics(ds: Dataset, env_id: str) -> dict:
    """The returns of the dataset's complete episodes: count, mean, sd, min, quartiles, max, and on D4RL's normalized
    scale where D4RL has the task."""
    r = episode_returns(ds)
    stats = {"episodes": int(len(r)), "transitions": len(ds), "terminals": int(ds.terminals.sum()),
             "timeouts": int(ds.timeouts.sum())}
    if len(r):
        q = np.percentile(r, [0, 25, 50, 75, 100])
        stats.update({"return_mean": float(r.mean()), "return_sd": float(r.std(ddof=1)) if len(r) > 1 else 0.0,
                      "return_min": float(q[0]), "return_q25": float(q[1]), "return_median": float(q[2]),
                      "return_q75": float(q[3]), "return_max": float(q[4])})
        if d4rl_task(env_id):
            stats["d4rl_normalized_mean"] = float(d4rl_normalized(env_id, r.mean()))
    return stats


def save_dataset(ds: Dataset, env_id: str, kind: str, config: dict, source: dict | None, root=None) -> Path:
    """Write dataset.npz and dataset.json (see the module's docstring) into `dataset_dir(env_id, kind, root)`."""
    from common.platform.records import atomic_write_bytes, atomic_write_text, git_state, machine, package_versions
    from common.rl.agents import npz_bytes
    from common.rl.envs import env_version

    folder = dataset_dir(env_id, kind, root)
    folder.mkdir(parents=True, exist_ok=True)
    data = npz_bytes(ds.arrays())
    atomic_write_bytes(folder / "dataset.npz", data)
    doc = {"format": FORMAT, "env_id": env_id, "env_version": env_version(env_id), "kind": kind,
           "label": "locally generated dataset (D4RL-style, not D4RL's files)", "config": config, "source": source,
           "cut_at_end": bool(getattr(ds, "cut_at_end", False)),
           "d4rl_size": D4RL_SIZES.get(kind), "statistics": return_statistics(ds, env_id),
           "provenance": {**git_state(), "packages": package_versions(), "machine": machine(),
                          "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
           "files": {"dataset.npz": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}}}
    atomic_write_text(folder / "dataset.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return folder


def build_command(env_id: str, kind: str, root=None, agent_run: str = "RUN") -> str:
    """The command that builds one dataset (common/offline/build.py); `agent_run`: the SAC run with snapshots and
    replay that medium, expert and medium-replay come from."""
    args = {"random": "", "medium": f" --agent-run {agent_run} --step auto", "expert": f" --agent-run {agent_run}",
            "medium-replay": f" --agent-run {agent_run} --step auto", "medium-expert": ""}[kind]
    return f"python -m common.offline.build {env_id} {kind}{args}" + (f" --root {root}" if root else "")


def stored_datasets(root=None) -> list[str]:
    """'<env_id>/<kind>' of every dataset recorded under `root` (dataset.json present), sorted."""
    from common.platform.runs import results_root

    base = Path(root or results_root()) / "datasets"
    return sorted(f"{j.parent.parent.name}/{j.parent.name}" for j in base.glob("*/*/dataset.json"))


def missing_dataset(env_id: str, kind: str, root=None, agent_run: str = "RUN",
                    agent_run_note: str = "a SAC run kept with save_agent_at_steps and save_replay=true",
                    max_rows: int = 0) -> str | None:
    """None when the dataset is recorded (and holds at least `max_rows` rows, if given); else one sentence naming
    the missing path, the command that builds it (`agent_run`: the SAC run it comes from, `agent_run_note`: what
    that run is or how to make it) and the datasets that do exist. Reads dataset.json only."""
    folder = dataset_dir(env_id, kind, root)
    record = folder / "dataset.json"
    if record.exists():
        rows = int(json.loads(record.read_text())["statistics"]["transitions"])
        if max_rows > rows:
            return (f"the {kind} dataset of {env_id} ({folder}) holds {rows:,} transitions, fewer than "
                    f"dataset_max_transitions ({max_rows:,}); valid: at most {rows:,}, or 0 for all of them")
        return None
    needs = {"medium-expert": f" (after the medium and expert datasets of {env_id})",
             "medium-replay": " (the medium snapshot's step, from the same run)"}.get(kind, "")
    if kind in ("medium", "expert", "medium-replay"):
        needs += f" (the run: {agent_run_note})"
    present = ", ".join(stored_datasets(root)) or "none"
    command = build_command(env_id, kind, root, agent_run)
    return (f"no {kind} dataset of {env_id}: {record} does not exist; build it with `{command}`{needs}; "
            f"datasets under {folder.parent.parent}: {present}")


def load_dataset(env_id: str, kind: str, root=None) -> tuple[Dataset, dict]:
    """A stored dataset and its record, its checksum checked; missing, an error that says how to build it."""
    folder = dataset_dir(env_id, kind, root)
    if not (folder / "dataset.json").exists():
        raise ReproError(missing_dataset(env_id, kind, root) + " (papers/kumar2020_cql/README.md gives the commands)")
    doc = json.loads((folder / "dataset.json").read_text())
    data = (folder / "dataset.npz").read_bytes()
    if hashlib.sha256(data).hexdigest() != doc["files"]["dataset.npz"]["sha256"]:
        raise ReproError(f"{folder}/dataset.npz differs from the checksum dataset.json records; build it again")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        ds = Dataset(**{name: z[name] for name in FIELDS})
    ds.cut_at_end = doc["cut_at_end"]
    return ds, doc
