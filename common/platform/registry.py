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
  - `claims.yaml`: what the paper reports, checked by `common.analysis.claims`.

Entries may be references, "module:attr" (relative to the paper's package with `lazy(__name__)`), imported on
first use: a paper's `__init__.py` names its runner functions, figures, summaries and statistics that way, and
imports only its config dataclasses and their checks (torch-free modules), so that `repro list`, `repro status`
and `repro show` never import torch, gymnasium, MuJoCo, ale-py or the plotting stack (tests/test_cli_speed.py).
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import itertools
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from common import REPO_ROOT
from common.platform import schema
from common.platform.errors import ReproError, unknown

BUDGETS = ("paper", "quick")


class Ref:
    """A reference to `attr` of `module`, imported on first use: calling it calls the object, its other attributes
    are the object's; its `__name__` is known without importing anything."""

    __slots__ = ("module", "attr", "_obj")

    def __init__(self, target: str, package: str | None = None):
        module, sep, attr = target.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"a reference is 'module:attr', got {target!r}")
        self.module = importlib.util.resolve_name(module, package) if module.startswith(".") else module
        self.attr = attr
        self._obj = _UNRESOLVED

    def resolve(self) -> Any:
        if self._obj is _UNRESOLVED:
            self._obj = getattr(importlib.import_module(self.module), self.attr)
        return self._obj

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):  # never resolve for Python's own probes (pickling, copying, introspection)
            raise AttributeError(name)
        return getattr(self.resolve(), name)

    @property
    def __name__(self) -> str:  # noqa: A003 - what show prints for a runner, without importing it
        return self.attr

    @property
    def __doc__(self) -> str | None:  # noqa: A003
        return self.resolve().__doc__

    def __reduce__(self):
        return Ref, (f"{self.module}:{self.attr}",)

    def __repr__(self) -> str:
        return f"Ref('{self.module}:{self.attr}')"


_UNRESOLVED = object()


def lazy(package: str) -> Callable[[str], Ref]:
    """`L = lazy(__name__)` in a paper's `__init__.py`; then `L(".sac:run_sac")` is a `Ref` into the paper's
    module sac.py, imported when first used."""
    return lambda target: Ref(target, package)


def resolved(x: Any) -> Any:
    """`x`, or the object it refers to if it is a `Ref`."""
    return x.resolve() if isinstance(x, Ref) else x


@dataclass(frozen=True)
class Live:
    """How a runner's checkpoint state holds its metrics so far, written at each checkpoint as the run's live tables
    (`common/platform/live.py`: `repro status --curves`, `repro report --live`, TensorBoard).

    `tables`: table name -> its columns, the rows being the tuples in `state[table]` (the run's final table is the
    same with a `seed` column added; tests/test_live.py checks that the live rows are the final table's first rows);
    or a function `(state, cfg) -> {table: DataFrame}` for a state that holds its metrics otherwise.
    `curve`: (table, step column, value column): the learning curve `repro status --curves` summarizes."""

    tables: Any
    curve: tuple[str, str, str]

    def frames(self, state: Any, cfg: Any) -> dict:
        """The live tables of a checkpoint's state ({} when the state holds none yet)."""
        import pandas as pd

        if callable(self.tables):
            return dict(self.tables(state, cfg))
        if not isinstance(state, dict):
            return {}
        return {name: pd.DataFrame(list(state.get(name) or []), columns=list(columns)).assign(seed=cfg.seed)
                for name, columns in self.tables.items()}


