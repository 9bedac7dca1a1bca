"""The per-run claim values several papers share (common/analysis/claim_values.py), against hand-computed values."""
from types import SimpleNamespace

import numpy as np
import pandas as pd

from common.analysis.claim_values import (evaluated_runs, last_episodes_mean_values, paired_run_difference,
                                          run_column_statistic)


def _claim(**statistic):
    return SimpleNamespace(experiment="exp", statistic=statistic)


def _data(**tables):
    return {"exp": SimpleNamespace(tables=tables)}


def _per_run(data, max_step=None, train_episodes=10) -> pd.DataFrame:
    """A per-run table as the off-policy papers build theirs: best evaluation, mean of the last training episodes."""
    rows = [{"variant": v, "seed": s, "best": g["eval_return"].max(), "train": train.tail(train_episodes).mean()}
            for v, s, g, train in evaluated_runs(data, max_step)]
    return pd.DataFrame(rows, columns=["variant", "seed", "best", "train"])


EVALUATIONS = pd.DataFrame({"variant": ["a", "a", "a", "a", "b", "b"], "seed": [1, 1, 0, 0, 0, 0],
                            "env_step": [22, 12, 10, 20, 11, 21], "eval_return": [7.0, 3.0, 5.0, 1.0, 2.0, 9.0]})
EPISODES = pd.DataFrame({"variant": ["a", "a", "a", "a", "a", "b"], "seed": [0, 0, 0, 1, 1, 0],
                         "env_step": [15, 5, 25, 8, 12, 9], "episode_return": [2.0, 1.0, 3.0, 10.0, 20.0, 50.0]})


def test_evaluated_runs_cut_at_max_step_in_step_order():
    runs = list(evaluated_runs(SimpleNamespace(tables={"evaluations": EVALUATIONS, "episodes": EPISODES}), 15))
    assert [(v, s) for v, s, _, _ in runs] == [("a", 0), ("b", 0), ("a", 1)]  # first evaluated at steps 10, 11, 12
    by_run = {(v, s): (g["eval_return"].tolist(), train.tolist()) for v, s, g, train in runs}
    assert by_run[("a", 0)] == ([5.0], [1.0, 2.0])  # episodes ending at steps 5 and 15; the one at 25 is past 15
    assert by_run[("a", 1)] == ([3.0], [10.0, 20.0])
    assert by_run[("b", 0)] == ([2.0], [50.0])


def test_run_column_statistic_reads_the_claims_variant_max_step_and_episodes():
    data = _data(evaluations=EVALUATIONS, episodes=EPISODES)
    best, train = run_column_statistic(_per_run, "best"), run_column_statistic(_per_run, "train")
    np.testing.assert_array_equal(best(_claim(variant="a"), data), [5.0, 7.0])  # by seed: 0, 1
    np.testing.assert_array_equal(best(_claim(variant="a", max_step=12), data), [5.0, 3.0])
    np.testing.assert_array_equal(train(_claim(variant="a"), data), [2.0, 15.0])  # (1 + 2 + 3) / 3, (10 + 20) / 2
    np.testing.assert_array_equal(train(_claim(variant="a", episodes=1), data), [3.0, 20.0])
    assert best(_claim(variant="a"), {}).size == 0  # no complete run of the experiment


def test_paired_run_difference_per_seed_with_both_variants():
    data = _data(evaluations=EVALUATIONS, episodes=EPISODES)
    np.testing.assert_array_equal(paired_run_difference(_claim(), data, _per_run, "best", "b", "a"), [9.0 - 5.0])
    assert paired_run_difference(_claim(), data, _per_run, "best", "b", "c").size == 0  # no run of c
    assert paired_run_difference(_claim(), {}, _per_run, "best", "b", "a").size == 0


def test_last_episodes_mean_values_in_step_order_by_seed():
    episodes = pd.DataFrame({"variant": ["Pong"] * 6 + ["Breakout"], "seed": [1, 0, 0, 0, 0, 1, 0],
                             "agent_step": [30, 50, 10, 40, 20, 10, 60],
                             "episode_return": [6.0, 5.0, 1.0, 4.0, 2.0, 8.0, 100.0]})
    values = last_episodes_mean_values(_claim(variant="Pong"), _data(episodes=episodes), 3, "agent_step")
    np.testing.assert_array_equal(values, [(2.0 + 4.0 + 5.0) / 3, (8.0 + 6.0) / 2])  # seed 0: steps 20, 40, 50
    assert last_episodes_mean_values(_claim(variant="Pong"), {}, 3, "agent_step").size == 0
