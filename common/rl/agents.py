"""Saved agents: what a run keeps of its trained policy, how it is loaded, evaluated and filmed.

A run writes its final agent into its run folder before `DONE`, so that `DONE`'s checksums vouch for it:

    agent.json        what the agent is: its kind, what it needs to act (environment, observation normalization,
                      action scaling, network sizes), the training step it was saved at, and the SHA-256, size and
                      array shapes of its two array files; committed with the run
    agent.npz         the policy's arrays (numpy .npz, written byte-for-byte reproducibly); committed with the run
                      when the policy is small (up to COMMITTED_POLICY_MAX_BYTES: PPO's and TRPO's MuJoCo policies,
                      the bandit posteriors), and for a larger policy (DDPG's and SAC's actors, GAIL's and GAE's
                      policies) in the first seed's run of each setting (seed 0) only
    agent.policy.large.npz   a larger policy in the runs of the other seeds: kept beside the run like the large part
                      below (git-ignored, not vouched for by DONE; agent.json records its checksum), so that a
                      paper's committed results stay within a few MB
    agent.large.npz   what is too large to commit (Atari networks, SAC's critics, PPO's value network): kept beside
                      the run, ignored by git and not vouched for by DONE (a fresh clone lacks it and is still
                      intact); agent.json records its checksum, so a copy brought back is checked on loading.
                      To get it back: run the run again (`repro run ...`, or the Slurm path; same seed, same config,
                      same device: the same agent)

A run that steps several seeds together (GAE's packed cart-pole runs) keeps them all in its one agent: the first
seed's arrays under their own names (what `load_agent(run_dir)` gives, as for a run of one seed) and every seed's
stacked along a leading axis under `packed.<name>`, with `meta["packed_seeds"]` the seeds in that order;
`load_agent(run_dir, seed=k)` gives seed k's agent.

A run may also keep snapshots at stated steps (`save_agent_at_steps: [...]` in its config; PPO and SAC):
`agent_step<N>.json` and `agent_step<N>.npz`, the policy as it was after N environment steps.

`load_agent(run_dir)` returns an `Agent` whose `act(obs, deterministic, rng)` gives the action the training loop
would have taken (tested against each runner's own networks); `evaluate` runs it on the experiment's environment,
`record_video` films an episode headless (MuJoCo through EGL or OSMesa, Atari from the emulator's own frames).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.platform.errors import ReproError
from common.platform.runs import seed_of_run

FORMAT = 1
LARGE_SUFFIX = ".large.npz"  # git-ignored (.gitignore) and not vouched for by DONE (records._vouched)
#: A policy file larger than this is committed in the run of a setting's first seed (seed 0) only; the other seeds'
#: runs keep it beside them as <base>.policy.large.npz (git-ignored). Below it: PPO's and TRPO's MuJoCo policies
#: except Humanoid's, the bandits' posteriors. Above it: DDPG's actor (about 470 KB), SAC's (250-600 KB), GAIL's
#: float64 policies (about 84 KB on classic control), GAE's Humanoid policy (330 KB).
COMMITTED_POLICY_MAX_BYTES = 64 * 1024
PACKED = "packed."  # prefix of the arrays of every seed of a packed run, stacked along a leading seed axis
#: Evaluation episodes are seeded from here on (k-th episode: EVAL_SEED_BASE + 1000 * run seed + k): far from any
#: seed a training loop uses (the run's seed, seed + 10,000 for evaluation environments, seed * 1,000,003 + step).
EVAL_SEED_BASE = 2_000_000_000


class AgentMissing(ReproError):
    """The run has no saved agent (or not the snapshot asked for), or its large part is not in this clone."""


def base_name(snapshot: int | None = None) -> str:
    return "agent" if snapshot is None else f"agent_step{int(snapshot)}"


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz archive (readable by np.load) with fixed timestamps: the same arrays give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def _as_numpy(arrays: dict) -> dict[str, np.ndarray]:
    """Tensors (any device) or arrays -> numpy arrays, copied."""
    out = {}
    for name, value in arrays.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        out[name] = np.array(value, copy=True)
    return out


def _folder(where) -> Path:
    """A run folder from a RunContext, a RunRecord or a path."""
    if hasattr(where, "record"):
        where = where.record
    return Path(getattr(where, "path", where))


def _describe(data: bytes, arrays: dict[str, np.ndarray], name: str) -> dict:
    return {"file": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "arrays": {k: f"{v.dtype}{list(v.shape)}" for k, v in sorted(arrays.items())}}


def policy_committed(policy_bytes: int, seed: int | None) -> bool:
    """Whether a policy file of this size is committed with its run: a small one always, a larger one in the first
    seed's run (seed 0, or a run that is not one seed's) only."""
    return policy_bytes <= COMMITTED_POLICY_MAX_BYTES or seed in (None, 0)


def save_agent(where, kind: str, policy: dict, meta: dict, large: dict | None = None,
               snapshot: int | None = None) -> Path:
    """Write an agent into a run folder (`where`: a RunContext, RunRecord or path): `policy` arrays to
    <base>.npz (committed; <base>.policy.large.npz, git-ignored, where `policy_committed` says no), `large` arrays
    to <base>.large.npz (git-ignored), `meta` (JSON: what the agent needs to act and the step it was saved at) to
    <base>.json with both files' checksums. <base> is `agent`, or `agent_step<N>` for the snapshot at step N. Every
    file is written atomically; returns the .json's path."""
    from common.platform.records import atomic_write_bytes, atomic_write_text

    if kind not in KINDS:
        raise ValueError(f"unknown agent kind {kind!r}; valid: {', '.join(KINDS)}")
    folder, base = _folder(where), base_name(snapshot)
    doc: dict[str, Any] = {"format": FORMAT, "kind": kind, "snapshot": snapshot, "meta": meta,
                           "policy": None, "large": None}
    for key, arrays, name in (("policy", policy, f"{base}.npz"), ("large", large, f"{base}{LARGE_SUFFIX}")):
        if arrays:
            arrays = _as_numpy(arrays)
            data = npz_bytes(arrays)
            ignored = key == "large" or not policy_committed(len(data), seed_of_run(folder))
            if key == "policy" and ignored:
                name = f"{base}.policy{LARGE_SUFFIX}"
            atomic_write_bytes(folder / name, data)
            doc[key] = {**_describe(data, arrays, name), **({"git_ignored": True} if ignored else {})}
    path = folder / f"{base}.json"
    atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def snapshots(run_dir: Path) -> list[int]:
    """The steps at which a run kept snapshots of its agent."""
    out = []
    for p in Path(run_dir).glob("agent_step*.json"):
        digits = p.stem.removeprefix("agent_step")
        if digits.isdigit():
            out.append(int(digits))
    return sorted(out)


