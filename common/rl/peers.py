"""Peer implementations timed in the same `repro bench` invocation: stable-baselines3's PPO, SAC, DDPG and DQN and
stable-baselines3-contrib's TRPO, built with the settings of this repository's loop (networks, batch sizes, epochs,
update ratio, replay, normalization, conjugate-gradient and line-search settings, torch threads) and timed over `learn`.

stable-baselines3 and sb3-contrib are an optional extra (`make peers`, pinned in pyproject.toml and
requirements.lock): `available(module)` says whether one can be imported (a peer function names the one it needs in
its `requires` attribute), and every function here imports it only when called.

Each function returns {"peer": "stable-baselines3 X.Y.Z PPO", "steps_per_s", "seconds", "steps", "threads"}.
PPO is timed from building the model to the end of `learn`, start-up included, as this repository's PPO bench
times its own loop. SAC and DQN are timed in the learning phase only: the random warm-up (`learning_starts`) runs
inside the same `learn` call and the clock starts when the step counter reaches it (a callback), so first-use costs
fall inside the measured run instead of in a separate, earlier one. DDPG is timed as SAC.
"""
from __future__ import annotations

import importlib
import importlib.util
import time

PACKAGE = "stable-baselines3"
CONTRIB = ("sb3_contrib", "sb3-contrib")  # (module, package) of stable-baselines3-contrib, TRPO's peer


def available(module: str = "stable_baselines3") -> bool:
    return importlib.util.find_spec(module) is not None


def version(module: str = "stable_baselines3") -> str:
    return importlib.import_module(module).__version__


def missing_reason(package: str = PACKAGE) -> str:
    return (f"{package} is not installed (an optional extra: `make peers`, or "
            f"`pip install -c requirements.lock '.[peers]'`)")


def requires(module: str, package: str):
    """Marks a paper's peer function as needing `module` (installed as `package`) instead of stable-baselines3:
    `repro bench` checks it before any work."""
    def mark(fn):
        fn.requires = (module, package)
        return fn

    return mark


def _learning_phase_timer(start_at: int):
    """A callback that notes the time when the model's step counter first reaches `start_at`."""
    from stable_baselines3.common.callbacks import BaseCallback

    class LearningPhaseTimer(BaseCallback):
        def __init__(self):
            super().__init__()
            self.started = None

        def _on_step(self) -> bool:
            if self.started is None and self.num_timesteps >= start_at:
                self.started = time.perf_counter()
            return True

    return LearningPhaseTimer()


def _result(name: str, steps: int, seconds: float, threads: int, package: str = PACKAGE,
            module: str = "stable_baselines3") -> dict:
    return {"peer": f"{package} {version(module)} {name}", "steps": steps, "seconds": seconds,
            "steps_per_s": steps / max(seconds, 1e-9), "threads": threads}


def _timed_after_learning_starts(model, n_steps: int, name: str) -> dict:
    """A stable-baselines3 off-policy `model` trained for its `learning_starts` random steps and `n_steps` more, timed
    over those `n_steps` only (its learning phase); its environment closed after."""
    import torch

    timer = _learning_phase_timer(model.learning_starts)
    model.learn(total_timesteps=model.learning_starts + n_steps, callback=timer)
    seconds = time.perf_counter() - timer.started
    model.get_env().close()
    return _result(name, n_steps, seconds, torch.get_num_threads())


