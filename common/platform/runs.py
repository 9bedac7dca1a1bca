"""Run specs, config resolution and execution of one run (any launcher calls `execute`)."""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from omegaconf import OmegaConf

from common import REPO_ROOT
from common.platform import live
from common.platform.config import digest, merge, to_dict, to_yaml
from common.platform import kernels, threads
from common.platform.device import determinism, device_name
from common.platform.errors import ReproError
from common.platform.finite import NonFiniteError, RunFailure, check_tables
from common.platform.records import RunContext, RunRecord, git_state, machine, now, package_versions
from common.platform.registry import Experiment, get_paper, papers
from common.platform.validate import ConfigValueError, env_setting


def results_root() -> Path:
    """Where run records live: results/ of the repository, or $REPRO_RESULTS (tests use a temporary folder)."""
    return Path(os.environ.get("REPRO_RESULTS") or REPO_ROOT / "results")


@dataclass(frozen=True)
class RunSpec:
    paper: str
    experiment: str
    budget: str
    variant: str
    seed: int
    overrides: tuple = field(default_factory=tuple)  # ((key, value), ...) from the command line
    root: str = ""

    @property
    def budget_label(self) -> str:
        """`paper`/`quick`, or `<budget>-custom-<hash>` when command-line overrides change the config."""
        return self.budget if not self.overrides else f"{self.budget}-custom-{digest(dict(self.overrides))}"

    @property
    def results_root(self) -> Path:
        return Path(self.root) if self.root else results_root()

    @property
    def run_dir(self) -> Path:
        return self.results_root / self.paper / "runs" / self.experiment / self.budget_label / self.variant / \
            f"seed_{self.seed}"

    @property
    def set_aside_dir(self) -> Path:
        """Where a sweep moves this run's damaged record before running it again (never deleted)."""
        return self.results_root / self.paper / "damaged" / self.experiment / self.budget_label / self.variant

    @property
    def label(self) -> str:
        return f"{self.paper}/{self.experiment}/{self.budget_label}/{self.variant}/seed_{self.seed}"

    def experiment_obj(self) -> Experiment:
        return get_paper(self.paper).experiment(self.experiment)

    def to_json(self) -> dict:
        d = asdict(self)
        d["overrides"] = [list(kv) for kv in self.overrides]
        return d


def seed_of_run(folder: Path) -> int | None:
    """The seed of a run folder named seed_<N>, as `RunSpec.run_dir` names it (None: another layout, such as a run
    that packs several seeds)."""
    digits = Path(folder).name.removeprefix("seed_")
    return int(digits) if Path(folder).name.startswith("seed_") and digits.isdigit() else None


def resolve(spec: RunSpec):
    """The run's config: its layers merged onto the runner's dataclass (keys and types checked), then its values
    checked by the runner's `validate` (ranges, names, lengths); errors name the layer that set the bad value."""
    exp = spec.experiment_obj()
    layers = [
        ("experiments.yaml config", exp.config),
        (f"budget '{spec.budget}'", exp.budget(spec.budget).get("config") or {}),
        (f"variant '{spec.variant}'", exp.variant(spec.variant)),
        ("command line", dict(spec.overrides)),
        ("seed", {"seed": spec.seed}),
    ]
    where = f"{spec.paper}/{spec.experiment}"
    cfg = merge(exp.runner.schema, layers, where=where)
    if exp.runner.validate is not None:
        try:
            exp.runner.validate(cfg)
        except ConfigValueError as exc:
            source = next((name for name, values in reversed(layers) if values and exc.key in values),
                          f"the default of {exp.runner.schema.__name__}")
            raise ReproError(f"{where}, variant '{spec.variant}': {exc.text(source)}") from None
    return cfg


def still_to_run(specs: list[RunSpec]) -> tuple[list[RunSpec], list[RunSpec]]:
    """(`diverged`, `to_run`): the runs whose training went non-finite (recorded outcomes, never run again by any
    launcher: RunRecord.diverge), and those neither complete nor diverged, in `specs`' order."""
    diverged = [s for s in specs if RunRecord(s.run_dir).divergence() is not None]
    return diverged, [s for s in specs if not RunRecord(s.run_dir).is_complete() and s not in diverged]