def _read_npz(path: Path, entry: dict, what: str) -> dict[str, np.ndarray]:
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ReproError(f"{path}: contents differ from the checksum agent.json records ({what}); rerun the run "
                         "to make it again")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def packed_arrays(per_seed: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Every seed's arrays of a packed run, stacked along a leading seed axis under `packed.<name>` (`save_agent`
    writes them beside the first seed's own arrays; `load_agent(run_dir, seed=k)` takes seed k's out)."""
    return {PACKED + name: np.stack([np.asarray(arrays[name]) for arrays in per_seed]) for name in per_seed[0]}


def _one_seed(arrays: dict | None, index: int | None) -> dict | None:
    """A packed agent's arrays for one seed: the seed at `index` of the stacked ones (None: the first seed's own,
    unprefixed arrays), the stacked arrays left out."""
    if arrays is None:
        return None
    if index is None:
        return {k: v for k, v in arrays.items() if not k.startswith(PACKED)}
    return {k[len(PACKED):]: v[index] for k, v in arrays.items() if k.startswith(PACKED)}


def _kept(run_dir: Path, entry: dict, holds: str) -> Path:
    """The path of an agent's array file; a git-ignored one that is not in this copy is an AgentMissing error that
    says how to get it back."""
    path = run_dir / entry["file"]
    if any(name.startswith("replay.") for name in entry.get("arrays", {})):
        holds += ", and the replay buffer (what medium-replay datasets are cut from)"
    if not path.exists() and entry.get("git_ignored"):
        raise AgentMissing(
            f"{path.name} ({entry['bytes'] / 1e6:.2f} MB: {holds}) is kept beside the run but not committed, and is "
            f"not in this copy of {run_dir}; run the run again to get it back (same seed and config give the same "
            "agent): locally with `repro run`, or on a cluster with `repro sweep ... --launcher slurm` into an empty "
            "results folder, then copy the file here")
    return path


def load_agent(run_dir, snapshot: int | None = None, with_large: bool | None = None,
               seed: int | None = None) -> "Agent":
    """The agent saved in `run_dir` (its final one, or the snapshot at step `snapshot`). The large part is loaded
    when the agent needs it to act (Atari networks) or when `with_large` is True; missing, it is an AgentMissing
    error that says how to get it back. `seed`: in a run that packs several seeds, that seed's agent (None: the
    first seed's); in a run of one seed, None or its own seed."""
    run_dir = Path(run_dir)
    base = base_name(snapshot)
    meta_path = run_dir / f"{base}.json"
    if not meta_path.exists():
        if snapshot is not None:
            kept = snapshots(run_dir)
            raise AgentMissing(f"{run_dir} kept no agent at step {snapshot:,}; snapshots kept: "
                               + (", ".join(f"{s:,}" for s in kept) if kept else "none (save_agent_at_steps: [])"))
        raise AgentMissing(f"{run_dir} has no saved agent (agent.json): it was recorded before runs kept their agents "
                           "(run it again in an empty results folder, REPRO_RESULTS=..., to get one), or its runner "
                           "has none to keep (the random-policy baseline)")
    doc = json.loads(meta_path.read_text())
    if doc.get("format") != FORMAT or doc.get("kind") not in KINDS:
        raise ReproError(f"{meta_path}: agent format {doc.get('format')} / kind {doc.get('kind')!r} is not one this "
                         f"version reads (format {FORMAT}; kinds {', '.join(KINDS)})")
    cls = KINDS[doc["kind"]]
    policy = _read_npz(_kept(run_dir, doc["policy"], "the policy: larger than "
                             f"{COMMITTED_POLICY_MAX_BYTES // 1024} KB, committed for seed 0 only"),
                       doc["policy"], "the policy") if doc["policy"] else {}
    large = None
    if doc["large"] and (with_large or (with_large is None and cls.needs_large)):
        large = _read_npz(_kept(run_dir, doc["large"], cls.large_holds), doc["large"], "the large part")
    meta = doc["meta"]
    seeds = meta.get("packed_seeds")
    if seeds is not None:  # a packed run: one seed's arrays
        if seed is not None and int(seed) not in seeds:
            raise ReproError(f"{run_dir} holds seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} packed); seed {seed} is "
                             "not one of them")
        index = None if seed is None else seeds.index(int(seed))
        policy, large = _one_seed(policy, index), _one_seed(large, index)
        meta = {**meta, "seed": int(seeds[0] if seed is None else seed)}
        if "packed_env_steps" in meta:  # that seed's own env steps
            meta["env_steps"] = int(meta["packed_env_steps"][0 if index is None else index])
    elif seed is not None and int(seed) != int(meta.get("seed", seed)):
        raise ReproError(f"{run_dir} holds the agent of seed {meta['seed']} only; seed {seed} is not in it")
    return cls(doc["kind"], meta, policy, large, doc.get("snapshot"), run_dir)


