"""`repro show`: what an experiment runs, before anything runs.

`repro show PAPER` lists the experiments (source, runner, budgets, variants); `repro show PAPER EXPERIMENT` adds the
variants and budgets in full and the resolved config of one run (`--variant`, `--budget`, `key=value` overrides as
`repro run` takes them), each key with its value, the layer that set it (dataclass default, experiments.yaml config,
budget, variant, command line, seed) and the source cited beside it: the comment on its line in experiments.yaml, or
on its field in the runner's config dataclass.
"""
from __future__ import annotations

import dataclasses
import inspect
import re

from common.platform import schema
from common.platform.config import to_dict

_FIELD = re.compile(r"^\s+(\w+)\s*:[^=#]*=[^#]*#\s*(.+?)\s*$")


def _comment(line: str) -> str:
    """The comment of a YAML line ('' if none): text after a ' #' outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if ch in "\"'" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[i + 1:].strip()
    return ""


def dataclass_sources(cls) -> dict[str, str]:
    """field name -> the comment on its line in the dataclass's source ('' where none); a field inherited from a
    base dataclass keeps the comment of the class that declares it last."""
    out = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):  # bases first
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        for line in lines:
            if m := _FIELD.match(line):
                out[m.group(1)] = m.group(2)
    return {f.name: out.get(f.name, "") for f in dataclasses.fields(cls)}


def _has(data, keys) -> bool:
    for k in keys:
        if isinstance(data, dict) and k in data:
            data = data[k]
        elif isinstance(data, list) and isinstance(k, int) and k < len(data):
            data = data[k]
        else:
            return False
    return True


def _variant_path(raw: dict, variant: str) -> list[tuple]:
    """Key paths (below the experiment) of the mappings that make up one variant's values."""
    if "variant_grid" in raw:
        names = variant.split("__")
        return [("variant_grid", i, name) for i, (axis, name) in enumerate(zip(raw["variant_grid"], names))
                if name in axis]
    return [("variants", variant)] if variant in (raw.get("variants") or {}) else []


def resolved_table(exp, variant: str, budget: str, overrides: dict) -> list[tuple[str, object, str, str]]:
    """(key, value, layer, source) for every config key of one run of `exp`, in the dataclass's order."""
    from common.platform.runs import RunSpec, resolve

    spec = RunSpec(exp.paper.name, exp.run_experiment, budget, variant, 0, tuple(sorted(overrides.items())))
    cfg = to_dict(resolve(spec))
    runner_exp = exp.paper.experiment(exp.run_experiment)
    doc = schema.load(exp.paper.path / "experiments.yaml", schema.EXPERIMENTS_FILE)
    lines = (exp.paper.path / "experiments.yaml").read_text().splitlines()
    raw = doc.data["experiments"][runner_exp.name]
    base = ("experiments", runner_exp.name)
    layers = [("experiments.yaml config", runner_exp.config, [("config",)]),
              (f"budget '{budget}'", runner_exp.budget(budget).get("config") or {}, [("budgets", budget, "config")]),
              (f"variant '{variant}'", runner_exp.variant(variant), _variant_path(raw, variant)),
              ("command line", overrides, []), ("seed", {"seed": 0}, [])]
    defaults = dataclass_sources(runner_exp.runner.schema)
    rows = []
    for key, value in cfg.items():
        layer, source = "dataclass default", defaults.get(key, "")
        for name, values, paths in layers:
            if key not in values:
                continue
            layer = name
            if name == "seed":
                source = "the run's seed (--seed)"
            elif name == "command line":
                source = "given on the command line: recorded as a custom budget"
            else:
                found = [base + p + (key,) for p in paths if _has(doc.data, base + p + (key,))]
                source = _comment(lines[doc.line(*found[0]) - 1]) if found else ""
        rows.append((key, value, layer, source))
    return rows


def show(paper, experiment: str | None = None, variant: str | None = None, budget: str = "paper",
         overrides: dict | None = None) -> list[str]:
    """The lines `repro show` prints."""
    if experiment is None:
        out = [f"{paper.name}: {paper.title}", f"  {paper.citation}", ""]
        for exp in paper.experiments.values():
            budgets = ", ".join(f"{b} ({exp.seeds(b)} seeds)" for b in exp.budgets)
            names = list(exp.variants)
            shown = ", ".join(names[:6]) + (f", ... ({len(names)} in all)" if len(names) > 6 else "")
            out += [f"{exp.name}: {exp.title}", f"  source: {exp.source}",
                    f"  runs: {'those of ' + exp.runs_of if exp.runs_of else 'runner ' + exp.paper.experiment(exp.name).runner.fn.__name__}",
                    f"  budgets: {budgets}", f"  variants: {shown}", ""]
        out.append(f"`repro show {paper.name} EXPERIMENT [--variant V] [--budget B]` prints one run's resolved config.")
        return out
    exp = paper.experiment(experiment)
    exp.budget(budget)
    variant = variant or next(iter(exp.variants))
    exp.variant(variant)
    out = [f"{paper.name}/{exp.name}: {exp.title}", f"  source: {exp.source}", f"  environment: {exp.env_version}",
           f"  budget keys: {', '.join(exp.budget_keys) or '(none)'}", "  budgets:"]
    for b in exp.budgets:
        out.append(f"    {b}: {exp.seeds(b)} seeds; {exp.budget(b).get('config') or {}}")
    out.append(f"  variants ({len(exp.variants)}): {', '.join(exp.variants)}")
    out += ["", f"Resolved config of variant '{variant}' at budget '{budget}' (seed 0): key = value   [layer] source"]
    rows = resolved_table(exp, variant, budget, overrides or {})
    width = max(len(k) for k, *_ in rows)
    for key, value, layer, source in rows:
        out.append(f"  {key:<{width}} = {value!r}   [{layer}]" + (f" {source}" if source else ""))
    return out
