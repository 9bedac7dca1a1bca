"""Kumar, Zhou, Tucker, Levine (2020): Conservative Q-Learning for Offline Reinforcement Learning (arXiv
2006.04779, NeurIPS 2020).

The algorithm and its baselines are cql.py (on SAC's networks, papers/haarnoja2018_sac/sac.py, and CQL's
regularizers, common/offline/conservative.py; its config cql_config.py); experiments.yaml lists Table 1's gym rows on
datasets built here (common/offline/datasets.py) from the expert SAC runs of its experiment `experts` (the `sac`
runner of papers/haarnoja2018_sac, SAC v2); claims.yaml the paper's numbers (../shared/reported/cql2020.yaml); bench.py the updates' speed (`repro bench`).
Everything but the config is named by reference and imported on first use (common/platform/registry.py: `lazy`).
"""
from common.platform.registry import Live, Runner, lazy

from papers.haarnoja2018_sac import RUNNERS as _SAC_RUNNERS

from .cql_config import EVAL_COLUMNS, LEGACY, TABLES, CQLConfig, dataset_inputs, validate_cql

L = lazy(__name__)

RUNNERS = {"offline": Runner(CQLConfig, L(".cql:run_cql"), validate_cql, tables=TABLES, legacy=LEGACY,
                             live=Live({"evaluations": EVAL_COLUMNS},
                                       curve=("evaluations", "grad_step", "eval_return")),
                             inputs=dataset_inputs),
           # the expert SAC runs the datasets come from (experiment `experts`): SAC v2 as papers/haarnoja2018_sac runs it
           "sac": _SAC_RUNNERS["sac"]}
# `repro bench kumar2020_cql table1|sanity`: the updates' gradient steps/s against SAC's online update (bench.py)
BENCH = {"offline": (RUNNERS["offline"], L(".bench:bench"))}
PROFILE = {"offline": (RUNNERS["offline"], L(".bench:profile"))}  # `--profile`: where CQL(H)'s update time goes
STATISTICS = {"final_normalized": L(".analysis:final_normalized_values")}
FIGURES = {"default": L(".analysis:plot")}
SUMMARIES = {"per_run": L(".analysis:run_summary"), "sac_per_run": L("papers.haarnoja2018_sac.analysis:run_summary")}
# the report's "Datasets" section: the committed records of the datasets the runs learn from
SECTIONS = {"datasets": L("common.offline.report:section")}

__all__ = ["RUNNERS", "BENCH", "PROFILE", "STATISTICS", "FIGURES", "SUMMARIES", "SECTIONS"]
