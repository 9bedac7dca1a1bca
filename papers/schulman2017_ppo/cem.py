"""The cross-entropy method as PPO Figure 3's "CEM" baseline (PPO Sec. 6.2: "cross-entropy method (CEM) [SL06]").

The noisy CEM of Szita and Lorincz 2006 [SL06] (`common/rl/derivative_free.NoisyCEM`, shared with TRPO's Figure 4)
searching the parameters of PPO's policy network, the network every Figure 3 method here trains
(`onpolicy_loop.PolicyValueNets.pi`: 64-64 tanh mean, state-independent log std; the value network is not used).
Per generation g, with a population of N = cem_population candidates:
  1. theta_i ~ N(mu_g, diag(sigma_g^2 + Z_g)),  Z_g = extra_std^2 max(1 - g / decay, 0)      ([SL06] Sec. 3;
                                                                                             modular_rl cem.py)
  2. candidate i plays one episode of the stochastic policy pi_theta_i (to the task's time limit); its fitness
     is the episode's undiscounted total reward (modular_rl `_cem_f`)
  3. mu_{g+1}, sigma_{g+1}^2 = the mean and per-coordinate variance of the best round(elite_frac N)     ([SL06]
     candidates (the elites)                                                                    eq. 2-3)
mu_0 is PPO's initialization of the network (normc, log std 0) and sigma_0 = cem_initial_std in every coordinate.
The search covers the whole parameter vector, log std included, as rllab's CEM searches its stochastic policy's.

Observations are normalized as every Figure 3 method's (running mean/std clipped to [-5, 5]); the statistics are
frozen during a generation, so that all its candidates are scored under the same filter, and learn from the
generation's observations after it (modular_rl's filter updated at every step instead).

The run lasts total_env_steps env steps counted over all candidates' episodes: it stops after the episode that
reaches the budget (so it overshoots by less than one episode). A generation cut short by the budget is not fitted;
its episodes still count as training episodes. The curves plot every candidate's episode (training returns of the
sampled policies, as the other methods' curves); the saved agent is the search distribution's mean mu (as
modular_rl keeps `th_mean`), in the other methods' format. A checkpoint is taken between generations.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from common.onpolicy import gaussian_entropy
from common.platform.finite import check_finite, finite_mean
from common.rl.derivative_free import NoisyCEM
from common.rl.envs import RunningMeanStd, make_env, restore_env_state, save_env_state

from .onpolicy_loop import PolicyValueNets, save_policy_agent

#: per generation fitted: its candidates' mean and best return, the lowest elite return (the selection threshold),
#: the standard deviation its candidates were drawn with (averaged over coordinates) and the entropy of the policy
#: at the new mean
GENERATION_COLUMNS = ["generation", "env_step", "candidates", "mean_return", "max_return", "elite_min_return",
                      "sample_std", "entropy"]


def candidate_theta(cem: NoisyCEM, std: np.ndarray, seed: int, generation: int, i: int) -> np.ndarray:
    """Candidate i of a generation, from its own random stream (so the elites are redrawn for the fit, not stored:
    a population of 200 vectors of 5,000 parameters need not be kept)."""
    return cem.sample(np.random.default_rng(np.random.SeedSequence([seed, 11, generation, i])), std)


def run_cem(cfg, ctx, algorithm: str) -> dict[str, pd.DataFrame]:
    """One CEM run of `cfg.total_env_steps` env steps (module docstring); cfg: Fig3BaselineConfig."""
    env = make_env(cfg.env_id, cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    nets = PolicyValueNets(obs_dim, act_dim, cfg.hidden_units,
                           np.random.default_rng(np.random.SeedSequence([cfg.seed, 5])))
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7]))  # the policies' action noise
    rms = RunningMeanStd((obs_dim,))
    cem = NoisyCEM(nets.pi.flat, cfg.cem_initial_std, cfg.cem_extra_std, cfg.cem_extra_decay_generations,
                   cfg.cem_elite_frac)
    snapshot_steps = sorted(int(s) for s in cfg.save_agent_at_steps)  # in 1..total_env_steps (validate)

    state = ctx.restore()
    if state is None:  # make_env has reset the environment with the run's seed
        state = {"generation": 0, "steps": 0, "episodes": [], "generations": []}
    else:
        cem.load_state_dict(state["cem"])
        rms.__dict__.update(state["rms"])
        rng.bit_generator.state = state["rng"]
        restore_env_state(env, state["env"])

    def checkpoint_state() -> dict:
        return {**state, "cem": cem.state_dict(), "rms": dict(rms.__dict__), "rng": rng.bit_generator.state,
                "env": save_env_state(env)}

    def episode(theta: np.ndarray, normalize) -> tuple[float, np.ndarray]:
        """One episode of pi_theta (step 2): its total reward and its observations."""
        nets.pi.flat[...] = theta
        std = np.exp(nets.pi["log_std"])
        obs, _ = env.reset()
        total, seen = 0.0, []
        while True:
            seen.append(obs)
            action = nets.mean(normalize(obs)) + std * rng.standard_normal(act_dim)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            if terminated or truncated:
                break
        state["steps"] += len(seen)
        check_finite("episode return", total, f"env step {state['steps']:,}")
        state["episodes"].append((state["steps"], total, len(seen)))
        return total, np.array(seen)

    bar = ctx.progress(cfg.total_env_steps, f"{algorithm} {cfg.env_id}", initial=state["steps"], unit="env-steps")
    while state["steps"] < cfg.total_env_steps:
        g, steps_before = state["generation"], state["steps"]
        where = f"generation {g} (env step {steps_before:,})"
        mean, var, clip = rms.mean.copy(), rms.var.copy(), cfg.obs_clip  # the filter, frozen for the generation

        def normalize(o: np.ndarray) -> np.ndarray:
            return np.clip((o - mean) / np.sqrt(var + 1e-8), -clip, clip) if cfg.normalize_obs else o

        std = cem.sample_std()  # step 1: sqrt(sigma_g^2 + Z_g)
        returns, observations = [], []
        while len(returns) < cfg.cem_population and state["steps"] < cfg.total_env_steps:
            ret, seen = episode(candidate_theta(cem, std, cfg.seed, g, len(returns)), normalize)
            returns.append(ret)
            observations.append(seen)
        if len(returns) == cfg.cem_population:  # step 3: refit to the elites (a generation cut short is not)
            elite = cem.select(np.array(returns))
            cem.fit(np.array([candidate_theta(cem, std, cfg.seed, g, i) for i in elite]))
            check_finite("search distribution", {"mean": cem.mean, "variance": cem.var}, where)
            nets.pi.flat[...] = cem.mean
            state["generations"].append((g, state["steps"], len(returns), finite_mean("mean return", returns, where),
                                         float(np.max(returns)), float(np.min(np.array(returns)[elite])),
                                         float(std.mean()), gaussian_entropy(nets.pi["log_std"])))
        if cfg.normalize_obs:
            rms.update(np.concatenate(observations))
            check_finite("observation statistics", {"mean": rms.mean, "variance": rms.var}, where)
        state["generation"] = g + 1
        ctx.count(state["steps"] - steps_before, "env-steps")
        bar.update(state["steps"] - steps_before)
        for s in snapshot_steps:  # the distribution's mean after the generation that reached step s
            if steps_before < s <= state["steps"]:
                nets.pi.flat[...] = cem.mean
                save_policy_agent(ctx, cfg, nets, rms, state["steps"], algorithm, snapshot=s, value=False)
        ctx.maybe_checkpoint(checkpoint_state)
    bar.close()
    env.close()
    nets.pi.flat[...] = cem.mean
    save_policy_agent(ctx, cfg, nets, rms, state["steps"], algorithm, value=False)
    episodes = pd.DataFrame(state["episodes"], columns=["env_step", "episode_return", "episode_length"])
    generations = pd.DataFrame(state["generations"], columns=GENERATION_COLUMNS)
    return {"episodes": episodes.assign(seed=cfg.seed), "iterations": generations.assign(seed=cfg.seed)}
