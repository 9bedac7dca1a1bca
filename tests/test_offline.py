"""Offline RL (common/offline, papers/kumar2020_cql): the dataset builder's terminal/time-out split and returns,
datasets from a SAC run's saved agent and replay, D4RL's normalization, the CQL regularizers against hand-computed
log-sum-exps, offline SAC overestimating where CQL does not, determinism and resume."""
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from common.offline.build import build
from common.offline.conservative import cql_h_gap, cql_rho_gap, lagrange_losses, logsumexp_estimate
from common.offline.d4rl import REFERENCE_RETURNS, d4rl_normalized
from common.offline.datasets import (Dataset, collect, concatenate, episode_returns, from_replay, load_dataset)
from common.platform.errors import ReproError
from common.platform.records import RunRecord
from common.platform.runs import RunSpec
from conftest import execute_in, run_with_crashes, table_bytes
from papers.kumar2020_cql.cql import CQLConfig, OfflineLearner

PAPER = "kumar2020_cql"


# ---- datasets ----------------------------------------------------------------------------------------------------
def test_collect_keeps_terminals_and_time_outs_apart_and_sums_returns():
    # Pendulum-v1 never terminates and is cut at 200 steps: 450 rows = two complete episodes, and a third cut by
    # the dataset's size at row 449 (marked timed out, left out of the returns)
    ds = collect("Pendulum-v1", lambda obs, rng: rng.uniform(-2, 2, 1), 450, seed=3)
    assert not ds.terminals.any()
    assert np.flatnonzero(ds.timeouts).tolist() == [199, 399, 449] and ds.cut_at_end
    r = episode_returns(ds)
    np.testing.assert_allclose(r, [ds.rewards[:200].sum(dtype=np.float64), ds.rewards[200:400].sum(dtype=np.float64)])
    # within an episode the next row starts where this one ended
    inside = np.setdiff1d(np.arange(449), [199, 399])
    np.testing.assert_array_equal(ds.next_observations[inside], ds.observations[inside + 1])
    # InvertedPendulum-v5 terminates (the pole falls): terminals; a reward of 1 a step but 0 on the step it falls
    # (gymnasium v5), so return = length - 1
    ip = collect("InvertedPendulum-v5", lambda obs, rng: rng.uniform(-3, 3, 1), 300, seed=0)
    ends = ip.episode_ends()
    assert ip.terminals.sum() >= 10 and not (ip.terminals & ip.timeouts).any()
    lengths = np.diff(np.r_[-1, ends])[:len(episode_returns(ip))]
    np.testing.assert_allclose(episode_returns(ip), lengths - 1)
    # same seed, same rows
    again = collect("Pendulum-v1", lambda obs, rng: rng.uniform(-2, 2, 1), 450, seed=3)
    for name, a in ds.arrays().items():
        np.testing.assert_array_equal(a, getattr(again, name))


def test_dataset_rejects_a_row_both_terminal_and_timed_out():
    z = np.zeros((2, 1), np.float32)
    with pytest.raises(ValueError, match="both terminal and timed out"):
        Dataset(z, z, np.zeros(2, np.float32), z, np.array([True, False]), np.array([True, False]))


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory):
    """A quick SAC v2 run on Pendulum-v1 that keeps a snapshot at step 1,000 and its replay buffer."""
    root = tmp_path_factory.mktemp("sac")
    mp = pytest.MonkeyPatch()
    try:
        return execute_in(root, mp, "haarnoja2018_sac", "pendulum", "quick", "v2", 0,
                          (("env_id", "Pendulum-v1"), ("save_agent_at_steps", [1000]), ("save_replay", True)))
    finally:
        mp.undo()


def test_datasets_from_a_sac_run_saved_agent_and_replay(sac_run, tmp_path):
    # medium-replay: the replay's first 450 rows in order; time-outs found where the next row is a reset
    ds, source = from_replay(sac_run, 450)
    assert np.flatnonzero(ds.timeouts).tolist() == [199, 399, 449] and not ds.terminals.any()
    assert source["replay_rows"] == 450
    # built and recorded: checksum, provenance, statistics; loading checks the checksum
    from common.offline.datasets import medium_step

    step, chosen = medium_step(sac_run)  # the only snapshot kept
    assert step == 1000 and chosen["target_return"] == pytest.approx(chosen["expert_return"] / 3)
    for kind, step in (("medium", "auto"), ("expert", None), ("medium-replay", 1000)):
        build("Pendulum-v1", kind, transitions=400, seed=1, agent_run=str(sac_run), step=step, root=tmp_path)
    medium, doc = load_dataset("Pendulum-v1", "medium", tmp_path)
    assert len(medium) == 400 and doc["source"]["env_steps"] == 1000 and doc["source"]["actions"] == "sampled"
    assert doc["statistics"]["episodes"] == 2 and doc["provenance"]["commit"] is not None
    assert doc["statistics"]["return_mean"] == pytest.approx(episode_returns(medium).mean())
    replay, _ = load_dataset("Pendulum-v1", "medium-replay", tmp_path)
    assert len(replay) == 1000
    build("Pendulum-v1", "medium-expert", root=tmp_path)
    both, doc = load_dataset("Pendulum-v1", "medium-expert", tmp_path)
    expert, _ = load_dataset("Pendulum-v1", "expert", tmp_path)
    np.testing.assert_array_equal(both.rewards, concatenate(medium, expert).rewards)
    # a changed file is caught; bad input is an error before any work
    hdf5 = tmp_path / "datasets" / "Pendulum-v1" / "medium-v0" / "data" / "main_data.hdf5"
    hdf5.write_bytes(hdf5.read_bytes()[:-1] + b"x")
    with pytest.raises(ReproError, match=f"{hdf5} differs from the checksum dataset.json records; build it again"):
        load_dataset("Pendulum-v1", "medium", tmp_path)
    with pytest.raises(ReproError, match="--step"):
        build("Pendulum-v1", "medium", agent_run=str(sac_run), root=tmp_path)
    with pytest.raises(ReproError, match="unknown dataset kind"):
        build("Pendulum-v1", "mixed", root=tmp_path)


