"""Intervals drawn in figures and the aggregate statistics over tasks (Agarwal et al. 2021), against hand-computed
values; a figure of one run draws no band and calls nothing an interval."""
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from common.analysis import aggregate
from common.analysis import plotting
from common.analysis.stats import (aggregate_iqm, aggregate_mean, aggregate_median, iqm, mean_ci, mean_ci_columns,
                          performance_profile, performance_profile_band, stratified_ci, t_interval)


# ---- intervals ----------------------------------------------------------------------------------------------------
def test_bootstrap_of_two_values_spans_them():
    # resampled means of [0, 1]: 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so the 2.5% and 97.5% percentiles are 0, 1
    assert mean_ci([0.0, 1.0]) == (0.5, 0.0, 1.0)


def test_column_intervals_are_the_claims_intervals_column_by_column():
    x = np.array([[1.0, 10.0, 0.0], [2.0, 12.0, 0.0], [4.0, 11.0, 3.0], [7.0, 19.0, 1.0]])
    mean, lo, hi = mean_ci_columns(x)
    for j in range(x.shape[1]):
        assert (mean[j], lo[j], hi[j]) == pytest.approx(mean_ci(x[:, j]), abs=0)
    mean, lo, hi = mean_ci_columns(x[:1])  # one run: no interval
    assert mean.tolist() == [1.0, 10.0, 0.0] and np.isnan(lo).all() and np.isnan(hi).all()


def test_t_interval_by_hand():
    # t(0.975, 2 df) = 4.302653; sd 1 over 3 runs: half width 4.302653 / sqrt(3) = 2.484138
    lo, hi = t_interval(0.0, 1.0, 3)
    assert (float(lo), float(hi)) == pytest.approx((-2.484138, 2.484138), abs=1e-6)
    lo, hi = t_interval([5.0], [2.0], [1])  # one run: no interval
    assert np.isnan(lo).all() and np.isnan(hi).all()


# ---- aggregates ---------------------------------------------------------------------------------------------------
def test_interquartile_mean_by_hand():
    assert iqm(np.arange(1, 9)) == 4.5  # the middle four of 1..8: (3 + 4 + 5 + 6) / 4
    assert iqm([100.0, 0.0, 1.0, 2.0]) == 1.5  # trims one value from each end: (1 + 2) / 2


def test_aggregates_with_unequal_runs_by_hand():
    scores = [np.array([0.0, 1.0]), np.array([2.0]), np.array([4.0, 6.0, 8.0])]
    assert aggregate_mean(scores) == pytest.approx((0.5 + 2 + 6) / 3)  # mean of the task means
    assert aggregate_median(scores) == 2.0  # median of the task means 0.5, 2, 6
    assert aggregate_iqm(scores) == 3.25  # all runs pooled, 0 1 2 4 6 8: the middle ones 1 2 4 6


def test_stratified_bootstrap_by_hand():
    # task A [0, 1] resamples to a mean of 0, 0.5 or 1 (1/4, 1/2, 1/4), task B [0, 0] always 0: the mean over tasks
    # is 0, 0.25 or 0.5, so the 95% interval is [0, 0.5]
    assert stratified_ci([[0.0, 1.0], [0.0, 0.0]], aggregate_mean) == (0.25, 0.0, 0.5)
    # resampled within each task, never across: two constant tasks give a point interval (a pooled bootstrap would not)
    assert stratified_ci([[0.0, 0.0], [1.0, 1.0]], aggregate_iqm) == (0.5, 0.5, 0.5)
    est, lo, hi = stratified_ci([[0.0, 1.0], [3.0]], aggregate_mean)  # a task with one run: no interval
    assert est == pytest.approx(1.75) and np.isnan(lo) and np.isnan(hi)


