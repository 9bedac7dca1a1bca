"""Live metrics: a run's metrics so far, readable while it trains.

At each checkpoint of a run whose runner declares `live` (common/platform/registry.py: `Live`), the tables its
checkpoint's state holds are written to `<run>/live/<table>.csv.gz` (the same long-form tables, columns and bytes
format the run ends with, each written atomically), with `<run>/live/live.json`: when, at which units of work, and
from which checkpoint. The live folder is ignored by git and never vouched for by `DONE`: a run is complete only by
its `DONE` and the checksummed files beside it, whatever its live folder holds. `RunRecord.finish` removes the folder
once `DONE` is written, every reader here ignores it in a run that has `DONE`, and a run that starts over (no
checkpoint to resume) starts with none.

Readers: `repro status --curves` (a text summary of each unfinished run's curve), `repro report PAPER --live`
(figures of the partial curves in `results/<paper>/live/`, marked "in progress", never used by claims or
verdicts). With `REPRO_TENSORBOARD=1` (the optional extra `tensorboard`) the rows are also streamed as TensorBoard
scalars to `<run>/tensorboard/` (kept after the run ends; git-ignored): `tensorboard --logdir results/<paper>/runs`.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from common.platform.records import LIVE_DIR, RunRecord, atomic_write_bytes, atomic_write_text, now, table_to_bytes

TENSORBOARD_DIR = "tensorboard"
#: Columns that count a run's progress, in the order a table's step is looked for (TensorBoard's step axis).
STEP_COLUMNS = ("env_step", "agent_step", "t", "iteration", "epoch", "episode")


def live_dir(record: RunRecord) -> Path:
    return record.path / LIVE_DIR


def clear(record: RunRecord, tensorboard: bool = False) -> None:
    """Remove a run's live folder (and its TensorBoard events: a run that starts over)."""
    shutil.rmtree(live_dir(record), ignore_errors=True)
    if tensorboard:
        shutil.rmtree(record.path / TENSORBOARD_DIR, ignore_errors=True)


def write(record: RunRecord, frames: dict, meta: dict) -> None:
    """Write the live tables (each atomically), then live.json, which says what they are."""
    folder = live_dir(record)
    for name, df in frames.items():
        atomic_write_bytes(folder / f"{name}.csv.gz", table_to_bytes(df))
    atomic_write_text(folder / "live.json", json.dumps({**meta, "tables": sorted(frames), "written": now()},
                                                       indent=2, sort_keys=True, default=str) + "\n")


