"""Build one D4RL-style dataset and record it (common/offline/datasets.py):

    python -m common.offline.build ENV_ID random [--transitions N] [--seed S]
    python -m common.offline.build ENV_ID medium --agent-run RUN_DIR --step N     # the snapshot at env step N
    python -m common.offline.build ENV_ID medium --agent-run RUN_DIR --step auto  # the snapshot nearest 1/3 of
                                                                                  # the run's final evaluations
    python -m common.offline.build ENV_ID expert --agent-run RUN_DIR              # the run's final agent
    python -m common.offline.build ENV_ID medium-replay --agent-run RUN_DIR --step N   # its replay up to step N
    python -m common.offline.build ENV_ID medium-expert                           # medium + expert, built before
    python -m common.offline.build ... --restore   # put back a recorded dataset's data files (a fresh clone lacks
                                                   # them): built as asked, kept only if their checksums equal the
                                                   # record's, which is left as it is

`--root DIR` writes under DIR/datasets/ (default: $REPRO_RESULTS or results/): the Minari dataset `ENV_ID/KIND-v0`
(common/offline/datasets.py). Prints the record's statistics, and its episodes and mean episode length beside D4RL's
published ones for the same task and kind (v0, v1, v2; common/offline/d4rl.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from common.offline.d4rl import D4RL_VERSIONS, NOT_PUBLISHED
from common.offline.datasets import (D4RL_SIZES, KINDS, agent_policy, collect, concatenate, from_replay,
                                     load_dataset, medium_step, save_dataset, uniform_policy)
from common.platform import kernels
from common.platform.errors import ReproError


def build(env_id: str, kind: str, transitions: int | None = None, seed: int = 0, agent_run: str | None = None,
          step: int | str | None = None, root=None, sources_root=None):
    """Build and record one dataset; returns its folder. Bad input is an error before any work. medium-expert joins
    the medium and expert datasets under `sources_root` (default: `root`, where it is recorded)."""
    from common.rl.envs import MUJOCO_V5, CLASSIC, make_env

    if kind not in KINDS:
        raise ReproError(f"unknown dataset kind '{kind}'; valid: {', '.join(KINDS)}")
    if env_id not in MUJOCO_V5 + CLASSIC:
        raise ReproError(f"unknown environment '{env_id}'; valid: {', '.join(MUJOCO_V5 + CLASSIC)}")
    needs_run = kind in ("medium", "expert", "medium-replay")
    if needs_run != (agent_run is not None):
        raise ReproError(f"{kind}: " + ("--agent-run (a SAC run folder with a saved agent) is required" if needs_run
                                        else "takes no --agent-run"))
    if kind in ("medium", "medium-replay") and step is None:
        raise ReproError(f"{kind}: --step (the env step of the medium snapshot) is required")
    chosen = None
    if step == "auto" and kind in ("medium", "medium-replay"):
        step, chosen = medium_step(agent_run)
    elif step is not None:
        step = int(step)
    n = transitions or D4RL_SIZES.get(kind)
    config = {"env_id": env_id, "kind": kind, "seed": seed, "transitions": n, "agent_run": agent_run, "step": step,
              "medium_choice": chosen}
    if kind == "random":
        env = make_env(env_id, seed)
        low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
        ds, source = collect(env_id, uniform_policy(low, high), n, seed), {"policy": "uniform actions"}
    elif kind in ("medium", "expert"):
        policy, source = agent_policy(agent_run, step if kind == "medium" else None)
        if source["env_id"] != env_id:
            raise ReproError(f"{agent_run} trained on {source['env_id']}, not {env_id}")
        ds = collect(env_id, policy, n, seed)
    elif kind == "medium-replay":
        ds, source = from_replay(agent_run, step)
        config["transitions"] = len(ds)
    else:
        medium, medium_doc = load_dataset(env_id, "medium", sources_root or root)
        expert, expert_doc = load_dataset(env_id, "expert", sources_root or root)
        ds = concatenate(medium, expert)
        ds.cut_at_end = expert.cut_at_end
        source = {"medium": medium_doc["files"], "expert": expert_doc["files"]}
        config["transitions"] = len(ds)
    return save_dataset(ds, env_id, kind, config, source, root)


def restore(env_id: str, kind: str, root=None, **how) -> Path:
    """Put back the data files of a recorded dataset whose record (dataset.json, committed) is present: build it as
    `how` says (build's arguments) into a scratch folder and move its data files beside the record only if each
    file's SHA-256 equals the record's; the record is not rewritten, so how the dataset was first built stays
    recorded. A build that differs is an error naming the files, and nothing under `root` changes. medium-expert
    joins the medium and expert datasets recorded under `root` (restored first: their loading checks their
    checksums)."""
    import shutil
    import tempfile

    from common.offline.datasets import dataset_dir
    from common.platform.runs import results_root

    results = Path(root or results_root())  # where the record lies, and medium-expert's inputs
    folder = dataset_dir(env_id, kind, results)
    if not (folder / "dataset.json").is_file():
        raise ReproError(f"--restore: {folder / 'dataset.json'} does not exist; build the dataset without --restore")
    recorded = json.loads((folder / "dataset.json").read_text())["files"]
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        built = build(env_id, kind, root=scratch, sources_root=results, **how)
        files = json.loads((built / "dataset.json").read_text())["files"]
        differ = sorted(n for n in set(recorded) | set(files)
                        if (recorded.get(n) or {}).get("sha256") != (files.get(n) or {}).get("sha256"))
        if differ:
            raise ReproError(f"--restore: the build's {', '.join(differ)} differ from the checksums in "
                             f"{folder / 'dataset.json'}; nothing was changed (valid: the inputs the record names)")
        for name in sorted(files):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(built / name), str(folder / name))
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m common.offline.build", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--transitions", type=int, default=None, help="rows (default: D4RL's size of the kind)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--agent-run", default=None)
    p.add_argument("--step", default=None, help="env step of the medium snapshot, or auto")
    p.add_argument("--root", default=None)
    p.add_argument("--restore", action="store_true",
                   help="put back a recorded dataset's data files, kept only if their checksums equal the record's")
    a = p.parse_args(argv)
    try:
        kernels.check()  # the kernels the record's bytes rely on (common/platform/kernels.py), before any work
        how = dict(transitions=a.transitions, seed=a.seed, agent_run=a.agent_run, step=a.step)
        folder = restore(a.env_id, a.kind, a.root, **how) if a.restore else build(a.env_id, a.kind, root=a.root, **how)
    except ReproError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    doc = json.loads((folder / "dataset.json").read_text())
    print(folder)
    print(json.dumps({"config": doc["config"], "statistics": doc["statistics"]}, indent=2))
    print("\n".join(side_by_side(doc["statistics"])))
    return 0


def side_by_side(stats: dict) -> list[str]:
    """This dataset's episodes and transitions per episode beside D4RL's published ones, one line each."""
    def number(x, fmt):
        return format(x, fmt) if isinstance(x, (int, float)) else x

    lines = [f"{'':<28}{'episodes':>14}{'transitions':>14}{'transitions / episode':>24}",
             f"{'this dataset':<28}{stats['episodes']:>14,}{stats['transitions']:>14,}"
             f"{stats['transitions_per_episode']:>24,.1f}"]
    published = stats["d4rl_published"]
    for version in D4RL_VERSIONS:
        d = published[version]
        lines.append(f"{'D4RL ' + d['dataset'] if d['dataset'] != NOT_PUBLISHED else 'D4RL ' + version:<28}"
                     f"{number(d['episodes'], ','):>14}{number(d['transitions'], ','):>14}"
                     f"{number(d['transitions_per_episode'], ',.1f'):>24}")
    lines.append(f"(episodes here: complete ones; transitions / episode counts a cut last one too. D4RL: "
                 f"{published['source']}; its transitions are its nominal sizes)")
    return lines


if __name__ == "__main__":
    sys.exit(main())
