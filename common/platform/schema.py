"""The schemas of a paper's `experiments.yaml` and `claims.yaml`, checked when the paper loads.

Each schema says what the loaders read (common/platform/registry.py, common/analysis/claims.py, common/analysis/report.py): the keys of
every mapping, which are required, and the type of every value. Unknown keys at any level, missing required keys,
wrong types and duplicate keys are errors of one line naming the file, the line, and the experiment, claim or
table they belong to, e.g.
    papers/mnih2013_dqn/claims.yaml:12: claim table1_pong_dqn, rule: unknown key 'paper_valu'; valid keys: ...
Line numbers come from yaml's node tree (`yaml.compose`), which the checks walk before any value is used.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from common import REPO_ROOT
from common.platform.errors import ReproError

_TAG = "tag:yaml.org,2002:"
_KINDS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false", "null": "null"}


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return _KINDS.get(node.tag.removeprefix(_TAG), node.tag)


@dataclass(frozen=True)
class At:
    """Where a node sits: its file, the experiment, claim or table it belongs to, and its key path inside that."""

    file: str
    owner: str = ""
    path: tuple = ()  # mapping keys (str) and list indices (int)

    def key(self, name) -> "At":
        return replace(self, path=(*self.path, str(name)))

    def item(self, i: int) -> "At":
        return replace(self, path=(*self.path, i))

    @property
    def text(self) -> str:
        """e.g. "budgets.paper.config", "rows[2]"."""
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" if i else p for i, p in enumerate(self.path))

    def parent(self) -> tuple["At", str]:
        """(where the value's key sits, the key): errors then read "claim x, rule: tolerance must be ..."."""
        if not self.path:
            return self, "the value"
        head, last = replace(self, path=self.path[:-1]), self.path[-1]
        if isinstance(last, int):  # a list's item: named with its list, "budget_keys[0]"
            head, name = head.parent()
            return head, f"{name}[{last}]"
        return head, last

    def error(self, node: Node, message: str) -> ReproError:
        where = ", ".join(x for x in (self.owner, self.text) if x)
        return ReproError(f"{self.file}:{node.start_mark.line + 1}: {where + ': ' if where else ''}{message}")


class Schema:
    def check(self, node: Node, at: At) -> None:
        raise NotImplementedError


class Any_(Schema):
    """Any value (config values: their types are checked against the runner's config dataclass)."""

    def check(self, node, at):
        pass


class Scalar(Schema):
    """A scalar of one of `kinds` ("str", "int", "float", "bool", "null"; "number" is int or float), optionally one
    of `choices` or at least `minimum`."""

    def __init__(self, *kinds: str, choices: tuple = (), minimum: float | None = None):
        self.kinds = {k for kind in kinds for k in (("int", "float") if kind == "number" else (kind,))}
        self.choices, self.minimum = choices, minimum

    def describe(self) -> str:
        if self.choices:
            return " or ".join(map(str, self.choices))
        names = [_KINDS[k] for k in ("str", "int", "float", "bool", "null") if k in self.kinds]
        if "int" in self.kinds and "float" in self.kinds:
            names.remove("an integer")
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"

    def check(self, node, at):
        at, name = at.parent()
        if not isinstance(node, ScalarNode) or node.tag.removeprefix(_TAG) not in self.kinds:
            got = f"{node.value!r} ({_kind(node)})" if isinstance(node, ScalarNode) else _kind(node)
            raise at.error(node, f"{name} must be {self.describe()}, got {got}")
        if self.choices and node.value not in self.choices:
            raise at.error(node, f"{name} must be {self.describe()}, got {node.value!r}")
        if self.minimum is not None and node.tag != _TAG + "null" and float(node.value) < self.minimum:
            raise at.error(node, f"{name} must be at least {self.minimum}, got {node.value}")


STR, INT, NUMBER = Scalar("str"), Scalar("int"), Scalar("number")


class Seq(Schema):
    """A list of `item`; `owner` names each item after its `id_key` (claims, tables), `length` fixes its length."""

    def __init__(self, item: Schema, owner: str = "", id_key: str = "id", length: int | None = None):
        self.item, self.owner, self.id_key, self.length = item, owner, id_key, length

    def check(self, node, at):
        if not isinstance(node, SequenceNode):
            where, name = at.parent()
            raise where.error(node, f"{name} must be a list, got {_kind(node)}")
        if self.length is not None and len(node.value) != self.length:
            where, name = at.parent()
            raise where.error(node, f"{name} must have {self.length} entries, got {len(node.value)}")
        for i, child in enumerate(node.value):
            if self.owner:
                ident = _scalar_value(child, self.id_key)
                self.item.check(child, At(at.file, f"{self.owner} {ident or '#' + str(i + 1)}"))
            else:
                self.item.check(child, at.item(i))


def _scalar_value(node: Node, key: str) -> str | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if k.value == key and isinstance(v, ScalarNode):
                return v.value
    return None


class Map(Schema):
    """A mapping with the keys of `fields` (`required` ones must be there), or, with `values`, any keys each holding
    a `values` (`owner` names those entries: "experiment fig3_1"). `rule(present keys) -> message or None` checks
    how the keys combine."""

    def __init__(self, fields: dict[str, Schema] | None = None, required: tuple = (), values: Schema | None = None,
                 owner: str = "", rule: Callable[[set], str | None] | None = None, nullable: bool = False):
        self.fields, self.required, self.values = fields or {}, required, values
        self.owner, self.rule, self.nullable = owner, rule, nullable

    def check(self, node, at):
        if self.nullable and isinstance(node, ScalarNode) and node.tag == _TAG + "null":
            return
        if not isinstance(node, MappingNode):
            where, name = at.parent() if at.path else (replace(at, owner=""), at.owner or "the file")
            raise where.error(node, f"{name} must be a mapping, got {_kind(node)}")
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise at.error(key_node, f"duplicate key '{key}'")
            seen.add(key)
            if self.values is not None:
                child_at = At(at.file, f"{self.owner} {key}") if self.owner else at.key(key)
                self.values.check(value_node, child_at)
            elif key not in self.fields:
                place = "" if at.path or at.owner else " at the top level"
                raise at.error(key_node, f"unknown key '{key}'{place}; valid keys: {', '.join(sorted(self.fields))}")
            else:
                self.fields[key].check(value_node, at.key(key))
        missing = [k for k in self.required if k not in seen]
        if missing:
            raise at.error(node, f"missing required key{'s' if len(missing) > 1 else ''} "
                                 f"{', '.join(repr(k) for k in missing)}")
        problem = self.rule(seen) if self.rule else None
        if problem:
            raise at.error(node, problem)


class OneOf(Schema):
    """The first of `options` whose `when(node)` holds (e.g. a mapping or a number)."""

    def __init__(self, *options: tuple[Callable[[Node], bool], Schema]):
        self.options = options

    def check(self, node, at):
        for when, schema in self.options:
            if when(node):
                return schema.check(node, at)
        return self.options[-1][1].check(node, at)


def is_mapping(node: Node) -> bool:
    return isinstance(node, MappingNode)


def has_key(key: str) -> Callable[[Node], bool]:
    return lambda node: isinstance(node, MappingNode) and any(k.value == key for k, _ in node.value)


# ---- experiments.yaml ------------------------------------------------------------------------------------------
CONFIG = Map(values=Any_(), nullable=True)  # config key -> value: keys and types come from the runner's dataclass
# single_seed: why a budget below the paper's that plans one seed is enough (registry.py: _check_seeds)
BUDGET = Map({"seeds": Scalar("int", minimum=1), "config": CONFIG, "single_seed": STR})
DESCRIBED = {"title": STR, "source": STR, "env_version": STR, "description": STR, "figure": STR, "summary": STR}


def _variants_xor_grid(keys: set) -> str | None:
    if "variants" in keys and "variant_grid" in keys:
        return "give either variants or variant_grid, not both"
    return None


EXPERIMENT = Map({**DESCRIBED, "runner": STR, "budget_keys": Seq(STR), "config": CONFIG,
                  "budgets": Map(values=BUDGET, required=("paper", "quick")),
                  "variants": Map(values=CONFIG), "variant_grid": Seq(Map(values=CONFIG))},
                 required=("title", "source", "env_version", "runner", "budgets"), rule=_variants_xor_grid)
# a named subset of another experiment's runs: its runner, config, budgets and variants' settings are the parent's
SUBSET = Map({**DESCRIBED, "runs_of": STR, "variants": Seq(STR)}, required=("title", "source", "runs_of", "variants"))
EXPERIMENTS_FILE = Map({"paper": Map({"title": STR, "citation": STR}, required=("title", "citation")),
                        "experiments": Map(values=OneOf((has_key("runs_of"), SUBSET), (is_mapping, EXPERIMENT)),
                                           owner="experiment")},
                       required=("paper", "experiments"))

# ---- claims.yaml -----------------------------------------------------------------------------------------------
SOURCE = Map({"figure": STR, "table": STR, "page": Scalar("int", "str", "null")},
             rule=lambda keys: None if keys & {"figure", "table"} else "name a figure or a table")
_CUSTOM_ONLY = {"variants", "setting", "max_step", "env", "episodes", "last_iterations"}  # read by STATISTICS functions


def _statistic_rule(keys: set) -> str | None:
    if "custom" in keys:
        extra = keys & {"column", "difference", "ratio"}
        return f"a custom statistic takes no {', '.join(sorted(extra))}" if extra else None
    if keys & _CUSTOM_ONLY:
        return f"{', '.join(sorted(keys & _CUSTOM_ONLY))}: only for a custom statistic"
    if "difference" in keys:
        return None if "column" in keys and "variant" not in keys else "a difference needs column (and no variant)"
    if "ratio" in keys:
        return None if "variant" in keys and "column" not in keys else "a ratio needs variant (and no column)"
    if not {"column", "variant"} <= keys:
        return "needs custom, or column with variant, difference or ratio"
    return None


STATISTIC = Map({"custom": STR, "column": STR, "variant": STR, "variants": Seq(STR), "difference": Seq(STR, length=2),
                 "ratio": Seq(STR, length=2), "setting": STR, "normalized_over": Scalar("str", choices=("experiment",)),
                 "max_step": Scalar("int", "null"), "env": Scalar("str", "null"), "episodes": Scalar("int", minimum=1),
                 "last_iterations": Scalar("int", minimum=1)},
                rule=_statistic_rule)


def _rule_rule(keys: set) -> str | None:
    if ("paper_value" in keys) == ("op" in keys):
        return "needs either paper_value (with an optional tolerance) or op with threshold"
    if "op" in keys and ("threshold" not in keys or "tolerance" in keys):
        return "op needs a threshold (and takes no tolerance)"
    if "paper_value" in keys and "threshold" in keys:
        return "paper_value takes no threshold"
    return None


RULE = Map({"paper_value": NUMBER, "tolerance": Scalar("number", minimum=0), "op": Scalar("str", choices=("<", ">")),
            "threshold": OneOf((is_mapping, Map({"computed": STR, "variant": STR}, required=("computed",))),
                               (lambda n: True, NUMBER))},
           rule=_rule_rule)
PROTOCOL = Map(values=Any_())  # setting -> value as the runs or a source state it (free keys: named differences)
REFERENCE = Map({"compare": STR, "variant": STR, "task": STR, "protocol": PROTOCOL},
                required=("compare", "variant", "task"))
COMPARISON = Map({"kind": Scalar("str", choices=("training", "evaluation")), "what": STR,
                  "unit": Scalar("str", choices=("agent_steps", "env_steps")), "budget_key": STR,
                  "window": Scalar("int", minimum=1),
                  "run": Map({"table": STR, "x": STR, "y": STR}, required=("table", "x", "y")),
                  "sources": Seq(STR), "protocol": PROTOCOL},
                 required=("kind", "unit", "budget_key", "window", "run", "sources"))
CLAIM = Map({"id": STR, "experiment": STR, "source": SOURCE, "statement": STR, "metric": STR, "statistic": STATISTIC,
             "rule": RULE, "note": STR, "reference": REFERENCE},
            required=("id", "experiment", "source", "statement", "metric", "statistic", "rule"))


def _row_rule(keys: set) -> str | None:
    if ("values" in keys) == ("claim" in keys):
        return "a row needs either values or claim (not both)"
    if ("claim" in keys) != ("show" in keys):
        return "a row with a claim needs show (paper_value or estimate), and only such a row takes it"
    return None


ROW = Map({"label": STR, "values": Seq(NUMBER), "claim": STR,
           "show": Scalar("str", choices=("paper_value", "estimate"))},
          required=("label",), rule=_row_rule)
TABLE = Map({"id": STR, "title": STR, "source": SOURCE, "columns": Map(values=STR), "rows": Seq(ROW)},
            required=("id", "title", "source", "columns", "rows"))
CLAIMS_FILE = Map({"reference_comparisons": Map(values=COMPARISON), "claims": Seq(CLAIM, owner="claim"),
                   "tables": Seq(TABLE, owner="table")}, required=("claims",))


# ---- loading ---------------------------------------------------------------------------------------------------
class Document:
    """A checked YAML file: its data, and the line of any key path in it (for errors found later)."""

    def __init__(self, path: Path, root: Node, data):
        self.path, self.root, self.data = path, root, data

    @property
    def name(self) -> str:
        return display(self.path)

    def line(self, *keys) -> int:
        """1-based line of the value at `keys` (mapping keys and list indices); the deepest one found."""
        node = self.root
        for key in keys:
            if isinstance(node, MappingNode):
                match = [v for k, v in node.value if k.value == str(key)]
            elif isinstance(node, SequenceNode) and isinstance(key, int) and key < len(node.value):
                match = [node.value[key]]
            else:
                match = []
            if not match:
                break
            node = match[0]
        return node.start_mark.line + 1

    def where(self, *keys) -> str:
        return f"{self.name}:{self.line(*keys)}"


def display(path: Path) -> str:
    path = Path(path)
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def load(path: Path, schema: Schema) -> Document:
    """Parse `path`, check it against `schema` (ReproError naming file, line and owner) and return it."""
    text = Path(path).read_text()
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # libyaml when built with it: 10x faster
        try:
            root = loader.get_single_node()
            if root is None:
                raise ReproError(f"{display(path)}:1: the file is empty")
            schema.check(root, At(display(path)))
            data = loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ReproError(f"{display(path)}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    return Document(Path(path), root, data)