def test_a_clone_without_the_replay_names_it_and_how_to_get_it_back(sac_run, tmp_path):
    """The replay buffer is kept beside the run, not committed: in a copy without it, medium-replay's build says
    that the missing file holds the replay and that running the run again gives it back."""
    from common.rl.agents import AgentMissing

    clone = tmp_path / "seed_0"
    shutil.copytree(sac_run, clone)
    (clone / "agent.large.npz").unlink()
    with pytest.raises(AgentMissing, match=r"agent.large.npz .*the replay buffer .*run the run again"):
        build("Pendulum-v1", "medium-replay", agent_run=str(clone), step=1000, root=tmp_path)


def test_the_expert_run_gives_all_five_datasets_with_the_commands_the_error_names(tmp_path, monkeypatch, capsys):
    """The `experts` experiment's quick run keeps what the builder needs (snapshots, final agent, replay); each of the
    five kinds builds from it with the command a missing dataset's error names; then Table 1's runs of the task find
    every input they read (common.platform.runs.check_inputs) where before they were refused."""
    import shlex

    from common.offline.build import main as build_main
    from common.offline.datasets import KINDS, dataset_dir, missing_dataset
    from common.platform.runs import check_inputs, plan
    from common.rl.agents import load_agent, snapshots

    run = execute_in(tmp_path, monkeypatch, PAPER, "experts", "quick", "Hopper-v5", 0)
    assert snapshots(run) == [500, 1000]
    assert len(load_agent(run, with_large=True).large["replay.obs"]) == 1500  # every env step, in order
    specs = plan(PAPER, "table1", "reduced", variants=[f"Hopper-v5__{kind}__bc" for kind in KINDS])
    with pytest.raises(ReproError, match="no random dataset of Hopper-v5"):
        check_inputs(specs)
    for kind in KINDS:  # in the README's order: medium-expert comes from medium and expert
        message = missing_dataset("Hopper-v5", kind, agent_run=str(run))
        command = shlex.split(message.split("`")[1])
        assert command[:4] == ["python", "-m", "common.offline.build", "Hopper-v5"]
        assert build_main(command[3:] + ["--transitions", "300"]) == 0
        assert missing_dataset("Hopper-v5", kind) is None
    check_inputs(specs)  # every dataset found: no error
    medium, doc = load_dataset("Hopper-v5", "medium")
    assert doc["config"]["step"] in (500, 1000) and doc["source"]["run_dir"] == str(run) and len(medium) == 300
    replay, replay_doc = load_dataset("Hopper-v5", "medium-replay")
    assert len(replay) == doc["config"]["step"] == replay_doc["config"]["step"]  # the replay up to the medium snapshot
    expert, expert_doc = load_dataset("Hopper-v5", "expert")
    assert expert_doc["source"]["agent_file"] == "agent.json" and expert_doc["source"]["env_steps"] == 1500
    random_ds, random_doc = load_dataset("Hopper-v5", "random")
    assert random_doc["source"] == {"policy": "uniform actions"} and len(random_ds) == 300
    assert np.abs(random_ds.actions).max() <= 1.0
    both, _ = load_dataset("Hopper-v5", "medium-expert")
    np.testing.assert_array_equal(both.observations, concatenate(medium, expert).observations)
    # a fresh clone: the committed records without their (git-ignored) data files; the command each error names
    # rebuilds the same bytes the record's checksums name
    records = {kind: load_dataset("Hopper-v5", kind)[1] for kind in KINDS}
    for kind in KINDS:
        folder = dataset_dir("Hopper-v5", kind)
        shutil.rmtree(folder / "data")
        (folder / "episode_offsets.npz").unlink()
    for kind in KINDS:
        message = missing_dataset("Hopper-v5", kind, agent_run=str(run))
        assert "exists but its data files do not (data/main_data.hdf5, data/metadata.json, episode_offsets.npz" in message
        assert build_main(shlex.split(message.split("`")[1])[3:]) == 0
        _, again = load_dataset("Hopper-v5", kind)  # the files' checksums checked
        for key in ("files", "content_sha256", "config", "source", "statistics"):
            assert again[key] == records[kind][key], (kind, key)
    # a clone that also lacks the run's replay buffer (agent.large.npz, git-ignored): the error names the same run
    # cut at the medium step, whose replay holds the same first rows, and `--restore` puts the data files back beside
    # the record, which stays as it was; a build of other inputs changes nothing
    from common.platform.cli import main as repro_main

    folder = dataset_dir("Hopper-v5", "medium-replay")
    record_bytes = (folder / "dataset.json").read_bytes()
    shutil.rmtree(folder / "data")
    (folder / "episode_offsets.npz").unlink()
    (run / "agent.large.npz").unlink()
    step = replay_doc["config"]["step"]
    with pytest.raises(ReproError, match=f"needs only the replay's first {step:,} rows") as err:
        from_replay(run, step)
    command = shlex.split(str(err.value).split("`")[-4])
    assert command[:2] == ["repro", "run"] and f"total_env_steps={step}" in command
    assert repro_main(command[1:]) == 0
    short = next(p for p in (tmp_path / PAPER / "runs" / "experts").glob("quick-custom-*/Hopper-v5/seed_0"))
    build_args = ["Hopper-v5", "medium-replay", "--agent-run", str(short), "--step", str(step), "--restore"]
    other = build_args[:5] + [str(step - 100), "--restore"]
    assert build_main(other) == 2 and "differ from the checksums" in capsys.readouterr().err
    assert not (folder / "data").exists() and (folder / "dataset.json").read_bytes() == record_bytes
    assert build_main(build_args) == 0
    assert (folder / "dataset.json").read_bytes() == record_bytes  # the record kept: how it was first built
    restored, _ = load_dataset("Hopper-v5", "medium-replay")  # the files' checksums checked against the record
    assert len(restored) == step
    # medium-expert too: the restored medium and expert joined in a scratch folder, kept only if equal to the record
    folder = dataset_dir("Hopper-v5", "medium-expert")
    record_bytes = (folder / "dataset.json").read_bytes()
    shutil.rmtree(folder / "data")
    assert build_main(["Hopper-v5", "medium-expert", "--restore"]) == 0
    assert (folder / "dataset.json").read_bytes() == record_bytes
    assert len(load_dataset("Hopper-v5", "medium-expert")[0]) == len(medium) + len(expert)


