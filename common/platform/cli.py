"""`repro`: list papers, run one config, sweep a figure or table, report, and show status.

Bad input (unknown paper, experiment, budget, variant or config key; a wrong type) is reported in one line
naming what is valid, with exit status 2, before any work starts; nothing already recorded is touched.
A run that fails for a reason it names (a non-finite loss, parameter or metric; a metric that cannot be
computed) is reported in one line, without a traceback (unless REPRO_DEBUG=1), with exit status 1.
"""
from __future__ import annotations

import argparse
import os
import sys

from common.platform.device import device_name
from common.platform.errors import ReproError

#: The budget `repro run` and `repro sweep` use unless told otherwise: the paper's.
DEFAULT_BUDGET = "paper"
from common.platform.finite import RunFailure
from common.platform.validate import check_environment, env_setting


def _cmd_list(args) -> int:
    from common.analysis.claims import load_claims
    from common.platform.registry import papers
    from common.platform.status import experiment_counts

    if args.all:
        from common.platform.catalog import load_catalog, statuses

        rows = load_catalog()
        for r, status in sorted(zip(rows, statuses(rows)), key=lambda rs: rs[0]["title"].lower()):
            print(f"{r['n']:>3}  {r['title']}  [{r['class']}, {r['compute']}]\n     {status}"
                  + (f"  (papers/{r['folder']})" if r["folder"] and status != "planned" else ""))
        return 0

    for paper in papers().values():
        claims = load_claims(paper)
        print(f"{paper.name}  ({paper.title}; {len(claims)} claims)")
        for exp in paper.experiments.values():
            n_claims = sum(c.experiment == exp.name for c in claims)
            counts = experiment_counts(exp, "paper")
            state = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            print(f"  {exp.name:<10} {exp.source.split(';')[0]:<48} claims {n_claims:>2}   paper budget: {state}")
    return 0


def _check_device(local: bool) -> None:
    """A bad REPRO_DEVICE, or cuda on a machine without one (when runs execute here), is an error before any work
    starts; runs sent to Slurm check the hardware on their node."""
    if device_name() == "cuda" and local:
        from common.platform.device import torch_device

        torch_device()


def _variant(args, exp) -> str:
    """The variant a command names (`--variant`), or the experiment's only one; an error lists them otherwise."""
    variant = args.variant or (next(iter(exp.variants)) if len(exp.variants) == 1 else None)
    if variant is None:
        raise ReproError(f"{args.paper}/{args.experiment} has several variants; choose one with --variant: "
                         f"{', '.join(exp.variants)}")
    exp.variant(variant)
    return variant


def _cmd_run(args) -> int:
    from common.platform.config import parse_overrides
    from common.platform.registry import get_paper
    from common.platform.runs import RunSpec, check_inputs, execute, resolve

    _check_device(local=True)
    exp = get_paper(args.paper).experiment(args.experiment)
    variant = _variant(args, exp)
    exp.budget(args.budget)
    overrides = parse_overrides(args.overrides)
    if "seed" in overrides:
        raise ReproError("set the seed with --seed, not as a config override")
    spec = RunSpec(args.paper, exp.run_experiment, args.budget, variant, args.seed, tuple(sorted(overrides.items())))
    resolve(spec)  # validates before any work
    check_inputs([spec])  # and what it reads besides its config (a stored dataset) is there
    _check_writable()
    status = execute(spec)
    print(f"{status}: {spec.run_dir}")
    return 0


