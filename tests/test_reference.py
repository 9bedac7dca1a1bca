"""The second verdict, against reference implementations at the budget used: the rule on hand-made curves, and the
reference data committed under common/analysis/reference_data/."""
import pandas as pd
import pytest

from common.analysis.claims import ReferenceSource, protocol_differences, reference_verdict, window_mean
from common.platform.errors import ReproError
from common.analysis.reference import DATA_DIR, load_curves, load_sources, source_curves, task_name

WINDOW = (250_000, 500_000)
HERE = {"sticky_actions": "none", "epsilon_train": "1 -> 0.1 over 1M agent steps"}


def _runs(*finals):
    """Hand-made runs: seed k's training episodes end at 100k (return 0, before the window), 300k and 450k (both
    `finals[k]`, in it) and 600k (return 1e6, after it): its window mean is finals[k]."""
    rows = [(k, x, y) for k, f in enumerate(finals) for x, y in ((100_000, 0.0), (300_000, f), (450_000, f),
                                                                  (600_000, 1e6))]
    return pd.DataFrame(rows, columns=["seed", "x", "value"])


def _source(label, seed_values, start=250_000, end=500_000, protocol=None, kind="training"):
    """A hand-made source: one value per seed spanning [start, end] (a Dopamine-like iteration), plus a value
    before the window that must not count."""
    rows = [(k, start, end, v) for k, v in enumerate(seed_values)]
    rows += [(k, 0, 250_000, -1e6) for k in range(len(seed_values))]
    return ReferenceSource(label, kind, dict(protocol or HERE),
                           pd.DataFrame(rows, columns=["seed", "x_start", "x_end", "value"]))


def _verdict(runs, sources, protocol=HERE, kind="training"):
    return reference_verdict(runs, sources, WINDOW, "agent_steps", kind, protocol)


def test_window_mean_counts_only_spans_wholly_inside():
    assert window_mean([0, 250, 300, 450], [250, 250, 300, 501], [1, 2, 4, 100], 250, 500) == 3.0  # 2 and 4
    assert pd.isna(window_mean([0], [100], [1.0], 250, 500))


def test_consistent_when_the_runs_overlap_the_envelope_of_sources():
    a, b = _source("A", [10, 12, 14]), _source("B", [20, 22, 24])
    v = _verdict(_runs(16.0, 30.0), [a, b])  # range [16, 30] overlaps the envelope [10, 24]
    assert v.outcome == "consistent"
    assert v.envelope == (10.0, 24.0) and v.run_values == [16.0, 30.0]
    assert [s[:2] for s in v.sources] == [("A", 3), ("B", 3)]
    assert "[10, 24] of 6 reference seeds" in v.text() and v.differences == []
    # a run between two sources' ranges is consistent: the envelope spans implementations, not one of them
    assert _verdict(_runs(17.0), [a, b]).outcome == "consistent"


def test_below_and_above_every_reference():
    sources = [_source("A", [10, 12, 14]), _source("B", [20, 22, 24])]
    assert _verdict(_runs(5.0, 9.9), sources).outcome == "below"
    assert _verdict(_runs(24.5, 40.0), sources).outcome == "above"
    assert _verdict(_runs(5.0, 40.0), sources).outcome == "consistent"  # runs spanning the envelope


def test_inconclusive_when_no_reference_covers_the_window():
    early = _source("early", [10, 12, 14], start=0, end=200_000)  # the curve ends before the window
    v = _verdict(_runs(5.0), [early])
    assert v.outcome == "inconclusive" and v.uncovered == ["early"] and v.envelope is None
    assert "no reference covers the window" in v.text() and "not covering the window: early" in v.text()
    # a source with values only in the window's first half does not cover it either
    first_half = _source("first half", [10, 12, 14], start=250_000, end=300_000)
    assert _verdict(_runs(5.0), [first_half]).outcome == "inconclusive"
    # a covering source beside an uncovering one gives the verdict alone
    v = _verdict(_runs(5.0), [early, _source("A", [10, 12, 14])])
    assert v.outcome == "below" and v.uncovered == ["early"]


def test_inconclusive_with_too_few_reference_seeds_or_no_run_in_the_window():
    v = _verdict(_runs(5.0), [_source("one run", [10.0])])
    assert v.outcome == "inconclusive" and "1 seed, fewer than 3" in v.reason
    late = pd.DataFrame({"seed": [0], "x": [600_000], "value": [1.0]})
    assert _verdict(late, [_source("A", [10, 12, 14])]).outcome == "inconclusive"