# ---- Minari's format --------------------------------------------------------------------------------------------
def _tiny_hopper(rows: int = 120, seed: int = 0):
    from common.offline.datasets import uniform_policy

    return collect("Hopper-v5", uniform_policy(-np.ones(3), np.ones(3)), rows, seed=seed)


def test_minari_load_dataset_reads_what_the_builder_wrote(tmp_path, monkeypatch):
    """A D4RL-style dataset is a Minari dataset: `minari.load_dataset("Hopper-v5/random-v0")` with
    MINARI_DATASETS_PATH at <root>/datasets gives its episodes, whose steps are the builder's rows (observations: T + 1
    rows, the last one the episode's last next observation; terminations = terminals, truncations = timeouts)."""
    import minari

    from common.offline.datasets import save_dataset

    ds = _tiny_hopper()  # random Hopper: episodes of ~20 steps that terminate, the last one cut by the dataset's size
    assert ds.terminals.sum() >= 3 and ds.cut_at_end and ds.timeouts[-1]
    folder = save_dataset(ds, "Hopper-v5", "random", {"kind": "random"}, None, tmp_path)
    assert folder == tmp_path / "datasets" / "Hopper-v5" / "random-v0"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    data = minari.load_dataset("Hopper-v5/random-v0")
    assert data.total_steps == len(ds) and data.spec.dataset_id == "Hopper-v5/random-v0"
    episodes = list(data.iterate_episodes())
    assert len(episodes) == data.total_episodes == len(ds.episode_ends())
    np.testing.assert_array_equal(np.concatenate([e.observations[:-1] for e in episodes]), ds.observations)
    np.testing.assert_array_equal(np.concatenate([e.observations[1:] for e in episodes]), ds.next_observations)
    np.testing.assert_array_equal(np.concatenate([e.actions for e in episodes]), ds.actions)
    np.testing.assert_array_equal(np.concatenate([e.rewards for e in episodes]), ds.rewards)
    np.testing.assert_array_equal(np.concatenate([e.terminations for e in episodes]), ds.terminals)
    np.testing.assert_array_equal(np.concatenate([e.truncations for e in episodes]), ds.timeouts)
    # D4RL's reference returns travel with it: Minari's normalized score is D4RL's (as a fraction)
    assert minari.get_normalized_score(data, np.array([3234.3]))[0] == pytest.approx(1.0)


def test_the_arrays_read_back_equal_the_arrays_built_and_the_same_build_gives_the_same_bytes(tmp_path):
    from common.offline.datasets import HDF5_FILE, content_sha256, save_dataset

    ds = _tiny_hopper()
    folder = save_dataset(ds, "Hopper-v5", "medium", {"kind": "medium"}, None, tmp_path)
    back, doc = load_dataset("Hopper-v5", "medium", tmp_path)
    for name, built in ds.arrays().items():
        read = getattr(back, name)
        assert read.dtype == built.dtype and read.shape == built.shape, name
        np.testing.assert_array_equal(read, built, err_msg=name)
    assert back.cut_at_end and doc["content_sha256"] == content_sha256(ds) == content_sha256(back)
    # the same rows built again (same seed): the same files, byte for byte, and the same content hash
    first = {name: (folder / name).read_bytes() for name in doc["files"]}
    again = save_dataset(_tiny_hopper(), "Hopper-v5", "medium", {"kind": "medium"}, None, tmp_path)
    doc_again = json.loads((again / "dataset.json").read_text())
    assert {name: (again / name).read_bytes() for name in doc_again["files"]} == first
    assert doc_again["files"] == doc["files"] and doc_again["content_sha256"] == doc["content_sha256"]
    # another seed: other content
    other = save_dataset(_tiny_hopper(seed=1), "Hopper-v5", "medium", {"kind": "medium"}, None, tmp_path)
    assert json.loads((other / "dataset.json").read_text())["content_sha256"] != doc["content_sha256"]
    # a changed or missing file is an error naming it
    (other / "episode_offsets.npz").unlink()
    with pytest.raises(ReproError, match=f"{other / 'episode_offsets.npz'} is missing; build it again"):
        load_dataset("Hopper-v5", "medium", tmp_path)
    assert HDF5_FILE in doc["files"]


def test_a_row_whose_next_observation_is_not_the_next_rows_cannot_be_stored(tmp_path):
    from common.offline.datasets import save_dataset

    ds = _tiny_hopper(40)
    inside = int(np.flatnonzero(~(ds.terminals | ds.timeouts))[0])
    ds.next_observations[inside] += 1.0
    with pytest.raises(ValueError, match=f"row {inside} is neither terminal nor timed out"):
        save_dataset(ds, "Hopper-v5", "random", {"kind": "random"}, None, tmp_path)
    assert not (tmp_path / "datasets" / "Hopper-v5" / "random-v0").exists()  # nothing half-written
    ds.next_observations = ds.next_observations.astype(np.float64)
    with pytest.raises(ValueError, match="next_observations are float64, observations float32"):
        save_dataset(ds, "Hopper-v5", "random", {"kind": "random"}, None, tmp_path)


