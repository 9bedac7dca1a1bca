"""The offline datasets' committed records (common/offline/datasets.py: dataset.json, tracked by git while the data
files stay ignored): a record without its data files (a fresh clone) is a missing dataset, found before any run
folder is made; the reports' "Datasets" section (common/offline/report.py) is generated from the records alone."""
import math
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from common.offline.datasets import Dataset, load_dataset, missing_dataset, save_dataset, stored_datasets
from common.platform.cli import main
from common.platform.errors import ReproError
from conftest import REPO

HOPPER_RANDOM, HOPPER_EXPERT = -20.272305, 3234.3  # D4RL's reference returns of hopper (d4rl/infos.py)
MEDIUM_CONFIG = {"env_id": "Hopper-v5", "kind": "medium", "seed": 0, "transitions": 6, "agent_run": "results/sac_run",
                 "step": 500, "medium_choice": {"expert_return": 30.0, "target_return": 10.0,
                                                "snapshot_eval_returns": {"500": 9.0, "1000": 20.0}}}


def _dataset(rewards, terminals, timeouts, cut_at_end: bool) -> Dataset:
    """A Hopper-v5 dataset of zero observations and actions (so every row continues its episode's observations)."""
    n = len(rewards)
    z = np.zeros((n, 11), np.float32)
    ds = Dataset(z, np.zeros((n, 3), np.float32), np.array(rewards, np.float32), z.copy(),
                 np.array(terminals, bool), np.array(timeouts, bool))
    ds.cut_at_end = cut_at_end
    return ds


def _save_two(root):
    """medium: episodes rows 0-1 (terminal, return 1 + 2 = 3), rows 2-4 (terminal, 3 + 4 + 5 = 12) and row 5, cut
    by the dataset's size (left out of the returns); random: four one-row episodes of return 1."""
    medium = _dataset([1, 2, 3, 4, 5, 6], [0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1], cut_at_end=True)
    save_dataset(medium, "Hopper-v5", "medium", MEDIUM_CONFIG, {"policy": "a snapshot"}, root)
    random = _dataset([1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], cut_at_end=False)
    save_dataset(random, "Hopper-v5", "random", {"env_id": "Hopper-v5", "kind": "random", "seed": 0,
                                                 "transitions": 4}, {"policy": "uniform actions"}, root)


def test_the_records_are_tracked_and_the_data_files_ignored():
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0

    for kind in ("Hopper-v5/medium-v0", "CartPole-v1/gail-expert"):
        assert not ignored(f"results/datasets/{kind}/dataset.json")
    for data in ("Hopper-v5/medium-v0/data/main_data.hdf5", "Hopper-v5/medium-v0/data/metadata.json",
                 "Hopper-v5/medium-v0/episode_offsets.npz", "CartPole-v1/gail-expert/dataset.npz"):
        assert ignored(f"results/datasets/{data}")


def test_the_datasets_section_from_two_records(results_root):
    from common.platform.registry import get_paper
    from common.analysis.report import report_paper

    _save_two(results_root)
    gail = _dataset([1, 1], [0, 1], [0, 0], cut_at_end=False)  # GAIL's kind: not a D4RL-style row
    save_dataset(gail, "Hopper-v5", "gail-expert", {"env_id": "Hopper-v5"}, None, results_root)
    report_paper(get_paper("kumar2020_cql"))
    out = results_root / "kumar2020_cql"
    table = pd.read_csv(out / "summaries" / "datasets.csv", keep_default_na=False)
    assert table["dataset"].tolist() == ["Hopper-v5/random-v0", "Hopper-v5/medium-v0"]  # KINDS order
    random, medium = table.to_dict("records")
    # random: 4 rows, 4 episodes of return 1
    assert (random["episodes"], random["transitions"], random["transitions per episode"]) == (4, 4, 1)
    assert (random["return mean"], random["return sd"], random["return min"], random["return max"]) == (1, 0, 1, 1)
    assert random["D4RL-normalized return mean"] == pytest.approx(100 * (1 + 20.272305) / (3234.3 + 20.272305))
    assert random["D4RL v0 episodes"] == 8793 and float(random["D4RL v0 transitions per episode"]) == \
        pytest.approx(1e6 / 8793)
    assert random["snapshot step (env steps)"] == "" and random["return mean / expert's"] == ""
    # medium: returns 3 and 12 (the cut episode left out); 6 rows over 3 episodes
    assert (medium["episodes"], medium["transitions"], medium["transitions per episode"]) == (2, 6, 2)
    assert medium["return mean"] == 7.5 and medium["return median"] == 7.5
    assert medium["return sd"] == pytest.approx(math.sqrt(((3 - 7.5) ** 2 + (12 - 7.5) ** 2) / 1))
    assert (medium["return min"], medium["return max"]) == (3, 12)
    assert medium["D4RL-normalized return mean"] == pytest.approx(100 * (7.5 - HOPPER_RANDOM) / (HOPPER_EXPERT -
                                                                                                 HOPPER_RANDOM))
    assert medium["D4RL v2 episodes"] == 2187
    chosen = ("snapshot step (env steps)", "snapshot evaluation return", "target return (1/3 of the expert's)",
              "expert final evaluation return", "return mean / expert's")  # blank in the random row: strings
    assert [float(medium[c]) for c in chosen] == [500, 9, 10, 30, pytest.approx(7.5 / 30)]
    assert medium["data"] == "locally generated dataset (gymnasium v5; this repository's SAC policy, a snapshot)"
    readme = (out / "README.md").read_text()
    section = readme[readme.index("## Datasets"):readme.index("## Speed")]
    assert ("| Hopper-v5/medium-v0 | locally generated dataset (gymnasium v5; this repository's SAC policy, a "
            "snapshot) | 0 | 2 | 6 | 2 | 7.5 | 6.364 | 7.5 | 3 | 12 | 0.8533 | 3,064 (326.4) | 6,328 (158.0) | "
            "2,187 (457.2) |") in section
    assert "| Hopper-v5/medium-v0 | 500 | 9 | 10 | 30 | 0.25 |" in section
    assert "gail-expert" not in section and "Hopper-v5/random-v0 | 500" not in section
    # the records alone make the section: without the data files (a fresh clone) it is the same
    for folder in (results_root / "datasets" / "Hopper-v5").iterdir():
        shutil.rmtree(folder / "data", ignore_errors=True)
    report_paper(get_paper("levine2020_offline"))
    levine = (results_root / "levine2020_offline" / "README.md").read_text()
    assert section in levine
    assert (results_root / "levine2020_offline" / "summaries" / "datasets.csv").read_bytes() == \
        (out / "summaries" / "datasets.csv").read_bytes()


