"""The configuration of papers/kumar2020_cql/cql.py: its keys with their sources, the checks of their values and
what the run's tables may hold (kept apart from the learner, which needs torch, so that listing and showing
experiments loads neither)."""
from __future__ import annotations

from dataclasses import dataclass

from common.offline.d4rl import d4rl_task
from common.offline.datasets import KINDS
from common.platform import validate as check
from common.platform.finite import MayBeNaN, TableRules
from common.rl.envs import CLASSIC, MUJOCO_V5

METHODS = ("cql_h", "cql_rho", "sac", "bc")


@dataclass
class CQLConfig:
    seed: int = 0
    env_id: str = "Hopper-v5"
    dataset: str = "medium"  # random | medium | expert | medium-replay | medium-expert (common/offline/datasets.py)
    dataset_root: str = ""  # where datasets/<env>/<kind>-v0/ lies: "" = $REPRO_RESULTS or results/
    # > 0: instead of the stored dataset, this many transitions of uniform actions in env_id, made in memory (the
    # quick budget's seconds-long check of the code path; no claim is checked on it)
    tiny_dataset_transitions: int = 0
    dataset_max_transitions: int = 0  # > 0: learn from the stored dataset's first N rows only (dataset sizes)
    method: str = "cql_h"  # cql_h | cql_rho | sac | bc
    gradient_steps: int = 1_000_000  # 1M gradient steps (Appendix F per cql2020.yaml, source C)
    batch_size: int = 256  # minibatch, transitions (SAC's Table 1; CQL keeps SAC's settings)
    hidden_units: int = 256  # two hidden layers, ReLU (SAC's Table 1)
    gamma: float = 0.99  # discount (SAC's Table 1)
    target_smoothing: float = 0.005  # Polyak coefficient of the target Q-networks (SAC's Table 1)
    policy_lr: float = 3e-5  # Adam, the actor and SAC's temperature (Appendix F per cql2020.yaml: 3e-5, source C)
    q_lr: float = 3e-4  # Adam, the Q-functions and the Lagrange multiplier (Appendix F per cql2020.yaml: 3e-4)
    n_action_samples: int = 10  # actions per state from Unif(A) and from pi each (Appendix F per cql2020.yaml: 10)
    lagrange: bool = True  # tune alpha' by the Lagrange dual (Appendix F per cql2020.yaml: Gym MuJoCo)
    lagrange_tau: float = 10.0  # the gap's threshold tau (Appendix F per cql2020.yaml: 10.0 for Gym MuJoCo)
    cql_alpha: float = 5.0  # alpha' when lagrange is false (not in cql2020.yaml; a stated choice, see README)
    # offline SAC only: CQL(H)'s gap (recorded as `cql_gap`, a diagnostic without gradient) is measured on every k-th
    # gradient step; measuring it costs about 2/3 of offline SAC's update (README: Speed) and changes nothing else
    # (no random draw): 1 = every step, as runs recorded before this key
    sac_gap_every_steps: int = 1
    eval_every_steps: int = 10_000  # gradient steps between evaluations
    eval_episodes: int = 5  # deterministic episodes (the policy's mean action) per evaluation
    torch_threads: int = 1


def validate_cql(cfg: CQLConfig) -> None:
    """A known task, dataset kind and method; positive sizes, steps and rates; gamma in [0, 1]."""
    check.seed(cfg)
    check.one_of(cfg, "env_id", MUJOCO_V5 + CLASSIC)
    check.one_of(cfg, "dataset", KINDS)
    check.one_of(cfg, "method", METHODS)
    check.at_least(cfg, 1, "gradient_steps", "batch_size", "hidden_units", "n_action_samples", "eval_every_steps",
                   "eval_episodes", "torch_threads", "sac_gap_every_steps")
    check.at_least(cfg, 0, "tiny_dataset_transitions", "dataset_max_transitions")
    check.positive(cfg, "policy_lr", "q_lr", "cql_alpha")
    check.finite(cfg, "lagrange_tau")
    check.between(cfg, 0, 1, "gamma")
    check.between(cfg, 0, 1, "target_smoothing", lo_open=True)
    check.require(cfg.eval_every_steps <= cfg.gradient_steps, "eval_every_steps", cfg.eval_every_steps,
                  f"at most gradient_steps ({cfg.gradient_steps:,}), so that a run evaluates at least once")
    check.require(cfg.eval_every_steps % cfg.sac_gap_every_steps == 0, "sac_gap_every_steps", cfg.sac_gap_every_steps,
                  f"a divisor of eval_every_steps ({cfg.eval_every_steps:,}), so that every evaluation's interval "
                  "measures the gap")


def dataset_inputs(cfg: CQLConfig) -> str | None:
    """The stored dataset a run learns from (none for the quick budget's in-memory one): None when it is recorded
    with enough rows, else what is missing and the command that builds it, medium, expert and medium-replay from this
    paper's expert SAC run of the task (`repro sweep kumar2020_cql experts --variant ENV`) where it has one."""
    from common.offline.datasets import missing_dataset
    from common.platform.runs import RunSpec

    if cfg.tiny_dataset_transitions:
        return None
    run, note = "RUN", "a SAC run kept with save_agent_at_steps and save_replay=true"
    if cfg.env_id in EXPERT_TASKS:
        run = str(RunSpec("kumar2020_cql", "experts", "paper", cfg.env_id, 0).run_dir)
        note = f"the expert SAC run, made by `repro sweep kumar2020_cql experts --variant {cfg.env_id}`"
    return missing_dataset(cfg.env_id, cfg.dataset, cfg.dataset_root or None, run, note,
                           max_rows=cfg.dataset_max_transitions)


#: the tasks of the `experts` experiment (experiments.yaml): one expert SAC run each, the source of their datasets
EXPERT_TASKS = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5")

Q_COLUMNS = ("q_loss", "q_data_mean", "q_pi_mean", "cql_gap", "sac_alpha")
#: what a key absent from a recorded config meant: runs recorded before it measured offline SAC's gap at every step
LEGACY = {"sac_gap_every_steps": 1}
EVAL_COLUMNS = ("grad_step", "eval_return", "eval_d4rl_normalized", "pi_loss", *Q_COLUMNS, "cql_alpha")
TABLES = {
    "evaluations": TableRules(nan={
        **{c: MayBeNaN("behavioural cloning trains no Q-function", lambda df, cfg: cfg.method == "bc") for c in Q_COLUMNS},
        "cql_alpha": MayBeNaN("only CQL has alpha'", lambda df, cfg: cfg.method in ("sac", "bc")),
        "eval_d4rl_normalized": MayBeNaN("D4RL has no reference returns for the task",
                                         lambda df, cfg: d4rl_task(cfg.env_id) is None)}),
    "dataset": TableRules(nan={"return_mean": MayBeNaN("no episode of the dataset ended", None)}),
}
