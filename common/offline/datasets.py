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

Storage: Minari's format (minari 0.5.4, its `hdf5` storage), one Minari dataset a kind, under the results root
(`root`: $REPRO_RESULTS or results/). The Minari dataset id is `<env_id>/<kind>-v0`
(namespace = the gymnasium task, as Minari's own `mujoco/hopper/medium-v0`; `-v0`: Minari requires a version), so
with MINARI_DATASETS_PATH=<root>/datasets, `minari.load_dataset("Hopper-v5/medium-v0")` loads it. Its folder:

    <root>/datasets/<env_id>/<kind>-v0/
      data/main_data.hdf5    Minari's HDF5 layout: a group episode_<i> per episode holding observations (its T rows
                             and the last row's next observation: T + 1), actions, rewards, terminations (= terminals)
                             and truncations (= timeouts), T rows each, with the arrays' own dtypes (float32, bool)
      data/metadata.json     Minari's metadata (spaces, env spec, totals, D4RL's reference returns where it has them)
      episode_offsets.npz    the byte offset of every episode's array in main_data.hdf5 (the fast loader below)
      dataset.json           what the dataset is: env and version, kind, how it was built (config), where its policy came
                             from (the SAC run folder, its agent.json's SHA-256, the snapshot step), provenance (commit,
                             packages, machine, time), the SHA-256 of each file above (checked on loading), the
                             SHA-256 of the six arrays' content (`content_sha256`) and the statistics (below)

What git keeps: dataset.json only, committed like a run record (.gitignore: `results/datasets/*/*/dataset.json`
tracked, everything else under results/datasets/ ignored); the data files (data/, episode_offsets.npz; GAIL's
dataset.npz) are large and regenerable, and stay out. The reports' "Datasets" section (common/offline/report.py) is
made from the records alone. So a fresh clone holds records without data: a dataset counts as present when its
record and the files it lists exist (`data_files_missing`); otherwise `missing_dataset` names the absent files and
the command that rebuilds them as recorded (`rebuild_command`: the same inputs, the same bytes), before any run
starts, and `load_dataset` checks every file against its recorded SHA-256.