class Runner:
    """How to execute one run: `fn(cfg, ctx) -> {table name: pandas.DataFrame}` on a `schema` dataclass config.
    `validate(cfg)` checks a resolved config's values (environment ids, agent names, ranges, lengths, sizes, seed)
    before any work, raising `common.platform.validate.ConfigValueError` (see `common/platform/validate.py`).
    `tables`: what may legitimately be NaN or empty in those tables (`common.platform.finite.TableRules`); everything else
    must be finite and every table non-empty, checked before a run counts as complete.
    `legacy`: see below. `live`: how its checkpoints hold the metrics so far (`Live`; None: no live metrics).
    `inputs(cfg)`: what a run reads besides its config (a stored dataset), checked where runs are about to start
    (`common.platform.runs.check_inputs`: `repro run`, `repro sweep` with any launcher, dry runs included), never
    where configs are only shown or reported; it returns None when everything is there, else one sentence naming
    what is missing, where it was looked for and how to make it.
    `fn`, `validate`, `tables`, `legacy` and `inputs` may be `Ref`s, imported on first use; `schema` may be one too,
    but the registry reads every schema when a paper loads, so it should live in a module that imports no torch."""

    __slots__ = ("_schema", "fn", "validate", "_tables", "_legacy", "live", "inputs")

    def __init__(self, schema: type | Ref, fn: Callable[..., dict] | Ref, validate: Callable[[Any], None] | None = None,
                 tables: dict | Ref | None = None, legacy: dict | Ref | None = None, live: Live | None = None,
                 inputs: Callable[[Any], str | None] | Ref | None = None):
        self._schema, self.fn, self.validate = schema, fn, validate
        self._tables, self._legacy, self.live, self.inputs = tables, legacy, live, inputs

    @property
    def schema(self) -> type:
        return resolved(self._schema)

    @property
    def tables(self) -> dict:
        return resolved(self._tables) or {}

    #: What a key absent from a recorded config meant (the code before the key existed; {} when no key was added
    #: after runs were recorded). `repro report` compares every complete run's recorded config.yaml with what its
    #: experiment resolves to now and labels a run that differs "old protocol", naming the keys.
    @property
    def legacy(self) -> dict:
        return resolved(self._legacy) or {}

    def __repr__(self) -> str:
        return f"Runner({self._schema!r}, {self.fn!r})"


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
            raise unknown(f"variant of {self.paper.name}/{self.name}", name, self.variants,
                          plural=f"variants of {self.paper.name}/{self.name}")
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


def hook(module, table: str, name: str | None, where: str, line: str = "") -> str | None:
    """Check that `name` (from experiments.yaml, at `line`: "file:line: experiment e") is a key of the module's
    `table` (FIGURES, SUMMARIES); "none" and None mean no hook."""
    if name is None or name == "none":
        return None
    hooks = getattr(module, table, {})
    if name not in hooks:
        kind, plural = {"FIGURES": ("figure", "figures"), "SUMMARIES": ("summary", "summaries")}[table]
        error = unknown(f"{kind} of {where}", name, hooks, plural=f"{plural} of {where}")
        raise ReproError(f"{line}: {error}") if line else error
    return name


def _load_paper(name: str) -> Paper:
    """A paper, its files checked: experiments.yaml and claims.yaml against their schemas (common/platform/schema.py), then
    the names they use (runners, config keys, variants, figures, summaries, claims' experiments and statistics)."""
    module = importlib.import_module(f"papers.{name}")
    path = Path(module.__file__).parent
    doc = schema.load(path / "experiments.yaml", schema.EXPERIMENTS_FILE)
    spec = doc.data
    paper = Paper(name=name, title=spec["paper"]["title"], citation=spec["paper"]["citation"], module=module, path=path)
    runners: dict[str, Runner] = getattr(module, "RUNNERS")
    for exp_name, e in spec["experiments"].items():
        if "runs_of" in e:
            continue
        at = lambda *keys: f"{doc.where('experiments', exp_name, *keys)}: experiment {exp_name}"  # noqa: E731
        if e["runner"] not in runners:
            raise ReproError(f"{at('runner')}: runner '{e['runner']}' is not in RUNNERS ({', '.join(runners)})")
        _check_config_keys(runners[e["runner"]].schema, e, at)
        _check_seeds(e["budgets"], at)
        paper.experiments[exp_name] = Experiment(
            paper=paper,
            name=exp_name,
            title=e["title"],
            source=e["source"],
            runner=runners[e["runner"]],
            config=e.get("config") or {},
            budgets=e["budgets"],
            variants=_variants(e, at),
            budget_keys=list(e.get("budget_keys") or []),
            env_version=e["env_version"],
            description=e.get("description", ""),
            figure=hook(module, "FIGURES", e.get("figure", "default"), f"{name}/{exp_name}", at("figure")),
            summary=hook(module, "SUMMARIES", e.get("summary"), f"{name}/{exp_name}", at("summary")),
        )
    for exp_name, e in spec["experiments"].items():
        if "runs_of" not in e:
            continue
        at = lambda *keys: f"{doc.where('experiments', exp_name, *keys)}: experiment {exp_name}"  # noqa: E731
        try:
            parent = paper.experiment(e["runs_of"])
            names = list(e["variants"])
            for v in names:
                parent.variant(v)
        except ReproError as exc:
            raise ReproError(f"{at('runs_of')}: {exc}") from None
        paper.experiments[exp_name] = Experiment(
            paper=paper, name=exp_name, title=e["title"], source=e["source"], runner=parent.runner,
            config=parent.config, budgets=parent.budgets, variants={v: parent.variants[v] for v in names},
            budget_keys=parent.budget_keys, env_version=e.get("env_version", parent.env_version),
            description=e.get("description", ""), runs_of=parent.name,
            figure=hook(module, "FIGURES", e.get("figure", "default"), f"{name}/{exp_name}", at("figure")),
            summary=hook(module, "SUMMARIES", e.get("summary"), f"{name}/{exp_name}", at("summary")))
    from common.analysis.claims import load_claims, load_tables

    load_tables(paper, {c.id for c in load_claims(paper)})  # claims.yaml: its schema and the names it uses
    return paper


