"""The cart-pole of Barto, Sutton and Anderson (1983), in numpy, many carts stepped together.

Physical parameters and equations of motion are Barto et al.'s (IEEE SMC-13(5), 1983, p. 844, with the sign
convention of gymnasium's CartPole, g > 0 and the pole angle positive clockwise), friction included:

    temp      = (F + m_p l thetadot^2 sin(theta) - mu_c sgn(xdot)) / (m_c + m_p)
    thetaddot = (g sin(theta) - cos(theta) temp - mu_p thetadot / (m_p l)) / (l (4/3 - m_p cos^2(theta) / (m_c + m_p)))
    xddot     = temp - m_p l thetaddot cos(theta) / (m_c + m_p)

integrated by Euler's method with tau = 0.02 s. A trial fails when |theta| > 12 degrees or |x| > 2.4 m.

How it differs from gymnasium's CartPole-v1 (which implements the same paper):
  - friction: the cart-track (mu_c = 0.0005) and pole-hinge (mu_p = 0.000002) friction of Barto et al. are kept;
    gymnasium drops both terms;
  - actions: a continuous force F in newtons, clipped to Barto's force magnitude [-10, 10] N (GAE's cart-pole
    has a linear Gaussian policy, so a continuous action); gymnasium has two actions, F = -10 N or +10 N;
  - horizon: at most 1,000 steps (the GAE paper's trajectory length); CartPole-v1 truncates at 500;
  - reward: +1 for every step taken, the failing step included (as gymnasium), so an episode's return is its
    length in steps; the GAE paper plots the cost, the negative of this;
  - start: x, xdot, theta, thetadot each uniform in [-0.05, 0.05] (gymnasium's; Barto et al. restarted from the
    resting state, which with a stochastic policy gives the same task up to the first step's noise).

`BartoCartPole` steps N carts at once (the trajectories of a batch, vectorized); `BartoCartPoleEnv` is one cart
behind gymnasium's Env interface, for `common.rl.envs.make_env("BartoCartPole")` (saved agents' evaluation).
"""
from __future__ import annotations

import numpy as np

ENV_ID = "BartoCartPole"

GRAVITY_M_S2 = 9.8
CART_MASS_KG = 1.0
POLE_MASS_KG = 0.1
POLE_HALF_LENGTH_M = 0.5
CART_FRICTION = 0.0005  # mu_c, cart on track (Barto et al. 1983)
POLE_FRICTION = 0.000002  # mu_p, pole on cart
FORCE_MAX_N = 10.0
TAU_S = 0.02
THETA_LIMIT_RAD = 12 * 2 * np.pi / 360
X_LIMIT_M = 2.4
MAX_STEPS = 1000
START_HALF_WIDTH = 0.05


class BartoCartPole:
    """N carts stepped together. State rows: (x [m], xdot [m/s], theta [rad], thetadot [rad/s])."""

    obs_dim, act_dim = 4, 1

    def __init__(self, n: int):
        self.n = n
        self.state = np.zeros((n, 4))

    def reset(self, rng: np.random.Generator) -> np.ndarray:
        self.state = rng.uniform(-START_HALF_WIDTH, START_HALF_WIDTH, size=(self.n, 4))
        return self.state.copy()

    def step(self, force_n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance every cart by tau with force `force_n` (N,) in newtons (clipped to +-10 N). Returns the new
        states and whether each trial failed."""
        x, x_dot, theta, theta_dot = self.state.T
        force = np.clip(force_n, -FORCE_MAX_N, FORCE_MAX_N)
        total_mass = CART_MASS_KG + POLE_MASS_KG
        polemass_length = POLE_MASS_KG * POLE_HALF_LENGTH_M
        sin, cos = np.sin(theta), np.cos(theta)
        temp = (force + polemass_length * theta_dot ** 2 * sin - CART_FRICTION * np.sign(x_dot)) / total_mass
        theta_acc = ((GRAVITY_M_S2 * sin - cos * temp - POLE_FRICTION * theta_dot / polemass_length)
                     / (POLE_HALF_LENGTH_M * (4.0 / 3.0 - POLE_MASS_KG * cos ** 2 / total_mass)))
        x_acc = temp - polemass_length * theta_acc * cos / total_mass
        # Euler's method (Barto et al.; gymnasium's default "euler")
        self.state = np.stack([x + TAU_S * x_dot, x_dot + TAU_S * x_acc,
                               theta + TAU_S * theta_dot, theta_dot + TAU_S * theta_acc], axis=1)
        failed = (np.abs(self.state[:, 0]) > X_LIMIT_M) | (np.abs(self.state[:, 2]) > THETA_LIMIT_RAD)
        return self.state.copy(), failed


def make_barto_env():
    """`BartoCartPoleEnv`, one cart as a gymnasium Env (gymnasium is imported here, so that the vectorized cart-pole
    and the configs that name it load without it)."""
    import gymnasium as gym

    class BartoCartPoleEnv(gym.Env):
        """One cart of `BartoCartPole` as a gymnasium Env: action (1,) force in N, reward 1 a step, terminated on
        failure, truncated after 1,000 steps."""

        def __init__(self):
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float64)
            self.action_space = gym.spaces.Box(-FORCE_MAX_N, FORCE_MAX_N, (1,), np.float64)
            self._cart = BartoCartPole(1)
            self._steps = 0

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self._steps = 0
            return self._cart.reset(self.np_random)[0], {}

        def step(self, action):
            obs, failed = self._cart.step(np.asarray(action, float).reshape(1))
            self._steps += 1
            return obs[0], 1.0, bool(failed[0]), self._steps >= MAX_STEPS and not failed[0], {}

    return BartoCartPoleEnv()


def env_version() -> str:
    return (f"{ENV_ID}: numpy cart-pole of Barto et al. 1983 with friction, continuous force in [-10, 10] N, "
            f"at most {MAX_STEPS} steps (common/rl/barto_cartpole.py)")