# ---- agents --------------------------------------------------------------------------------------------------
@dataclass
class Agent:
    """A saved agent: `act(obs, deterministic, rng)` gives one action for one observation."""

    kind: str
    meta: dict
    policy: dict
    large: dict | None
    snapshot: int | None
    run_dir: Path | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    needs_large = False  # whether acting needs the large part
    large_holds = "the critics"
    family = "mujoco"  # mujoco | atari | bandit: which environment evaluates it

    def act(self, obs, deterministic: bool = False, rng: np.random.Generator | None = None):
        raise NotImplementedError

    def protocol(self, deterministic: bool) -> str:
        raise NotImplementedError


class GaussianMLPAgent(Agent):
    """PPO's and TRPO's MuJoCo policies (papers/schulman2017_ppo/ppo.py: two tanh hidden layers;
    papers/schulman2015_trpo/trpo.py: one, or none for the linear cart-pole policy), and TRPO Figure 4's CEM, CMA
    and RWR policies (papers/schulman2015_trpo/figure4.py): observations normalized by the running statistics frozen
    at the end of training and clipped, `layers` layers with tanh between them, a linear mean and a
    state-independent log standard deviation; a = mean + std * N(0, 1) (the training loop's own draw), or the mean
    if deterministic."""

    large_holds = "the value network"

    def act(self, obs, deterministic=False, rng=None):
        p, m = self.policy, self.meta
        x = np.asarray(obs, dtype=np.float64)
        if m["normalize_obs"]:
            x = np.clip((x - p["obs_mean"]) / np.sqrt(p["obs_var"] + 1e-8), -m["obs_clip"], m["obs_clip"])
        h = x
        for i in range(m["layers"]):
            h = h @ p[f"pi.{i}.w"] + p[f"pi.{i}.b"]
            if i < m["layers"] - 1:
                h = np.tanh(h)
        if deterministic:
            return h
        return h + np.exp(p["log_std"]) * rng.standard_normal(len(p["log_std"]))

    def protocol(self, deterministic):
        return ("the policy's mean action" if deterministic else
                "the stochastic policy, as in training (the papers' scores are of training episodes)") + \
            "; observation normalization frozen at the end of training"