def _cmd_sweep(args) -> int:
    from common.platform.config import parse_overrides
    from common.platform.registry import get_paper
    from common.platform.runs import check_inputs, plan

    _check_device(local=args.launcher == "local")
    if args.jobs < 1:
        raise ReproError(f"--jobs must be at least 1, got {args.jobs}")
    paper = get_paper(args.paper)
    experiments = paper.select(args.experiment)
    overrides = parse_overrides(args.overrides)
    specs = []
    for exp in experiments:  # plan (and validate) everything before running anything
        specs += plan(paper.name, exp.name, args.budget, args.seeds, overrides, args.variant)
    specs = list(dict.fromkeys(specs))  # an experiment that is a subset of another's runs adds no duplicates
    check_inputs(specs)  # what the runs read besides their configs (stored datasets), dry runs included
    if not args.dry_run:
        _check_writable()
    if args.launcher == "local":
        from common.platform.sweep import run_local

        counts = run_local(specs, jobs=args.jobs, dry_run=args.dry_run)
        return 1 if counts.get("failed") or counts.get("error") else 0
    try:
        from common.platform.slurm import submit_sweep
    except ImportError:
        raise ReproError("the slurm launcher is not available in this version; use --launcher local") from None

    return submit_sweep(specs, profile=args.profile, runs_per_task=args.runs_per_task,
                        max_parallel=args.max_parallel, dry_run=args.dry_run)


def _cmd_report(args) -> int:
    from common.platform.registry import get_paper, papers
    from common.analysis.report import report_index, report_paper
    from common.platform.runs import results_root

    from common.analysis.claims import load_claims

    if args.all:
        if args.paper:
            raise ReproError("give either a paper or --all, not both")
        targets = [(p, None) for p in papers().values()]
    elif args.paper:
        targets = [(get_paper(args.paper), args.experiment)]
    else:
        raise ReproError("name a paper (repro report PAPER [EXPERIMENT]) or use --all")
    for paper, experiment in targets:  # every paper file checked before anything is read or written
        if experiment:
            paper.experiment(experiment)
        load_claims(paper)
    if not results_root().is_dir():
        raise ReproError(f"results folder {results_root()} does not exist: nothing to report "
                         "(REPRO_RESULTS chooses the folder)")
    for paper, experiment in targets:
        for line in report_paper(paper, experiment):
            print(line)
        if args.live:  # the runs still training, apart: results/<paper>/live/, marked in progress (no claim uses them)
            from common.analysis.live_report import report_live

            for line in report_live(paper, experiment):
                print(line)
        if args.format:
            from common.analysis.export import export_paper

            for path in export_paper(paper, paper.results_dir(results_root()), args.format):
                print(f"{paper.name}: {args.format} -> {path}")
    print(report_index())
    if args.all:
        from common import REPO_ROOT
        from common.platform.catalog import write_catalog_readme

        if results_root().resolve() == (REPO_ROOT / "results").resolve():
            print(f"catalog -> {write_catalog_readme()}")
        else:  # papers/README.md shows the repository's own runs, never another folder's
            print(f"catalog: papers/README.md not rewritten (it reflects {REPO_ROOT / 'results'}, not {results_root()})")
    return 0


def _cmd_bench(args) -> int:
    from common.platform.bench import format_bench, run_bench

    from common.platform.config import parse_overrides

    if args.budget is not None and not args.kept_memory:
        raise ReproError("--budget applies to --kept-memory only (a bench times its own steps: --steps)")
    if args.kept_memory and args.profile:
        raise ReproError("choose one of --kept-memory and --profile")
    if args.kept_memory:
        from common.platform.kept_memory import format_kept_memory, run_kept_memory

        result = run_kept_memory(args.paper, args.experiment, args.variant, args.budget or "quick",
                                 parse_overrides(args.overrides), rounds=args.rounds, save=not args.no_save)
        lines = format_kept_memory(result)
    elif args.profile:
        from common.platform.bench import format_profile, run_profile

        result = run_profile(args.paper, args.experiment, args.variant, save=not args.no_save,
                             overrides=parse_overrides(args.overrides))
        lines = format_profile(result)
    else:
        result = run_bench(args.paper, args.experiment, args.variant, args.steps, save=not args.no_save,
                           overrides=parse_overrides(args.overrides), rounds=args.rounds, peer=not args.no_peer)
        lines = format_bench(result)
    for line in lines:
        print(line)
    return 0