def test_performance_profile_by_hand():
    scores = [np.array([0.2, 0.8]), np.array([0.5, 0.5, 1.0])]
    # above 0.6: half of task A's runs and a third of task B's, averaged over the two tasks
    assert performance_profile(scores, [0.0, 0.6, 1.0]) == pytest.approx([1.0, (1 / 2 + 1 / 3) / 2, 0.0])
    point, lo, hi = performance_profile_band([np.array([0.0, 0.0]), np.array([1.0, 1.0])], [-1.0, 0.5, 2.0])
    assert point.tolist() == lo.tolist() == hi.tolist() == [1.0, 0.5, 0.0]
    _, lo, hi = performance_profile_band([np.array([0.0, 1.0]), np.array([1.0])], [0.5])
    assert np.isnan(lo).all() and np.isnan(hi).all()


def test_aggregate_table_lists_missing_tasks_and_settings_never_as_zero():
    agg = aggregate.Aggregate(
        name="t", title="t", tasks=["A", "B"], score="s", normalization="n", budget="b",
        groups=[aggregate.Group("full", {"A": np.array([0.0, 1.0]), "B": np.array([0.0, 0.0])}),
                aggregate.Group("partial", {"A": np.array([0.5]), "B": np.array([])}),
                aggregate.Group("none", {"A": np.array([]), "B": np.array([])})])
    md = aggregate.markdown(agg, None)
    assert "| full | 2 of 2 | 2 | 0.25 [0, 0.5] | 0.25 [0, 0.5] |" in md
    assert "| partial | 1 of 2 | 1 | partial: not aggregated (not run: B) |" in md
    assert "| none | 0 of 2 | 0 | not run | not run | not run |" in md
    assert "| partial | 0.5 (1) | not run |" in md


# ---- figures ------------------------------------------------------------------------------------------------------
def _bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_band_by_number_of_runs():
    x = np.arange(3.0)
    fig, axes = plt.subplots(1, 3)
    runs3 = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 5.0], [6.0, 2.0, 4.0]])
    kinds = [plotting.runs_with_band(ax, x, r, label="a")[1] for ax, r in zip(axes, (runs3, runs3[:2], runs3[:1]))]
    assert kinds == ["ci", "range", "none"]
    labels = [ax.get_lines()[0].get_label() for ax in axes]
    assert labels == ["a (3 runs; band: 95% CI)", "a (2 runs; band: min-max)", "a (1 run; no band)"]
    (ci,), (rng,) = _bands(axes[0]), _bands(axes[1])
    assert ci.get_gid() == "band-95ci-bootstrap" and rng.get_gid() == "band-min-max"
    _, lo, hi = mean_ci_columns(runs3)
    assert ci.get_paths()[0].vertices[:, 1].min() == pytest.approx(lo.min())
    assert ci.get_paths()[0].vertices[:, 1].max() == pytest.approx(hi.max())
    assert rng.get_paths()[0].vertices[:, 1].max() == 5.0  # the largest value of the two runs
    assert rng.get_paths()[0].vertices[:, 1].min() == 1.0  # the smallest
    assert _bands(axes[2]) == []
    assert "CI" not in plotting.band_text(["none"]) and "interval" not in plotting.band_text(["none"])
    plt.close(fig)


