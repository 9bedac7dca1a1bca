"""Reports: figures and claims tables regenerated offline from recorded runs.

results/<paper>/runs/...        per-run records (committed: config, provenance, per-seed metrics)
results/<paper>/figures/        PNG and SVG (aggregate_<name>_profile: a multi-task result's performance profile)
results/<paper>/claims.csv      one row per claim, with its verdict
results/<paper>/summaries/      per experiment that names a `summary:`, one row per run (its numbers and provenance);
                                a paper's own SECTIONS may add theirs (the offline papers: datasets.csv)
results/<paper>/README.md       the claims table and figures, generated
results/README.md               the index over papers, generated
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import chain, count
from pathlib import Path

import pandas as pd

from common.analysis import aggregate
from common.analysis.claims import (RULE_TEXT, Budget, compute_statistic, load_claims, load_comparisons, load_tables, rule_outcome,
                     verdict)
from common.analysis.reference import compare_claim
from common.platform.config import to_dict
from common.platform.records import RunRecord, atomic_write_text
from common.platform.registry import papers
from common.platform.runs import RunSpec, plan, resolve, results_root


@dataclass
class ExperimentData:
    budget_name: str
    budget: Budget
    paper_budget: Budget
    tables: dict[str, pd.DataFrame]
    configs: dict[str, dict]  # variant -> resolved config of its runs (seed aside)
    commits: list[str]
    seeds_by_variant: dict[str, int]
    runs_done: int = 0
    runs_planned: int = 0
    runs: pd.DataFrame | None = None  # one row per complete run: variant, seed and its provenance (commit, speed)
    #: (variant, seed) -> {key: (recorded, now)} for each run recorded under settings its experiment no longer
    #: resolves to (keys added since read as its runner's `legacy`); a run absent here follows the current protocol
    old_protocol: dict = field(default_factory=dict)
    #: (variant, seed) -> the error line of each run whose training went non-finite (its DIVERGED record): a seed
    #: run, counted in `seeds_by_variant`, with no metrics (common/platform/records.py: RunRecord.diverge)
    diverged: dict = field(default_factory=dict)

    def runs_text(self) -> str:
        """e.g. '12 of 21 runs complete (seeds per variant: 0-3)', and how many diverged where any did."""
        seeds = list(self.seeds_by_variant.values())
        spread = f"{min(seeds)}" if min(seeds) == max(seeds) else f"{min(seeds)}-{max(seeds)}"
        diverged = f", {len(self.diverged)} diverged (non-finite, recorded)" if self.diverged else ""
        return f"{self.runs_done} of {self.runs_planned} runs complete{diverged} (seeds per variant: {spread})"

    def diverged_text(self, variants: list[str]) -> str:
        """'diverged (non-finite; not in the estimate): natural_gradient_1 seed 4 (non-finite ...)', or ''."""
        hits = [f"{v} seed {seed} ({error})" for (v, seed), error in sorted(self.diverged.items()) if v in variants]
        return f"diverged (non-finite; not in the estimate): {'; '.join(hits)}" if hits else ""

    @property
    def reduced(self) -> bool:
        return self.budget.below(self.paper_budget)

    def budget_for(self, variants: list[str]) -> Budget:
        """The budget of the runs a claim uses: the fewest seeds among its variants."""
        return Budget(min(self.seeds_by_variant.get(v, 0) for v in variants), dict(self.budget.values))


def _budget_of(exp, budget_name: str, seeds: int) -> Budget:
    cfg = resolve(RunSpec(exp.paper.name, exp.run_experiment, budget_name, next(iter(exp.variants)), 0))
    return Budget(seeds, {k: cfg[k] for k in exp.budget_keys})


def _frames_text(exp, budget_name: str, variants: list[str]) -> str:
    """For one Atari variant, its agent-step budget in emulator frames too (agent steps x frame skip)."""
    if len(variants) != 1:
        return ""
    cfg = resolve(RunSpec(exp.paper.name, exp.run_experiment, budget_name, variants[0], 0))
    if "total_agent_steps" not in cfg or "frame_skip" not in cfg:
        return ""
    return f" (= {cfg['total_agent_steps'] * cfg['frame_skip']:,} emulator frames at frame skip {cfg['frame_skip']})"


def load_experiment(exp, root: Path | None = None) -> ExperimentData | None:
    """Complete runs of the first budget that has any: the paper's, then other named (reduced) budgets in the order
    experiments.yaml lists them, then quick; None if there are none. `root`: another results folder than the
    configured one."""
    order = ["paper"] + [b for b in exp.budgets if b not in ("paper", "quick")] + ["quick"]
    for budget_name in order:
        specs = plan(exp.paper.name, exp.name, budget_name, root=str(root) if root else "")
        done = [s for s in specs if RunRecord(s.run_dir).is_complete()]
        if not done:
            continue
        diverged = {(s.variant, s.seed): d["error"] for s in specs
                    if (d := RunRecord(s.run_dir).divergence()) is not None}
        frames: dict[str, list[pd.DataFrame]] = {}
        commits, runs, old = set(), [], {}
        for s in done:
            rec = RunRecord(s.run_dir)
            for name in rec.tables():
                frames.setdefault(name, []).append(rec.read_table(name).assign(variant=s.variant))
            prov = rec.read_json("provenance.json") or {}
            commit = _commit_text(prov.get("git") or {})
            commits.add(commit)
            runs.append(_run_row(s, prov, commit))
            diffs = protocol_differences(rec, to_dict(resolve(s)), exp.runner.legacy)
            runs[-1]["protocol"] = ("old: " + ", ".join(diffs)) if diffs else "current"
            if diffs:
                old[(s.variant, s.seed)] = diffs
        seeds_by_variant = {v: len({s.seed for s in done if s.variant == v} | {seed for (w, seed) in diverged
                                                                                 if w == v}) for v in exp.variants}
        configs = {v: to_dict(resolve(RunSpec(exp.paper.name, exp.run_experiment, budget_name, v, 0)))
                   for v in exp.variants}
        return ExperimentData(
            budget_name=budget_name,
            budget=_budget_of(exp, budget_name, min(seeds_by_variant.values())),
            paper_budget=_budget_of(exp, "paper", exp.seeds("paper")),
            tables={k: pd.concat(v, ignore_index=True) for k, v in frames.items()},
            configs=configs,
            commits=sorted(commits),
            seeds_by_variant=seeds_by_variant,
            runs_done=len(done),
            runs_planned=len(specs),
            runs=pd.DataFrame(runs),
            old_protocol=old,
            diverged=diverged,
        )
    return None


def protocol_differences(record: RunRecord, now: dict, legacy: dict) -> dict[str, tuple]:
    """{key: (recorded, now)} for each setting in which the run's recorded config.yaml differs from what its
    experiment resolves to now; a key the record lacks was recorded before it existed and holds its `legacy` value
    (what the code did then)."""
    import yaml

    recorded = yaml.safe_load((record.path / "config.yaml").read_text()) or {}
    out = {}
    for key in sorted(set(now) | set(recorded)):
        was = recorded.get(key, legacy.get(key, "(absent)"))
        is_ = now.get(key, "(removed)")
        if was != is_:
            out[key] = (was, is_)
    return out


def _old_protocol_text(data: ExperimentData, variants: list[str] | None = None) -> str:
    """'old protocol: 2 of 2 runs (eval_protocol, env_seeding)' for the runs of `variants`, or ''."""
    keys = [k for k in data.old_protocol if variants is None or k[0] in variants]
    if not keys:
        return ""
    total = sum(data.seeds_by_variant.get(v, 0) for v in (variants or data.seeds_by_variant))
    names = sorted({name for k in keys for name in data.old_protocol[k]})
    return f"old protocol: {len(keys)} of {total} runs ({', '.join(names)}; rerun queued)"


def _old_protocol_markdown(paper, exp, data: ExperimentData) -> str:
    """The experiment's runs made under an older protocol: what differs (recorded -> now) and the rerun command."""
    if not data.old_protocol:
        return ""
    lines = [f"- **Old protocol**: {len(data.old_protocol)} of {data.runs_done} runs were recorded under settings "
             "that differ from what the experiment resolves to now (recorded -> now; a key the record lacks holds "
             "the behaviour of the code before the key existed):"]
    for (variant, seed), diffs in sorted(data.old_protocol.items()):
        text = "; ".join(f"{k} {_md_escape(a)} -> {_md_escape(b)}" for k, (a, b) in diffs.items())
        lines.append(f"  - `{variant}/seed_{seed}`: {text}")
    variants = list(dict.fromkeys(v for v, _ in sorted(data.old_protocol)))
    n_seeds = max(seed for _, seed in data.old_protocol) + 1  # the seeds recorded, not more than the budget plans
    seeds = f" --seeds {n_seeds}" if n_seeds < exp.seeds(data.budget_name) else ""
    base = f"results/{paper.name}/runs/{exp.run_experiment}/{data.budget_name}"
    aside = f"results/{paper.name}/old_protocol/{exp.run_experiment}/{_aside_budget(paper, exp, data, variants)}"
    lines.append(f"  - Rerun (a sweep skips recorded runs, so their records move aside first, kept in git): "
                 f"`mkdir -p {aside} && for v in {' '.join(variants)}; do git mv {base}/$v {aside}/$v; done && "
                 f"repro sweep {paper.name} {exp.run_experiment} --budget {data.budget_name} "
                 + " ".join(f"--variant {v}" for v in variants) + seeds + " --launcher local`")
    return "\n".join(lines) + "\n"


