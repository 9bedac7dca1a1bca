"""The papers and their experiments.

A paper is a package `papers/<firstauthor><year>_<topic>/` with
  - `experiments.yaml`: each experiment (a figure or table of the paper): its runner, base config, the two
    budgets (`paper` and `quick`), the variants (one run each per seed) and which config keys measure the budget;
  - `__init__.py` exposing `RUNNERS` (name -> Runner) and `FIGURES` (name -> `fn(experiment, data, out_dir,
    caption) -> [paths]`, `data` the experiment's complete runs: their tables and resolved configs); an
    experiment names its figure with `figure:` ("default" unless given, "none" for no figure);
  - optionally `SUMMARIES` (name -> `fn(experiment, data) -> DataFrame`, one row per run: variant, seed, ...): an
    experiment that names one with `summary:` gets that table in its regenerated README, so that its per-run
    numbers are quoted from the run records and never copied by hand;
  - optionally `COMPUTED` (name -> function of the resolved config) for analytic reference values in claims;
  - `claims.yaml`: what the paper reports, checked by `common.claims`.
"""
from __future__ import annotations

import importlib
import itertools
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import yaml

from . import REPO_ROOT
from .errors import ReproError, unknown

BUDGETS = ("paper", "quick")


@dataclass(frozen=True)
class Runner:
    """How to execute one run: `fn(cfg, ctx) -> {table name: pandas.DataFrame}` on a `schema` dataclass config.
    `tables`: what may legitimately be NaN or empty in those tables (`common.finite.TableRules`); everything else
    must be finite and every table non-empty, checked before a run counts as complete.
    `legacy`: see below."""

    schema: type
    fn: Callable[..., dict]
    tables: dict = field(default_factory=dict, compare=False)
    #: What a key absent from a recorded config meant (the code before the key existed). With it, `repro report`
    #: compares every complete run's recorded config.yaml with what its experiment resolves to now and labels a run
    #: that differs "old protocol", naming the keys; None: no such check for this runner.
    legacy: dict | None = field(default=None, compare=False)


@dataclass
class Experiment:
    paper: "Paper"
    name: str
    title: str
    source: str
    runner: Runner
    config: dict
    budgets: dict[str, dict]
    variants: dict[str, dict]
    budget_keys: list[str]
    env_version: str
    description: str = ""
    runs_of: str | None = None  # this experiment is a named subset of another's runs (never run twice)
    figure: str | None = "default"  # a name in the paper's FIGURES; None: the experiment draws no figure
    summary: str | None = None  # a name in the paper's SUMMARIES: its per-run table in the regenerated README

    @property
    def run_experiment(self) -> str:
        """The experiment whose folder and config its runs use."""
        return self.runs_of or self.name

    def seeds(self, budget: str) -> int:
        return int(self.budget(budget).get("seeds", 1))

    def budget(self, budget: str) -> dict:
        if budget not in self.budgets:
            raise unknown("budget", budget, self.budgets)
        return self.budgets[budget]

    def variant(self, name: str) -> dict:
        if name not in self.variants:
            raise unknown(f"variant of {self.paper.name}/{self.name}", name, self.variants)
        return self.variants[name]


@dataclass
class Paper:
    name: str
    title: str
    citation: str
    module: Any
    path: Path
    experiments: dict[str, Experiment] = field(default_factory=dict)

    def experiment(self, name: str) -> Experiment:
        if name not in self.experiments:
            raise unknown(f"experiment of {self.name}", name, self.experiments)
        return self.experiments[name]

    def select(self, name: str) -> list[Experiment]:
        """One experiment by name, or all of them for 'all'."""
        return list(self.experiments.values()) if name == "all" else [self.experiment(name)]

    @property
    def claims_path(self) -> Path:
        return self.path / "claims.yaml"

    def results_dir(self, root: Path | None = None) -> Path:
        return (root or REPO_ROOT / "results") / self.name


def hook(module, table: str, name: str | None, where: str) -> str | None:
    """Check that `name` (from experiments.yaml) is a key of the module's `table` (FIGURES, SUMMARIES); "none" and
    None mean no hook."""
    if name is None or name == "none":
        return None
    hooks = getattr(module, table, {})
    if name not in hooks:
        kind, plural = {"FIGURES": ("figure", "figures"), "SUMMARIES": ("summary", "summaries")}[table]
        raise unknown(f"{kind} of {where}", name, hooks, plural=f"{plural} of {where}")
    return name


def _load_paper(name: str) -> Paper:
    module = importlib.import_module(f"papers.{name}")
    path = Path(module.__file__).parent
    spec = yaml.safe_load((path / "experiments.yaml").read_text())
    paper = Paper(name=name, title=spec["paper"]["title"], citation=spec["paper"]["citation"], module=module, path=path)
    runners: dict[str, Runner] = getattr(module, "RUNNERS")
    for exp_name, e in spec["experiments"].items():
        if "runs_of" in e:
            continue
        if e["runner"] not in runners:
            raise ReproError(f"{name}/{exp_name}: runner '{e['runner']}' is not in RUNNERS ({', '.join(runners)})")
        missing = [b for b in BUDGETS if b not in e["budgets"]]
        if missing:
            raise ReproError(f"{name}/{exp_name}: budgets {missing} are missing; every experiment has {BUDGETS}")
        paper.experiments[exp_name] = Experiment(
            paper=paper,
            name=exp_name,
            title=e["title"],
            source=e["source"],
            runner=runners[e["runner"]],
            config=e.get("config") or {},
            budgets=e["budgets"],
            variants=_variants(e),
            budget_keys=list(e.get("budget_keys") or []),
            env_version=e["env_version"],
            description=e.get("description", ""),
            figure=hook(module, "FIGURES", e.get("figure", "default"), f"{name}/{exp_name}"),
            summary=hook(module, "SUMMARIES", e.get("summary"), f"{name}/{exp_name}"),
        )
    for exp_name, e in spec["experiments"].items():
        if "runs_of" not in e:
            continue
        parent = paper.experiment(e["runs_of"])
        names = list(e["variants"])
        for v in names:
            parent.variant(v)
        paper.experiments[exp_name] = Experiment(
            paper=paper, name=exp_name, title=e["title"], source=e["source"], runner=parent.runner,
            config=parent.config, budgets=parent.budgets, variants={v: parent.variants[v] for v in names},
            budget_keys=parent.budget_keys, env_version=e.get("env_version", parent.env_version),
            description=e.get("description", ""), runs_of=parent.name,
            figure=hook(module, "FIGURES", e.get("figure", "default"), f"{name}/{exp_name}"),
            summary=hook(module, "SUMMARIES", e.get("summary"), f"{name}/{exp_name}"))
    return paper


def _variants(e: dict) -> dict[str, dict]:
    """Explicit `variants`, or the product of the axes of `variant_grid` (names joined by '__')."""
    if "variant_grid" in e:
        out = {}
        for combo in itertools.product(*(axis.items() for axis in e["variant_grid"])):
            out["__".join(name for name, _ in combo)] = {k: v for _, values in combo for k, v in values.items()}
        return out
    return e.get("variants") or {"default": {}}


@lru_cache(maxsize=None)
def papers() -> dict[str, Paper]:
    import papers as pkg

    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.ispkg)
    return {n: _load_paper(n) for n in names}


def get_paper(name: str) -> Paper:
    all_papers = papers()
    if name not in all_papers:
        raise unknown("paper", name, all_papers)
    return all_papers[name]