def meta(record: RunRecord) -> dict | None:
    """live.json of a run that has no DONE (None: none, or the run is finished: its live files mean nothing)."""
    if (record.path / "DONE").exists():
        return None
    try:
        return json.loads((live_dir(record) / "live.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read(record: RunRecord) -> dict:
    """{table: DataFrame} of a run's live tables; {} for a run with DONE (complete or damaged) or without any."""
    import pandas as pd

    info = meta(record)
    if info is None:
        return {}
    out = {}
    for name in info.get("tables", []):
        with contextlib.suppress(FileNotFoundError):
            out[name] = pd.read_csv(live_dir(record) / f"{name}.csv.gz")
    return out


def step_column(df, preferred: str | None = None) -> str | None:
    if preferred and preferred in df.columns:
        return preferred
    return next((c for c in STEP_COLUMNS if c in df.columns), None)


BARS = "▁▂▃▄▅▆▇█"


def sparkline(values, width: int = 24) -> str:
    """The values' course in `width` characters (each the mean of its share of the rows), low to high."""
    import numpy as np

    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return ""
    means = np.array([chunk.mean() for chunk in np.array_split(v, min(width, len(v)))])
    lo, hi = means.min(), means.max()
    if hi == lo:
        return BARS[0] * len(means)
    return "".join(BARS[int(round((m - lo) / (hi - lo) * (len(BARS) - 1)))] for m in means)


def curve_text(record: RunRecord, curve: tuple[str, str, str], window: int = 10) -> str | None:
    """'eval_return 1,234.5 at env_step 230,000 (mean of the last 10: 1,100.2; 230 rows) ▁▂▄▆█, at TIME' from a
    run's live tables, or None when it has none."""
    info = meta(record)
    if info is None:
        return None
    table, step, value = curve
    tables = read(record)
    df = tables.get(table)
    if df is None or value not in df.columns:
        return f"no {table} rows yet (live tables written {info.get('written', '?')})"
    if len(df) == 0:
        return f"{table}: no rows yet (written {info.get('written', '?')})"
    last = df.iloc[-1]
    tail = df[value].tail(window)
    at = f" at {step} {int(last[step]):,}" if step in df.columns else ""
    return (f"{value} {last[value]:,.4g}{at} (mean of the last {len(tail)}: {tail.mean():,.4g}; {len(df):,} rows) "
            f"{sparkline(df[value])}  [live, written {info.get('written', '?')}]")


class Writer:
    """What a RunContext calls at each checkpoint: the live tables of the checkpoint's state (`frames(state)`),
    written beside the run, and streamed to TensorBoard when asked for. A failure here never fails the run (the
    metrics are a view; the run's own tables are checked at its end): it is reported once, on stderr."""

    def __init__(self, record: RunRecord, frames: Callable[[Any], dict], curve: tuple[str, str, str] | None = None):
        from common.platform.validate import env_setting

        self.record, self.frames, self.curve = record, frames, curve
        self.tensorboard = env_setting("REPRO_TENSORBOARD", False)
        self._warned = False
        self._tb = None
        previous = meta(record) or {}
        self._streamed: dict[str, int] = dict(previous.get("tensorboard_rows") or {})
        self._seen: set[str] = set(previous.get("tables") or ())  # the tables live metrics hold (streamed at the end)

    def checkpoint(self, state: Any, units: int | None, wall_s: float | None) -> None:
        try:
            frames = self.frames(state)
            self._seen |= set(frames)
            if self.tensorboard:
                self.stream(frames)
            write(self.record, frames, {"units": units, "wall_s": None if wall_s is None else round(wall_s, 3),
                                        "tensorboard_rows": self._streamed or None})
        except Exception as exc:  # noqa: BLE001 - live metrics are a view: the run goes on without them
            if not self._warned:
                print(f"repro: live metrics of {self.record.path} not written: {type(exc).__name__}: {exc}",
                      file=sys.stderr, flush=True)
                self._warned = True

    def stream(self, frames: dict) -> None:
        """Every row not streamed before, each numeric column one scalar `table/column` at the row's step."""
        if self._tb is None:
            self._tb = TensorBoard(self.record.path / TENSORBOARD_DIR)
        for name, df in frames.items():
            start = self._streamed.get(name, 0)
            if len(df) <= start:
                continue
            preferred = self.curve[1] if self.curve and self.curve[0] == name else None
            self._tb.add_rows(name, df.iloc[start:], step_column(df, preferred), first_index=start)
            self._streamed[name] = len(df)
        self._tb.flush()

    def finish(self, tables: dict) -> None:
        """At the run's end: stream the rows of the live tables that came after the last checkpoint (a run too short
        to checkpoint streams its final tables, all of them)."""
        if self.tensorboard:
            with contextlib.suppress(Exception):
                self.stream({k: v for k, v in tables.items() if k in self._seen or not self._seen})
                self._tb.close()


class TensorBoard:
    """TensorBoard event files through tensorboard's own writer (no torch needed)."""

    def __init__(self, folder: Path):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        folder.mkdir(parents=True, exist_ok=True)
        self.writer = EventFileWriter(str(folder))

    def add_rows(self, table: str, rows, step: str | None, first_index: int = 0) -> None:
        import time

        import numpy as np
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        columns = [c for c in rows.columns if c not in ("seed", step) and np.issubdtype(rows[c].dtype, np.number)]
        for i, values in enumerate(rows.to_dict("records")):
            at = int(values[step]) if step else first_index + i
            summary = Summary(value=[Summary.Value(tag=f"{table}/{c}", simple_value=float(values[c]))
                                     for c in columns if np.isfinite(values[c])])
            self.writer.add_event(Event(wall_time=time.time(), step=at, summary=summary))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
