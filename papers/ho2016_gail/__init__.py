"""Ho & Ermon (2016): Generative Adversarial Imitation Learning (NeurIPS 2016, arXiv 1606.03476).

The algorithm is gail.py (Algorithm 1: the discriminator's update, eq. 17, and the TRPO policy step on its cost,
eq. 18, with a value function and GAE), one loop with a pluggable cost: the discriminator (GAIL), the linear cost
classes of FEM and GTAL (baselines.py), or the true reward (the experts); behavioral cloning in baselines.py.
datasets.py samples the experts' trajectories and the random policy's returns (the two ends of Figure 1's scale);
gail_config.py is the config and its checks (torch-free); analysis.py the claims' statistics and Table 3's layout;
plots.py Figure 1. Everything but the config is named by reference and imported on first use.
"""
from common.platform.finite import MayBeNaN, TableRules
from common.platform.registry import Live, Runner, lazy

from .gail_config import CLASSIC_TASKS, GAILConfig, check_inputs, validate_gail

L = lazy(__name__)

#: what the code did before a config key existed (a run recorded then lacks the key): the curvature products on the
#: whole batch
LEGACY = {"fvp_fraction": 1.0}

RUNNERS = {
    # bc records no episodes or iterations (it never acts while learning); every other method records both
    "gail": Runner(GAILConfig, L(".gail:run_gail"), validate_gail,
                   tables={"episodes": TableRules(), "iterations": TableRules(), "evaluation": TableRules(),
                           # the validation squared error of the mean action is a continuous policy's only
                           "bc_epochs": TableRules(nan={"validation_mean_sq_error": MayBeNaN(
                               "a discrete policy has no mean action", lambda df, cfg: df["epoch"].notna() & (cfg.env_id in CLASSIC_TASKS))})},
                   live=Live(L(".gail:live_tables"), curve=("iterations", "env_step", "mean_return")),
                   inputs=check_inputs,  # the expert dataset, before any run folder is made
                   legacy=LEGACY),
}

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"default": L(".plots:plot_curves"), "figure1": L(".plots:plot_figure1")}

#: Per-run tables in the regenerated README (experiments.yaml `summary:`).
SUMMARIES = {"per_run": L(".analysis:run_summary")}

#: Per-run statistics for the claims (`statistic: {custom: NAME}`).
STATISTICS = {name: L(f".analysis:{name}_values") for name in ("eval_return", "scaled_return", "gail_minus_bc",
                                                               "gail_minus_baseline")}

#: Benchmarks (`repro bench`): name -> (runner, function(cfg, n_steps, scratch_dir) -> dict).
BENCH = {"gail": (RUNNERS["gail"], L(".bench:bench"))}

__all__ = ["RUNNERS", "FIGURES", "SUMMARIES", "STATISTICS", "BENCH"]