class CategoricalMLPAgent(Agent):
    """A softmax policy over discrete actions (papers/ho2016_gail: the classic-control experts and imitators):
    observations standardized by the stored `obs_mean`, `obs_std` and clipped, `layers` layers with tanh between
    them, logits out; a ~ softmax(logits) (the policy's own draw: inverse CDF of one uniform), or the most likely
    action if deterministic."""

    large_holds = "the value network"

    def act(self, obs, deterministic=False, rng=None):
        p, m = self.policy, self.meta
        h = np.clip((np.asarray(obs, dtype=np.float64) - p["obs_mean"]) / p["obs_std"], -m["obs_clip"], m["obs_clip"])
        for i in range(m["layers"]):
            h = h @ p[f"pi.{i}.w"] + p[f"pi.{i}.b"]
            if i < m["layers"] - 1:
                h = np.tanh(h)
        if deterministic:
            return int(np.argmax(h))
        e = np.exp(h - h.max())
        cdf = np.cumsum(e / e.sum())
        return int(min(np.searchsorted(cdf, rng.random(), side="right"), len(cdf) - 1))

    def protocol(self, deterministic):
        return "the most likely action" if deterministic else "the stochastic policy, as in training"


class SquashedGaussianAgent(Agent):
    """SAC's actor (papers/haarnoja2018_sac/sac.py), two ReLU hidden layers: a = center + scale tanh(mu + sigma eps),
    eps ~ N(0, 1), or center + scale tanh(mu) if deterministic (the papers' evaluation)."""

    large_holds = "the critics (and v1's value networks) and the temperature"

    def act(self, obs, deterministic=False, rng=None):
        w, m = self.policy, self.meta
        obs = np.asarray(obs)
        h = np.maximum(obs @ w["net.0.weight"].T + w["net.0.bias"], 0)
        h = np.maximum(h @ w["net.2.weight"].T + w["net.2.bias"], 0)
        out = h @ w["net.4.weight"].T + w["net.4.bias"]
        act_dim = m["act_dim"]
        mean, log_std = out[:act_dim], np.clip(out[act_dim:], m["log_std_min"], m["log_std_max"])
        u = mean if deterministic else mean + np.exp(log_std) * rng.standard_normal(act_dim)
        return w["center"] + w["scale"] * np.tanh(u)

    def protocol(self, deterministic):
        return ("the policy's mean action (the papers' evaluation)" if deterministic else
                "the stochastic policy, as in training")