def test_report_without_datasets_says_so(results_root, capsys):
    results_root.mkdir(parents=True)  # a results folder with no dataset and no run
    assert main(["report", "levine2020_offline"]) == 0
    readme = (results_root / "levine2020_offline" / "README.md").read_text()
    section = readme[readme.index("## Datasets"):readme.index("## Speed")]
    assert "No dataset recorded (no `datasets/<env>/<kind>-v0/dataset.json` in the results folder)" in section
    assert "|" not in section and str(results_root) not in section  # the same text wherever the folder lies
    assert not (results_root / "levine2020_offline" / "summaries" / "datasets.csv").exists()


@pytest.mark.parametrize("args", [
    ["run", "kumar2020_cql", "table1", "--variant", "Hopper-v5__medium__cql_h", "--budget", "reduced"],
    ["sweep", "kumar2020_cql", "table1", "--budget", "reduced", "--variant", "Hopper-v5__medium__cql_h", "--dry-run"],
])
def test_a_record_without_its_data_files_is_a_missing_dataset(results_root, capsys, args):
    """A fresh clone: the committed dataset.json is there, its data files are not. `repro run` and `repro sweep
    --dry-run` stop before any run folder is made, naming the absent files and the command that rebuilds them as
    recorded; loading it is the checksum error it always was."""
    _save_two(results_root)
    folder = results_root / "datasets" / "Hopper-v5" / "medium-v0"
    shutil.rmtree(folder / "data")
    (folder / "episode_offsets.npz").unlink()
    before = sorted(results_root.rglob("*"))
    status = main(args)
    err = capsys.readouterr().err
    assert status == 2, err
    assert (f"no medium dataset of Hopper-v5: its record {folder / 'dataset.json'} exists but its data files do not "
            "(data/main_data.hdf5, data/metadata.json, episode_offsets.npz: git-ignored, so a fresh clone lacks them); "
            "rebuild them as recorded with `python -m common.offline.build Hopper-v5 medium --transitions 6 "
            "--agent-run results/sac_run --step auto`") in err, err
    assert f"datasets under {results_root / 'datasets'}: Hopper-v5/random (needed by" in err  # the stored one only
    assert "nothing was run or submitted" in err and "Traceback" not in err
    assert sorted(results_root.rglob("*")) == before and not (results_root / "kumar2020_cql").exists()
    assert stored_datasets(results_root) == ["Hopper-v5/random"]
    assert missing_dataset("Hopper-v5", "random", results_root) is None
    with pytest.raises(ReproError, match=f"{folder / 'data/metadata.json'} is missing; build it again "
                                         r"\(`python -m common.offline.build Hopper-v5 medium --transitions 6"):
        load_dataset("Hopper-v5", "medium", results_root)


def test_a_gail_record_without_its_data_file_stops_before_the_run(results_root, capsys):
    from papers.ho2016_gail.gail_config import GAILConfig, check_inputs

    expert = _dataset([1, 1, 1], [0, 0, 0], [0, 0, 1], cut_at_end=False)
    config = {"env_id": "CartPole-v1", "trajectories": 10, "seed": 0, "max_episode_steps": 200,
              "expert_run": "results/expert"}
    folder = save_dataset(expert, "CartPole-v1", "gail-expert", config, None, results_root)
    assert check_inputs(GAILConfig(trajectories=1, max_episode_steps=200)) is None
    (folder / "dataset.npz").unlink()
    message = ("the expert dataset of CartPole-v1: its record {} exists but its data file does not (dataset.npz: "
               "git-ignored, so a fresh clone lacks it); rebuild it as recorded with `python -m "
               "papers.ho2016_gail.datasets CartPole-v1 --trajectories 10 --seed 0 --expert-run results/expert`")
    assert check_inputs(GAILConfig(trajectories=1, max_episode_steps=200)).startswith(
        message.format(folder / "dataset.json"))
    status = main(["run", "ho2016_gail", "table2_classic", "--variant", "CartPole-v1__gail__traj1", "--budget",
                   "quick"])
    assert status == 2 and message.format(folder / "dataset.json") in capsys.readouterr().err
    assert not (results_root / "ho2016_gail").exists()