def test_gail_expert_datasets_keep_their_npz_bytes(tmp_path):
    """GAIL's kind is stored as before (dataset.npz): a fixed dataset gives the SHA-256 that the code before Minari's
    format gave (d267593f..., computed with that code)."""
    import hashlib

    from common.offline.datasets import save_dataset, stored_datasets

    n = 7
    ds = Dataset(np.arange(n * 4, dtype=np.float32).reshape(n, 4), np.linspace(-1, 1, n, dtype=np.float32)[:, None],
                 np.arange(n, dtype=np.float32) / 2, np.arange(n * 4, dtype=np.float32).reshape(n, 4) + 4,
                 np.array([0, 0, 1, 0, 0, 0, 0], bool), np.array([0, 0, 0, 0, 0, 0, 1], bool))
    ds.cut_at_end = False
    folder = save_dataset(ds, "CartPole-v1", "gail-expert", {"env_id": "CartPole-v1"}, None, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["dataset.json", "dataset.npz"]
    digest = hashlib.sha256((folder / "dataset.npz").read_bytes()).hexdigest()
    assert digest == "d267593fc7436df8e2e8cb022871c287c62c1229edd47eef616a8f8c1a02bf92"
    doc = json.loads((folder / "dataset.json").read_text())
    assert doc["format"] == 1 and doc["files"] == {"dataset.npz": {"sha256": digest, "bytes": len((folder / "dataset.npz").read_bytes())}}
    assert "d4rl_published" not in doc["statistics"]
    back, _ = load_dataset("CartPole-v1", "gail-expert", tmp_path)
    np.testing.assert_array_equal(back.observations, ds.observations)
    _tiny_save = save_dataset(_tiny_hopper(30), "Hopper-v5", "random", {}, None, tmp_path)
    assert stored_datasets(tmp_path) == ["CartPole-v1/gail-expert", "Hopper-v5/random"] and _tiny_save.exists()


# ---- D4RL's published statistics beside ours ----------------------------------------------------------------------
def test_d4rl_published_episode_counts_against_the_catalog():
    from common.offline.d4rl import D4RL_EPISODES, NOT_PUBLISHED, d4rl_published

    # TensorFlow Datasets' catalog, d4rl_mujoco_hopper/v2-medium: Split 'train', Examples 2,187
    assert D4RL_EPISODES["hopper"]["v2"]["medium"] == 2187
    assert D4RL_EPISODES["walker2d"]["v0"]["random"] == 50988 and D4RL_EPISODES["halfcheetah"]["v0"]["medium-replay"] == 101
    # medium-expert = medium + expert wherever it adds up (all but Hopper v0)
    assert D4RL_EPISODES["walker2d"]["v0"]["medium-expert"] == 5315 + 1628
    published = d4rl_published("Hopper-v5", "medium")
    assert published["v2"] == {"dataset": "hopper-medium-v2", "episodes": 2187, "transitions": 1_000_000,
                               "transitions_per_episode": pytest.approx(1_000_000 / 2187)}
    assert published["v0"]["episodes"] == 3064  # CQL's Table 1 used v0
    replay = d4rl_published("Walker2d-v5", "medium-replay")
    assert replay["v0"]["dataset"] == "walker2d-mixed-v0" and replay["v0"]["episodes"] == 501
    assert replay["v2"]["transitions"] == replay["v2"]["transitions_per_episode"] == NOT_PUBLISHED
    assert d4rl_published("HalfCheetah-v5", "medium-expert")["v0"]["transitions"] == NOT_PUBLISHED
    assert all(d4rl_published("Pendulum-v1", "random")[v]["episodes"] == NOT_PUBLISHED for v in ("v0", "v1", "v2"))


def test_statistics_put_ours_beside_d4rls(tmp_path):
    from common.offline.build import side_by_side
    from common.offline.datasets import return_statistics, save_dataset

    z = np.zeros((5, 11), np.float32)
    # episodes: rows 0-1 (terminal), 2-3 (timed out), 4 (cut by the dataset's end): lengths 2, 2, 1
    ds = Dataset(z, np.zeros((5, 3), np.float32), np.array([1, 2, 3, 4, 5], np.float32), z,
                 np.array([0, 1, 0, 0, 0], bool), np.array([0, 0, 0, 1, 1], bool))
    ds.cut_at_end = True
    stats = return_statistics(ds, "Hopper-v5", "expert")
    assert stats["episodes"] == 2 and stats["episode_length_mean"] == 2.0  # the two complete episodes
    assert stats["transitions_per_episode"] == pytest.approx(5 / 3)  # D4RL's quantity: rows / all episodes
    assert stats["return_mean"] == pytest.approx((3 + 7) / 2)
    assert stats["d4rl_published"]["v0"]["transitions_per_episode"] == pytest.approx(1_000_000 / 1029)
    assert "d4rl_published" not in return_statistics(ds, "Hopper-v5")  # GAIL's kind: unchanged
    folder = save_dataset(ds, "Hopper-v5", "expert", {"kind": "expert"}, None, tmp_path)
    recorded = json.loads((folder / "dataset.json").read_text())["statistics"]
    assert recorded["d4rl_published"]["v2"]["episodes"] == 1028 and recorded["transitions_per_episode"] == 5 / 3
    lines = side_by_side(recorded)
    assert lines[1].split() == ["this", "dataset", "2", "5", "1.7"]
    assert lines[2].split() == ["D4RL", "hopper-expert-v0", "1,029", "1,000,000", "971.8"]
    replay = side_by_side(return_statistics(ds, "Hopper-v5", "medium-replay"))
    assert replay[2].split() == ["D4RL", "hopper-mixed-v0", "1,250", "not", "published", "not", "published"]


# ---- normalization -----------------------------------------------------------------------------------------------
def test_d4rl_normalization_against_its_constants():
    assert d4rl_normalized("Hopper-v5", -20.272305) == pytest.approx(0.0)
    assert d4rl_normalized("Hopper-v5", 3234.3) == pytest.approx(100.0)
    # halfway between HalfCheetah's random (-280.178953) and expert (12135.0) returns
    assert d4rl_normalized("HalfCheetah-v5", (-280.178953 + 12135.0) / 2) == pytest.approx(50.0)
    assert d4rl_normalized("Walker2d-v5", 1000.0) == pytest.approx(100 * (1000 - 1.629008) / (4592.3 - 1.629008))
    with pytest.raises(ValueError, match="no reference returns"):
        d4rl_normalized("Pendulum-v1", 0.0)
    reported = Path("/work/shared/reported/cql2020.yaml")
    if reported.exists():  # the constants as the reported-numbers file copies them from d4rl/infos.py
        refs = yaml.safe_load(reported.read_text())["setup"]["d4rl_reference_scores"]
        for task, (low, high) in REFERENCE_RETURNS.items():
            assert (low, high) == (refs[task]["REF_MIN_SCORE"], refs[task]["REF_MAX_SCORE"])


def _episodes(rewards_per_episode) -> Dataset:
    """A dataset of complete (terminal) episodes with these per-step rewards."""
    rewards = np.concatenate([np.asarray(r, np.float32) for r in rewards_per_episode])
    terminals = np.zeros(len(rewards), bool)
    terminals[np.cumsum([len(r) for r in rewards_per_episode]) - 1] = True
    z = np.zeros((len(rewards), 11), np.float32)
    return Dataset(z, np.zeros((len(rewards), 3), np.float32), rewards, z, terminals, np.zeros(len(rewards), bool))


def test_own_normalization_from_the_random_and_expert_dataset_records(tmp_path):
    from types import SimpleNamespace

    import pandas as pd

    from common.offline.datasets import own_normalized, own_reference_returns, save_dataset
    from papers.kumar2020_cql.analysis import FINAL_OWN, FINAL_RAW, per_run

    with pytest.raises(ReproError, match="no random and expert dataset records.*common.offline.build Hopper-v5 random"):
        own_normalized("Hopper-v5", 1.0, root=tmp_path)
    save_dataset(_episodes([[1, 2], [3, 4]]), "Hopper-v5", "random", {"kind": "random"}, None, tmp_path)  # 3, 7
    assert own_reference_returns("Hopper-v5", tmp_path) is None  # no expert record yet
    save_dataset(_episodes([[100, 200], [300]]), "Hopper-v5", "expert", {"kind": "expert"}, None, tmp_path)
    assert own_reference_returns("Hopper-v5", tmp_path) == (5.0, 300.0)  # mean of 3 and 7; of 300 and 300
    assert own_normalized("Hopper-v5", 5.0, root=tmp_path) == pytest.approx(0.0)
    assert own_normalized("Hopper-v5", 152.5, root=tmp_path) == pytest.approx(50.0)
    # the per-run table: the last 10 evaluations' mean return on this scale, empty for a task without records
    ev = pd.DataFrame({"variant": ["a"] * 12 + ["b"] * 10, "seed": 0, "grad_step": list(range(12)) + list(range(10)),
                       "eval_return": [0.0, 0.0] + [152.5] * 10 + [1.0] * 10, "eval_d4rl_normalized": 0.0,
                       "q_data_mean": 0.0, "q_pi_mean": 0.0})
    data = SimpleNamespace(tables={"evaluations": ev},
                           configs={"a": {"env_id": "Hopper-v5"}, "b": {"env_id": "Walker2d-v5"}})
    runs = per_run(data, root=tmp_path).set_index("variant")
    assert runs.loc["a", FINAL_RAW] == 152.5 and runs.loc["a", FINAL_OWN] == pytest.approx(50.0)
    assert math.isnan(runs.loc["b", FINAL_OWN])


# ---- the regularizers --------------------------------------------------------------------------------------------
def test_cql_h_gap_against_a_hand_computed_logsumexp():
    # one state, three uniform actions on [-1, 1] (density 1/2): Q = 1, 2, 3; Q of the dataset's action 2.5
    q = torch.tensor([[[1.0, 2.0, 3.0]]])
    log_density = torch.full_like(q, -math.log(2.0))
    expected = math.log(2 * (math.e + math.e ** 2 + math.e ** 3)) - 2.5
    assert cql_h_gap(q, log_density, torch.tensor([[2.5]])).item() == pytest.approx(expected, rel=1e-6)
    # the estimate of log ∫ exp Q da: a constant Q = c over a box of volume 2^3 gives c + 3 log 2 exactly
    const = torch.full((1, 7), 0.3)
    assert logsumexp_estimate(const, torch.full((1, 7), -3 * math.log(2.0))).item() == pytest.approx(0.3 + 3 * math.log(2))
    # CQL(rho): weights softmax(Q) = (e, e^2, e^3) / sum
    w = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    assert cql_rho_gap(q, torch.tensor([[2.5]])).item() == pytest.approx(float(w @ [1, 2, 3]) - 2.5, rel=1e-6)


def test_lagrange_raises_alpha_while_the_gap_exceeds_tau():
    for gap, direction in ((12.0, 1), (8.0, -1)):
        log_alpha = torch.zeros((), requires_grad=True)
        penalty, alpha_loss = lagrange_losses(log_alpha, torch.tensor([gap]), tau=10.0)
        assert penalty.item() == pytest.approx(gap - 10.0)  # alpha = 1
        alpha_loss.backward()
        assert -log_alpha.grad.item() * direction > 0  # a gradient step moves alpha up (gap > tau) or down


def _train(method: str, steps: int = 600):
    """Offline SAC or CQL(H) on a toy dataset where every reward is 0 (so every action's true value is 0, with the
    temperature held near 0), the dataset's actions within [-0.1, 0.1] of a 6-D action space [-1, 1]^6."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    r = np.random.default_rng(0)
    n, a_dim = 256, 6
    obs = r.standard_normal((n, 4)).astype(np.float32)
    data = [torch.from_numpy(x) for x in (obs, r.uniform(-0.1, 0.1, (n, a_dim)).astype(np.float32),
                                          np.zeros(n, np.float32), np.roll(obs, -1, 0), np.zeros(n, np.float32))]
    cfg = CQLConfig(env_id="Pendulum-v1", method=method, hidden_units=64, batch_size=64, policy_lr=3e-3, q_lr=1e-3,
                    n_action_samples=4, gamma=0.95, lagrange=False, cql_alpha=1.0)
    learner = OfflineLearner(cfg, 4, a_dim, -np.ones(a_dim), np.ones(a_dim))
    learner.log_alpha.data.fill_(-20.0)  # alpha ~ 2e-9: the soft values are the plain values
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(0, n, 64))
        eps = torch.randn((2, 64, a_dim), generator=gen)
        gen_eps = (torch.randn((256, a_dim), generator=gen), torch.rand((256, a_dim), generator=gen))
        out = learner.update(*(x[idx] for x in data), eps[0], eps[1], gen_eps)
    return out  # pi_loss, q_loss, Q(s, a_D), Q(s, pi(s)), gap, alpha, alpha'


def test_offline_sac_overestimates_where_cql_does_not():
    sac, cql = _train("sac"), _train("cql_h")
    # offline SAC: its policy's actions (outside the data) valued above their true value 0 and above the data's
    assert sac[3] > 0 and sac[3] > sac[2]
    # CQL(H): the policy's actions valued below the true value (a lower bound, Theorem 3.2) and below SAC's
    assert cql[3] < -0.3 and cql[3] < sac[3]
    assert cql[4] < sac[4]  # the gap log sum exp Q - Q(s, a_D) pushed down


def test_sampled_actions_from_one_actor_pass_equal_a_pass_over_repeated_states():
    """The update's N policy actions per state come from one actor pass over the minibatch's states, not over each
    state repeated N times: the same actions and log-densities; Q at them and at the uniform actions (CQL(rho)
    leaves those out), and the gap against a hand-made log-sum-exp (eq. 4)."""
    torch.manual_seed(0)
    b, n, a_dim = 5, 3, 2
    cfg = CQLConfig(env_id="Pendulum-v1", hidden_units=16, batch_size=b, n_action_samples=n)
    learner = OfflineLearner(cfg, 4, a_dim, -2 * np.ones(a_dim), 2 * np.ones(a_dim))
    obs, act = torch.randn(b, 4), torch.rand(b, a_dim) * 4 - 2
    gen_eps = (torch.randn(b * n, a_dim), torch.rand(b * n, a_dim))
    a_unif, a_pi, logp_pi = learner.sampled_actions(*learner.actor.distribution(obs), gen_eps)
    obs_rep = obs.repeat_interleave(n, dim=0)
    a_ref, logp_ref = learner.actor(obs_rep, gen_eps[0])  # one pass over every repeated state
    assert torch.allclose(a_pi, a_ref, atol=1e-6) and torch.allclose(logp_pi, logp_ref, atol=1e-5)
    assert torch.equal(a_unif, -2 + 4 * gen_eps[1]) and not a_pi.requires_grad
    q_unif, q_pi = learner.sampled_q(obs, a_unif, a_pi)
    assert q_unif.shape == q_pi.shape == (2, b, n)
    assert torch.equal(q_unif, learner.q(obs_rep, a_unif).view(2, b, n))
    assert torch.allclose(q_pi, learner.q(obs_rep, a_ref).view(2, b, n), atol=1e-5)
    q_data = learner.q(obs, act)
    log_density = torch.cat([torch.full((b, n), -a_dim * math.log(4.0)), logp_ref.view(b, n)], dim=-1)
    expected = torch.logsumexp(torch.cat([q_unif, q_pi], -1) - log_density, -1).mean(-1) - q_data.mean(-1)
    assert torch.allclose(learner.gap(q_data, q_unif, q_pi, logp_pi), expected, atol=1e-5)
    learner.cfg = CQLConfig(env_id="Pendulum-v1", method="cql_rho", hidden_units=16, batch_size=b, n_action_samples=n)
    rho_unif, rho_pi = learner.sampled_q(obs, a_unif, a_pi)
    assert rho_unif is None and torch.equal(rho_pi, q_pi)


def test_bench_times_every_update_against_sacs_update(results_root):
    """`repro bench kumar2020_cql sanity` at tiny sizes: every update's rate (positive, finite), its time over SAC's
    update in the same round, the machine's load per round, saved to bench.json and shown by the report."""
    from common.analysis.report import _speed_markdown
    from common.platform.bench import format_bench, run_bench
    from papers.kumar2020_cql.bench import PEER, UPDATES, YARDSTICK

    r = run_bench(PAPER, "sanity", "cql_h", 2, rounds=2,
                  overrides={"hidden_units": 16, "batch_size": 8, "n_action_samples": 2})
    assert set(r["updates"]) - {PEER} == set(UPDATES) | {YARDSTICK} and r["rounds"] == 2 and r["threads"] == 1
    for name, u in r["updates"].items():
        for key in ("steps_per_s", "ms_per_update", "time_over_sac_update", "gflop_per_update"):
            assert math.isfinite(u[key]) and u[key] > 0, (name, key, u[key])
        lo, hi = u["steps_per_s_range"]
        assert lo <= u["steps_per_s"] <= hi and len(u["other_load"]) == 2
        assert all(0 <= x <= 1 for x in u["other_load"])
    assert r["updates"][YARDSTICK]["time_over_sac_update"] == 1.0
    assert len(r["runs"]) == 2 * len(r["updates"]) and "d3rlpy" in r["peer_note"]
    saved = json.loads((results_root / PAPER / "bench.json").read_text())
    key = "sanity/cql_h batch_size=8 hidden_units=16 n_action_samples=2"
    assert saved[key]["updates"]["cql_h"]["steps_per_s"] == r["updates"]["cql_h"]["steps_per_s"]
    lines = format_bench(r)
    assert all(any(line.strip().startswith(name) for line in lines) for name in r["updates"])
    md = _speed_markdown(results_root / PAPER)
    assert f"| cql_h_lagrange | {UPDATES['cql_h_lagrange'][0]} |" in md and "time / sac_online" in md


def test_profile_takes_cql_h_and_sacs_update_apart(results_root):
    """`repro bench kumar2020_cql sanity --profile` at tiny sizes: each update's ms, its matmul floor, FLOPs and the
    profiler's shares, which add up to 1."""
    from common.platform.bench import run_profile

    m = run_profile(PAPER, "sanity", "cql_h", save=False,
                    overrides={"hidden_units": 8, "batch_size": 4, "n_action_samples": 2})["measures"]
    for name in ("cql_h", "sac_online"):
        assert m[f"{name}_update_ms"] > m[f"{name}_matmul_floor_same_shapes_ms"] > 0 and m[f"{name}_update_gflop"] > 0
        shares = [v for k, v in m.items() if k.startswith(f"{name}_time_share_")]
        assert len(shares) == 4 and sum(shares) == pytest.approx(1.0) and all(0 <= x <= 1 for x in shares)
    assert m["cql_h_update_gflop"] > m["sac_online_update_gflop"]  # the sampled actions' Q passes
    assert not (results_root / PAPER / "profile.json").exists()


def test_bench_times_a_peer_in_the_same_rounds(results_root, monkeypatch):
    """Where the peer (d3rlpy's CQL) imports, it runs in every round; its time over CQL(H)'s is the median of the
    rounds' quotients. A stand-in peer here (d3rlpy is not a dependency)."""
    import papers.kumar2020_cql.bench as cql_bench
    from common.platform.bench import run_bench

    monkeypatch.setattr(cql_bench, "d3rlpy_update", lambda cfg, obs_dim, act_dim: (
        lambda batch: torch.zeros(4), lambda batch: batch))
    r = run_bench(PAPER, "sanity", "bc", 2, rounds=3, save=False,
                  overrides={"hidden_units": 8, "batch_size": 4, "n_action_samples": 2})
    ms = {name: [x["ms_per_update"] for x in r["runs"] if x["update"] == name] for name in (cql_bench.PEER, "cql_h")}
    ratios = [a / b for a, b in zip(ms[cql_bench.PEER], ms["cql_h"])]
    assert len(ratios) == 3 and r["peer_ratio"]["median"] == sorted(ratios)[1]
    assert r["peer_ratio"]["range"] == [min(ratios), max(ratios)] and r["peer_note"] == cql_bench.PEER_NOTE


# ---- runs ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["cql_h", "bc"])
def test_same_seed_same_metrics_and_resume_equals_uninterrupted(tmp_path, monkeypatch, variant):
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")
    small = (("gradient_steps", 60),)
    dirs = {name: execute_in(tmp_path / name, monkeypatch, PAPER, "sanity", "quick", variant, 0, small)
            for name in ("a", "b")}
    assert table_bytes(dirs["a"]) == table_bytes(dirs["b"])
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(PAPER, "sanity", "quick", variant, 0, small)
    run_with_crashes(spec, monkeypatch, (1, 2))
    assert RunRecord(spec.run_dir).read_json("provenance.json")["attempts"] == 3
    assert table_bytes(spec.run_dir) == table_bytes(dirs["a"])


def test_offline_sac_measuring_its_gap_less_often_trains_the_same(tmp_path, monkeypatch):
    """sac_gap_every_steps changes only the diagnostic gap (no gradient, no random draw): every other number of the
    run is the same bit for bit."""
    import pandas as pd

    small = (("gradient_steps", 60),)
    runs = {k: execute_in(tmp_path / f"k{k}", monkeypatch, PAPER, "sanity", "quick", "sac", 0,
                          small + (("sac_gap_every_steps", k),)) for k in (1, 5, 20)}
    evals = {k: pd.read_csv(d / "evaluations.csv.gz") for k, d in runs.items()}
    others = [c for c in evals[1].columns if c != "cql_gap"]
    for k in (5, 20):
        pd.testing.assert_frame_equal(evals[k][others], evals[1][others])
        assert np.isfinite(evals[k]["cql_gap"]).all() and not evals[k]["cql_gap"].equals(evals[1]["cql_gap"])
    with pytest.raises(ReproError, match="sac_gap_every_steps.*a divisor of eval_every_steps \\(20\\)"):
        execute_in(tmp_path / "k7", monkeypatch, PAPER, "sanity", "quick", "sac", 0, small + (("sac_gap_every_steps", 7),))


def test_a_missing_dataset_is_an_error_that_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path))
    from common.platform.runs import execute

    spec = RunSpec(PAPER, "table1", "paper", "Hopper-v5__medium__cql_h", 0, (("gradient_steps", 10), ("eval_every_steps", 10)))
    with pytest.raises(Exception, match="python -m common.offline.build"):
        execute(spec, show_progress=False)