def ppo_model(env_id: str, *, seed: int = 0, horizon: int = 2048, minibatch_size: int = 64, epochs: int = 10,
              lr: float = 3e-4, adam_eps: float = 1e-5, gamma: float = 0.99, gae_lambda: float = 0.95,
              clip_epsilon: float = 0.2, anneal: bool = True, hidden_units: int = 64, normalize_obs: bool = True,
              obs_clip: float = 5.0, normalize_advantages: bool = True, threads: int = 1):
    """stable-baselines3 PPO: separate policy and value networks of two `hidden_units` tanh layers, `horizon` steps
    per iteration, `epochs` epochs of minibatches of `minibatch_size`, Adam with `adam_eps`, stepsize and clip range
    annealed linearly to 0 if `anneal`, observations (not rewards) normalized and clipped if `normalize_obs`, no
    entropy bonus and no gradient clipping; one environment; `threads` torch threads."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    torch.set_num_threads(threads)
    env = DummyVecEnv([lambda: gym.make(env_id)])
    if normalize_obs:
        env = VecNormalize(env, norm_obs=True, norm_reward=False, clip_obs=obs_clip, gamma=gamma)

    def schedule(value):
        return (lambda progress_remaining: progress_remaining * value) if anneal else value

    return PPO("MlpPolicy", env, learning_rate=schedule(lr), n_steps=horizon, batch_size=minibatch_size,
               n_epochs=epochs, gamma=gamma, gae_lambda=gae_lambda, clip_range=schedule(clip_epsilon),
               normalize_advantage=normalize_advantages, ent_coef=0.0, max_grad_norm=1e10, seed=seed, device="cpu",
               policy_kwargs={"net_arch": {"pi": [hidden_units] * 2, "vf": [hidden_units] * 2},
                              "activation_fn": torch.nn.Tanh, "optimizer_kwargs": {"eps": adam_eps}})


def ppo(env_id: str, n_steps: int, **settings) -> dict:
    """`ppo_model(env_id, **settings)` built and trained for `n_steps` environment steps, timed from the start of
    building it to the end of `learn` (start-up included, as this repository's PPO bench times its loop)."""
    import torch

    start = time.perf_counter()
    model = ppo_model(env_id, **settings)
    model.learn(total_timesteps=n_steps)
    seconds = time.perf_counter() - start
    model.get_env().close()
    return _result("PPO", n_steps, seconds, torch.get_num_threads())


def sac_model(env_id: str, *, seed: int = 0, learning_starts: int = 1000, hidden_units: int = 256,
              batch_size: int = 256, lr: float = 3e-4, gamma: float = 0.99, tau: float = 0.005,
              replay_size: int = 1_000_000, updates_per_step: int = 1, init_alpha: float = 1.0,
              target_entropy_per_dim: float = -1.0, fixed_alpha: float | None = None, threads: int = 1):
    """stable-baselines3 SAC: two hidden ReLU layers of `hidden_units` for the actor and both critics, batch
    `batch_size`, replay `replay_size`, `updates_per_step` updates per environment step after `learning_starts`
    random steps; the temperature learned from `init_alpha` towards `target_entropy_per_dim` x dim(A) (SAC v2) or
    fixed at `fixed_alpha` (v1's reward scale r: alpha = 1/r; stable-baselines3 has no separate value network)."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC

    torch.set_num_threads(threads)
    env = gym.make(env_id)
    act_dim = env.action_space.shape[0]
    return SAC("MlpPolicy", env, learning_rate=lr, buffer_size=replay_size, learning_starts=learning_starts,
               batch_size=batch_size, tau=tau, gamma=gamma, train_freq=1, gradient_steps=updates_per_step,
               ent_coef=fixed_alpha if fixed_alpha is not None else f"auto_{init_alpha}",
               target_entropy=target_entropy_per_dim * act_dim, seed=seed, device="cpu",
               policy_kwargs={"net_arch": [hidden_units] * 2})


def sac(env_id: str, n_steps: int, **settings) -> dict:
    """`sac_model(env_id, **settings)` timed over the `n_steps` steps after learning starts."""
    return _timed_after_learning_starts(sac_model(env_id, **settings), n_steps, "SAC")


def update_call(model):
    """One gradient step of a stable-baselines3 off-policy `model` (its `train(1, batch_size)`, logging included, as
    `learn` runs it), after `learn` has filled its replay with its `learning_starts` random steps."""
    model.learn(total_timesteps=model.learning_starts)
    return lambda: model.train(gradient_steps=1, batch_size=model.batch_size)


def _nips2013_extractor():
    """The 2013 network's convolutional part (16 8x8 filters, stride 4; 32 4x4, stride 2; 256 rectifiers) as a
    stable-baselines3 features extractor."""
    import torch
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class Nips2013CNN(BaseFeaturesExtractor):
        def __init__(self, observation_space, features_dim: int = 256):
            super().__init__(observation_space, features_dim)
            c = observation_space.shape[0]
            self.net = torch.nn.Sequential(
                torch.nn.Conv2d(c, 16, 8, stride=4), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 4, stride=2),
                torch.nn.ReLU(), torch.nn.Flatten())
            with torch.no_grad():
                n = self.net(torch.zeros(1, *observation_space.shape)).shape[1]
            self.linear = torch.nn.Sequential(torch.nn.Linear(n, features_dim), torch.nn.ReLU())

        def forward(self, obs):
            return self.linear(self.net(obs))

    return Nips2013CNN


def _ale_vec_env(game: str, num_envs: int, seed: int, frame_skip: int, max_episode_frames: int):
    """ale-py's native vector environment with this repository's preprocessing (common/rl/atari.py: minimal action set,
    no sticky actions, up to 30 no-ops, max-pooled 84x84 grayscale, 4-frame stack, no reward clipping), resetting
    in the same step, behind stable-baselines3's VecEnv interface (the final observation in each ended episode's
    info, as stable-baselines3 expects)."""
    import numpy as np
    from ale_py.vector_env import AtariVectorEnv
    from stable_baselines3.common.vec_env import VecEnv

    from common.rl.atari import GAMES

    class ALEVecEnv(VecEnv):
        def __init__(self):
            self.env = AtariVectorEnv(
                game=GAMES[game], num_envs=num_envs, num_threads=1, frameskip=frame_skip,
                repeat_action_probability=0.0, full_action_space=False, img_height=84, img_width=84, grayscale=True,
                stack_num=4, maxpool=True, noop_max=30, episodic_life=False, reward_clipping=False,
                use_fire_reset=False, max_num_frames_per_episode=max_episode_frames, autoreset_mode="SameStep")
            super().__init__(num_envs, self.env.single_observation_space, self.env.single_action_space)
            self._actions = None

        def reset(self):
            obs, _ = self.env.reset(seed=seed)
            return obs

        def step_async(self, actions):
            self._actions = actions

        def step_wait(self):
            obs, reward, terminated, truncated, info = self.env.step(self._actions)
            done = np.logical_or(terminated, truncated)
            final = info.get("final_obs") if isinstance(info, dict) else None
            infos = [{} for _ in range(num_envs)]
            for i in np.flatnonzero(done):
                infos[i]["terminal_observation"] = final[i] if final is not None else obs[i]
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            return obs, reward.astype(np.float32), done, infos

        def close(self):
            self.env.close()

        def get_attr(self, attr_name, indices=None):
            return [None] * len(self._get_indices(indices))

        def set_attr(self, attr_name, value, indices=None):
            pass

        def env_method(self, method_name, *args, indices=None, **kwargs):
            return [None] * len(self._get_indices(indices))

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * len(self._get_indices(indices))

    return ALEVecEnv()


def dqn_model(game: str, *, seed: int = 0, variant: str = "nature2015", num_envs: int = 4, frame_skip: int = 4,
              learning_starts: int = 2000, replay_size: int = 50_000, batch_size: int = 32,
              update_every_agent_steps: int = 4, target_update_every_agent_steps: int = 10_000, lr: float = 2.5e-4,
              rmsprop_decay: float = 0.95, rmsprop_eps: float = 0.01, gamma: float = 0.99,
              max_episode_frames: int = 108_000, threads: int = 2):
    """stable-baselines3 DQN on `game` through ale-py's native vector environment with this repository's
    preprocessing (`_ale_vec_env`; gymnasium's AtariPreprocessing would need OpenCV), `num_envs` environments; the
    Nature network (`nature2015`) or the 2013 one (`nips2013`, its target refreshed every step: no target network),
    centered RMSProp, batch `batch_size`, one update per `update_every_agent_steps` agent steps, replay
    `replay_size`."""
    import torch
    from stable_baselines3 import DQN

    torch.set_num_threads(threads)
    env = _ale_vec_env(game, num_envs, seed, frame_skip, max_episode_frames)
    policy_kwargs = {"optimizer_class": torch.optim.RMSprop,
                     "optimizer_kwargs": {"alpha": rmsprop_decay, "eps": rmsprop_eps, "centered": True}}
    if variant == "nips2013":
        policy_kwargs.update(features_extractor_class=_nips2013_extractor(), net_arch=[])
    return DQN("CnnPolicy", env, learning_rate=lr, buffer_size=replay_size, learning_starts=learning_starts,
               batch_size=batch_size, gamma=gamma, train_freq=max(1, update_every_agent_steps // num_envs),
               gradient_steps=max(1, num_envs // update_every_agent_steps),
               target_update_interval=target_update_every_agent_steps or num_envs, seed=seed, device="cpu",
               optimize_memory_usage=False, policy_kwargs=policy_kwargs)


def dqn(game: str, n_steps: int, *, variant: str = "nature2015", threads: int = 2, **settings) -> dict:
    """`dqn_model(game, **settings)` timed over the `n_steps` agent steps after learning starts."""
    return _timed_after_learning_starts(dqn_model(game, variant=variant, threads=threads, **settings), n_steps,
                                        f"DQN ({variant} network)")


def trpo_model(env_id: str, *, seed: int = 0, batch_steps: int = 50_000, hidden_units: int = 30,
               max_kl: float = 0.01, gamma: float = 0.99, cg_iters: int = 10, cg_damping: float = 1e-3,
               backtrack_shrink: float = 0.5, max_backtracks: int = 10, init_log_std: float = 0.0,
               normalize_obs: bool = True, obs_clip: float = 5.0, threads: int = 1):
    """sb3-contrib TRPO with the settings of TRPO 2015's single path (papers/schulman2015_trpo): a Gaussian policy
    with a state-independent log std, its mean one tanh hidden layer of `hidden_units` (0: linear), `batch_steps`
    steps per iteration from one environment, KL bound `max_kl`, `cg_iters` conjugate-gradient steps with damping
    `cg_damping`, a line search shrinking by `backtrack_shrink` at most `max_backtracks` times, observations (not
    rewards) normalized and clipped if `normalize_obs`; the paper has no value function, so the critic (which
    sb3-contrib always builds) is linear and never fitted (`n_critic_updates=0`) and advantages are not
    standardized, with gae_lambda 1 (discounted returns minus that fixed critic). sb3-contrib computes the gradient
    and the Fisher-vector products on the same (sub)sample of the batch: the whole batch here
    (`sub_sampling_factor=1`), where the loop it is compared with computes the products on 10% of it."""
    import gymnasium as gym
    import torch
    from sb3_contrib import TRPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    torch.set_num_threads(threads)
    env = DummyVecEnv([lambda: gym.make(env_id)])
    if normalize_obs:
        env = VecNormalize(env, norm_obs=True, norm_reward=False, clip_obs=obs_clip, gamma=gamma)
    return TRPO("MlpPolicy", env, n_steps=batch_steps, batch_size=batch_steps, gamma=gamma, gae_lambda=1.0,
                cg_max_steps=cg_iters, cg_damping=cg_damping, line_search_shrinking_factor=backtrack_shrink,
                line_search_max_iter=max_backtracks, n_critic_updates=0, normalize_advantage=False,
                target_kl=max_kl, sub_sampling_factor=1, seed=seed, device="cpu",
                policy_kwargs={"net_arch": {"pi": [hidden_units] if hidden_units else [], "vf": []},
                               "activation_fn": torch.nn.Tanh, "log_std_init": init_log_std})


def trpo(env_id: str, n_steps: int, **settings) -> dict:
    """`trpo_model(env_id, **settings)` built and trained for `n_steps` environment steps (whole iterations of
    `batch_steps`), timed from the start of building it to the end of `learn`, start-up included, as the TRPO
    bench times its own loop."""
    import torch

    import warnings

    start = time.perf_counter()
    model = trpo_model(env_id, **settings)
    with warnings.catch_warnings():  # its log averages the losses of a critic that is never fitted: empty
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value encountered in scalar divide", RuntimeWarning)
        model.learn(total_timesteps=n_steps)
    seconds = time.perf_counter() - start
    model.get_env().close()
    return _result("TRPO", n_steps, seconds, torch.get_num_threads(), *reversed(CONTRIB))


def ddpg_model(env_id: str, *, seed: int = 0, learning_starts: int = 1000, hidden_units=(400, 300),
               batch_size: int = 64, lr: float = 1e-3, gamma: float = 0.99, tau: float = 0.001,
               replay_size: int = 1_000_000, noise: str = "ou", sigma: float = 0.2, theta: float = 0.15,
               dt: float = 1.0, threads: int = 1):
    """stable-baselines3 DDPG: actor and critic with the hidden ReLU layers `hidden_units` (its critic takes the
    action at the input), one learning rate `lr` for both, batch `batch_size`, replay `replay_size`, one update per
    environment step after `learning_starts` random steps, exploration noise Ornstein-Uhlenbeck (`theta`, `sigma`,
    `dt`) or Gaussian (`sigma`)."""
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import DDPG
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

    torch.set_num_threads(threads)
    env = gym.make(env_id)
    act_dim = env.action_space.shape[0]
    action_noise = (OrnsteinUhlenbeckActionNoise(np.zeros(act_dim), sigma * np.ones(act_dim), theta=theta, dt=dt)
                    if noise == "ou" else NormalActionNoise(np.zeros(act_dim), sigma * np.ones(act_dim)))
    return DDPG("MlpPolicy", env, learning_rate=lr, buffer_size=replay_size, learning_starts=learning_starts,
                batch_size=batch_size, tau=tau, gamma=gamma, train_freq=1, gradient_steps=1,
                action_noise=action_noise, seed=seed, device="cpu", policy_kwargs={"net_arch": list(hidden_units)})


def ddpg(env_id: str, n_steps: int, **settings) -> dict:
    """`ddpg_model(env_id, **settings)` timed over the `n_steps` steps after learning starts."""
    return _timed_after_learning_starts(ddpg_model(env_id, **settings), n_steps, "DDPG")