def _cmd_verify(args) -> int:
    from common.platform.runs import results_root
    from common.platform.verify import verify

    if args.paper:
        from common.platform.registry import get_paper

        get_paper(args.paper)
    return 1 if verify(results_root(), args.paper, seal=args.seal) else 0


def _check_writable() -> None:
    """The results folder must take new files before any run starts (a read-only or missing mount, a full disk)."""
    import tempfile

    from common.platform.runs import results_root

    root = results_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ReproError(f"the results folder {root} is not writable ({exc.strerror}); nothing was run "
                         "(REPRO_RESULTS chooses another folder)") from None


def _cmd_show(args) -> int:
    from common.platform.config import parse_overrides
    from common.platform.registry import get_paper
    from common.platform.show import show

    if args.variant and not args.experiment:
        raise ReproError("--variant needs an experiment: repro show PAPER EXPERIMENT --variant V")
    for line in show(get_paper(args.paper), args.experiment, args.variant, args.budget,
                     parse_overrides(args.overrides)):
        print(line)
    return 0


def _cmd_compare(args) -> int:
    from pathlib import Path

    from common.analysis.compare import compare
    from common.platform.registry import get_paper, papers

    names = [get_paper(args.paper).name] if args.paper else list(papers())
    for line in compare(Path(args.dir_a), Path(args.dir_b), names):
        print(line)
    return 0


def _find_run(args):
    """The run folder that `repro eval` and `repro video` name: paper, experiment, variant, seed and budget (any
    budget folder the experiment's runs use, custom ones included; without --budget, the only one holding this
    variant and seed)."""
    from common.platform.records import RunRecord
    from common.platform.registry import get_paper
    from common.platform.runs import results_root

    exp = get_paper(args.paper).experiment(args.experiment)
    variant = _variant(args, exp)
    runs = results_root() / args.paper / "runs" / exp.run_experiment
    budgets = sorted(p.parent.parent.name for p in runs.glob(f"*/{variant}/seed_{args.seed}"))
    budget = args.budget
    if budget is None:
        if len(budgets) != 1:
            where = f"{args.paper}/{exp.run_experiment}/*/{variant}/seed_{args.seed}"
            raise ReproError(f"no run of {where} under {results_root()} (run it with `repro run {args.paper} "
                             f"{args.experiment} --variant {variant} --seed {args.seed}`)" if not budgets else
                             f"runs of {where} exist at several budgets; choose one with --budget: "
                             f"{', '.join(budgets)}")
        budget = budgets[0]
    run_dir = runs / budget / variant / f"seed_{args.seed}"
    record = RunRecord(run_dir)
    status = record.status()
    if status == "pending":
        raise ReproError(f"no run record at {run_dir}" + (f" (budgets with this run: {', '.join(budgets)})"
                                                          if budgets else ""))
    if status != "done":
        raise ReproError(f"{run_dir} is {status}, not a complete run: its agent is kept only when the run finishes"
                         + (f" ({'; '.join(record.damage())})" if status == "damaged" else ""))
    return exp, variant, budget, run_dir


def _load_for(args):
    from common.rl.agents import load_agent

    exp, variant, budget, run_dir = _find_run(args)
    return exp, run_dir, load_agent(run_dir, snapshot=args.step, seed=args.packed_seed)


