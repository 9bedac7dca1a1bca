"""Experiment configs: omegaconf structured configs (dataclasses) in struct mode, values from per-paper YAML.

Resolution order for one run (later wins):
  dataclass defaults < experiment `config` < budget `config` < variant < command-line overrides < seed.
Unknown keys and wrong types are errors that name the key and what is valid.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from common.platform.errors import ReproError


def _valid_keys(schema) -> list[str]:
    return [f.name for f in dataclasses.fields(schema)]


def _type_name(schema, key: str) -> str:
    for f in dataclasses.fields(schema):
        if f.name == key:
            t = f.type
            return t if isinstance(t, str) else getattr(t, "__name__", str(t))
    return "?"


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`key=value` strings -> dict, values parsed as YAML (so 0.1 is a float, [1,2] a list)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ReproError(f"override '{item}' is not of the form key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def merge(schema, layers: list[tuple[str, dict]], where: str) -> DictConfig:
    """Merge `layers` (name, mapping) onto the structured `schema`; explain bad keys and types."""
    cfg = OmegaConf.structured(schema)
    OmegaConf.set_struct(cfg, True)
    for key in cfg:  # mapping-valued fields (e.g. environment variables) take free keys; top-level keys do not
        node = cfg._get_node(key)
        if isinstance(node, DictConfig):
            OmegaConf.set_struct(node, False)
    for layer_name, values in layers:
        if not values:
            continue
        for key, value in values.items():
            if key not in cfg:
                close = difflib.get_close_matches(str(key), _valid_keys(schema), n=1)
                raise ReproError(
                    f"{where}: unknown config key '{key}' (from {layer_name})"
                    + (f"; did you mean '{close[0]}'?" if close else "")
                    + f" valid keys: {', '.join(_valid_keys(schema))}"
                )
            try:
                OmegaConf.update(cfg, key, value, merge=True)
            except (ValidationError, ConfigKeyError, ConfigAttributeError, OmegaConfBaseException) as exc:
                raise ReproError(
                    f"{where}: config key '{key}' (from {layer_name}) expects {_type_name(schema, key)}, "
                    f"got {value!r} ({type(value).__name__})"
                ) from exc
    OmegaConf.set_readonly(cfg, True)
    return cfg


def to_dict(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def to_yaml(cfg: DictConfig | dict) -> str:
    return OmegaConf.to_yaml(cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg), sort_keys=True)


def digest(values: dict) -> str:
    """Short stable hash of a mapping (names ad-hoc run folders)."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]