# ---- the tutorial's statistics (papers/levine2020_offline) -------------------------------------------------------
def test_discounted_returns_to_go_and_first_rows_hand_values():
    from papers.kumar2020_cql.cql import discounted_returns_to_go, first_rows

    z = np.zeros((5, 1), np.float32)
    ds = Dataset(z, z, np.array([1, 2, 3, 4, 5], np.float32), z, np.array([False, True, False, False, False]),
                 np.array([False, False, False, True, False]))
    # episode 1: rows 0-1 (terminal), episode 2: rows 2-3 (time-out), row 4: an episode still running
    np.testing.assert_allclose(discounted_returns_to_go(ds, 0.5), [1 + 0.5 * 2, 2, 3 + 0.5 * 4, 4, 5])
    part = first_rows(ds, 3)
    assert len(part) == 3 and part.timeouts[-1] and part.cut_at_end and not part.terminals[-1]
    assert episode_returns(part).tolist() == [3.0]  # the cut episode is left out


def test_tutorial_statistics_hand_values():
    import pandas as pd

    from common.analysis.claims import Claim
    from papers.levine2020_offline.analysis import final_over_best_values, q_over_data_values

    ev = pd.DataFrame({"variant": ["medium__sac"] * 3 + ["medium__bc"] * 3, "seed": 0,
                       "grad_step": [1, 2, 3] * 2, "eval_return": [100.0, 400.0, 100.0, 50.0, 60.0, 60.0],
                       "q_pi_mean": [10.0, 500.0, 900.0] + [np.nan] * 3})
    ds = pd.DataFrame({"variant": ["medium__sac", "medium__bc"], "seed": 0, "discounted_return_mean": [300.0, 300.0]})
    data = type("Data", (), {"tables": {"evaluations": ev, "dataset": ds}})()
    claim = lambda v: Claim("c", "shift", {}, "", "", {"custom": "q_over_data", "variant": v}, {})  # noqa: E731
    assert q_over_data_values(claim("medium__sac"), {"shift": data}).tolist() == [3.0]  # 900 / 300
    assert q_over_data_values(claim("medium__bc"), {"shift": data}).tolist() == []  # no Q-function
    assert final_over_best_values(claim("medium__sac"), {"shift": data}) == pytest.approx([200 / 400])
    assert final_over_best_values(claim("medium__bc"), {"shift": data}) == pytest.approx([(170 / 3) / 60])


