"""PPO Figure 3's comparison methods (Sec. 6.2, p. 6-7): one runner, `method` choosing the algorithm.

    a2c                  A2C, synchronous A3C [Mni+16]                               a2c.py
    a2c_trust_region     A2C with ACER's efficient trust-region update [Wan+16]    a2c.py
    vanilla_pg_adaptive  vanilla policy gradient, Adam stepsize adapted by KL       vanilla_pg.py (footnote 3)
    trpo                 TRPO [Sch+15b] with the reference code's settings         trpo_gae.py
    cem                  the noisy cross-entropy method [SL06], derivative-free    cem.py (on common/rl/derivative_free)

The paper states no setting of any of them ("tuned implementations"; shared/reported/ppo2017_fig3_baselines.yaml).
Every key below is the reading named in its comment: OpenAI baselines' `a2c`, `acer` and `trpo_mpi` defaults for
MuJoCo where the paper is silent, the course code footnote 3 links for the adaptive stepsize, the first author's
noisy CEM (modular_rl) for CEM, and PPO's own Sec. 6.1 setup (networks, observation normalization, GAE) where
neither says; README.md lists them with their sources. The gradient methods run on the sampling loop of
onpolicy_loop.py; CEM, which scores whole episodes of perturbed policies, runs its own loop (cem.py).
Per-method values of the shared keys (gae_lambda, hidden_units) are set by the variants of experiments.yaml.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import List

import pandas as pd

from common.platform import validate as check
from common.rl.envs import CLASSIC, MUJOCO_V5

from .a2c import A2CLearner
from .cem import GENERATION_COLUMNS, run_cem
from .onpolicy_loop import run_onpolicy
from .trpo_gae import TRPOLearner
from .vanilla_pg import VanillaPGLearner


def on_policy(make_learner):
    """A gradient method: its learner's update on the shared sampling loop (onpolicy_loop.py)."""
    return partial(run_onpolicy, make_learner=make_learner)


#: method -> (its run(cfg, ctx, algorithm), its name in logs and saved agents)
METHODS = {
    "a2c": (on_policy(A2CLearner), "A2C"),
    "a2c_trust_region": (on_policy(partial(A2CLearner, trust_region=True)), "A2C + trust region (ACER)"),
    "vanilla_pg_adaptive": (on_policy(VanillaPGLearner), "vanilla PG, adaptive stepsize"),
    "trpo": (on_policy(TRPOLearner), "TRPO (baselines trpo_mpi settings)"),
    "cem": (run_cem, "CEM (noisy cross-entropy method)"),
}


@dataclass
class Fig3BaselineConfig:
    seed: int = 0
    env_id: str = "Hopper-v5"
    method: str = "a2c"  # a2c | a2c_trust_region | vanilla_pg_adaptive | trpo | cem
    total_env_steps: int = 1_000_000  # env steps (agent steps; MuJoCo has no frame skip), as PPO's Sec. 6.1
    gamma: float = 0.99  # discount: PPO Table 3, baselines a2c and trpo_mpi (CEM: undiscounted episode returns)
    gae_lambda: float = 1.0  # GAE lambda; 1 = A2C's n-step return (experiments.yaml sets it per method)
    hidden_units: int = 64  # two tanh hidden layers: PPO's 64 (Sec. 6.1); trpo_mpi's run_mujoco 32
    normalize_obs: bool = True  # running mean/std, clipped to [-5, 5]: baselines MlpPolicy (ppo1, trpo_mpi)
    obs_clip: float = 5.0
    bootstrap_truncation: bool = False  # a time-limit end is terminal, as in ppo.py (Gym -v1 semantics)
    # -- A2C: baselines a2c.learn defaults (a2c.py lines 119-135 @ ea25b9e8) ------------------------------------
    a2c_n_steps: int = 5  # nsteps: env steps per update (one environment)
    a2c_lr: float = 7e-4  # RMSProp stepsize
    a2c_anneal_lr: bool = True  # lrschedule='linear': stepsize x (1 - t / total_env_steps)
    a2c_rmsprop_rho: float = 0.99  # RMSProp decay (alpha)
    a2c_rmsprop_eps: float = 1e-5  # RMSProp epsilon
    a2c_ent_coef: float = 0.01  # entropy bonus c_ent
    a2c_vf_coef: float = 0.5  # value-loss weight c_v
    a2c_max_grad_norm: float = 0.5  # global gradient-norm clipping
    # -- A2C + trust region: baselines acer.learn defaults (delta 1, alpha 0.99; ACER Sec. 4) --------------------
    tr_delta: float = 1.0  # delta of the linearized KL constraint k^T z <= delta (ACER eq. 11)
    tr_avg_decay: float = 0.99  # alpha of the average policy network (ACER's MuJoCo runs: 0.995)
    # -- vanilla PG, adaptive stepsize: footnote 3's hw4 (730ea46) where it applies, else PPO's setup -----------
    vpg_horizon: int = 2048  # env steps per batch: PPO's T (hw4's Pendulum used 2500; Figure 3's is not stated)
    vpg_initial_lr: float = 1e-3  # hw4 initial_stepsize
    vpg_kl_target: float = 2e-3  # hw4 desired_kl (baselines acktr_cont: 0.002)
    vpg_vf_lr: float = 1e-3  # hw4 neural-network baseline: stepsize 1e-3
    vpg_vf_epochs: int = 10  # ... n_epochs 10
    vpg_vf_minibatch: int = 64  # minibatch of the value regression (PPO's M)
    # -- TRPO: baselines trpo_mpi MuJoCo script (run_mujoco.py @ da99706) ----------------------------------------
    trpo_batch_steps: int = 1024  # timesteps_per_batch
    trpo_max_kl: float = 0.01  # max_kl (delta)
    trpo_cg_iters: int = 10  # cg_iters
    trpo_cg_damping: float = 0.1  # cg_damping
    trpo_fvp_subsample: int = 5  # Fisher-vector products on every 5th sample (trpo_mpi.py `fvpargs`)
    trpo_kl_accept_factor: float = 1.5  # the line search accepts KL <= 1.5 max_kl (trpo_mpi.py)
    trpo_backtracks: int = 10  # halvings of the step (trpo_mpi.py)
    trpo_vf_iters: int = 5  # vf_iters: epochs of the value regression
    trpo_vf_lr: float = 1e-3  # vf_stepsize (Adam)
    trpo_vf_minibatch: int = 64  # trpo_mpi.py: batch_size=64
    # -- CEM: modular_rl cem.py (CEM_OPTIONS) and its MuJoCo battery, experiments/battery-cem.yaml (48456f9) ------
    cem_population: int = 200  # candidates per generation, one episode each (batch_size 200; rllab n_samples 100)
    cem_elite_frac: float = 0.2  # elite_frac: the best 40 of 200 refit the distribution ([SL06]: 0.1; rllab 0.05)
    cem_initial_std: float = 1.0  # initial_std: theta ~ N(theta_0, 1) in the first generation (rllab init_std 1)
    cem_extra_std: float = 0.01  # battery-cem.yaml extra_std: Z_g = 0.01^2 max(1 - g / decay, 0) (rllab 1.0)
    cem_extra_decay_generations: int = 150  # Z_g reaches 0 here (0: none): "n_iter/2" of the battery's n_iter 300
    # env steps after which the policy is also kept (agent_step<N>.npz), as in ppo.py
    save_agent_at_steps: List[int] = field(default_factory=list)