class DeterministicMLPAgent(Agent):
    """DDPG's actor (papers/lillicrap2016_ddpg/ddpg.py): two ReLU hidden layers, batch normalization with its
    running statistics if the run used it, a = center + scale tanh(.) (the papers' evaluation: no noise); not
    deterministic: plus the run's exploration noise, clipped to the bounds (an Ornstein-Uhlenbeck process whose state
    this agent keeps from call to call, or independent Gaussian noise)."""

    large_holds = "the critic and the target networks"

    def act(self, obs, deterministic=False, rng=None):
        from common.offpolicy.policies import deterministic_actor as np_actor

        w, m = self.policy, self.meta
        mu = np_actor(w, np.asarray(obs))
        if not deterministic:
            if m["exploration"] == "ou":
                x = self._cache.setdefault("ou", np.zeros(m["act_dim"]))
                x += m["ou_theta"] * -x * m["ou_dt"] + m["ou_sigma"] * np.sqrt(m["ou_dt"]) * rng.standard_normal(len(x))
                mu = np.clip(mu + x, -1.0, 1.0)
            else:
                mu = np.clip(mu + m["gaussian_sigma"] * rng.standard_normal(m["act_dim"]), -1.0, 1.0)
        return w["center"] + w["scale"] * mu

    def protocol(self, deterministic):
        return ("the actor's action without noise (the papers' evaluation)" if deterministic else
                "the actor's action with the run's exploration noise, as in training")


class _TorchAtariAgent(Agent):
    needs_large = True
    family = "atari"

    def _net(self):
        if "net" not in self._cache:
            import torch
            from torch import nn

            from common.rl.networks import atari_torso

            net = nn.Module()
            net.torso, width = atari_torso(self.meta["network"], **self.meta.get("network_sizes", {}))
            for head, n_out in self.heads(width):
                setattr(net, head, nn.Linear(width, n_out))
            net.load_state_dict({k: torch.from_numpy(v) for k, v in self.large.items()
                                 if not k.startswith("replay.")})  # a replay kept beside it (save_replay)
            self._cache["net"] = net.eval()
        return self._cache["net"]

    def _features(self, obs):
        import torch

        from common.rl.networks import scale_frames

        with torch.no_grad():
            frames = torch.from_numpy(np.asarray(obs, dtype=np.uint8)[None])
            return self._net().torso(scale_frames(frames))

    def heads(self, width: int):
        raise NotImplementedError


class AtariQAgent(_TorchAtariAgent):
    """DQN's Q-network (papers/mnih2013_dqn/dqn.py): epsilon-greedy with the evaluation epsilon (0.05), drawn as the
    training loop draws it, or greedy if deterministic."""

    large_holds = "the Q-network"

    def heads(self, width):
        return [("out", self.meta["n_actions"])]

    def q_values(self, obs) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self._net().out(self._features(obs)).numpy()[0]

    def act(self, obs, deterministic=False, rng=None):
        q = self.q_values(obs)
        greedy = int(q.argmax())
        if deterministic:
            return greedy
        explore = rng.random(1) < self.meta["eval_epsilon"]  # dqn.epsilon_greedy for one environment
        return int(np.where(explore, rng.integers(0, len(q), 1), greedy)[0])

    def protocol(self, deterministic):
        return "greedy" if deterministic else f"epsilon-greedy, epsilon = {self.meta['eval_epsilon']} (Sec. 5)"


class AtariPolicyAgent(_TorchAtariAgent):
    """PPO's Atari policy-value network (papers/schulman2017_ppo/ppo_atari.py): an action sampled from the softmax
    policy, or its most probable action if deterministic."""

    large_holds = "the policy-value network"

    def heads(self, width):
        return [("pi", self.meta["n_actions"]), ("v", 1)]

    def probabilities(self, obs) -> np.ndarray:
        import torch

        with torch.no_grad():
            return torch.softmax(self._net().pi(self._features(obs)), -1).double().numpy()[0]

    def act(self, obs, deterministic=False, rng=None):
        p = self.probabilities(obs)
        return int(p.argmax()) if deterministic else int(rng.choice(len(p), p=p / p.sum()))

    def protocol(self, deterministic):
        return "the most probable action" if deterministic else "actions sampled from the policy, as in training"