The episodes are written with h5py, each array contiguous, which Minari reads as it reads its own (Minari's writer,
`create_dataset_from_buffers`, makes every array chunked: a synthetic 1M-row dataset of 50,000 episodes of 20 rows,
random Hopper's length, took 737 MB and 39 s to write that way, 195 MB and 20 s this way). Reading Minari's layout
episode by episode costs ~0.1 ms an array: `minari.load_dataset` and `iterate_episodes` take 24 s over those 50,000
episodes (0.9 s over 1,000 of 1,000 rows). So `load_dataset` below reads the arrays directly: it checks the files'
SHA-256, then copies each episode's bytes from the offsets recorded when the file was written
(episode_offsets.npz): 0.54 s and 0.10 s for the same two datasets (the npz files used before: 0.44 s, 96 MB). The
same build gives the same bytes (h5py writes no time stamps here; a test builds twice), so the file checksums are
both the integrity check and the determinism check; `content_sha256` names the arrays independently of the format
(run records keep it).

Statistics (`return_statistics`, in dataset.json and printed by the builder): episodes, mean episode length, the
returns' mean, sd and quartiles and their D4RL-normalized mean, beside D4RL's published episode counts of the same
task and kind (v0, the version CQL's Table 1 used, v1 and v2; common/offline/d4rl.py: TensorFlow Datasets' catalog)
and the mean episode length they imply (D4RL's nominal transitions / its episodes), or "not published".

GAIL's expert trajectories (papers/ho2016_gail/datasets.py, kind "gail-expert") keep their earlier storage, byte for
byte: `<root>/datasets/<env_id>/gail-expert/` with dataset.npz (the six arrays, written byte-for-byte reproducibly)
and dataset.json (its SHA-256 under files["dataset.npz"]).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from common.offline.d4rl import d4rl_normalized, d4rl_published, d4rl_task, normalized_score
from common.platform.errors import ReproError

FORMAT = 1  # dataset.json of an npz dataset (GAIL's)
MINARI_FORMAT = 2  # dataset.json of a Minari dataset
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
    from common.rl.agents import AgentMissing, load_agent

    try:
        agent = load_agent(run_dir, with_large=True)
    except AgentMissing as exc:
        raise AgentMissing(f"{exc}. Medium-replay needs only the replay's first {until_step:,} rows: "
                           f"{replay_rerun_command(run_dir, until_step)}") from None
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


def replay_rerun_command(run_dir, until_step: int) -> str:
    """How to get a SAC run's first `until_step` replay rows back without its whole budget: the same run (paper,
    experiment, variant, seed and overrides from its provenance.json) cut at `until_step` env steps collects the same
    transitions, since the same seed and config give the same run (tested: determinism and resume); the builder's
    `--restore` keeps the rebuilt files only if their checksums equal the dataset's record."""
    import yaml

    spec = json.loads((Path(run_dir) / "provenance.json").read_text())["spec"]
    snapshots = [int(x) for x in (yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}).get(
        "save_agent_at_steps") or [] if int(x) <= until_step]  # snapshots must lie inside the shorter run
    values = {key: value for key, value in spec.get("overrides") or []}  # the run's own command-line overrides
    values["total_env_steps"] = until_step
    if snapshots:
        values["save_agent_at_steps"] = snapshots

    def arg(key, value) -> str:
        if isinstance(value, list):
            return f"'{key}=[{','.join(map(str, value))}]'"
        return f"{key}={value}"

    overrides = " ".join(arg(k, v) for k, v in values.items())
    return (f"the same run cut there collects the same transitions: `repro run {spec['paper']} {spec['experiment']} "
            f"--variant {spec['variant']} --seed {spec['seed']} --budget {spec['budget']} {overrides}`, then "
            f"`python -m common.offline.build ENV_ID medium-replay --agent-run THAT_RUN --step {until_step} --restore` "
            f"(its data files are kept only if their checksums equal the record's)")


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
MINARI_VERSION = 0  # the version part of the Minari dataset id, `<env_id>/<kind>-v0`
MINARI_FIELDS = {"observations": "observations", "actions": "actions", "rewards": "rewards",
                 "terminals": "terminations", "timeouts": "truncations"}  # ours -> Minari's (next_observations: below)
HDF5_FILE, MINARI_METADATA, OFFSETS_FILE = "data/main_data.hdf5", "data/metadata.json", "episode_offsets.npz"


def minari_id(env_id: str, kind: str) -> str:
    """The Minari dataset id of a D4RL-style dataset: `minari.load_dataset(minari_id(...))` with
    MINARI_DATASETS_PATH=<root>/datasets."""
    return f"{env_id}/{kind}-v{MINARI_VERSION}"


def dataset_dir(env_id: str, kind: str, root=None) -> Path:
    """`<root>/datasets/<env_id>/<kind>-v0` (a Minari dataset: the D4RL-style kinds) or `<root>/datasets/<env_id>/<kind>`
    (GAIL's npz datasets)."""
    from common.platform.runs import results_root

    return Path(root or results_root()) / "datasets" / (minari_id(env_id, kind) if kind in KINDS else f"{env_id}/{kind}")


def content_sha256(ds: Dataset) -> str:
    """SHA-256 of the six arrays' content (each field's name, dtype, shape and bytes, in FIELDS order): the same for
    the same data whatever the file format."""
    h = hashlib.sha256()
    for name in FIELDS:
        a = np.ascontiguousarray(getattr(ds, name))
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def episode_lengths(ds: Dataset) -> np.ndarray:
    """Rows of each episode in order, complete or not (rows after the last end make a last, unended episode)."""
    ends = ds.episode_ends()
    if not len(ends) or ends[-1] != len(ds) - 1:
        ends = np.r_[ends, len(ds) - 1]
    return np.diff(np.r_[-1, ends])


def return_statistics(ds: Dataset, env_id: str, kind: str | None = None) -> dict:
    """The returns of the dataset's complete episodes: count, mean, sd, min, quartiles, max, and on D4RL's normalized
    scale where D4RL has the task; their mean length; with `kind` one of the D4RL kinds, also D4RL's published
    episode counts of the task and kind (common/offline/d4rl.py) and the mean length they imply, beside
    `transitions_per_episode` (this dataset's rows over all its episodes, a cut last one included: the same quantity)."""
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
    if kind in KINDS:
        lengths = episode_lengths(ds)
        if len(r):
            stats["episode_length_mean"] = float(lengths[:len(r)].mean())
        stats["transitions_per_episode"] = len(ds) / len(lengths)
        stats["d4rl_published"] = d4rl_published(env_id, kind)
    return stats


def _check_continuity(ds: Dataset) -> None:
    """Minari keeps an episode's observations once (T + 1 rows): within an episode the next row must start where
    this one ended, bit for bit (and in the same dtype)."""
    if ds.next_observations.dtype != ds.observations.dtype:
        raise ValueError(f"next_observations are {ds.next_observations.dtype}, observations {ds.observations.dtype}; "
                         "Minari's format keeps them in one array")
    inside = np.ones(len(ds), bool)
    inside[episode_lengths(ds).cumsum() - 1] = False
    rows = np.flatnonzero(inside)
    differs = np.any(ds.next_observations[rows] != ds.observations[rows + 1], axis=1)
    if differs.any():
        raise ValueError(f"row {rows[differs][0]} is neither terminal nor timed out but the next row does not start "
                         "from its next observation; Minari's format cannot hold it")


def _write_minari(ds: Dataset, env_id: str, kind: str, folder: Path, description: str) -> dict:
    """The episodes of `ds` as a Minari dataset (hdf5) in `folder`: Minari's storage writes metadata.json, the
    episodes go into main_data.hdf5 in Minari's layout; returns the byte offset of each episode's arrays and
    the episodes' lengths (`steps`)."""
    import gymnasium as gym
    import h5py
    import minari
    from minari.dataset.minari_storage import MinariStorage

    from common.offline.d4rl import REFERENCE_RETURNS
    from common.rl.envs import make_env

    _check_continuity(ds)
    env = make_env(env_id, 0)
    storage = MinariStorage.new(folder / "data", observation_space=env.observation_space,
                                action_space=env.action_space, env_spec=gym.spec(env_id), data_format="hdf5")
    env.close()
    lengths = episode_lengths(ds)
    starts = np.r_[0, lengths.cumsum()[:-1]]
    offsets = {field: np.zeros(len(lengths), np.int64) for field in MINARI_FIELDS.values()}
    offsets["steps"] = lengths.astype(np.int64)
    columns = {MINARI_FIELDS[name]: np.ascontiguousarray(getattr(ds, name)) for name in MINARI_FIELDS}
    with h5py.File(folder / HDF5_FILE, "w", track_order=True) as f:
        for i, (s, n) in enumerate(zip(starts, lengths)):
            group = f.create_group(f"episode_{i}")
            group.attrs["id"], group.attrs["total_steps"] = i, int(n)
            rows = {field: a[s:s + n] for field, a in columns.items()}
            rows["observations"] = np.concatenate([rows["observations"], ds.next_observations[s + n - 1:s + n]])
            for field, a in rows.items():
                offsets[field][i] = group.create_dataset(field, data=a).id.get_offset()  # contiguous layout
    task = d4rl_task(env_id)
    low, high = REFERENCE_RETURNS[task] if task in REFERENCE_RETURNS else (None, None)
    storage.update_metadata({
        "dataset_id": minari_id(env_id, kind), "total_episodes": len(lengths), "total_steps": len(ds),
        "algorithm_name": kind, "author": {"repro-rl"}, "description": description,
        "minari_version": minari.__version__, "dataset_size": storage.get_size(),
        **({"ref_min_score": low, "ref_max_score": high} if task else {})})
    return offsets


def dataset_label(kind: str) -> str:
    """What a dataset of `kind` is, in the words its record and every run that reads it carry (records written before
    GAIL's kind had its own label say "D4RL-style" for it too)."""
    if kind in KINDS:
        return "locally generated dataset (D4RL-style, not D4RL's files)"
    return "locally generated expert trajectories (sampled here from this repository's expert, not the paper's)"


def _file_records(folder: Path, names) -> dict:
    return {name: {"sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest(),
                   "bytes": (folder / name).stat().st_size} for name in names}


def save_dataset(ds: Dataset, env_id: str, kind: str, config: dict, source: dict | None, root=None) -> Path:
    """Record `ds` in `dataset_dir(env_id, kind, root)` (see the module's docstring): a Minari dataset for the D4RL
    kinds, dataset.npz for GAIL's; then dataset.json. A Minari dataset is written into a folder beside it and moved
    into place whole, so a failed build leaves the one before as it was."""
    import shutil

    from common.platform.records import atomic_write_bytes, atomic_write_text, git_state, machine, package_versions
    from common.rl.agents import npz_bytes
    from common.rl.envs import env_version

    folder = dataset_dir(env_id, kind, root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "env_id": env_id, "env_version": env_version(env_id), "kind": kind,
           "label": dataset_label(kind), "config": config, "source": source,
           "cut_at_end": bool(getattr(ds, "cut_at_end", False)),
           "d4rl_size": D4RL_SIZES.get(kind), "statistics": return_statistics(ds, env_id, kind),
           "provenance": {**git_state(), "packages": package_versions(), "machine": machine(),
                          "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    if kind not in KINDS:  # GAIL's expert trajectories: dataset.npz, as before
        folder.mkdir(exist_ok=True)
        data = npz_bytes(ds.arrays())
        atomic_write_bytes(folder / "dataset.npz", data)
        doc["files"] = {"dataset.npz": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}}
        atomic_write_text(folder / "dataset.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return folder
    building = folder.with_name(f".{folder.name}.{os.getpid()}.building")
    shutil.rmtree(building, ignore_errors=True)
    try:
        building.mkdir()
        offsets = _write_minari(ds, env_id, kind, building, f"{doc['label']}: {kind} of {env_id} "
                                f"(common/offline/datasets.py); dataset.json beside data/ records how it was built")
        (building / OFFSETS_FILE).write_bytes(npz_bytes(offsets))
        doc.update({"format": MINARI_FORMAT, "minari_id": minari_id(env_id, kind), "content_sha256": content_sha256(ds),
                    "arrays": {name: {"dtype": getattr(ds, name).dtype.str, "shape": list(getattr(ds, name).shape)}
                               for name in FIELDS},
                    "files": _file_records(building, (HDF5_FILE, MINARI_METADATA, OFFSETS_FILE))})
        (building / "dataset.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        old = folder.with_name(f".{folder.name}.{os.getpid()}.replaced")
        if folder.exists():
            os.replace(folder, old)
        os.replace(building, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return folder


def build_command(env_id: str, kind: str, root=None, agent_run: str = "RUN") -> str:
    """The command that builds one dataset (common/offline/build.py) with the builder's defaults; `agent_run`: the
    SAC run with snapshots and replay that medium, expert and medium-replay come from."""
    return rebuild_command({"env_id": env_id, "kind": kind, "config": {"agent_run": agent_run}}, root)


def data_files_missing(folder: Path, doc: dict) -> list[str]:
    """The files a dataset's record (dataset.json, `doc`) lists under `files` that are absent from `folder`: a
    record committed to git arrives in a fresh clone without its data files (git-ignored), so "the dataset is there"
    means its record and these files (their checksums are checked when it is loaded)."""
    return [name for name in sorted(doc["files"]) if not (folder / name).is_file()]


def dataset_records(root=None) -> list[tuple[Path, dict]]:
    """(folder, record) of every dataset.json under `<root>/datasets/`, its data files present or not, sorted by
    folder."""
    from common.platform.runs import results_root

    base = Path(root or results_root()) / "datasets"
    return [(j.parent, json.loads(j.read_text())) for j in sorted(base.glob("*/*/dataset.json"))]


def own_reference_returns(env_id: str, root=None) -> tuple[float, float] | None:
    """This repository's own (random, expert) returns of a task: the mean return of the complete episodes of its
    random and expert datasets (uniform actions; the expert SAC policy's sampled actions), as their records state;
    None when either record is absent."""
    refs = []
    for kind in ("random", "expert"):
        record = dataset_dir(env_id, kind, root) / "dataset.json"
        if not record.is_file():
            return None
        doc = json.loads(record.read_text())
        mean = doc.get("statistics", {}).get("return_mean")
        if mean is None:
            raise ReproError(f"{record} records no statistics.return_mean (a dataset with no complete episode); "
                             f"rebuild it: {rebuild_command(doc, root)}")
        refs.append(float(mean))
    return refs[0], refs[1]


def own_normalized(env_id: str, returns, root=None):
    """The return(s) on this repository's own scale: 0 = its random dataset's mean episode return, 100 = its expert
    dataset's (`own_reference_returns`); a task without both datasets is an error naming what to build."""
    refs = own_reference_returns(env_id, root)
    if refs is None:
        raise ReproError(f"{env_id} has no random and expert dataset records under "
                         f"{dataset_dir(env_id, 'random', root).parent}; build them: "
                         f"{build_command(env_id, 'random', root)} and {build_command(env_id, 'expert', root)}")
    return normalized_score(returns, *refs)


def rebuild_command(doc: dict, root=None) -> str:
    """The command that builds a recorded D4RL-style dataset again as its record (`doc`) says it was built: its seed,
    size, SAC run and snapshot step, `auto` where the builder chose it (the same inputs give the same bytes, so its
    recorded checksums hold)."""
    cfg, kind = doc["config"], doc["kind"]
    args = "" if cfg.get("seed", 0) == 0 else f" --seed {cfg['seed']}"
    if kind in ("random", "medium", "expert") and cfg.get("transitions", D4RL_SIZES[kind]) != D4RL_SIZES[kind]:
        args += f" --transitions {cfg['transitions']}"
    if kind in ("medium", "expert", "medium-replay"):
        args += f" --agent-run {cfg.get('agent_run') or 'RUN'}"
    if kind in ("medium", "medium-replay"):  # auto: chosen again from the same run, the same step, kept with its why
        args += f" --step {'auto' if cfg.get('medium_choice') or not cfg.get('step') else cfg['step']}"
    return f"python -m common.offline.build {doc['env_id']} {kind}{args}" + (f" --root {root}" if root else "")


def stored_datasets(root=None) -> list[str]:
    """'<env_id>/<kind>' of every dataset stored under `root` (its dataset.json and the data files it lists present),
    sorted."""
    return sorted(f"{doc['env_id']}/{doc['kind']}" for folder, doc in dataset_records(root)
                  if not data_files_missing(folder, doc))


def missing_dataset(env_id: str, kind: str, root=None, agent_run: str = "RUN",
                    agent_run_note: str = "a SAC run kept with save_agent_at_steps and save_replay=true",
                    max_rows: int = 0) -> str | None:
    """None when the dataset is stored (its dataset.json and the data files it lists; and it holds at least
    `max_rows` rows, if given); else one sentence naming what is missing (the record, or the data files of a record
    present without them, as in a fresh clone), the command that builds it (`agent_run`: the SAC run it comes from,
    `agent_run_note`: what that run is or how to make it) and the datasets that are stored. Reads dataset.json and
    checks that the files exist (not their checksums: `load_dataset` does)."""
    folder = dataset_dir(env_id, kind, root)
    record = folder / "dataset.json"
    absent = None
    if record.exists():
        doc = json.loads(record.read_text())
        absent = data_files_missing(folder, doc)
        rows = int(doc["statistics"]["transitions"])
        if not absent and max_rows > rows:
            return (f"the {kind} dataset of {env_id} ({folder}) holds {rows:,} transitions, fewer than "
                    f"dataset_max_transitions ({max_rows:,}); valid: at most {rows:,}, or 0 for all of them")
        if not absent:
            return None
    needs = {"medium-expert": f" (after the medium and expert datasets of {env_id})",
             "medium-replay": " (the medium snapshot's step, from the same run)"}.get(kind, "")
    if kind in ("medium", "expert", "medium-replay"):
        needs += f" (the run: {agent_run_note})"
    present = ", ".join(stored_datasets(root)) or "none"
    command = rebuild_command(doc, root) if absent else build_command(env_id, kind, root, agent_run)
    what = (f"its record {record} exists but its data files do not ({', '.join(absent)}: git-ignored, so a fresh "
            f"clone lacks them); rebuild them as recorded" if absent else f"{record} does not exist; build it")
    return (f"no {kind} dataset of {env_id}: {what} with `{command}`{needs}; "
            f"datasets under {folder.parent.parent}: {present}")


def _checked_bytes(folder: Path, doc: dict, name: str) -> bytes:
    """A file of the dataset, its SHA-256 checked against dataset.json's; changed, an error naming it."""
    data = (folder / name).read_bytes() if (folder / name).exists() else None
    if data is None or hashlib.sha256(data).hexdigest() != doc["files"][name]["sha256"]:
        again = (f"`{rebuild_command(doc)}`" if doc["kind"] in KINDS
                 else "papers/ho2016_gail/datasets.py")
        raise ReproError(f"{folder / name} " + ("is missing" if data is None else "differs from the checksum "
                         "dataset.json records") + f"; build it again ({again})")
    return data


def _read_minari(folder: Path, doc: dict) -> Dataset:
    """The six arrays of a Minari dataset written by `save_dataset`, read straight from main_data.hdf5's bytes at the
    offsets recorded when it was written (the files' checksums checked first, so the offsets are this file's)."""
    _checked_bytes(folder, doc, MINARI_METADATA)
    raw = _checked_bytes(folder, doc, HDF5_FILE)
    with np.load(io.BytesIO(_checked_bytes(folder, doc, OFFSETS_FILE)), allow_pickle=False) as z:
        index = {name: z[name] for name in z.files}
    lengths = index["steps"]
    episode_of_row = np.repeat(np.arange(len(lengths)), lengths)
    arrays = {}
    for name, field in MINARI_FIELDS.items():
        dtype, tail = np.dtype(doc["arrays"][name]["dtype"]), tuple(doc["arrays"][name]["shape"][1:])
        extra = 1 if field == "observations" else 0  # observations: T + 1 rows an episode
        out = np.empty((len(episode_of_row) + extra * len(lengths), *tail), dtype)
        row, width = 0, int(np.prod(tail, dtype=np.int64))
        for offset, steps in zip(index[field].tolist(), (lengths + extra).tolist()):
            out[row:row + steps] = np.frombuffer(raw, dtype, steps * width, offset).reshape(steps, *tail)
            row += steps
        arrays[name] = out
    obs_rows = np.arange(len(episode_of_row)) + episode_of_row  # row t of episode e sits at t + e in `observations`
    observations = arrays.pop("observations")
    return Dataset(observations=observations[obs_rows], next_observations=observations[obs_rows + 1], **arrays)


def load_dataset(env_id: str, kind: str, root=None) -> tuple[Dataset, dict]:
    """A stored dataset and its record, its files' checksums checked; missing, an error that says how to build it."""
    folder = dataset_dir(env_id, kind, root)
    if not (folder / "dataset.json").exists():
        raise ReproError(missing_dataset(env_id, kind, root) + " (papers/kumar2020_cql/README.md gives the commands)")
    doc = json.loads((folder / "dataset.json").read_text())
    if doc["format"] == MINARI_FORMAT:
        ds = _read_minari(folder, doc)
    else:
        with np.load(io.BytesIO(_checked_bytes(folder, doc, "dataset.npz")), allow_pickle=False) as z:
            ds = Dataset(**{name: z[name] for name in FIELDS})
    ds.cut_at_end = doc["cut_at_end"]
    return ds, doc


def input_entry(doc: dict, root=None) -> dict:
    """What a run that read this dataset records of it in its provenance (`RunContext.record_input`): the dataset's
    environment, kind and label, its record (dataset.json: relative to the results folder when under it) and its
    files' SHA-256 as checked when it was loaded (`load_dataset`), so that a run's record names the bytes it learned
    from, whichever machine rebuilt them, and `repro verify` can tell a run made on bytes the record no longer holds."""
    from common.platform.runs import results_root

    record = (dataset_dir(doc["env_id"], doc["kind"], root) / "dataset.json").resolve()
    results = results_root().resolve()
    return {"env_id": doc["env_id"], "kind": doc["kind"], "label": doc["label"],
            "record": str(record.relative_to(results) if record.is_relative_to(results) else record),
            "sha256": {name: f["sha256"] for name, f in sorted(doc["files"].items())}}
