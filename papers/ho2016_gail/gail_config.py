"""The config of GAIL's runner (Ho & Ermon 2016, arXiv 1606.03476) and its checks: torch-free and gymnasium-free, so
that `repro list`, `show` and `status` never import the learning code.

One runner, five methods (`method`):
  gail    the discriminator's cost log D(s, a) against a TRPO policy step (Algorithm 1, eq. 17-18)
  fem     feature expectation matching: the linear cost class C_linear of Abbeel & Ng (Sec. 6, papers/ho2016_gail/baselines.py)
  gtal    game-theoretic apprenticeship learning: the convex cost class C_convex of Syed & Schapire (Sec. 6, baselines.py)
  bc      behavioral cloning: maximum likelihood on the expert's pairs, 70/30 split, Adam, minibatch 128, early stopping
  expert  TRPO on the task's true reward (Appendix B: "TRPO policies trained on the true costs"): the experts here
Every imitation method reads the expert's trajectories from a dataset built by `python -m papers.ho2016_gail.datasets
ENV_ID` (papers/ho2016_gail/datasets.py); a run whose dataset is missing stops in `validate_gail` before any run
folder is made (`check_inputs`, the runner's `inputs`), naming that command.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

from common.platform import validate as check
from common.platform.errors import ReproError

METHODS = ("gail", "bc", "fem", "gtal", "expert")
CLASSIC_TASKS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")  # discrete actions (gymnasium's current versions)
MUJOCO_TASKS = ("Reacher-v5", "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5")
TASKS = CLASSIC_TASKS + MUJOCO_TASKS
#: how the discriminator's D(s, a) (the probability that a pair is the policy's) becomes the policy's reward
#:   policy_cost      r = -log D (the paper's cost log D, eq. 18): >= 0, the reward of tasks that cut an episode off
#:                    for bad behaviour (falling over)
#:   zero_for_expert  r = log(1 - D): <= 0, for tasks that end an episode on success (mountain car, acrobot), where a
#:                    positive reward would pay the policy to stay away from the goal (the authors' code:
#:                    `favor_zero_expert_reward`, set for the tasks that "cut off on success")
REWARD_FORMS = ("policy_cost", "zero_for_expert")
DATASET_KIND = "gail-expert"  # the dataset's kind under <root>/datasets/<env_id>/ (common/offline/datasets.py)


@dataclass
class GAILConfig:
    seed: int = 0
    method: str = "gail"  # gail | bc | fem | gtal | expert
    env_id: str = "CartPole-v1"
    # ---- data (Sec. 6, Table 3: "dataset size" = number of expert trajectories) ----
    trajectories: int = 1  # expert trajectories the imitator sees (the first N of the stored dataset)
    subsample_every: int = 1  # keep every k-th pair of each trajectory, from a random offset (MuJoCo: 20, ~50 pairs)
    dataset_root: str = ""  # where datasets/<env_id>/gail-expert/ lies: "" = $REPRO_RESULTS or results/
    # ---- environment ----
    max_episode_steps: int = 0  # > 0: the time limit (classic: 200, as Gym v0's); 0: the task's own (v5: 1,000)
    # ---- policy optimization (Sec. 6 and Appendix B) ----
    iterations: int = 300  # policy updates (Table 2: 300 classic, 200 Reacher, 500 MuJoCo, 1,500 Humanoid)
    batch_steps: int = 5000  # state-action pairs per iteration (Table 2: 5,000 classic, 50,000 MuJoCo)
    policy_hidden: List[int] = field(default_factory=lambda: [100, 100])  # "2 hidden layers of 100 units each, tanh"
    value_hidden: List[int] = field(default_factory=lambda: [100, 100])  # "value functions of the same architecture"
    gamma: float = 0.995  # GAE discount (Appendix B: gamma = .995)
    lam: float = 0.97  # GAE lambda (Appendix B: lambda = .97)
    max_kl: float = 0.01  # TRPO's step size epsilon (not stated in the paper: the authors' code's 0.01)
    vf_max_kl: float = 0.01  # the value function's trust region (GAE eq. 30; the authors' code: 0.01)
    cg_iters: int = 10  # conjugate-gradient iterations (TRPO Appendix C)
    cg_damping: float = 0.1  # F + damping I (not stated: the authors' code's 0.1)
    # share of the batch in the Fisher- and Gauss-Newton-vector products of the policy and value steps (not stated;
    # the authors' code: 0.1, `subsample_hvp_frac`; 1 = the whole batch, the runs recorded before the key existed)
    fvp_fraction: float = 1.0
    init_log_std: float = 0.0  # MuJoCo: log of the Gaussian policy's initial action std (not stated)
    causal_entropy: float = 0.0  # lambda of eq. (1)/(18): 0 except the Reacher sweep (Table 3: 0, 1e-3, 1e-2)
    # ---- discriminator (GAIL; Algorithm 1, eq. 17) ----
    disc_hidden: List[int] = field(default_factory=lambda: [100, 100])  # "2 hidden layers of 100 tanh units"
    disc_learning_rate: float = 0.01  # Adam on eq. (17) (Algorithm 1: "an Adam gradient step"; lr: authors' code)
    disc_steps: int = 1  # Adam steps per iteration (the authors' code: 1)
    disc_entropy_weight: float = 0.001  # bonus on the entropy of D's Bernoulli output (the authors' code: 0.001)
    reward_form: str = "policy_cost"  # policy_cost | zero_for_expert (REWARD_FORMS above)
    # ---- behavioral cloning (Sec. 6: "70/30 train/validation split, Adam, minibatch 128, early stopping") ----
    bc_validation_fraction: float = 0.3
    bc_batch_size: int = 128
    bc_learning_rate: float = 0.001  # not stated: Adam's default
    bc_max_epochs: int = 1000  # not stated
    bc_patience: int = 100  # epochs without a lower validation criterion before stopping (not stated: train_bc's)
    # ---- evaluation (Table 3: "means and standard deviations over 50 trajectories") ----
    eval_episodes: int = 50
    eval_deterministic: bool = False  # True: the mean (argmax) action; Tables 2-3's experiments set it (the authors')


def is_discrete(env_id: str) -> bool:
    return env_id in CLASSIC_TASKS


def dataset_folder(cfg) -> Path:
    from common.platform.runs import results_root

    return Path(cfg.dataset_root or results_root()) / "datasets" / cfg.env_id / DATASET_KIND


class DatasetMissing(ReproError):
    """An imitation run's expert dataset is not built (or holds too few trajectories): the command that builds it."""