class AtariSoftmaxPolicyAgent(AtariPolicyAgent):
    """TRPO's Atari policy (papers/schulman2015_trpo/trpo_atari.py): softmax over the minimal action set of a network
    without a value head (`network`: "trpo2015", its sizes in `network_sizes`); an action sampled from the policy,
    or its most probable action if deterministic."""

    large_holds = "the policy network"

    def heads(self, width):
        return [("pi", self.meta["n_actions"])]


class BetaBernoulliAgent(Agent):
    """A finite-armed Bernoulli bandit's Beta posteriors (papers/russo2017_thompson/bandits.py), one row per
    replication: Thompson sampling draws theta ~ Beta(alpha, beta) and pulls its argmax; greedy (or deterministic)
    pulls the posterior mean's argmax. `act` returns one arm per replication (ties to the lowest index)."""

    family = "bandit"

    def act(self, obs=None, deterministic=False, rng=None):
        a, b = self.policy["alpha"], self.policy["beta"]
        scores = a / (a + b) if deterministic or self.meta["agent"] == "greedy" else rng.beta(a, b)
        return scores.argmax(axis=1)

    def protocol(self, deterministic):
        return "posterior mean" if deterministic or self.meta["agent"] == "greedy" else "Thompson sampling"


class LogNormalEdgePosteriorAgent(Agent):
    """The online-shortest-path agents' Gaussian posteriors over ln theta_e, the edges' log mean travel times
    (papers/russo2017_thompson/bridge.py), one row per replication: `mean` with `precision` (independent edges) or
    `cov` (the coherent agent, float32). `act` returns each replication's edge weights for this period: a posterior
    sample exp(ln theta) (Thompson sampling) or the posterior mean E[theta_e] (greedy, or deterministic); the path is
    the shortest under them (bridge.shortest_paths(bridge.make_bridge(n_stages), weights))."""

    needs_large = True
    large_holds = "the posterior of every replication"
    family = "bandit"

    def act(self, obs=None, deterministic=False, rng=None):
        mean = self.large["mean"]
        if "cov" in self.large:
            if deterministic:
                return np.exp(mean + 0.5 * np.diagonal(self.large["cov"], axis1=1, axis2=2))
            chol = np.linalg.cholesky(self.large["cov"].astype(np.float64) + 1e-10 * np.eye(mean.shape[1]))
            return np.exp(mean + (chol @ rng.standard_normal((*mean.shape, 1)))[..., 0])
        precision = self.large["precision"]
        if deterministic or self.meta["agent"] == "greedy":
            return np.exp(mean + 0.5 / precision)
        return np.exp(mean + rng.standard_normal(mean.shape) / np.sqrt(precision))

    def protocol(self, deterministic):
        return "posterior mean" if deterministic or self.meta["agent"] == "greedy" else "Thompson sampling"


KINDS: dict[str, type[Agent]] = {
    "gaussian_mlp": GaussianMLPAgent,
    "categorical_mlp": CategoricalMLPAgent,
    "squashed_gaussian_mlp": SquashedGaussianAgent,
    "deterministic_mlp": DeterministicMLPAgent,
    "atari_q_network": AtariQAgent,
    "atari_policy_network": AtariPolicyAgent,
    "atari_softmax_policy": AtariSoftmaxPolicyAgent,
    "beta_bernoulli_posterior": BetaBernoulliAgent,
    "lognormal_edge_posterior": LogNormalEdgePosteriorAgent,
}


# ---- evaluation ----------------------------------------------------------------------------------------------
def eval_seeds(run_seed: int, episodes: int) -> list[int]:
    return [EVAL_SEED_BASE + 1000 * int(run_seed) + k for k in range(episodes)]


def _atari_env(meta: dict, seed: int, rgb: bool = False):
    from common.rl.atari import ToyVectorEnv, make_atari

    if rgb and meta["game"] != "Toy":
        from ale_py.vector_env import AtariVectorEnv

        from common.rl.atari import GAMES

        env = AtariVectorEnv(game=GAMES[meta["game"]], num_envs=1, num_threads=1, frameskip=meta["frame_skip"],
                             repeat_action_probability=0.0, full_action_space=False, img_height=210, img_width=160,
                             grayscale=False, stack_num=1, maxpool=True, noop_max=30, episodic_life=False,
                             reward_clipping=False, use_fire_reset=False,
                             max_num_frames_per_episode=meta["max_episode_frames"])
        env.reset(seed=seed)
        return env
    if rgb:
        return ToyVectorEnv(1, seed)
    return make_atari(meta["game"], 1, seed, meta["frame_skip"], max_episode_frames=meta["max_episode_frames"])[0]


