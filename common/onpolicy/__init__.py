"""Shared parts of the on-policy policy-gradient methods (TRPO 2015, PPO 2017, and GAE, GAIL after them).

  - `advantages`: discounted returns (TRPO's single-path Q estimates, Sec. 5.1), GAE (PPO eq. 11-12; GAE eq. 16)
    and the time-dependent baseline of GAE's "No VF" runs;
  - `distributions`: diagonal-Gaussian log-likelihood and KL, categorical log-likelihood and KL;
  - `natural`: conjugate gradient (TRPO Appendix C), Fisher-vector products F v = J^T M J v of a diagonal-Gaussian
    MLP policy and of a categorical MLP policy (Appendix C.1), with J v by forward mode through the numpy MLP of
    `common.rl.npmlp` and J^T u by its backward pass (no autograd), the Gauss-Newton products of a regression MLP
    (GAE's value-function trust region), and the KL-constrained backtracking line search;
  - `trpo`: the TRPO policy step written once (gradient, conjugate gradient on Fisher-vector products, maximal
    step, KL line search) for diagonal-Gaussian and categorical MLP policies, and GAE's value-function trust
    region (eq. 30) for any regression MLP;
  - `rwr`: reward-weighted regression (TRPO's Figure 4 comparison): return weights and the weighted
    maximum-likelihood refit of a diagonal-Gaussian MLP policy;
  - `sampler_state` (imported on its own): what a sampling loop checkpoints besides its networks (observation
    statistics, generator, environment, last observation) and the observation filter of the running statistics;
  - `torch_fisher` (imported on its own, as it needs torch): the categorical Fisher-vector product of a torch module
    (e.g. an Atari network), J v by forward mode and J^T u by backpropagation.

Everything but `torch_fisher` works on the flat parameter vector of `common.rl.npmlp.Params`; each paper keeps its
algorithm readable in its folder and imports these pieces.
"""
from .advantages import discounted_returns, gae, time_dependent_baseline
from .distributions import (categorical_kl, categorical_log_prob, gaussian_entropy, gaussian_kl,
                            gaussian_log_prob, softmax)
from .natural import (LineSearchResult, categorical_fvp, conjugate_gradient, gaussian_empirical_fvp, gaussian_fvp,
                      line_search, max_step, mlp_jvp, regression_gnvp)
from .rwr import rwr_weights, weighted_gaussian_mle, weighted_log_likelihood
from .trpo import fit_value_trust_region, random_rows, trpo_step

__all__ = ["discounted_returns", "gae", "categorical_kl", "categorical_log_prob", "gaussian_entropy", "gaussian_kl",
           "gaussian_log_prob", "softmax", "LineSearchResult", "categorical_fvp", "conjugate_gradient",
           "gaussian_empirical_fvp", "gaussian_fvp", "line_search", "max_step", "mlp_jvp", "regression_gnvp",
           "time_dependent_baseline", "trpo_step", "fit_value_trust_region", "rwr_weights", "weighted_gaussian_mle",
           "weighted_log_likelihood"]