def _check_config_keys(config_schema, e: dict, at) -> None:
    """Every key that experiments.yaml sets (experiment config, budgets' config, variants) is a field of the runner's
    config dataclass, and every budget key too; their values' types are checked when a run's config resolves."""
    valid = [f.name for f in dataclasses.fields(config_schema)]
    layers = [(("config",), e.get("config"))]
    layers += [(("budgets", b, "config"), v.get("config")) for b, v in e["budgets"].items() if v]
    layers += [(("variants", v), values) for v, values in (e.get("variants") or {}).items()]
    layers += [(("variant_grid", i, v), values) for i, axis in enumerate(e.get("variant_grid") or [])
               for v, values in axis.items()]
    layers += [(("budget_keys", i), {key: None}) for i, key in enumerate(e.get("budget_keys") or [])]
    for keys, values in layers:
        for key in values or {}:
            if key not in valid:
                raise ReproError(f"{at(*keys, key)}: unknown config key '{key}' in {'.'.join(map(str, keys))}; "
                                 f"valid keys: {', '.join(valid)}")


def _check_seeds(budgets: dict, at) -> None:
    """A budget between quick and the paper's plans at least 2 seeds where the paper's does: with one run a claim's
    statistic has no interval over runs and every claim checked at that budget could only read "too few runs"
    (common/analysis/claims.py). A budget that keeps one seed on purpose says why in `single_seed`."""
    paper_seeds = int(budgets["paper"].get("seeds", 1))
    for name, b in budgets.items():
        if name in ("paper", "quick") or paper_seeds < 2 or int(b.get("seeds", 1)) >= 2 or b.get("single_seed"):
            continue
        raise ReproError(f"{at('budgets', name)}: budget '{name}' plans 1 seed where the paper's plans {paper_seeds}: "
                         f"every claim checked at it could only read 'too few runs' (one run has no interval); "
                         f"give it seeds: 2 or more, or say why one seed is enough in single_seed: \"...\"")


def _variants(e: dict, at=None) -> dict[str, dict]:
    """Explicit `variants`, or the product of the axes of `variant_grid` (names joined by '__')."""
    if "variant_grid" in e:
        out = {}
        for i, axis in enumerate(e["variant_grid"]):
            if not axis:
                raise ReproError(f"{at('variant_grid', i) if at else 'variant_grid'}: an axis of variant_grid is empty")
        for combo in itertools.product(*(axis.items() for axis in e["variant_grid"])):
            out["__".join(name for name, _ in combo)] = {k: v for _, values in combo for k, v in (values or {}).items()}
        return out
    return {v: values or {} for v, values in e["variants"].items()} if e.get("variants") else {"default": {}}


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