def run_episode(agent: Agent, env, seed: int, deterministic: bool, rng, on_step=None,
                max_steps: int | None = None) -> tuple[float, int]:
    """One episode from `env.reset(seed=seed)` (stopped after `max_steps` agent steps if given): its return
    (unclipped rewards) and length in agent steps. `on_step(action)` is called after each step."""
    total, steps, done = 0.0, 0, False
    obs, _ = env.reset(seed=seed)
    while not done and (max_steps is None or steps < max_steps):
        if agent.family == "atari":  # a vector environment of one
            action = agent.act(obs[0], deterministic, rng)
            obs, r, term, trunc, _ = env.step(np.array([action]))
            r, term, trunc = r[0], term[0], trunc[0]
        else:
            action = agent.act(obs, deterministic, rng)
            obs, r, term, trunc, _ = env.step(action)
        total, steps, done = total + float(r), steps + 1, bool(term or trunc)
        if on_step:
            on_step(action)
    return total, steps


def evaluate(agent: Agent, seeds: list[int], deterministic: bool, rng_seed: int = 0) -> dict:
    """Returns and lengths of one episode per seed in `seeds` (each from a reset with that seed), the policy's
    random draws from `np.random.default_rng(rng_seed)`."""
    if agent.family == "bandit":
        raise ReproError("a bandit's agent is its posterior, one per replication (common.rl.agents.load_agent(run_dir): "
                         "its .policy or .large arrays); it has no episodes to evaluate")
    rng = np.random.default_rng(rng_seed)
    if agent.family == "atari":
        env = _atari_env(agent.meta, seeds[0])
    else:
        from common.rl.envs import make_env

        env = make_env(agent.meta["env_id"], seeds[0])
    returns, lengths = [], []
    for s in seeds:
        ret, n = run_episode(agent, env, s, deterministic, rng)
        returns.append(ret)
        lengths.append(n)
    if hasattr(env, "close"):
        env.close()
    return {"seeds": list(seeds), "returns": returns, "lengths": lengths}


def env_description(agent: Agent) -> str:
    m = agent.meta
    if agent.family == "atari":
        from common.rl.atari import env_version

        return env_version(m["game"]) if m["game"] != "Toy" else "common.rl.atari.ToyVectorEnv (a test task)"
    from common.rl.envs import env_version

    return env_version(m["env_id"])


# ---- video ---------------------------------------------------------------------------------------------------
_GL_PROBE = ("import mujoco; m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\".1\"/>"
             "</worldbody></mujoco>'); r = mujoco.Renderer(m, 16, 16); d = mujoco.MjData(m); "
             "r.update_scene(d); assert r.render().shape == (16, 16, 3)")