def validate_fig3_baseline(cfg: Fig3BaselineConfig) -> None:
    """Values the methods can use (checked before any run starts)."""
    check.seed(cfg)
    check.one_of(cfg, "env_id", MUJOCO_V5 + CLASSIC)
    check.one_of(cfg, "method", tuple(METHODS))
    check.snapshot_steps(cfg)
    check.at_least(cfg, 1, "total_env_steps", "hidden_units", "a2c_n_steps", "vpg_horizon", "vpg_vf_epochs",
                   "vpg_vf_minibatch", "trpo_batch_steps", "trpo_cg_iters", "trpo_fvp_subsample", "trpo_backtracks",
                   "trpo_vf_iters", "trpo_vf_minibatch")
    check.positive(cfg, "obs_clip", "a2c_lr", "a2c_rmsprop_eps", "a2c_max_grad_norm", "vpg_initial_lr",
                   "vpg_kl_target", "vpg_vf_lr", "trpo_max_kl", "trpo_kl_accept_factor", "trpo_vf_lr")
    check.at_least(cfg, 0.0, "a2c_ent_coef", "a2c_vf_coef", "tr_delta", "trpo_cg_damping")
    check.between(cfg, 0, 1, "gamma", "gae_lambda", "a2c_rmsprop_rho", "tr_avg_decay")
    check.at_least(cfg, 2, "cem_population")  # the elites' variance needs two of them
    check.between(cfg, 0, 1, "cem_elite_frac", lo_open=True)
    check.positive(cfg, "cem_initial_std")
    check.at_least(cfg, 0.0, "cem_extra_std")
    check.at_least(cfg, 0, "cem_extra_decay_generations")


#: The columns of the gradient methods' per-update table (onpolicy_loop.py); CEM's is per generation (cem.py).
EPISODE_COLUMNS = ["env_step", "episode_return", "episode_length"]
UPDATE_COLUMNS = ["update", "env_step", "policy_loss", "value_loss", "kl", "stepsize", "entropy"]


def live_tables(state, cfg: Fig3BaselineConfig) -> dict[str, pd.DataFrame]:
    """The metrics so far in a checkpoint's state (common/platform/live.py), the first rows of the final tables."""
    if not isinstance(state, dict):
        return {}
    rows, columns = (state.get("generations"), GENERATION_COLUMNS) if cfg.method == "cem" else (
        state.get("iterations"), UPDATE_COLUMNS)
    return {"episodes": pd.DataFrame(list(state.get("episodes") or []), columns=EPISODE_COLUMNS).assign(seed=cfg.seed),
            "iterations": pd.DataFrame(list(rows or []), columns=columns).assign(seed=cfg.seed)}


def run_fig3_baseline(cfg: Fig3BaselineConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_fig3_baseline(cfg)
    run, name = METHODS[cfg.method]
    return run(cfg, ctx, algorithm=name)