def check_inputs(specs: list[RunSpec]) -> None:
    """What the runs still to be made read besides their configs (their runner's `inputs`, such as a stored dataset)
    is there, checked before any of them starts or is submitted: otherwise one error (exit status 2) naming each
    missing input once, where it was looked for and how to make it, and the runs that need it. Complete runs are
    left out (a sweep skips them); views (show, report, status) never call this."""
    missing: dict[str, list[str]] = {}
    seen = set()
    for spec in specs:
        exp = spec.experiment_obj()
        key = (spec.paper, spec.experiment, spec.budget, spec.variant, spec.overrides, spec.root)
        if exp.runner.inputs is None or key in seen or RunRecord(spec.run_dir).is_complete():
            continue
        seen.add(key)
        problem = exp.runner.inputs(resolve(spec))
        if problem:
            missing.setdefault(problem, []).append(f"{spec.paper}/{spec.experiment}/{spec.variant}")
    if missing:
        def runs(names: list[str]) -> str:
            return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

        problems = list(missing.items())
        shown = [f"{problem} (needed by {runs(names)})" for problem, names in problems[:3]]
        if len(problems) > 3:  # the rest named by the runs that need them: their message comes once these are made
            rest = [name for _, names in problems[3:] for name in names]
            shown.append(f"and {len(problems) - 3} more missing inputs, needed by {runs(rest)}")
        raise ReproError("; ".join(shown) + "; nothing was run or submitted")


def differing_settings(spec: RunSpec) -> str:
    """'settings that differ from the paper budget: lr=10.0 (paper budget: 0.0003), ...': the command line's
    overrides first, then what the run's budget changes (the seed and the variant are the run's own)."""
    exp = spec.experiment_obj()
    if "paper" not in exp.budgets:
        return "settings that differ from the paper budget: (this experiment has no paper budget)"
    mine = to_dict(resolve(spec))
    paper = to_dict(resolve(replace(spec, budget="paper", overrides=())))
    keys = [k for k, _ in spec.overrides] + sorted(k for k in mine if k not in dict(spec.overrides))
    diffs = [f"{k}={mine[k]} (paper budget: {paper.get(k)})" for k in keys if k != "seed" and mine[k] != paper.get(k)]
    return "settings that differ from the paper budget: " + (", ".join(diffs) if diffs else "none")


def plan(paper: str, experiment: str, budget: str, seeds: int | None = None, overrides: dict | None = None,
         variants: list[str] | None = None, root: str = "", check: bool = True) -> list[RunSpec]:
    """Every run of one experiment at one budget; configs are resolved here so bad input fails before any work
    (`check=False`: not resolved, for views that only read run folders, such as `repro status` and `repro list`)."""
    exp = get_paper(paper).experiment(experiment)
    n_seeds = exp.seeds(budget) if seeds is None else int(seeds)
    if n_seeds < 1:
        raise ReproError(f"--seeds must be at least 1, got {n_seeds}")
    names = list(exp.variants) if not variants else [v for v in variants]
    for v in names:
        exp.variant(v)
    ov = tuple(sorted((overrides or {}).items()))
    specs = [RunSpec(paper, exp.run_experiment, budget, v, s, ov, root) for v in names for s in range(n_seeds)]
    # every spec's config, resolved and validated: one per variant, since the seed (0 .. n_seeds - 1, valid by
    # construction) is the only layer that differs between a variant's specs
    for spec in specs[::n_seeds] if check else ():
        resolve(spec)
    return specs