def _cmd_eval(args) -> int:
    import numpy as np

    from common.rl.agents import env_description, eval_seeds, evaluate

    if args.episodes < 1:
        raise ReproError(f"--episodes must be at least 1, got {args.episodes}")
    exp, run_dir, agent = _load_for(args)
    deterministic = args.deterministic or agent.meta.get("default_deterministic", False)
    seeds = eval_seeds(args.seed, args.episodes)
    result = evaluate(agent, seeds, deterministic, rng_seed=args.seed)
    r = np.asarray(result["returns"])
    steps = int(sum(result["lengths"]))
    units = "env steps" if agent.family == "mujoco" else \
        f"agent steps = {steps * agent.meta['frame_skip']:,} emulator frames"
    trained = agent.meta.get("env_steps", agent.meta.get("agent_steps"))
    print(f"{run_dir}: {agent.meta['algorithm']} agent after {trained:,} "
          f"{'env' if agent.family == 'mujoco' else 'agent'} steps"
          + (f" (snapshot at step {agent.snapshot:,})" if agent.snapshot is not None else " (final)")
          + (f", seed {agent.meta['seed']} of the {len(agent.meta['packed_seeds'])} the run holds"
             if "packed_seeds" in agent.meta else ""))
    print(f"environment: {env_description(agent)} (the experiment's: {exp.env_version})")
    print(f"policy: {agent.protocol(deterministic)}")
    print(f"episodes: {len(r)}, one per evaluation seed {seeds[0]}..{seeds[-1]} (2,000,000,000 + 1000 x the run's "
          "seed + k: none is a seed its training used)")
    print(f"return: mean {r.mean():.2f}, sd {r.std(ddof=1) if len(r) > 1 else 0.0:.2f}, min {r.min():.2f}, "
          f"max {r.max():.2f}; {steps:,} {units}")
    return 0


def _cmd_video(args) -> int:
    from pathlib import Path

    from common.rl.agents import eval_seeds, record_video
    from common.platform.runs import results_root

    exp, run_dir, agent = _load_for(args)
    deterministic = args.deterministic or agent.meta.get("default_deterministic", False)
    seed = eval_seeds(args.seed, args.episode + 1)[args.episode]
    budget = run_dir.parent.parent.name
    out = Path(args.out) if args.out else (results_root() / args.paper / "videos" / exp.run_experiment / budget
                                           / run_dir.parent.name / f"{run_dir.name}"
                                           f"{'' if args.step is None else f'_step{args.step}'}.gif")
    v = record_video(agent, out, seed, deterministic, max_steps=args.max_steps, rng_seed=args.seed)
    print(f"{v['path']}: {v['frames']} frames ({v['frame_ms']} ms each) of one episode from seed {seed}, "
          f"{v['steps']:,} agent steps{' (stopped at --max-steps)' if v['steps'] >= args.max_steps else ''}, "
          f"return {v['return']:.2f}; policy: {agent.protocol(deterministic)}; frames from {v['backend']}")
    return 0


def _cmd_status(args) -> int:
    from common.platform.status import print_status

    return print_status(args.paper, curves=args.curves)


