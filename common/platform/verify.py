"""`repro verify`: every finished run record checked against the checksums its DONE marker recorded.

A record is damaged when a file DONE vouches for is missing or changed, when a file was added after DONE, or when
DONE is unreadable or records no checksums. `--seal` adds checksums to records finished before DONE carried them,
but only after reading every file of the record in full (config, attempts, provenance, each table to its end).
A run whose provenance names an input by its record (a stored dataset: RunContext.record_input) was made on other
bytes than that record holds now when their checksums differ (the dataset was rebuilt since): reported apart from the
damaged and, like them, a failure of `repro verify`, since its numbers no longer follow from what the folder records.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from common.platform.errors import ReproError
from common.platform.records import RunRecord

UNSEALED = "DONE: records no checksums"


def finished_records(root: Path, paper: str | None = None) -> list[RunRecord]:
    """Every run folder holding a DONE marker, or a DIVERGED one (a run whose training went non-finite, recorded with
    checksums the same way), under `root/<paper>/runs/` (set-aside records are not runs)."""
    papers = [root / paper] if paper else sorted(p for p in root.iterdir() if p.is_dir())
    folders = {m.parent for p in papers for name in ("DONE", "DIVERGED") for m in (p / "runs").rglob(name)}
    return [RunRecord(f) for f in sorted(folders)]


def read_in_full(record: RunRecord) -> None:
    """Read every file of a finished record to its end; raise ReproError naming the first that does not read."""
    path = record.path
    try:
        current = "config.yaml"
        yaml.safe_load((path / current).read_text())
        current = "attempts.jsonl"
        record.attempts()
        current = "provenance.json"
        json.loads((path / current).read_text())
        listed = json.loads((path / "DONE").read_text()).get("tables", [])
        if sorted(listed) != record.tables():
            raise ValueError(f"DONE lists tables {sorted(listed)}, the folder holds {record.tables()}")
        for name in record.tables():
            current = f"{name}.csv.gz"
            record.read_table(name)
    except Exception as exc:  # noqa: BLE001 - any failure to read is damage, named with its file
        raise ReproError(f"{path / current}: cannot be read in full ({type(exc).__name__}: {exc}); not sealed") from None


def changed_inputs(record: RunRecord, root: Path) -> list[str]:
    """The inputs a finished (or diverged) run read (the `inputs` of its provenance.json, or of its DIVERGED record)
    whose record now holds other checksums than the run recorded, one 'inputs: ...' line each (empty: all as read,
    or none recorded)."""
    problems = []
    provenance = record.read_json("provenance.json") or record.read_json("DIVERGED") or {}
    for name, entry in sorted((provenance.get("inputs") or {}).items()):
        if "record" not in entry:
            continue
        path = root / entry["record"]  # an absolute path stays as it is
        if not path.is_file():
            problems.append(f"inputs: {name}'s record {path} is not there (the run read {entry['sha256']})")
            continue
        try:
            now = {n: f["sha256"] for n, f in json.loads(path.read_text())["files"].items()}
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
            problems.append(f"inputs: {name}'s record {path} does not read as a record of files and checksums")
            continue
        if now != entry["sha256"]:
            differ = sorted(n for n in set(now) | set(entry["sha256"]) if now.get(n) != entry["sha256"].get(n))
            problems.append(f"inputs: {name} was read with other checksums than its record {path} holds now "
                            f"({', '.join(differ)}): rebuilt since the run")
    return problems


def verify(root: Path, paper: str | None = None, seal: bool = False, out=None) -> int:
    """Print each damaged record with its problems, and each intact one made on an input rebuilt since; return how
    many of either (after sealing, with `seal`)."""
    import sys

    out = out or sys.stdout
    if not root.is_dir():
        raise ReproError(f"results folder {root} does not exist (set REPRO_RESULTS to the folder to verify)")
    if paper and not (root / paper).is_dir():
        raise ReproError(f"results folder {root} holds no records of '{paper}'")
    records = finished_records(root, paper)
    damaged, changed, sealed = 0, 0, 0
    for record in records:
        problems = record.damage()
        if seal and problems and all(p.startswith(UNSEALED) for p in problems):
            try:
                read_in_full(record)
            except ReproError as exc:
                problems = (str(exc).removeprefix(f"{record.path}/"),)
            else:
                record.seal(json.loads((record.path / "DONE").read_text()).get("end"))
                sealed += 1
                problems = record.damage()
        if problems:
            damaged += 1
            print(f"damaged {record.path}: " + "; ".join(problems), file=out)
        elif inputs := changed_inputs(record, root):
            changed += 1
            print(f"changed input {record.path}: " + "; ".join(inputs), file=out)
    diverged = sum(not (r.path / "DONE").exists() for r in records)
    print(f"{len(records)} finished run records{f' ({diverged} of them diverged)' if diverged else ''} under "
          f"{root / paper if paper else root}: "
          f"{len(records) - damaged - changed} intact, {damaged} damaged"
          + (f", {changed} made on an input rebuilt since" if changed else "")
          + (f" ({sealed} sealed now)" if seal else ""), file=out)
    return damaged + changed