def identical_run(spec: RunSpec, exp: Experiment, config_yaml: str) -> RunRecord | None:
    """A complete run recorded under another experiment (of any paper) that made what `spec` would: the same runner,
    its config equal byte for byte (seed included) and its record deterministic (the same seed, config and thread
    counts give identical metrics: common/platform/device.py). Copies are not sources. None when there is none."""
    root = spec.results_root
    for paper in papers().values():
        for other in paper.experiments.values():
            if other.runs_of or other.runner is not exp.runner:
                continue
            for config in sorted((root / paper.name / "runs" / other.name).glob(f"*/*/seed_{spec.seed}/config.yaml")):
                if config.parent == spec.run_dir or config.read_text() != config_yaml:
                    continue
                record = RunRecord(config.parent)
                provenance = record.read_json("provenance.json") or {}
                if record.is_complete() and provenance.get("deterministic") is True \
                        and "reused_from" not in provenance:
                    return record
    return None


def copy_identical_run(source: RunRecord, record: RunRecord, spec: RunSpec, exp: Experiment) -> None:
    """`record` becomes a copy of `source` (config, attempts, tables, agent files): its provenance is the source's
    (commit, machine, times, threads: what made the numbers), with this run's spec and environment label, and
    `reused_from` naming the source run and when it was copied; then DONE vouches for the copied files."""
    for f in sorted(source.path.iterdir()):
        if f.is_file() and f.name not in ("DONE", "provenance.json") and not f.name.startswith("."):
            shutil.copy2(f, record.path / f.name)
    provenance = source.read_json("provenance.json")
    provenance["reused_from"] = {"run": str(source.path.relative_to(spec.results_root)), "spec": provenance["spec"],
                                 "copied": now(), "why": "the same runner and config (seed included), deterministic"}
    provenance.update(spec=spec.to_json(), env_version=exp.env_version)
    record.finish(provenance)


def checkpoint_interval_s() -> float:
    return env_setting("REPRO_CHECKPOINT_EVERY_S", 60.0)