def _aside_budget(paper, exp, data: ExperimentData, variants: list[str]) -> str:
    """The folder under old_protocol/EXPERIMENT/ that the runs of `variants` move to: the budget's name, or, where an
    earlier move already holds one of these variants there, the budget's name numbered -2, -3, ... (`git mv` into an
    existing folder would nest the records inside the older ones)."""
    base = results_root() / paper.name / "old_protocol" / exp.run_experiment
    names = chain([data.budget_name], (f"{data.budget_name}-{n}" for n in count(2)))
    return next(name for name in names if not any((base / name / v).exists() for v in variants))


def _commit_text(git: dict) -> str:
    return f"{(git.get('commit') or 'unknown')[:10]}{' (dirty)' if git.get('dirty') else ''}"


_PROVENANCE_COLUMNS = ("Wall time: every attempt's time on the work the run kept (empty for a run resumed from a "
                       "checkpoint that did not record its cost); speed: of the last attempt.")


def _run_row(spec, prov: dict, commit: str) -> dict:
    """A run's provenance, as the columns a summary table ends with."""
    speed = prov.get("throughput") or {}
    wall_s = prov.get("wall_s_last_attempt")
    # all attempts' time on the kept work; a one-attempt run recorded before that was kept: its only attempt
    total_s = prov.get("wall_s_all_attempts", wall_s if prov.get("attempts") == 1 else None)
    return {"variant": spec.variant, "seed": spec.seed, "attempts": prov.get("attempts"),
            "wall time (min)": None if total_s is None else round(total_s / 60, 1),
            "last attempt (min)": None if wall_s is None else round(wall_s / 60, 1),
            "speed (per s)": (f"{speed['per_second']:,} {speed.get('unit', '')}".strip()
                              if speed.get("per_second") is not None else None),
            "commit": commit}