def test_a_line_far_off_the_others_scale_is_named_and_the_axis_keeps_the_others():
    """CEM on HalfCheetah (-42,000 to -29,000 beside methods between 0 and 3,000): the axis shows the others' range
    with a 10% margin, the panel names CEM and its range; lines on one scale, a line far above the others (PPO on
    Walker2d beside the ablation's weaker settings), or only two lines, are left alone."""
    fig, axes = plt.subplots(1, 3)
    lines = {"ppo": np.array([0.0, 1500.0, 3000.0]), "a2c": np.array([0.0, 1000.0, 1500.0]),
             "cem": np.array([-42000.0, -35000.0, -29000.0])}
    assert plotting.keep_in_view(axes[0], lines) == ["cem"]
    assert axes[0].get_ylim() == pytest.approx((-300.0, 3300.0))
    assert [line.get_label() for line in axes[0].get_lines()][-1] == "cem: below the panel (-42,000 to -29,000)"
    reacher = {"ppo": np.array([-100.0, -20.0, -5.0]), "a2c": np.array([-110.0, -30.0, -15.0]),
               "cem": np.array([-5900.0, -400.0, -90.0])}  # far below at first, within the others' range at the end
    assert plotting.keep_in_view(axes[1], reacher) == ["cem"]
    assert axes[1].get_lines()[-1].get_label() == "cem: partly below the panel (-5,900 to -90)"
    ahead = {"ppo": np.array([100.0, 3200.0]), "a2c": np.array([100.0, 800.0]), "cem": np.array([50.0, 500.0])}
    assert plotting.keep_in_view(axes[1], ahead) == []  # a method far ahead of the others is never cut
    same_scale = {"ppo": np.array([0.0, 3000.0]), "a2c": np.array([0.0, 1500.0]), "cem": np.array([-500.0, 600.0])}
    axes[2].set_ylim(-1.0, 1.0)
    assert plotting.keep_in_view(axes[2], same_scale) == [] and axes[2].get_ylim() == (-1.0, 1.0)
    assert plotting.keep_in_view(axes[2], {"ppo": lines["ppo"], "cem": lines["cem"]}) == []
    assert len(axes[2].get_lines()) == 0
    plt.close(fig)


def test_a_figure_of_one_run_draws_no_band_called_a_ci(monkeypatch):
    from papers.schulman2017_ppo.plots import plot

    figures = []
    monkeypatch.setattr(plotting, "save", lambda fig, out_dir, stem: figures.append(fig) or [])
    steps = np.arange(1, 201) * 100
    episodes = pd.DataFrame({"variant": "clip0.2__Hopper-v5", "seed": 0, "env_step": steps,
                             "episode_return": np.linspace(0, 100, len(steps))})
    data = SimpleNamespace(tables={"episodes": episodes})
    plot(SimpleNamespace(name="one_run"), data, None, "paper budget, 1 of 21 runs complete")
    (fig,) = figures
    for ax in fig.axes:
        assert _bands(ax) == []
        legend = ax.get_legend()
        texts = [t.get_text() for t in legend.get_texts()] if legend else []
        assert texts and all("CI" not in t and "interval" not in t for t in texts)
    caption = " ".join(t.get_text() for t in fig.texts)
    assert "no band" in caption and "CI" not in caption and "interval" not in caption
    plt.close(fig)


def test_a_profile_with_single_runs_draws_no_band(tmp_path, monkeypatch):
    agg = aggregate.Aggregate(name="one", title="one", tasks=["A", "B"], score="s", normalization="n", budget="b",
                              groups=[aggregate.Group("g", {"A": np.array([0.1]), "B": np.array([0.9])})])
    figures = []
    monkeypatch.setattr(plotting, "save", lambda fig, out_dir, stem: figures.append(fig) or [])
    aggregate.plot_profile(agg, tmp_path)
    (fig,) = figures
    assert _bands(fig.axes[0]) == []
    assert "no band" in fig.axes[0].get_legend().get_texts()[0].get_text()
    assert "interval" not in " ".join(t.get_text() for t in fig.texts)
    plt.close(fig)


def test_fixed_colors_give_a_name_one_colour_whatever_a_panel_draws():
    """A setting keeps its colour in every panel: the map follows the first appearance of each name, repeats dropped,
    and distinct names get distinct colours of the seaborn palette."""
    import seaborn as sns

    from common.analysis.plotting import fixed_colors

    colors = fixed_colors(["sac", "cql_h", "sac", "bc"])
    assert list(colors) == ["sac", "cql_h", "bc"]
    assert colors == dict(zip(["sac", "cql_h", "bc"], sns.color_palette(n_colors=3)))
    assert len(set(colors.values())) == 3