def execute(spec: RunSpec, launcher: str = "local", show_progress: bool = True) -> str:
    """Run `spec` to completion, resuming from its checkpoint if one exists. Returns 'skipped', 'diverged' (its
    training went non-finite before: a recorded outcome, RunRecord.diverge, not run again) or 'done'. A damaged
    record (files that no longer match DONE's checksums) is moved aside first, then the run is made again. A fresh
    run whose computation another experiment recorded already (`identical_run`) is copied from it, not made again. Any
    failure, including while writing the final record, marks the run FAILED (and DIVERGED where training went
    non-finite) and is raised. BLAS computes with
    REPRO_BLAS_THREADS threads, 1 unless set (common/platform/threads.py), whichever launcher calls this."""
    threads.limit_blas()  # a bad REPRO_BLAS_THREADS is an error here, before any run folder is made
    kernels.check()  # so is numpy or torch on other kernels than REPRO_KERNELS's (common/platform/kernels.py)
    exp = spec.experiment_obj()
    cfg = resolve(spec)
    record = RunRecord(spec.run_dir)
    if record.is_complete():
        return "skipped"
    if record.divergence() is not None:  # a recorded outcome: the same code diverges the same way
        return "diverged"
    with record.lock():
        if record.is_complete():
            return "skipped"
        if record.divergence() is not None:
            return "diverged"
        if record.is_damaged():
            problems = "; ".join(record.damage())
            moved = record.set_aside(spec.set_aside_dir)
            print(f"repro: {spec.label} was damaged ({problems}); its record was moved to {moved} and the run "
                  "starts again", file=sys.stderr, flush=True)
        if not (record.path / "config.yaml").exists():  # a fresh run: is the same computation recorded already?
            source = identical_run(spec, exp, to_yaml(cfg))
            if source is not None:
                copy_identical_run(source, record, spec, exp)
                print(f"repro: {spec.label}: the same run (runner and config, seed included) is recorded at "
                      f"{source.path}; its record was copied, not computed again", file=sys.stderr, flush=True)
                return "done"
        record.ensure_config(to_yaml(cfg), defaults=to_dict(OmegaConf.structured(exp.runner.schema)))
        git = git_state()  # the code this process runs: read before the run, not after
        attempt = record.start_attempt(launcher, git, threads.in_force(torch=False))
        ctx = RunContext(record, checkpoint_every_s=checkpoint_interval_s(), show_progress=show_progress)
        if not record.has_checkpoint():  # starting over: no metrics so far
            live.clear(record, tensorboard=True)
        if exp.runner.live is not None:  # the metrics so far, at each checkpoint (common/platform/live.py)
            ctx.live = live.Writer(record, functools.partial(exp.runner.live.frames, cfg=cfg), exp.runner.live.curve)
        try:
            tables = exp.runner.fn(cfg, ctx)
            wall_s = ctx.wall_s()
            wall_s_total, units_total = ctx.wall_s_total(wall_s), ctx.units_total()
            check_tables(tables, cfg, exp.runner.tables)  # non-finite or missing metrics: FAILED, never DONE
            if ctx.live is not None:
                ctx.live.finish(tables)  # TensorBoard: the rows after the last checkpoint
            for name, df in tables.items():
                record.write_table(name, df)
            attempts = record.attempts()
            in_force = threads.in_force()  # torch's count as the run left it (its loop may set it)
            record.finish({
                "spec": spec.to_json(),
                "seed": spec.seed,
                "git": git,
                # a resumed run may span commits: every attempt's code, in order (None: recorded before attempts
                # kept it)
                "git_per_attempt": [a.get("git") for a in attempts],
                "packages": package_versions(),
                "machine": machine(),
                # each attempt's machine and packages (None: recorded before attempts kept them): a run resumed on
                # another machine computed its numbers on both
                "machine_per_attempt": [a.get("machine") for a in attempts],
                "packages_per_attempt": [a.get("packages") for a in attempts],
                "start": attempts[0]["start"] if attempts else attempt["start"],
                "end": now(),
                "attempts": len(attempts),
                "wall_s_last_attempt": round(wall_s, 3),
                # every attempt's time on the work the run kept (None: it resumed from a checkpoint without its cost)
                "wall_s_all_attempts": None if wall_s_total is None else round(wall_s_total, 3),
                "throughput": {"unit": ctx.unit_name, "units_last_attempt": ctx.units,
                               "units_all_attempts": units_total,
                               "per_second": round(ctx.units / wall_s, 1) if wall_s > 0 else None},
                "env_version": exp.env_version,
                # what the run read besides its config, by checksum (a stored dataset; {}: nothing)
                "inputs": ctx.inputs,
                # BLAS and torch thread counts at the end of this attempt, and each attempt's BLAS at its start
                # (None: recorded before attempts kept it)
                "threads": in_force,
                "threads_per_attempt": [a.get("threads") for a in attempts],
                "device": device_name(),  # REPRO_DEVICE: where torch networks ran (cpu unless cuda was asked for)
                **determinism(threads.describe(in_force)),  # "deterministic": true/false and "deterministic_reason" (common/platform/device.py)
            })
        except BaseException as exc:  # recorded, then re-raised: the launcher reports it
            if isinstance(exc, RunFailure):  # one line: what, where, which run, and how it differs from the paper
                try:
                    differs = differing_settings(spec)
                except Exception as inner:  # noqa: BLE001 - never hide the failure behind its description
                    differs = f"settings that differ from the paper budget: unknown ({inner})"
                exc.add_context(spec.label, differs)
            with contextlib.suppress(OSError):  # a full disk: RUNNING still goes (see RunRecord.fail)
                record.fail(f"{type(exc).__name__} in {spec.label}\n{traceback.format_exc()}")
            if isinstance(exc, NonFiniteError):  # training went non-finite: an outcome of these settings, recorded
                with contextlib.suppress(OSError):
                    record.diverge(exc.message, {"settings": exc.settings, "spec": spec.to_json(), "seed": spec.seed,
                                                 "git": git, "packages": package_versions(), "machine": machine(),
                                                 "end": now(), "env_version": exp.env_version,
                                                 "inputs": ctx.inputs})
            raise
        return "done"