def _threshold(paper, claim, data: ExperimentData):
    t = claim.rule.get("threshold")
    if isinstance(t, dict):
        from omegaconf import OmegaConf

        fn = paper.module.COMPUTED[t["computed"]]
        return float(fn(OmegaConf.create(data.configs[t.get("variant", claim.variants()[0])])))
    return None if t is None else float(t)


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and pd.isna(x)):
        return ""
    return f"{float(x):.4g}"


def _not_run(row: dict, claim, threshold_text: str) -> dict:
    """The row of a claim with no complete run: no estimate, verdict "not run"."""
    row.update({"estimate": "", "ci95": "", "n_runs": 0, "budget_used": "", "at_this_budget": "",
                "verdict": verdict(None, False)})
    if "op" in claim.rule:
        row["target"] = f"{claim.rule['op']} {threshold_text}"
    return row


def _reference_columns(claim, comparisons: dict, data: ExperimentData | None) -> dict:
    """The claim's second verdict, against reference implementations at the budget used (empty without a
    `reference:` block; "not run" without runs)."""
    if claim.reference is None:
        return {"reference_verdict": "", "reference_detail": ""}
    if data is None or data.seeds_by_variant.get(claim.reference["variant"], 0) == 0:
        return {"reference_verdict": "not run", "reference_detail": ""}
    result = compare_claim(claim, comparisons[claim.reference["compare"]], data)
    return {"reference_verdict": result.outcome, "reference_detail": result.text()}


def evaluate_claims(paper, data_by_exp: dict[str, ExperimentData | None]) -> pd.DataFrame:
    rows = []
    comparisons = load_comparisons(paper)
    for claim in load_claims(paper):
        exp = paper.experiment(claim.experiment)
        data = data_by_exp.get(claim.experiment)
        variants = claim.variants(exp)
        row = {"claim": claim.id, "source": claim.source_text, "experiment": claim.experiment,
               "statement": claim.statement, "metric": claim.metric, "env_version": exp.env_version,
               "paper_budget": _budget_of(exp, "paper", exp.seeds("paper")).text() + _frames_text(exp, "paper", variants),
               **_reference_columns(claim, comparisons, data)}
        if "paper_value" in claim.rule:
            row["paper_value"] = _fmt(float(claim.rule["paper_value"]))
            row["target"] = f"{_fmt(float(claim.rule['paper_value']))} ± {_fmt(float(claim.rule.get('tolerance', 0)))}"
        if data is None:
            t = claim.rule.get("threshold")
            rows.append(_not_run(row, claim, f"{t['computed']} (closed form)" if isinstance(t, dict) else _fmt(t)))
            continue
        budget = data.budget_for(variants)
        custom = None
        if "custom" in claim.statistic:
            custom = paper.module.STATISTICS[claim.statistic["custom"]](claim, data_by_exp)
        if budget.seeds == 0 or (custom is not None and len(custom) == 0):
            rows.append(_not_run(row, claim, _fmt(_threshold(paper, claim, data))))
            continue
        table = data.tables.get("replications")
        est, lo, hi, n = compute_statistic(claim, table, custom)
        threshold = _threshold(paper, claim, data)
        if "op" in claim.rule:
            row["target"] = f"{claim.rule['op']} {_fmt(threshold)}"
        outcome = rule_outcome(claim.rule, est, lo, hi, threshold)
        ci95 = f"[{_fmt(lo)}, {_fmt(hi)}]" if lo is not None and not pd.isna(lo) else "(one run, no interval)"
        reduced, budget_text = budget.below(data.paper_budget), f"{data.budget_name}: {budget.text()}"
        budget_text += _frames_text(exp, data.budget_name, variants)
        why_one = exp.budgets.get(data.budget_name, {}).get("single_seed")  # registry.py: _check_seeds
        budget_text += f"; one seed on purpose: {why_one}" if why_one and budget.seeds == 1 else ""
        old = _old_protocol_text(data, variants)
        budget_text += f"; {old}" if old else ""
        diverged = data.diverged_text(variants)
        budget_text += f"; {diverged}" if diverged else ""
        if claim.statistic.get("normalized_over") == "experiment":  # e.g. Table 1: best setting = 1 per task
            if data.budget_for(list(exp.variants)).below(data.paper_budget):
                recorded = sum(data.seeds_by_variant.get(v, 0) > 0 for v in exp.variants)
                reduced = True
                budget_text += f"; normalized over {recorded} of {len(exp.variants)} variants recorded"
        row.update({"estimate": _fmt(est), "ci95": ci95, "n_runs": n, "budget_used": budget_text,
                    "at_this_budget": outcome, "verdict": verdict(outcome, reduced)})
        rows.append(row)
    cols = ["claim", "source", "experiment", "statement", "metric", "paper_value", "target", "estimate", "ci95",
            "n_runs", "budget_used", "paper_budget", "env_version", "at_this_budget", "verdict", "reference_verdict",
            "reference_detail"]
    df = pd.DataFrame(rows)
    return df.reindex(columns=cols).astype(object).fillna("")  # object first: a float column may hold gaps


