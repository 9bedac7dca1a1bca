"""Online shortest path on a binomial bridge (tutorial Section 4).

Graph: a binomial bridge of `n_stages` stages (n_stages even). Nodes are (u, d), the number of up and down
moves so far, 0 <= u, d <= H = n_stages / 2; each node has an "up" edge to (u+1, d) and a "down" edge to
(u, d+1) where those exist. Every path from (0, 0) to (H, H) has n_stages edges; there are C(n_stages, H)
paths (184,756 for 20 stages) and 2 H (H + 1) edges (220).

Model (Sec. 4.1): theta_e = E[travel time of edge e], ln theta_e ~ N(mu0, sigma0^2) independently.
Observed travel time of a traversed edge: y_e = theta_e * exp(-sigma_tilde^2/2 + sigma_tilde z), z ~ N(0,1),
so E[y_e | theta_e] = theta_e (independent travel times, Sec. 4.1), or with correlated factors (Sec. 4.2):
y_e = theta_e * zeta_all * zeta_half(e) * zeta_e, each zeta = exp(-sigma_tilde^2/6 + sigma_tilde z / sqrt(3)).
Regret of a period = expected length of the chosen path - expected length of the shortest path.

"As run" (README, deviations 1-3): `graph: authors_bridge` is the graph the authors' code builds instead
(`AuthorsBridge`: 220 edges, 10,946 paths), with its shortest paths chosen as the authors' Dijkstra chooses them
among equally short ones; `coherent_update: authors` is the authors' coherent update, which conditions on ln y
without the + sigma_tilde^2/2 correction. The defaults are the tutorial's text (binomial bridge, exact update).

Ties (greedy, whose posterior means of unexplored edges are all exactly exp(mu0 + sigma0^2/2)): on the binomial
bridge the backward recursion takes the up edge whenever it is no longer than the down edge, so among equally short
paths the one that goes up earliest wins (period 1: H ups, then H downs); on the authors' graph each node keeps the
predecessor the authors' Dijkstra finalizes first among equally short ones (smaller distance from the start, then
smaller y), so period 1 takes the path along y = 0. Thompson samples are continuous: ties have probability zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from common.platform import validate as check
from common.rl.agents import save_agent

from .common_sim import PeriodStats, rng_pair, summary_frame


@dataclass
class BridgeConfig:
    seed: int = 0
    agent: str = "ts"  # ts | greedy | coherent_ts  (greedy with epsilon > 0 is epsilon-greedy)
    epsilon: float = 0.0  # probability per period of a random path (uniform outgoing edge at each node)
    n_stages: int = 20
    mu0: float = -0.5  # prior mean of ln theta_e (Sec. 4.1)
    sigma0: float = 1.0  # prior standard deviation of ln theta_e (Sec. 4.1)
    sigma_tilde: float = 1.0  # observation noise scale sigma~ (Sec. 4.1)
    correlated: bool = False  # Sec. 4.2: shared, half-specific and edge-specific multiplicative factors
    # binomial_bridge: the 20-stage binomial bridge of Sec. 4.1 (184,756 paths); authors_bridge: the graph the
    # authors' code builds (src/graph/env_graph_bandit.py; 10,946 paths), with its halves and Dijkstra tie-breaking
    graph: str = "binomial_bridge"
    # exact: coherent TS conditions on ln y + sigma_tilde^2/2, an unbiased observation of ln theta (Sec. 4.2);
    # authors: on ln y, as the authors' CorrelatedBBTS does (src/graph/agent_correlated.py). Coherent TS only.
    coherent_update: str = "exact"
    n_periods: int = 500  # T
    n_replications: int = 1000  # independent runs simulated together under this seed


AGENTS = ("ts", "greedy", "coherent_ts")
#: What a key absent from a recorded config.yaml meant: the runs recorded before `graph` and `coherent_update` existed
#: ran the paper's bridge and the exact coherent update, these keys' defaults (common/platform/registry.py).
LEGACY = {"graph": "binomial_bridge", "coherent_update": "exact"}
GRAPHS = ("binomial_bridge", "authors_bridge")
COHERENT_UPDATES = ("exact", "authors")


def validate_bridge(cfg: BridgeConfig) -> None:
    """Values the simulator can use (checked before any run starts): known agent, epsilon a probability (and only
    for greedy), an even number of stages, positive prior and noise scales, at least one period and replication."""
    check.seed(cfg)
    check.one_of(cfg, "agent", AGENTS)
    check.one_of(cfg, "graph", GRAPHS)
    check.one_of(cfg, "coherent_update", COHERENT_UPDATES)
    check.between(cfg, 0, 1, "epsilon")
    check.require(cfg.epsilon == 0 or cfg.agent == "greedy", "epsilon", cfg.epsilon,
                  f"0 for agent {cfg.agent} (epsilon-greedy is agent greedy with epsilon > 0)")
    check.at_least(cfg, 2, "n_stages")
    check.require(cfg.n_stages % 2 == 0, "n_stages", cfg.n_stages, "an even integer >= 2 (a binomial bridge)")
    check.finite(cfg, "mu0")
    check.positive(cfg, "sigma0", "sigma_tilde")
    check.at_least(cfg, 1, "n_periods", "n_replications")


@dataclass(frozen=True)
class Bridge:
    H: int
    up: np.ndarray  # (H+1, H+1) edge index of the up edge at (u, d), -1 where none
    down: np.ndarray  # (H+1, H+1) edge index of the down edge at (u, d), -1 where none
    upper_half: np.ndarray  # (E,) bool: edge lies above the bridge's midline (u > d along the edge)

    @property
    def n_edges(self) -> int:
        return int((self.up >= 0).sum() + (self.down >= 0).sum())


@lru_cache(maxsize=None)
def make_bridge(n_stages: int) -> Bridge:
    if n_stages % 2:
        raise ValueError(f"n_stages must be even, got {n_stages}")
    H = n_stages // 2
    up = -np.ones((H + 1, H + 1), dtype=np.int64)
    down = -np.ones((H + 1, H + 1), dtype=np.int64)
    upper = []
    e = 0
    for u in range(H + 1):
        for d in range(H + 1):
            if u < H:
                up[u, d] = e
                upper.append(u + 0.5 > d)  # midpoint of (u,d)->(u+1,d) relative to the midline u = d
                e += 1
            if d < H:
                down[u, d] = e
                upper.append(u > d + 0.5)
                e += 1
    return Bridge(H, up, down, np.array(upper))


@dataclass(frozen=True)
class AuthorsBridge:
    """The graph the authors' code builds for its "binomial bridge" (iosband/ts_tutorial, f28d3bb and the 2017
    release 2e71566: src/graph/env_graph_bandit.py, IndependentBinomialBridge._create_graph).

    Nodes (x, y), x = 0..n_stages, y = 0..width(x) - 1 with width(x) = x + 1 up to the middle stage and
    n_stages + 1 - x after it. Node (x, y) links to (x+1, y+1) and (x+1, y) where those exist, and to (x+1, y-1)
    only where (x+1, y) does not (the top node y = width(x) - 1 of the narrowing half). The widening half is a
    binomial tree; in the narrowing half y can only stay or grow (except at the top node), so the graph has the
    bridge's 121 nodes and 220 edges but 10,946 paths (Fibonacci F(n_stages + 1)) from (0, 0) to (n_stages, 0)
    instead of C(20, 10) = 184,756. Edges are numbered in the authors' order (by node, then down, equal, up)."""
    n_stages: int
    widths: tuple
    src: np.ndarray  # (E, 2): (x, y) of each edge's tail
    dst: np.ndarray  # (E, 2): (x, y) of its head
    in_edge: tuple  # per stage x = 1..n_stages: (width(x), 3) edges into (x, y), by tail y ascending; -1 pads
    in_tail: tuple  # the same shape: the tail's y (0 where padded)
    out_edge: tuple  # per stage x = 0..n_stages-1: (width(x), 2) edges out of (x, y) in the authors' order; -1 pads
    upper_half: np.ndarray  # (E,) bool: not in the authors' "lower half" (CorrelatedBinomialBridge.is_in_lower_half)

    @property
    def n_edges(self) -> int:
        return len(self.src)