def test_each_protocol_difference_is_named_beside_the_verdict():
    sticky = {"sticky_actions": "0.25", "epsilon_train": "1 -> 0.01 over 250k agent steps"}
    a = _source("Dopamine A", [10, 12, 14], protocol=sticky)
    b = _source("Dopamine B", [11, 13], protocol=sticky)
    c = _source("Other", [12], protocol=HERE, kind="evaluation")
    v = _verdict(_runs(12.0), [a, b, c])
    assert v.outcome == "consistent"
    text = v.text()
    assert "sticky actions: here none; Dopamine A, Dopamine B: 0.25" in text
    assert "epsilon train: here 1 -> 0.1 over 1M agent steps; Dopamine A, Dopamine B: 1 -> 0.01 over 250k" in text
    assert "kind of return: here training; Other: evaluation" in text  # training compared with evaluation: named
    # every source sharing the value: said once
    diffs = protocol_differences(HERE, [a, b], "training")
    assert diffs[0] == "sticky actions: here none; every reference: 0.25"
    # a protocol setting a source states that the runs do not: an error, never a silent omission
    with pytest.raises(ReproError, match="frame_skip"):
        protocol_differences(HERE, [_source("X", [1], protocol={**HERE, "frame_skip": "4"})], "training")


# ---- the committed reference data ------------------------------------------------------------------------------
def test_every_source_names_its_commit_path_licence_and_protocol():
    for key, spec in load_sources().items():
        for field in ("label", "source", "algo", "metric", "kind", "task", "repository", "commit", "path",
                      "licence", "protocol"):
            assert spec.get(field), f"{key}: no {field}"
        assert len(spec["commit"]) == 40 and spec["kind"] in ("training", "evaluation")
    readme = (DATA_DIR / "README.md").read_text()
    for spec in load_sources().values():
        assert spec["commit"] in readme


def test_loader_on_the_committed_subset():
    curves = load_curves()
    assert set(curves["key"]) == set(load_sources())
    assert set(curves["unit"]) == {"agent_steps", "env_steps"}
    assert (curves["x_start"] <= curves["x_end"]).all()
    dqn = source_curves("dopamine_dqn_tf", "Breakout", "agent_steps")
    assert dqn.kind == "training" and dqn.protocol["sticky_actions"] == "0.25"
    assert sorted(dqn.curves["seed"]) == [0, 1, 2, 3, 4]
    assert (dqn.curves["x_start"] == 250_000).all() and (dqn.curves["x_end"] == 500_000).all()  # iteration 1
    # SOURCES.md's spot check: breakout.json DQN block 3 (seed 3), iteration 9 = 19.273; iteration 1 is kept here
    assert dqn.curves["value"].between(0, 50).all()
    sac = source_curves("tianshou_sac", "Hopper", "env_steps")
    assert sac.curves["seed"].nunique() == 10 and sac.curves["x_end"].max() == 1_000_000
    assert task_name(load_sources()["tianshou_ppo"], "InvertedPendulum") == "InvertedPendulum-v2"
    assert task_name(load_sources()["tianshou_ppo"], "Hopper") == "Hopper-v3"
    assert len(source_curves("mushroomrl_ppo", "InvertedPendulum", "env_steps").curves) == 0  # not in its benchmark
    with pytest.raises(ReproError, match="agent_steps"):
        source_curves("dopamine_dqn_tf", "Breakout", "env_steps")


def test_claims_name_known_comparisons_and_sources():
    from common.analysis.claims import load_claims, load_comparisons
    from common.platform.registry import papers

    covered = 0
    for name in ("mnih2013_dqn", "haarnoja2018_sac", "schulman2017_ppo", "lillicrap2016_ddpg"):
        paper = papers()[name]
        comparisons = load_comparisons(paper)
        for claim in load_claims(paper):
            if claim.reference:
                covered += 1
                comparison = comparisons[claim.reference["compare"]]
                for key in comparison["sources"]:  # the runs' protocol states every setting a source states
                    assert set(load_sources()[key]["protocol"]) <= set(comparison["protocol"]), (claim.id, key)
    assert covered == 16 + 26 + 11 + 8


def test_an_unknown_comparison_is_an_error(tmp_path):
    from types import SimpleNamespace

    from common.analysis.claims import load_comparisons
    path = tmp_path / "claims.yaml"
    path.write_text("reference_comparisons:\n  c: {kind: training, unit: frames, budget_key: b, window: 1, "
                    "run: {table: t, x: x, y: y}, sources: [dopamine_dqn_tf]}\n")
    with pytest.raises(ReproError, match="unit must be agent_steps or env_steps"):
        load_comparisons(SimpleNamespace(claims_path=path))
    path.write_text("claims: []\nreference_comparisons:\n  c: {kind: training, unit: env_steps, budget_key: b, window: 1, "
                    "run: {table: t, x: x, y: y}, sources: [nobody]}\n")
    with pytest.raises(ReproError, match="unknown sources"):
        load_comparisons(SimpleNamespace(claims_path=path))


def test_committed_subset_is_what_the_extraction_writes():
    """Where the full extraction is at hand (../shared/reference/), cutting it again gives curves.csv exactly."""
    from common import REPO_ROOT
    from common.analysis.reference_data.extract import extract

    src = REPO_ROOT.parent / "shared" / "reference"
    if not (src / "SOURCES.md").exists():
        pytest.skip("the full extraction (../shared/reference/) is not on this machine")
    assert extract(src).to_csv(index=False, lineterminator="\n") == (DATA_DIR / "curves.csv").read_text()