def _md_escape(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _claims_markdown(df: pd.DataFrame) -> str:
    head = ("| claim | source | statement | metric | target | regenerated [95% bootstrap CI] | runs | budget used | "
            "paper's budget | environment | verdict | against reference implementations at the budget used |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in df.itertuples():
        est = f"{r.estimate} {r.ci95}" if r.estimate != "" else "—"
        v = r.verdict if r.verdict != "reduced budget" else f"reduced budget (at this budget: {r.at_this_budget})"
        ref = (f"**{r.reference_verdict}**" + (f": {r.reference_detail}" if r.reference_detail else "")
               if r.reference_verdict else "—")
        lines.append("| " + " | ".join(_md_escape(x) for x in (
            r.claim, r.source, r.statement, r.metric, r.target, est, r.n_runs, r.budget_used or "—",
            r.paper_budget, r.env_version, f"**{v}**", ref)) + " |")
    return head + "\n".join(lines) + "\n"


def damaged_runs(exp) -> list[tuple[str, tuple[str, ...]]]:
    """(label, problems) of each of the experiment's runs, at any named budget, whose record is damaged: left out."""
    out = []
    for budget_name in exp.budgets:
        for s in plan(exp.paper.name, exp.name, budget_name):
            record = RunRecord(s.run_dir)
            if record.is_damaged():
                out.append((s.label, record.damage()))
    return out


def figures_of(paper, name: str, figures_dir: Path, suffix: str = ".png") -> list[Path]:
    """The experiment's figure files in `figures_dir`: named `<name>` or `<name>_...`, and not owned by another
    experiment whose longer name also prefixes them (`table1_dmc_x` is table1_dmc's, not table1's)."""
    def owner(stem: str) -> str | None:
        names = [n for n in paper.experiments if stem == n or stem.startswith(n + "_")]
        return max(names, key=len) if names else None

    return sorted(f for f in figures_dir.glob(f"{name}*{suffix}") if owner(f.stem) == name)


def _remove_stale_figures(paper, name: str, out: Path) -> list[str]:
    """An experiment with no complete run has no figure: remove those an earlier report drew (its runs since moved
    aside or never kept), so nothing shows numbers its records no longer hold. Returns what went."""
    gone = [f for suffix in (".png", ".svg") for f in figures_of(paper, name, out / "figures", suffix)]
    for f in gone:
        f.unlink()
    return [str(f.relative_to(out)) for f in gone]


def report_paper(paper, experiment: str | None = None, root: Path | None = None) -> list[str]:
    """Regenerate figures (of one experiment, or all), the per-run summaries and the paper's claims table; returns
    printable lines. A damaged run record is named and left out; everything else is still written."""
    out = paper.results_dir(root or results_root())
    # claims.yaml is checked before anything is written: a paper with an invalid file keeps its report as it was
    load_tables(paper, {c.id for c in load_claims(paper)})
    damaged = {name: damaged_runs(exp) for name, exp in paper.experiments.items()}
    data_by_exp = {name: load_experiment(exp) for name, exp in paper.experiments.items()}
    summaries = {name: summarize(paper, exp, data_by_exp[name]) for name, exp in paper.experiments.items()}
    lines = [f"DAMAGED {label}: {'; '.join(problems)} (left out; `repro verify` lists every damaged record)"
             for name in paper.experiments if not paper.experiments[name].runs_of for label, problems in damaged[name]]
    for name, exp in paper.experiments.items():
        data = data_by_exp[name]
        if summaries[name] is not None:
            (out / "summaries").mkdir(parents=True, exist_ok=True)
            atomic_write_text(out / "summaries" / f"{name}.csv",
                              summaries[name].to_csv(index=False, lineterminator="\n", float_format="%.10g"))
        elif (stale := out / "summaries" / f"{name}.csv").is_file():  # an earlier report's, of runs no longer here
            stale.unlink()
            lines.append(f"{paper.name}/{name}: no summary now; removed the earlier {stale.relative_to(out)}")
        if experiment and name != experiment:
            continue
        if data is None:
            gone = _remove_stale_figures(paper, name, out)
            lines.append(f"{paper.name}/{name}: no complete runs; nothing to draw"
                         + (f" (removed an earlier report's {', '.join(gone)})" if gone else ""))
            continue
        caption = (f"{data.budget_name} budget, {data.runs_text()}: {data.budget.text(with_seeds=False)}"
                   f"{' (REDUCED: paper uses ' + data.paper_budget.text() + ')' if data.reduced else ''}; "
                   f"{exp.env_version}")  # each figure adds what its lines show (plotting.budget_caption)
        old = _old_protocol_text(data)
        caption += f"; {old}" if old else ""
        paths = paper.module.FIGURES[exp.figure](exp, data, out / "figures", caption) if exp.figure else []
        if summaries[name] is not None:
            paths.append(out / "summaries" / f"{name}.csv")
        root_dir = out.parent.parent
        shown = [str(p.relative_to(root_dir)) if p.is_relative_to(root_dir) else str(p) for p in paths]
        lines.append(f"{paper.name}/{name}: " + (", ".join(shown) or ("nothing to draw yet" if exp.figure
                                                                         else "no figure (figure: none)")))
    claims = evaluate_claims(paper, data_by_exp)
    out.mkdir(parents=True, exist_ok=True)
    aggregates = aggregate.report(paper, data_by_exp, out)  # tables for the README; profile figures written
    # a paper's own sections, from records other than its runs (SECTIONS: name -> function(paper, out, root) ->
    # markdown; e.g. the offline papers' datasets, common/offline/report.py)
    sections = "".join(make(paper, out, root or results_root())
                       for make in getattr(paper.module, "SECTIONS", {}).values())
    atomic_write_text(out / "claims.csv", claims.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out / "README.md", _paper_readme(paper, data_by_exp, summaries, claims, out, aggregates,
                                                       damaged, sections))
    lines.append(f"{paper.name}: {len(claims)} claims -> {out / 'README.md'}")
    return lines


def summarize(paper, exp, data: ExperimentData | None) -> pd.DataFrame | None:
    """The experiment's per-run table (its `summary:` in experiments.yaml), one row per complete run, ending with each
    run's provenance; None if it names no summary or has no complete run."""
    if exp.summary is None or data is None:
        return None
    table = paper.module.SUMMARIES[exp.summary](exp, data)
    return table.merge(data.runs, on=["variant", "seed"], how="left").sort_values(["variant", "seed"], kind="stable")


def _cell(x) -> str:
    """A summary cell: 4 significant digits with thousands separators; integers whole; gaps empty."""
    if x is None or (not isinstance(x, str) and pd.isna(x)):
        return ""
    if isinstance(x, (bool, str)):
        return _md_escape(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{float(x):,.4g}"


def _summary_markdown(table: pd.DataFrame) -> str:
    head = "| " + " | ".join(_md_escape(c) for c in table.columns) + " |\n" + "|---" * len(table.columns) + "|\n"
    return head + "\n".join("| " + " | ".join(_cell(x) for x in row) + " |"
                             for row in table.itertuples(index=False)) + "\n"


def _speed_markdown(out: Path) -> str:
    """The benchmarks recorded by `repro bench` (results/<paper>/bench.json), as a table."""
    import json

    path = out / "bench.json"
    if not path.exists():
        return "## Speed\n\nNo benchmark recorded yet (`repro bench PAPER EXPERIMENT`).\n" + _kept_memory_markdown(out)
    entries = json.loads(path.read_text())
    loops = {key: r for key, r in entries.items() if "updates" not in r}
    updates = {key: r for key, r in entries.items() if "updates" in r}
    if not loops:
        return "## Speed\n\n" + _update_bench_markdown(updates) + _profile_markdown(out) + _kept_memory_markdown(out)
    rows = ["## Speed\n", "Measured by `repro bench` in one process: the full training loop and environment-only stepping "
            "of the same environment, on the machine named. The peer (stable-baselines3 with the same settings and "
            "thread count) ran in the same invocation, alternating with the loop (A B A B); its column gives the "
            "median ratio this / peer over the rounds [range], the threads of each and the share of the machine "
            "that other processes used during each run (A, B, A, B, ...). The last column is context only: "
            "speeds measured on another day and host.\n",
            "| benchmark | setting | environment only | training | ratio | measured peer (same invocation): median "
            "ratio [range], threads, other load | context: reference implementations measured elsewhere | "
            "machine, commit, date |",
            "|---|---|---|---|---|---|---|---|"]
    for key, r in sorted(loops.items()):
        when = r.get("references_measured")
        where = f"measured {when['when']}, {when['machine']}" if when else "measured on another day, same machine class"
        refs = "; ".join(f"{name}: {lo:,}-{hi:,}" for name, (lo, hi) in sorted(r.get("references", {}).items()))
        refs = f"{refs} ({where})" if refs else "—"
        extra = ""
        if "environment_only_gym_wrappers" in r:
            g = r["environment_only_gym_wrappers"]
            extra = f"; through CleanRL's gymnasium wrappers {g:,.0f} (training / that: {r['training'] / g:.2f})"
        machine = f"{_machine_text(r)}; {r.get('when', '?')[:10]}"
        rows.append(f"| {key} | {_md_escape(r['note'])} | {r['environment_only']:,.0f} {r['unit']}{extra} | "
                    f"{r['training']:,.0f} {r['unit']} | {r['ratio']:.2f} | {_md_escape(_peer_text(r))} | "
                    f"{_md_escape(refs)} | {_md_escape(machine)} |")
    tail = "\n" + _update_bench_markdown(updates) if updates else ""
    return "\n".join(rows) + "\n" + tail + _profile_markdown(out) + _kept_memory_markdown(out)


def _kept_memory_markdown(out: Path) -> str:
    """The runs timed by `repro bench --kept-memory` (results/<paper>/kept_memory.json; common/platform/kept_memory.py):
    per run, wall and system seconds with the setting off and on (median [range] over the rounds), their ratio, peak
    memory and the other processes' share of the machine during each process; '' when there is none."""
    import json
    import statistics

    from common.platform.bench import load_text
    from common.platform.kept_memory import FILE

    path = out / FILE
    if not path.exists():
        return ""

    def med(ps: list[dict], key: str) -> str:
        values = [p[key] for p in ps]
        return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"

    rows = ["\n### Keeping freed memory (`repro bench ... --kept-memory`)\n",
            "Each process is one whole run (seed 0) in a fresh process with keep_freed_memory off and on in turn "
            "(common/platform/memory.py); its tables were equal byte for byte in every round. Seconds are wall "
            "time per process, median [range] over the rounds; other load: the share of the machine other processes "
            "used during each process (off, on, off, on, ...).\n",
            "| run | off: wall s | on: wall s | off / on | off: system s | on: system s | peak MB off / on | "
            "other load | machine, commit, date |",
            "|---|---|---|---|---|---|---|---|---|"]
    for key, r in sorted(json.loads(path.read_text()).items()):
        off, on = r["processes"]["off"], r["processes"]["on"]
        loads = load_text([p["other_load"] for pair in zip(off, on) for p in pair])
        peak = f"{max(p['peak_rss_mb'] for p in off):,.0f} / {max(p['peak_rss_mb'] for p in on):,.0f}"
        lo, hi = r["speedup_range"]
        rows.append(f"| {key} | {med(off, 'seconds')} | {med(on, 'seconds')} | {r['speedup_median']:.2f} "
                    f"[{lo:.2f}-{hi:.2f}] | {med(off, 'system_s')} | {med(on, 'system_s')} | {peak} | {loads} | "
                    f"{_md_escape(_machine_text(r))}; {r.get('when', '?')[:10]} |")
    return "\n".join(rows) + "\n"


def _update_bench_markdown(entries: dict) -> str:
    """The update benches of an offline method (no environment in its loop): per bench, each update's gradient
    steps/s and ms per update (median [range] over the rounds), its time over the yardstick's update in the same
    round (median [range]) and the other processes' share of the machine in each round."""
    from common.platform.bench import load_text

    parts = []
    for key, r in sorted(entries.items()):
        parts += [f"**{_md_escape(key)}** ({_md_escape(r['note'])}; {_md_escape(_machine_text(r))}, "
                  f"{r.get('when', '?')[:10]}). Measured by `repro bench`, the updates in turn in one process; the "
                  f"last column but one: time per update over {r['yardstick']}'s in the same round. Peer: "
                  f"{_md_escape(r.get('peer_note', 'none'))}.\n",
                  f"| update | what | {r['unit']}: median [range] | ms per update: median [range] | GFLOP per update "
                  f"(matmuls, counted by torch) | time / {r['yardstick']}: median [range] | other load per round |",
                  "|---|---|---|---|---|---|---|"]
        for name, u in r["updates"].items():
            (lo, hi), (m_lo, m_hi), (c_lo, c_hi) = (u["steps_per_s_range"], u["ms_per_update_range"],
                                                    u["time_over_sac_update_range"])
            parts.append(f"| {name} | {_md_escape(u['what'])} | {u['steps_per_s']:,.1f} [{lo:,.1f}-{hi:,.1f}] | "
                         f"{u['ms_per_update']:.1f} [{m_lo:.1f}-{m_hi:.1f}] | {u['gflop_per_update']:.3g} | "
                         f"{u['time_over_sac_update']:.2f} "
                         f"[{c_lo:.2f}-{c_hi:.2f}] | {load_text(u['other_load'])} |")
        if "peer_ratio" in r:
            parts.append(_peer_ratio_text(r["peer_ratio"]))
        parts.append("")
    return "\n".join(parts) + "\n"


def _peer_ratio_text(p: dict) -> str:
    """The line under an update bench or profile: the peer's time per update over this repository's, per round."""
    return (f"\n{p['peer']}'s time per update over {p['update']}'s, in the same rounds: median "
            f"{p['median']:.2f} [{p['range'][0]:.2f}-{p['range'][1]:.2f}].")


def _peer_text(r: dict) -> str:
    """The peer column of one bench.json entry: 'NAME N steps/s: 3.1x [2.9-3.4], 2 rounds; threads ...; other load
    A% B% A% B%', or why there is none."""
    from common.platform.bench import load_text, threads_text

    p = r.get("peer")
    if not p:
        if "runs" in r or not r.get("references"):
            return "—"  # timed without a peer, or an algorithm with none
        return "not measured (recorded before peers ran in the same invocation)"
    lo, hi = p["ratio_range"]
    return (f"{p['name']} {p['steps_per_s']:,.0f} {r['unit']}: {p['median_ratio']:.2f}x [{lo:.2f}-{hi:.2f}], "
            f"{p['rounds']} rounds; threads {threads_text(p['threads'])}; other load {load_text(p['other_load'])}")


def _machine_text(r: dict) -> str:
    """'CPU, N cores; commit' of a bench.json or profile.json entry."""
    return f"{r['machine'].get('cpu', '?')}, {r['machine'].get('cpu_count', '?')} cores; {(r['git'].get('commit') or '?')[:10]}"


def _profile_markdown(out: Path) -> str:
    """Where one update's (on-policy: one iteration's) time goes, as recorded by `repro bench --profile`
    (results/<paper>/profile.json): every entry's measures, whatever they are, as a table, in the entry's
    `measure_order` where it has one."""
    import json

    path = out / "profile.json"
    if not path.exists():
        return ""
    parts = ["\n### Update profile\n", "Measured by `repro bench PAPER EXPERIMENT --variant V --profile`; each measure "
             "names its unit.\n"]
    for key, r in sorted(json.loads(path.read_text()).items()):
        machine = _machine_text(r)
        parts += [f"**{_md_escape(key)}** ({_md_escape(r['note'])}; {_md_escape(machine)}, {r['when']})\n",
                  "| measure | value |", "|---|---|"]
        order = r.get("measure_order") or list(r["measures"])  # profile.json's measures are stored sorted by name
        parts += [f"| {name} | {r['measures'][name]:,.3f} |" for name in order]
        if "peer_ratio" in r:
            parts.append(_peer_ratio_text(r["peer_ratio"]))
        parts.append("")
    return "\n".join(parts) + "\n"


def _md_literal(text) -> str:
    """A name shown as written (Q*bert), not as emphasis."""
    return _md_escape(text).replace("*", "\\*")


@dataclass
class TableView:
    """A paper-shaped table of claims.yaml, filled: its header, its rows of cells (paper rows as printed, regenerated
    rows from the claims), and under it the budget and verdicts of each regenerated column."""

    title: str
    where: str
    page: object
    header: list[str]
    rows: list[list[str]]  # first cell: the row's label
    budgets: dict[str, list[str]]  # budget and verdicts -> the headers of the columns regenerated at it


def paper_tables(paper, claims: pd.DataFrame) -> list[TableView]:
    """The paper-shaped tables of claims.yaml, their regenerated cells taken from the claims table."""
    tables = load_tables(paper, set(claims["claim"]) if len(claims) else set())
    by_id = {r["claim"]: r for r in claims.to_dict("records")}
    views = []
    for t in tables:
        rows, budgets = [], {}
        for row in t.rows:
            if "values" in row:
                cells = [f"{float(v):.6g}" for v in row["values"]]  # as printed
            else:
                cells = []
                for col, header in t.columns.items():
                    r = by_id[t.claim_id(row, col)]
                    value = r["paper_value"] if row["show"] == "paper_value" else r["estimate"]
                    cells.append(str(value) if value != "" else "—")
                    if row["show"] == "estimate" and r["estimate"] != "":
                        budgets.setdefault(f"{r['budget_used']} (verdicts: {r['verdict']})", []).append(header)
            rows.append([row["label"], *cells])
        views.append(TableView(t.title, t.source.get("table") or t.source.get("figure") or "?",
                               t.source.get("page", "?"), list(t.columns.values()), rows, budgets))
    return views


def _tables_markdown(paper, claims: pd.DataFrame) -> str:
    """The paper-shaped tables of claims.yaml: the paper's rows as printed, the regenerated rows from the claims
    table (each regenerated cell is its claim's estimate; its budget and verdict are listed under the table)."""
    views = paper_tables(paper, claims)
    if not views:
        return ""
    parts = []
    for t in views:
        parts += [f"### {_md_escape(t.title)}\n",
                  f"Laid out as the paper prints it ({t.where}, p. {t.page}). Rows marked "
                  "\"paper\" quote it; rows marked \"regenerated\" are the estimates of the claims above, at the "
                  "budgets listed under the table.\n",
                  "| | " + " | ".join(_md_literal(h) for h in t.header) + " |",
                  "|---" * (len(t.header) + 1) + "|"]
        for label, *cells in t.rows:
            parts.append(f"| {_md_escape(label)} | " + " | ".join(_md_escape(c) for c in cells) + " |")
        parts.append("")
        for text, headers in t.budgets.items():
            parts.append(f"- {', '.join(_md_literal(h) for h in dict.fromkeys(headers))}: {_md_escape(text)}")
        if not t.budgets:
            parts.append("- No regenerated cell yet: no complete run.")
        parts.append("")
    return "## Tables as printed in the paper\n\n" + "\n".join(parts) + "\n"


def _paper_readme(paper, data_by_exp, summaries: dict[str, pd.DataFrame | None], claims: pd.DataFrame,
                  out: Path, aggregates: str = "", damaged: dict[str, list] | None = None, sections: str = "") -> str:
    parts = [f"# {paper.title}: regenerated results\n",
             f"{paper.citation}\n",
             "Generated by `repro report " + paper.name + "` from the run records under `runs/`; do not edit by hand. "
             f"How each figure is rerun, and every deviation from the paper: `papers/{paper.name}/README.md`.\n",
             "## Claims\n", _claims_markdown(claims), "\n" + RULE_TEXT]
    tables = _tables_markdown(paper, claims)
    parts += [part for part in (tables, aggregates, sections) if part] + [_speed_markdown(out), "## Experiments\n"]
    for name, exp in paper.experiments.items():
        data = data_by_exp[name]
        parts.append(f"### {name}: {exp.title}\n")
        parts.append(f"- Source: {exp.source}\n- Environment: {exp.env_version}\n"
                     f"- Paper's budget: {_budget_of(exp, 'paper', exp.seeds('paper')).text()}\n")
        for label, problems in (damaged or {}).get(name, []):
            parts.append(f"- **Left out, damaged record**: `{label}` ({_md_escape('; '.join(problems))})\n")
        if data is None:
            parts.append("- Budget used: not run yet\n")
            continue
        label = " (**reduced**)" if data.reduced else " (the paper's)"
        parts.append(f"- Budget used: {data.budget_name}: {data.budget.text(with_seeds=False)}{label}; "
                     f"{data.runs_text()}\n"
                     f"- Runs made at commit(s): {', '.join(data.commits)}\n"
                     f"- Rerun: `repro sweep {paper.name} {name} --budget {data.budget_name}`, then "
                     f"`repro report {paper.name}` (the sweep skips runs already recorded; with `REPRO_RESULTS=DIR` "
                     f"it runs them afresh under DIR)\n" + _old_protocol_markdown(paper, exp, data))
        summary = summaries[name]
        if summary is not None:
            doc = (paper.module.SUMMARIES[exp.summary].__doc__ or "").strip().split("\n\n")[0]
            parts.append(f"\n{_summary_caption(' '.join(doc.split()), data.budget_name, name)} {_PROVENANCE_COLUMNS}\n\n"
                         + _summary_markdown(summary))
        for fig in figures_of(paper, name, out / "figures"):
            parts.append(f"\n![{fig.stem}](figures/{fig.name})\n")
        parts.append("\n")
    return "\n".join(parts)


def _summary_caption(doc: str, budget_name: str, name: str) -> str:
    """The per-run table's caption: its budget and csv file, then what the summary's docstring says a row holds
    ("Per run: ..." or "Per run (note): ..." becomes one "Per run (budget; csv; note): ...")."""
    where = f"{budget_name} budget; also in `summaries/{name}.csv`"
    match = re.match(r"Per run(?: \((.*?)\))?: (.*)", doc)
    if match is None:
        return f"Per run ({where}). {_md_escape(doc)}"
    note, rest = match.groups()
    return f"Per run ({where}{'; ' + note if note else ''}): {_md_escape(rest)}"


def report_index(root: Path | None = None) -> str:
    root = root or results_root()
    parts = ["# Regenerated results: index\n",
             "Generated by `repro report --all` from the committed run records; do not edit by hand. Each row is one "
             "claim of a paper, its verdict from the rule below, and the budget it was checked at.\n",
             RULE_TEXT, "| paper | claim | source | verdict | against reference implementations | budget used | "
             "paper's budget |", "|---|---|---|---|---|---|---|"]
    for name, paper in papers().items():
        csv = paper.results_dir(root) / "claims.csv"
        if not csv.exists():
            parts.append(f"| [{name}]({name}/README.md) | — | — | not reported yet | — | — | — |")
            continue
        df = pd.read_csv(csv, keep_default_na=False)
        for r in df.itertuples():
            ref = getattr(r, "reference_verdict", "") or "—"
            parts.append(f"| [{name}]({name}/README.md) | {r.claim} | {_md_escape(r.source)} | **{r.verdict}** | "
                         f"{_md_escape(ref)} | {_md_escape(r.budget_used) or '—'} | {_md_escape(r.paper_budget)} |")
    path = root / "README.md"
    atomic_write_text(path, "\n".join(parts) + "\n")
    return f"index -> {path}"