def _run_arguments(parser: argparse.ArgumentParser, overrides_help: str) -> None:
    """The arguments `run` and `sweep` share: PAPER EXPERIMENT [key=value ...] --budget."""
    parser.add_argument("paper")
    parser.add_argument("experiment")
    parser.add_argument("overrides", nargs="*", help=overrides_help)
    parser.add_argument("--budget", default=DEFAULT_BUDGET,
                        help=f"paper, quick, or another budget the experiment names (default {DEFAULT_BUDGET}, the "
                             "same for run and sweep); `repro show PAPER EXPERIMENT` lists them and every config key")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repro", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="papers, their experiments, claims and status")
    ls.add_argument("--all", action="store_true",
                    help="every paper users asked for (papers/catalog.csv), with its status here")
    ls.set_defaults(fn=_cmd_list)

    r = sub.add_parser("run", help="one run: PAPER EXPERIMENT [key=value ...]")
    _run_arguments(r, overrides_help="config overrides, key=value")
    r.add_argument("--variant", default=None)
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(fn=_cmd_run)

    s = sub.add_parser("sweep", help="every run of a figure or table (EXPERIMENT may be 'all')")
    _run_arguments(s, overrides_help="config overrides, key=value (recorded as a custom budget)")
    s.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the budget's)")
    s.add_argument("--variant", action="append", default=None, help="only these variants (repeatable)")
    s.add_argument("--launcher", default=None, choices=["local", "slurm"],
                   help="where runs execute (default: $REPRO_LAUNCHER, else local)")
    s.add_argument("--jobs", type=int, default=1, help="local launcher: runs at a time")
    s.add_argument("--profile", default=None, help="slurm launcher: profile in slurm/profiles/")
    s.add_argument("--runs-per-task", type=int, default=1, help="slurm launcher: runs packed per array task")
    s.add_argument("--max-parallel", type=int, default=None, help="slurm launcher: concurrent array tasks")
    s.add_argument("--dry-run", action="store_true", help="run nothing: print the runs that would run (local) or the sbatch script (slurm)")
    s.set_defaults(fn=_cmd_sweep)

    rep = sub.add_parser("report", help="regenerate figures and claims tables from recorded runs (offline)")
    rep.add_argument("paper", nargs="?")
    rep.add_argument("experiment", nargs="?")
    rep.add_argument("--all", action="store_true")
    rep.add_argument("--format", choices=["latex", "csv"], default=None,
                     help="also write the claims table and each paper-shaped table for a manuscript "
                          "(results/<paper>/exports/)")
    rep.add_argument("--live", action="store_true",
                     help="also draw the runs still training (or interrupted) from their live metrics, each at its "
                          "last checkpoint, into results/<paper>/live/ (git-ignored), every figure marked IN "
                          "PROGRESS; they never enter claims, verdicts or the paper's README")
    rep.set_defaults(fn=_cmd_report)

    b = sub.add_parser("bench", help="throughput of the training loop next to environment-only stepping (offline "
                                     "methods: of their updates, against SAC's)")
    b.add_argument("paper")
    b.add_argument("experiment")
    b.add_argument("overrides", nargs="*", help="config overrides, key=value (e.g. matmul_dtype=bfloat16)")
    b.add_argument("--variant", default=None)
    b.add_argument("--steps", type=int, default=None,
                   help="environment steps (or periods) timed (default 20,480); an update bench: updates of each kind "
                        "per round (default: its own)")
    b.add_argument("--rounds", type=int, default=2,
                   help="alternating rounds of the training loop and its peer, A B A B (an update bench: of its "
                        "updates; at least 2 for a range)")
    b.add_argument("--no-peer", action="store_true",
                   help="time the training loop alone (the peers, stable-baselines3 and sb3-contrib, are an optional "
                        "extra: make peers)")
    b.add_argument("--profile", action="store_true",
                   help="instead: where one update's time goes (ms per update, FLOPs, matmul rate, time shares; "
                        "on-policy: ms per iteration in each phase, its shares and ceilings), saved to "
                        "results/<paper>/profile.json")
    b.add_argument("--kept-memory", action="store_true",
                   help="instead: one whole run (seed 0 at --budget, with the overrides) in fresh processes with "
                        "keep_freed_memory off and on in turn, --rounds times; wall, CPU and system seconds and peak "
                        "memory of each, tables checked equal; saved to results/<paper>/kept_memory.json")
    b.add_argument("--budget", default=None, help="with --kept-memory: the budget of the timed run (default quick)")
    b.add_argument("--no-save", action="store_true",
                   help="do not write results/<paper>/bench.json (or profile.json, kept_memory.json)")
    b.set_defaults(fn=_cmd_bench)

    v = sub.add_parser("verify", help="check every finished run record against its DONE checksums, and the inputs "
                                      "it read against their records (exit 1 if any is damaged or was rebuilt)")
    v.add_argument("paper", nargs="?")
    v.add_argument("--seal", action="store_true",
                   help="add checksums to records finished before DONE carried them, after reading each in full")
    v.set_defaults(fn=_cmd_verify)

    sh = sub.add_parser("show", help="an experiment's variants, budgets and resolved config, each key with its "
                                     "layer and cited source (runs nothing)")
    sh.add_argument("paper")
    sh.add_argument("experiment", nargs="?")
    sh.add_argument("overrides", nargs="*", help="config overrides, key=value, as `repro run` takes them")
    sh.add_argument("--variant", default=None, help="the variant whose config is shown (default: the first)")
    sh.add_argument("--budget", default=DEFAULT_BUDGET, help=f"the budget whose config is shown (default {DEFAULT_BUDGET})")
    sh.set_defaults(fn=_cmd_show)

    cmp_ = sub.add_parser("compare", help="two results folders claim by claim: each statistic and the change B - A "
                                          "with its bootstrap interval")
    cmp_.add_argument("dir_a")
    cmp_.add_argument("dir_b")
    cmp_.add_argument("paper", nargs="?")
    cmp_.set_defaults(fn=_cmd_compare)

    def agent_args(parser):
        parser.add_argument("paper")
        parser.add_argument("experiment")
        parser.add_argument("--variant", default=None)
        parser.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
        parser.add_argument("--budget", default=None,
                            help="the run's budget folder (default: the only one holding this variant and seed)")
        parser.add_argument("--step", type=int, default=None,
                            help="a snapshot kept at this step (save_agent_at_steps) instead of the final agent")
        parser.add_argument("--packed-seed", type=int, default=None,
                            help="in a run holding several seeds (GAE's packed cart-pole runs), that seed's agent "
                                 "(default: the run's first seed)")
        parser.add_argument("--deterministic", action="store_true",
                            help="the policy's mean (or greedy) action, instead of the experiment's protocol")

    ev = sub.add_parser("eval", help="evaluate a run's saved agent: returns over fresh episodes (mean, sd, min, max)")
    agent_args(ev)
    ev.add_argument("--episodes", type=int, default=10, help="episodes, one per evaluation seed (default 10)")
    ev.set_defaults(fn=_cmd_eval)

    vid = sub.add_parser("video", help="film one episode of a run's saved agent as an animated GIF (headless)")
    agent_args(vid)
    vid.add_argument("--episode", type=int, default=0, help="which evaluation seed (0: the first of eval's)")
    vid.add_argument("--max-steps", type=int, default=1000, help="stop the episode after this many agent steps")
    vid.add_argument("--out", default=None,
                     help="the .gif to write (default results/<paper>/videos/<experiment>/<budget>/<variant>/"
                          "seed_<S>.gif, git-ignored)")
    vid.set_defaults(fn=_cmd_video)

    st = sub.add_parser("status", help="done / damaged / running / failed / pending per experiment")
    st.add_argument("paper", nargs="?")
    st.add_argument("--curves", action="store_true",
                    help="also each running, interrupted or failed run's learning curve so far (its live metrics, "
                         "written at each checkpoint): the latest value, the mean of the last 10, a sparkline")
    st.set_defaults(fn=_cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come after options: `repro run P E --seed 1 lr=0.1`
    if extra and hasattr(args, "overrides") and all("=" in x and not x.startswith("-") for x in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        check_environment()  # REPRO_* settings, before any work
        if getattr(args, "command", None) == "sweep" and args.launcher is None:
            args.launcher = env_setting("REPRO_LAUNCHER", "local")
        return args.fn(args)
    except ReproError as exc:
        print(f"repro: error: {exc}", file=sys.stderr)
        return 2
    except RunFailure as exc:  # recorded in the run's FAILED file; one line here
        if os.environ.get("REPRO_DEBUG") == "1":
            raise
        print(f"repro: run failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # storage: a full disk, a read-only folder, a missing file
        if os.environ.get("REPRO_DEBUG") == "1":
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"repro: error: {exc.strerror or exc}{where} (REPRO_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line for the user; the traceback on request
        if os.environ.get("REPRO_DEBUG") == "1":
            raise
        print(f"repro: error: {type(exc).__name__}: {exc} (REPRO_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