def authors_width(n_stages: int, x: int) -> int:
    """Nodes at stage x (the authors' _get_width_bridge)."""
    return x - 2 * max(x - n_stages // 2, 0) + 1


def authors_in_lower_half(n_stages: int, start: tuple, end: tuple) -> bool:
    """The authors' CorrelatedBinomialBridge.is_in_lower_half, verbatim in logic (true division, as their code)."""
    start_depth, end_depth = authors_width(n_stages, start[0]), authors_width(n_stages, end[0])
    if start[1] > start_depth / 2:
        return True
    if start[1] < start_depth / 2:
        return False
    return (start_depth < end_depth and end[1] == start[1] + 1) or (start_depth > end_depth and end[1] == start[1])


@lru_cache(maxsize=None)
def make_authors_bridge(n_stages: int) -> AuthorsBridge:
    if n_stages % 2:
        raise ValueError(f"n_stages must be even, got {n_stages}")
    widths = tuple(authors_width(n_stages, x) for x in range(n_stages + 1))
    nodes = {(x, y) for x in range(n_stages + 1) for y in range(widths[x])}
    src, dst = [], []
    for x in range(n_stages + 1):
        for y in range(widths[x]):
            down, equal, up = (x + 1, y + 1), (x + 1, y), (x + 1, y - 1)
            for head, present in ((down, down in nodes), (equal, equal in nodes),
                                  (up, up in nodes and equal not in nodes)):
                if present:
                    src.append((x, y))
                    dst.append(head)
    in_edge, in_tail, out_edge = [], [], []
    for x in range(n_stages + 1):
        if x > 0:
            ie = -np.ones((widths[x], 3), dtype=np.int64)
            it = np.zeros((widths[x], 3), dtype=np.int64)
            for y in range(widths[x]):
                into = sorted((s[1], e) for e, (s, d) in enumerate(zip(src, dst)) if d == (x, y))
                for k, (tail_y, e) in enumerate(into):
                    ie[y, k], it[y, k] = e, tail_y
            in_edge.append(ie)
            in_tail.append(it)
        if x < n_stages:
            oe = -np.ones((widths[x], 2), dtype=np.int64)
            for y in range(widths[x]):
                out = [e for e, s in enumerate(src) if s == (x, y)]
                oe[y, :len(out)] = out
            out_edge.append(oe)
    upper = np.array([not authors_in_lower_half(n_stages, s, d) for s, d in zip(src, dst)])
    return AuthorsBridge(n_stages, widths, np.array(src), np.array(dst), tuple(in_edge), tuple(in_tail),
                         tuple(out_edge), upper)


def make_graph(cfg: BridgeConfig):
    if cfg.graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {cfg.graph!r}")
    return make_bridge(cfg.n_stages) if cfg.graph == "binomial_bridge" else make_authors_bridge(cfg.n_stages)


def authors_shortest_paths(g: AuthorsBridge, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shortest paths from (0, 0) to (n_stages, 0), vectorized over rows of `weights` (R, E), choosing among
    equally short paths exactly as the authors' Dijkstra (src/graph/dijkstra.py) does: it finalizes nodes in the
    order of (distance, node) and a node's predecessor changes only to a strictly shorter one, so each node keeps,
    among its predecessors that reach it equally fast, the one with the smaller distance, then the smaller y.
    Distances are summed forward from the start, as Dijkstra sums them, so equal sums are equal in floating point
    in the same cases. Returns the chosen edge indices (R, n_stages) and the path lengths (R,)."""
    R = weights.shape[0]
    rows = np.arange(R)
    dist = np.zeros((R, 1))
    choice = []
    for ie, it in zip(g.in_edge, g.in_tail):
        valid = ie >= 0
        d_tail = np.where(valid, dist[:, it], np.inf)  # (R, width, 2)
        cand = d_tail + np.where(valid, weights[:, np.maximum(ie, 0)], np.inf)
        best = cand.min(axis=2)
        first = np.argmin(np.where(cand == best[..., None], d_tail, np.inf), axis=2)  # then smaller y: lower k
        choice.append(first)
        dist = best
    edges = np.empty((R, g.n_stages), dtype=np.int64)
    y = np.zeros(R, dtype=np.int64)
    for x in range(g.n_stages, 0, -1):
        k = choice[x - 1][rows, y]
        edges[:, x - 1] = g.in_edge[x - 1][y, k]
        y = g.in_tail[x - 1][y, k]
    return edges, dist[:, 0]


def authors_random_paths(g: AuthorsBridge, R: int, rng: np.random.Generator) -> np.ndarray:
    """At each node a uniformly random outgoing edge (the authors' _pick_random_path)."""
    y = np.zeros(R, dtype=np.int64)
    edges = np.empty((R, g.n_stages), dtype=np.int64)
    for x, oe in enumerate(g.out_edge):
        two = oe[y, 1] >= 0
        k = np.where(two, rng.random(R) < 0.5, 0).astype(np.int64)
        edges[:, x] = oe[y, k]
        y = g.dst[edges[:, x], 1]
    return edges


def shortest_paths(bridge: Bridge | AuthorsBridge, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic programming on the DAG, vectorized over rows of `weights` (R, E).
    Returns the chosen edge indices (R, n_stages) and the path lengths (R,). Ties: see the module docstring."""
    if isinstance(bridge, AuthorsBridge):
        return authors_shortest_paths(bridge, weights)
    H, R = bridge.H, weights.shape[0]
    w_up = np.full((R, H + 1, H + 1), np.inf)
    w_dn = np.full((R, H + 1, H + 1), np.inf)
    mu, md = bridge.up >= 0, bridge.down >= 0
    w_up[:, mu] = weights[:, bridge.up[mu]]
    w_dn[:, md] = weights[:, bridge.down[md]]
    V = np.full((R, H + 2, H + 2), np.inf)  # cost-to-go; padded so that moves off the grid cost inf
    V[:, H, H] = 0.0
    for level in range(2 * H - 1, -1, -1):  # Bellman recursion V(n) = min_e (w_e + V(head(e)))
        us = np.arange(max(0, level - H), min(level, H) + 1)
        ds = level - us
        V[:, us, ds] = np.minimum(w_up[:, us, ds] + V[:, us + 1, ds], w_dn[:, us, ds] + V[:, us, ds + 1])
    return _walk(bridge, lambda rows, u, d: w_up[rows, u, d] + V[rows, u + 1, d] <= w_dn[rows, u, d] + V[rows, u, d + 1],
                 R), V[:, 0, 0]


def random_paths(bridge: Bridge | AuthorsBridge, R: int, rng: np.random.Generator) -> np.ndarray:
    """At each node a uniformly random outgoing edge (the authors' epsilon-exploration)."""
    if isinstance(bridge, AuthorsBridge):
        return authors_random_paths(bridge, R, rng)
    H = bridge.H
    return _walk(bridge, lambda rows, u, d: np.where(u >= H, False, np.where(d >= H, True, rng.random(len(rows)) < 0.5)), R)


def _walk(bridge: Bridge, go_up, R: int) -> np.ndarray:
    H = bridge.H
    rows = np.arange(R)
    u = np.zeros(R, dtype=np.int64)
    d = np.zeros(R, dtype=np.int64)
    edges = np.empty((R, 2 * H), dtype=np.int64)
    for step in range(2 * H):
        up = go_up(rows, u, d)
        edges[:, step] = np.where(up, bridge.up[u, d], bridge.down[u, d])
        u = u + up
        d = d + ~up
    return edges


def path_lengths(theta: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.take_along_axis(theta, edges, axis=1).sum(axis=1)


def noise_log_factors(bridge: Bridge, cfg: BridgeConfig, R: int, rng: np.random.Generator) -> np.ndarray:
    """ln(y_e / theta_e) for every edge (R, E); E[y_e | theta_e] = theta_e in both models."""
    E, s = bridge.n_edges, cfg.sigma_tilde
    if not cfg.correlated:
        return -s**2 / 2 + s * rng.standard_normal((R, E))
    c = s / math.sqrt(3.0)
    z_all = rng.standard_normal((R, 1))
    z_half = rng.standard_normal((R, 2))[:, bridge.upper_half.astype(int)]
    z_edge = rng.standard_normal((R, E))
    return -s**2 / 2 + c * (z_all + z_half + z_edge)


def noise_covariance(bridge: Bridge, cfg: BridgeConfig) -> np.ndarray:
    """Covariance of ln y over all edges given theta (E, E), as the coherent agent models it."""
    E, s2 = bridge.n_edges, cfg.sigma_tilde**2
    if not cfg.correlated:
        return s2 * np.eye(E)
    same_half = bridge.upper_half[:, None] == bridge.upper_half[None, :]
    return s2 / 3.0 * (np.ones((E, E)) + same_half + np.eye(E))


def independent_update(mean: np.ndarray, precision: np.ndarray, edges: np.ndarray, z: np.ndarray, noise_var: float):
    """In place: conjugate Gaussian update of ln theta_e for each traversed edge, observation z_e ~ N(ln theta_e,
    noise_var) (Sec. 4.1): precision' = precision + 1/noise_var, mean' = (precision mean + z/noise_var) / precision'."""
    p_s = np.take_along_axis(precision, edges, axis=1)
    m_s = np.take_along_axis(mean, edges, axis=1)
    new_p = p_s + 1.0 / noise_var
    np.put_along_axis(mean, edges, (p_s * m_s + z / noise_var) / new_p, axis=1)
    np.put_along_axis(precision, edges, new_p, axis=1)


def observation_of_log_theta(log_y: np.ndarray, noise_var: float, update: str = "exact") -> np.ndarray:
    """What an agent conditions on as an observation of ln theta_e with noise variance `noise_var`: ln y + noise_var/2
    (exact: E[ln y | theta] = ln theta - noise_var/2 in both models, so this is unbiased), or ln y itself (authors: the
    authors' CorrelatedBBTS, src/graph/agent_correlated.py, _prepare_posterior_update_elements; its beliefs about
    ln theta drift low by up to noise_var/2, so it believes edges it has travelled to be faster than they are)."""
    if update == "authors":
        return log_y
    return log_y + noise_var / 2


def kalman_update(mean: np.ndarray, cov: np.ndarray, edges: np.ndarray, z: np.ndarray, noise_cov: np.ndarray):
    """In place: joint Gaussian posterior of ln theta (R, E) after observing z = ln theta_S + noise, noise ~
    N(0, noise_cov[S, S]) on the traversed edges S (Sec. 4.2, the coherent agent):
        K = Cov(x, x_S) (Cov(x_S) + Sigma_S)^{-1},  mean' = mean + K (z - mean_S),  Cov' = Cov - K Cov(x_S, x)."""
    rows = np.arange(mean.shape[0])[:, None]
    cov_rows = cov[rows, edges]  # Cov(x_S, x): (R, S, E)
    S = np.take_along_axis(cov_rows, edges[:, None, :], axis=2) + noise_cov[edges[:, :, None], edges[:, None, :]]
    gain = np.linalg.solve(S, cov_rows).transpose(0, 2, 1)  # (R, E, S); S is symmetric
    innovation = z - np.take_along_axis(mean, edges, axis=1)
    mean += (gain @ innovation[..., None])[..., 0]
    cov -= gain @ cov_rows
    cov += cov.transpose(0, 2, 1).copy()  # keep it exactly symmetric
    cov *= 0.5


def run_bridge(cfg: BridgeConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_bridge(cfg)
    bridge = make_graph(cfg)
    R, E, T = cfg.n_replications, bridge.n_edges, cfg.n_periods
    theta_rng, rng = rng_pair(cfg.seed)
    s2 = cfg.sigma_tilde**2

    state = ctx.restore()
    if state is None:
        theta = np.exp(cfg.mu0 + cfg.sigma0 * theta_rng.standard_normal((R, E)))  # ln theta_e ~ N(mu0, sigma0^2)
        _, optimal = shortest_paths(bridge, theta)
        state = {"t": 0, "theta": theta, "optimal": optimal, "total_chosen": np.zeros(R),
                 "mean": np.full((R, E), cfg.mu0), "stats": PeriodStats(T, R, extra=["distance_ratio"]),
                 "rng": rng.bit_generator.state}
        if cfg.agent == "coherent_ts":
            state["cov"] = np.broadcast_to(cfg.sigma0**2 * np.eye(E), (R, E, E)).copy()
        else:
            state["precision"] = np.full((R, E), 1.0 / cfg.sigma0**2)
    rng.bit_generator.state = state["rng"]
    theta, optimal, mean, stats = state["theta"], state["optimal"], state["mean"], state["stats"]
    noise_cov = noise_covariance(bridge, cfg)
    bar = ctx.progress(T, f"{cfg.agent} eps={cfg.epsilon} T={T}", initial=state["t"], unit="periods")
    for t in range(state["t"], T):
        # Choose a path x_t.
        if cfg.agent == "coherent_ts":  # sample ln theta ~ N(mean, cov) of the correlated posterior (Sec. 4.2)
            chol = np.linalg.cholesky(state["cov"] + 1e-10 * np.eye(E))
            sample = mean + (chol @ rng.standard_normal((R, E, 1)))[..., 0]
            weights = np.exp(sample)
        elif cfg.agent == "ts":  # ln theta_e ~ N(mean_e, 1/precision_e) independently (Sec. 4.1, Algorithm 2)
            weights = np.exp(mean + rng.standard_normal((R, E)) / np.sqrt(state["precision"]))
        else:  # greedy on the posterior mean E[theta_e] = exp(mean_e + 1/(2 precision_e)) (Algorithm 1)
            weights = np.exp(mean + 0.5 / state["precision"])
        edges, _ = shortest_paths(bridge, weights)
        if cfg.agent == "greedy" and cfg.epsilon > 0:  # epsilon-greedy: a random path with probability epsilon
            explore = rng.random(R) < cfg.epsilon
            if explore.any():
                edges[explore] = random_paths(bridge, int(explore.sum()), rng)
        # Observe y_e on the traversed edges; regret is expected, not realised (Sec. 4.1).
        chosen = path_lengths(theta, edges)
        state["total_chosen"] += chosen
        regret = chosen - optimal
        ratio = state["total_chosen"] / ((t + 1) * optimal)  # "total distance / optimal", Fig. 4.1b
        stats.add(t, regret, {"distance_ratio": ratio})
        log_y = np.log(theta) + noise_log_factors(bridge, cfg, R, rng)
        update = cfg.coherent_update if cfg.agent == "coherent_ts" else "exact"
        z = observation_of_log_theta(np.take_along_axis(log_y, edges, axis=1), s2, update)
        if cfg.agent == "coherent_ts":
            kalman_update(mean, state["cov"], edges, z, noise_cov)
        else:
            independent_update(mean, state["precision"], edges, z, s2)
        ctx.count(R, "agent-periods")
        state["t"] = t + 1
        bar.update(1)
        ctx.maybe_checkpoint(lambda: {**state, "rng": rng.bit_generator.state})
    bar.close()
    # the agent: each replication's posterior over ln theta (beside the run, git-ignored: 0.9 MB a run at the paper's
    # budget, the coherent agent's covariances 48 MB in float32; common/rl/agents.py)
    posterior = ({"mean": mean, "cov": state["cov"].astype(np.float32)} if cfg.agent == "coherent_ts" else
                 {"mean": mean, "precision": state["precision"]})
    save_agent(ctx, "lognormal_edge_posterior", {}, {"agent": cfg.agent, "epsilon": cfg.epsilon,
               "n_stages": cfg.n_stages, "n_replications": R, "periods": T, "correlated": cfg.correlated},
               large=posterior)
    final_ratio = state["total_chosen"] / (T * optimal)
    return {"curves": stats.curve_frame(cfg.seed),
            "replications": summary_frame(stats, cfg.seed, final_distance_ratio=final_ratio)}