def test_a_runs_course_hand_values():
    """The summaries' course columns: the best evaluation and its step (the earliest of ties), and CQL's smallest
    α′, its step and its last value; NaN for a run without the regularizer."""
    import pandas as pd

    from common.offline import course as c

    cql = pd.DataFrame({"grad_step": [3000, 1000, 2000, 4000], "eval_return": [50.0, 10.0, 200.0, 200.0],
                        "cql_alpha": [0.5, 1.0, 0.014, 0.7]})
    assert c.course(cql) == {c.BEST: 200.0, c.BEST_AT: 2000, c.ALPHA_MIN: 0.014, c.ALPHA_MIN_AT: 2000,
                             c.ALPHA_LAST: 0.7}
    bc = pd.DataFrame({"grad_step": [1000, 2000], "eval_return": [5.0, 3.0], "cql_alpha": [np.nan, np.nan]})
    out = c.course(bc)
    assert (out[c.BEST], out[c.BEST_AT]) == (5.0, 1000)
    assert all(math.isnan(out[k]) for k in (c.ALPHA_MIN, c.ALPHA_MIN_AT, c.ALPHA_LAST))

def test_keeping_freed_memory_changes_no_number(tmp_path):
    """`run_cql` sets glibc's malloc to keep freed memory (common/platform/memory.py): CQL(H) updates at the paper's
    sizes (batch 256, 256-unit layers, 10 sampled actions of each kind per state: activations of 5,120 rows) on the
    quick budget's tiny dataset write the same tables, bit for bit, as in a process where the call does nothing
    (torch's kernels read the same numbers wherever malloc puts them)."""
    from conftest import same_bytes_with_and_without_kept_memory

    paper_sizes = (("batch_size", 256), ("gradient_steps", 20), ("hidden_units", 256), ("n_action_samples", 10))
    same_bytes_with_and_without_kept_memory(tmp_path, "papers.kumar2020_cql.cql", PAPER, "table1",
                                            "Hopper-v5__medium__cql_h", paper_sizes)