def check_inputs(cfg) -> str | None:
    """What a run reads besides its config (the Runner's `inputs`, checked by `repro run` and `repro sweep` before
    any run folder is made, common/platform/runs.py: check_inputs): an imitation method's expert dataset; an expert
    reads nothing. None when it is there, else the sentence naming what is missing and the command that makes it."""
    if cfg.method == "expert":
        return None
    try:
        check_dataset(cfg)
    except DatasetMissing as exc:
        return str(exc)
    return None


def check_dataset(cfg) -> dict:
    """The record (dataset.json) of the expert dataset an imitation run reads; DatasetMissing if it is absent, its
    data file (dataset.npz, git-ignored: a fresh clone has the committed record only) is absent, it holds fewer than
    `cfg.trajectories` trajectories or was sampled with another time limit."""
    from common.offline.datasets import data_files_missing

    folder = dataset_folder(cfg)
    record = folder / "dataset.json"
    command = f"python -m papers.ho2016_gail.datasets {cfg.env_id}"
    if not record.exists():
        raise DatasetMissing(f"no expert dataset of {cfg.env_id} at {folder} (method {cfg.method} imitates one); "
                             f"build it with `{command}` (papers/ho2016_gail/README.md)")
    doc = json.loads(record.read_text())
    absent = data_files_missing(folder, doc)
    if absent:
        recorded = doc["config"]  # as recorded: the same expert, seed and size give the same bytes
        again = (f"{command} --trajectories {recorded['trajectories']} --seed {recorded['seed']} "
                 f"--expert-run {recorded['expert_run']}" + (f" --root {cfg.dataset_root}" if cfg.dataset_root else ""))
        raise DatasetMissing(f"the expert dataset of {cfg.env_id}: its record {record} exists but its data file "
                             f"does not ({', '.join(absent)}: git-ignored, so a fresh clone lacks it); rebuild it "
                             f"as recorded with `{again}` (papers/ho2016_gail/README.md)")
    held = int(doc["config"]["trajectories"])
    if cfg.trajectories > held:
        raise DatasetMissing(f"the expert dataset of {cfg.env_id} at {folder} holds {held} trajectories; "
                             f"trajectories={cfg.trajectories} needs more: `{command} --trajectories "
                             f"{cfg.trajectories}`")
    if int(doc["config"]["max_episode_steps"]) != int(cfg.max_episode_steps):
        raise DatasetMissing(f"the expert dataset of {cfg.env_id} at {folder} was sampled with max_episode_steps="
                             f"{doc['config']['max_episode_steps']}; this run has {cfg.max_episode_steps}: the same "
                             f"time limit is needed for the returns to be on one scale")
    return doc


def validate_gail(cfg: GAILConfig) -> None:
    """Values the runner can use, checked before any run starts (the dataset: `check_inputs`)."""
    check.seed(cfg)
    check.one_of(cfg, "method", METHODS)
    check.one_of(cfg, "env_id", TASKS)
    check.one_of(cfg, "reward_form", REWARD_FORMS)
    check.at_least(cfg, 1, "trajectories", "subsample_every", "iterations", "batch_steps", "cg_iters", "disc_steps",
                   "bc_batch_size", "bc_max_epochs", "bc_patience", "eval_episodes")
    check.at_least(cfg, 0, "max_episode_steps")
    check.positive(cfg, "max_kl", "vf_max_kl", "disc_learning_rate", "bc_learning_rate")
    check.at_least(cfg, 0.0, "cg_damping", "causal_entropy", "disc_entropy_weight")
    check.between(cfg, 0, 1, "gamma", "lam")
    check.between(cfg, 0, 1, "fvp_fraction", lo_open=True)
    check.between(cfg, 0, 1, "bc_validation_fraction", lo_open=True)
    check.require(cfg.bc_validation_fraction < 1, "bc_validation_fraction", cfg.bc_validation_fraction,
                  "a number in (0, 1): a share of the expert's pairs held out")
    check.finite(cfg, "init_log_std")
    for key in ("policy_hidden", "value_hidden", "disc_hidden"):
        values = getattr(cfg, key)
        check.each(cfg, key, len(values), "hidden layer", 1)
        check.require(len(values) >= 1 and all(float(v).is_integer() for v in values), key, list(values),
                      "one or more whole numbers of units")