def choose_mujoco_gl() -> str:
    """A headless OpenGL backend for MuJoCo: MUJOCO_GL if set, else the first of EGL and OSMesa that renders (each
    tried in a subprocess, since MuJoCo reads MUJOCO_GL once, on import). Sets MUJOCO_GL for this process."""
    if os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]
    if "mujoco" in sys.modules:
        raise ReproError("MuJoCo was imported before a renderer was chosen; set MUJOCO_GL=egl (or osmesa)")
    errors = []
    for backend in ("egl", "osmesa"):
        try:
            probe = subprocess.run([sys.executable, "-c", _GL_PROBE], env={**os.environ, "MUJOCO_GL": backend},
                                   capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            errors.append(f"{backend}: timed out")
            continue
        if probe.returncode == 0:
            os.environ["MUJOCO_GL"] = backend
            return backend
        errors.append(f"{backend}: {(probe.stderr.strip().splitlines() or ['failed'])[-1]}")
    raise ReproError("no headless renderer works for MuJoCo here (" + "; ".join(errors) + "); install EGL "
                     "(Debian: libegl1 libgl1-mesa-dri) or OSMesa (libosmesa6), or set MUJOCO_GL")


def record_video(agent: Agent, out: Path, seed: int, deterministic: bool, max_steps: int = 1000,
                 width: int = 320, height: int = 240, fps: int = 30, rng_seed: int = 0) -> dict:
    """Film one episode (from a reset with `seed`, at most `max_steps` agent steps) to an animated GIF at `out`
    (imageio with Pillow, both pinned). MuJoCo frames come from its renderer, at most `fps` frames a second of
    simulated time (every k-th step); Atari frames are the emulator's own RGB screens (210 x 160, max-pooled over
    the skipped frames as the agent's), from a second emulator that takes the same actions from the same seed.
    Returns the episode's return, agent steps and frame count, where the frames came from and the file."""
    import imageio.v3 as iio

    if out.suffix.lower() != ".gif":
        raise ReproError(f"{out}: videos are written as animated GIF (.gif), which needs no encoder beyond the pinned "
                         "imageio and Pillow")
    if agent.family == "bandit":
        raise ReproError("a bandit's agent has no environment to film")
    from common.rl.envs import NUMPY_TASKS

    if agent.meta.get("env_id") in NUMPY_TASKS:
        raise ReproError(f"{agent.meta['env_id']} is a numpy task without a renderer: nothing to film; "
                         "`repro eval` gives its episodes' returns")
    if str(agent.meta.get("env_id", "")).startswith("dm_control/"):
        raise ReproError(f"{agent.meta['env_id']}: dm-control tasks are not rendered here (common/rl/dmc.py has no "
                         "renderer); `repro eval` gives its episodes' returns")
    rng = np.random.default_rng(rng_seed)
    frames: list[np.ndarray] = []
    if agent.family == "atari":
        env, screen = _atari_env(agent.meta, seed), _atari_env(agent.meta, seed, rgb=True)
        toy = agent.meta["game"] == "Toy"
        backend = "the ALE emulator's RGB screens" if not toy else "the toy task's frames"

        def grab(obs):
            if toy:  # (1, 4, 84, 84) grayscale: the newest frame, twice the size, as RGB
                return np.stack([np.kron(obs[0, -1], np.ones((2, 2), np.uint8))] * 3, -1)
            return obs[0, -1]  # (1, 1, 210, 160, 3): the newest screen

        frames.append(grab(screen.reset(seed=seed)[0]))
        step_s = agent.meta["frame_skip"] / 60.0  # the emulator runs at 60 frames a second
        stride = 1

        screen_return = [0.0]

        def on_step(action):
            obs, r, *_ = screen.step(np.array([action]))
            frames.append(grab(obs))
            screen_return[0] += float(r[0])
    else:
        backend = f"MuJoCo's renderer, MUJOCO_GL={choose_mujoco_gl()}"
        import gymnasium as gym

        env = gym.make(agent.meta["env_id"], render_mode="rgb_array", width=width, height=height)
        env.reset(seed=seed)
        frames.append(env.render())
        step_s = 1.0 / (env.metadata.get("render_fps") or 50)  # simulated seconds per agent step
        stride = max(1, round(1.0 / (fps * step_s)))
        count = [0]

        def on_step(_action):
            count[0] += 1
            if count[0] % stride == 0:
                frames.append(env.render())
    total, steps = run_episode(agent, env, seed, deterministic, rng, on_step, max_steps)
    if agent.family == "atari" and screen_return[0] != total:  # the filmed emulator must have played the same game
        raise ReproError(f"the filmed emulator's return ({screen_return[0]}) differs from the agent's ({total}): "
                         "the two emulators did not play the same game; no video written")
    if hasattr(env, "close"):
        env.close()
    frame_ms = max(20, int(round(stride * step_s * 100)) * 10)  # GIF delays count 1/100 s; viewers slow < 20 ms
    out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out, np.stack(frames), extension=".gif", duration=frame_ms, loop=0)
    return {"path": out, "frames": len(frames), "return": total, "steps": steps, "frame_ms": frame_ms,
            "backend": backend, "stride": stride}