def test_a_run_records_the_checksums_of_the_dataset_it_read(tmp_path, monkeypatch):
    """provenance.json's `inputs` names the stored dataset's files by the checksums checked when it was loaded; the
    INPUTS file that keeps them while the run runs goes at the end (DONE does not vouch for it)."""
    from common.offline.datasets import save_dataset

    folder = save_dataset(_tiny_hopper(), "Hopper-v5", "random", {"kind": "random"}, None, tmp_path / "data")
    doc = json.loads((folder / "dataset.json").read_text())
    overrides = (("dataset_root", str(tmp_path / "data")), ("tiny_dataset_transitions", 0))
    run = execute_in(tmp_path / "results", monkeypatch, PAPER, "table1", "quick", "Hopper-v5__random__bc", 0, overrides)
    entry = RunRecord(run).read_json("provenance.json")["inputs"]["dataset"]
    assert entry["env_id"] == "Hopper-v5" and entry["kind"] == "random"
    assert entry["sha256"] == {name: f["sha256"] for name, f in doc["files"].items()} and len(entry["sha256"]) == 3
    assert not (run / "INPUTS").exists() and RunRecord(run).is_complete()
    assert entry["record"] == str(folder.resolve() / "dataset.json")  # outside the results folder: absolute
    # the dataset rebuilt since on other bytes: `repro verify` names the run and the file, nothing is changed
    from common.platform.verify import verify

    out = io.StringIO()
    assert verify(tmp_path / "results", PAPER, out=out) == 0
    changed = json.loads((folder / "dataset.json").read_text())
    changed["files"]["data/main_data.hdf5"]["sha256"] = "0" * 64
    (folder / "dataset.json").write_text(json.dumps(changed))
    assert verify(tmp_path / "results", PAPER, out=out) == 1 and RunRecord(run).is_complete()
    assert (f"changed input {run}: inputs: dataset was read with other checksums than its record "
            f"{folder.resolve() / 'dataset.json'} holds now (data/main_data.hdf5): rebuilt since the run") in out.getvalue()
    assert "1 finished run records under" in out.getvalue().splitlines()[-1]
    assert out.getvalue().splitlines()[-1].endswith("0 intact, 0 damaged, 1 made on an input rebuilt since")
    # a dataset under the results folder (the usual place) is named relative to it
    save_dataset(_tiny_hopper(), "Hopper-v5", "random", {"kind": "random"}, None, tmp_path / "usual")
    usual = execute_in(tmp_path / "usual", monkeypatch, PAPER, "table1", "quick", "Hopper-v5__random__bc", 0,
                       (("tiny_dataset_transitions", 0),))
    entry = RunRecord(usual).read_json("provenance.json")["inputs"]["dataset"]
    assert entry["record"] == "datasets/Hopper-v5/random-v0/dataset.json"
    assert verify(tmp_path / "usual", PAPER, out=out) == 0
    # a run that needs no stored dataset records none
    tiny = execute_in(tmp_path / "tiny", monkeypatch, PAPER, "sanity", "quick", "bc", 0)
    assert RunRecord(tiny).read_json("provenance.json")["inputs"] == {}


def test_a_resumed_attempt_that_read_other_dataset_bytes_is_an_error(tmp_path):
    from common.platform.records import RunContext

    record = RunRecord(tmp_path / "run")
    first = {"env_id": "Hopper-v5", "kind": "medium", "label": "x", "sha256": {"a.hdf5": "1" * 64}}
    RunContext(record).record_input("dataset", first)
    resumed = RunContext(record)  # the next attempt, after a kill: the same bytes are fine
    resumed.record_input("dataset", first)
    assert resumed.inputs == {"dataset": first}
    with pytest.raises(ReproError, match="read dataset with other checksums than the attempt it resumes"):
        RunContext(record).record_input("dataset", {**first, "sha256": {"a.hdf5": "2" * 64}})
