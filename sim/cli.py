"""The ``recdrift`` command line: run, validate, list, summarize, report and compare.

Exit codes: 0 success, 2 bad input (a malformed scenario, an unknown recommender,
a bad option), 3 ``compare`` found a guard metric worse, 1 anything else. Errors are one line; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from sim.checkpoint import CheckpointError
from sim.scenario import ScenarioError, load_scenario

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_REGRESSION = 0, 1, 2, 3


class BadInput(Exception):
    """A user error that is not a scenario file problem (bad option, unknown name)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recdrift", description="How does my recommender behave when the people it serves change?")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run recommenders on a scenario's worlds")
    r.add_argument("scenario", help="a scenario file, or the name of a shipped scenario")
    r.add_argument("--recommenders", default="random,popularity,oracle", help="comma-separated names (default: %(default)s)")
    r.add_argument("--seeds", type=int, default=3, help="number of seeds (default: %(default)s)")
    r.add_argument("--first-seed", type=int, default=0, help="first seed (default: %(default)s)")
    r.add_argument("--iterations", type=int, default=None, help="override the scenario's iterations")
    r.add_argument("--out", default=None, help="output folder (default: runs/<scenario>)")
    r.add_argument("--quiet", action="store_true", help="no progress display")
    r.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="save each world every N iterations so a killed run can resume "
                        "(default: the scenario's checkpoint_every; 0 = off)")
    r.add_argument("--resume", metavar="DIR", default=None,
                   help="continue an interrupted run in DIR: finished cells are kept, others resume from checkpoints")
    r.add_argument("--log-interactions", action="store_true",
                   help="stream every impression to DIR/interactions/<recommender>__seed<s>/ as Parquet (off by default)")
    r.add_argument("--no-memory-check", action="store_true", help="run even if the estimated peak memory exceeds what is available")
    r.add_argument("--shards", type=int, default=0, metavar="N",
                   help="split each world's users over N Dask actors (same results; default: 0 = in this process)")
    r.add_argument("--scheduler", default=None,
                   help="with --shards: tcp://HOST:PORT of an existing Dask scheduler (default: a local cluster of N workers)")

    v = sub.add_parser("validate", help="check a scenario file without running it")
    v.add_argument("scenario", nargs="+")

    sm = sub.add_parser("summarize", help="headline table of a finished run, with intervals and paired tests")
    sm.add_argument("run_dir", nargs="+")
    sm.add_argument("--format", choices=["markdown", "csv", "json"], default="markdown")

    rp = sub.add_parser("report", help="self-contained HTML (and Markdown) report of a finished run or sweep")
    rp.add_argument("run_dir", help="a run folder, or a sweep folder (with sweep.json: the size study, if it has a size axis)")
    rp.add_argument("--out", default=None, help="report folder (default: RUN_DIR/report)")
    rp.add_argument("--format", default="html,md", help="comma-separated: html, md (default: %(default)s)")

    cp = sub.add_parser("compare", help="compare runs of one scenario with the first (exit 3 if a guard metric regresses)",
                        description="Compare every run with the first (the baseline), per recommender and metric: "
                                    "the difference with its interval and a verdict better / worse / no detectable change.")
    cp.add_argument("run_dir", nargs="+", help="two or more run folders; the first is the baseline")
    cp.add_argument("--guard", default="", metavar="METRICS",
                    help="comma-separated metrics that must not get worse (exit 3 if one does); "
                         "eur_final, eur, gap_closed, ndcg, ctr, ild, coverage, gini, dhom, ttr95")
    cp.add_argument("--level", type=float, default=0.05, help="significance level, Holm-adjusted (default: %(default)s)")
    cp.add_argument("--labels", default=None, help="comma-separated names for the runs (default: folder names)")
    cp.add_argument("--out", default=None, help="write compare.html/compare.md there (default: print the verdicts only)")
    cp.add_argument("--format", default="html,md", help="with --out, comma-separated: html, md (default: %(default)s)")

    sw = sub.add_parser("sweep", help="run a grid of scenarios × parameters × seeds × recommenders on a Dask cluster",
                        description="Each cell is an independent task; finished cells are skipped on rerun; "
                                    "a failed cell is reported and the others complete (exit 1 if any failed).")
    sw.add_argument("sweep", help="a sweep TOML file (see scenarios/sweeps/)")
    sw.add_argument("--out", default=None, help="output folder (default: runs/sweep-<name>)")
    sw.add_argument("--scheduler", default=None,
                    help="tcp://HOST:PORT of an existing Dask scheduler, or 'serial' to run in this process "
                         "(default: a local cluster, one worker per core)")
    sw.add_argument("--workers", type=int, default=None, help="local cluster size (default: one per core)")
    sw.add_argument("--quiet", action="store_true", help="no progress display")

    dp = sub.add_parser("data", help="real interaction logs: fetch ML-100K, describe a log file")
    dsub = dp.add_subparsers(dest="data_command", required=True)
    df = dsub.add_parser("fetch", help="download a public dataset into the cache (RECDRIFT_DATA, default ~/.cache/recdrift)")
    df.add_argument("name", choices=["ml-100k"])
    di = dsub.add_parser("info", help="what a log holds, and what reading it found")
    di.add_argument("log", help="a fetched dataset's name, or a path (u.data, ratings.dat, ratings.csv, .inter)")
    di.add_argument("--format", default=None, help="the log's format when its name does not say")

    rpl = sub.add_parser("replay", help="replay a real log in time windows: accuracy of each recommender over real time")
    rpl.add_argument("log", help="a fetched dataset's name (ml-100k) or a log file (u.data, ratings.dat, ratings.csv, .inter)")
    rpl.add_argument("--recommenders", default="full,cf,popularity,random", help="comma-separated (default: %(default)s)")
    rpl.add_argument("--seeds", type=int, default=3, help="number of seeds (default: %(default)s)")
    rpl.add_argument("--window-days", type=float, default=7.0, help="window length in days (default: %(default)s)")
    rpl.add_argument("--train-fraction", type=float, default=0.5,
                     help="share of interactions before the first evaluated window (default: %(default)s)")
    rpl.add_argument("--format", default=None, help="the log's format when its name does not say")
    rpl.add_argument("--config", default=None, metavar="SCENARIO",
                     help="take the recommenders' settings from this scenario file's [recommenders] "
                          "(one window = one iteration; e.g. scenarios/replay/ml100k.toml)")
    rpl.add_argument("--out", default=None, help="output folder (default: runs/replay-<log>)")

    sub.add_parser("list", help="shipped scenarios and available recommenders")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    try:
        return {"run": _run, "validate": _validate, "list": _list, "summarize": _summarize,
                "report": _report, "compare": _compare, "sweep": _sweep, "data": _data,
                "replay": _replay}[args.command](args)
    except (ScenarioError, BadInput, CheckpointError) as exc:
        if args.debug:
            raise
        print(f"recdrift: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("recdrift: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last line of defence, one line unless --debug
        if args.debug:
            raise
        print(f"recdrift: error: {type(exc).__name__}: {exc} (rerun with --debug for details)", file=sys.stderr)
        return EXIT_ERROR


def _run(args: argparse.Namespace) -> int:
    from sim.runner import RunFailed, run, seed_list, write_run

    scenario = load_scenario(args.scenario)
    if args.iterations is not None:
        if args.iterations < 1:
            raise BadInput(f"--iterations must be >= 1, got {args.iterations}")
        try:
            scenario = scenario.replace(iterations=args.iterations)
        except Exception as exc:  # re-validated: e.g. an onset now past the horizon
            raise BadInput(f"--iterations {args.iterations}: {exc}") from None
    if args.seeds < 1 or args.first_seed < 0:
        raise BadInput("--seeds must be >= 1 and --first-seed >= 0")
    names = [n.strip() for n in args.recommenders.split(",") if n.strip()]
    check_recommenders(names)
    if not args.no_memory_check:
        from sim.resources import check_fits

        check_fits(scenario, names, source=str(args.scenario))
    out = Path(args.resume or args.out or f"runs/{scenario.name}")
    every = scenario.checkpoint_every if args.checkpoint_every is None else args.checkpoint_every
    if every < 0:
        raise BadInput(f"--checkpoint-every must be >= 0, got {every}")
    if args.shards < 0:
        raise BadInput(f"--shards must be >= 0, got {args.shards}")
    if args.scheduler and not args.shards:
        raise BadInput("--scheduler needs --shards N (sweeps take --scheduler on their own)")
    if args.shards and every:
        if args.checkpoint_every:
            raise BadInput("--checkpoint-every cannot be combined with --shards (sharded runs keep no checkpoints)")
        every = 0  # the scenario's default: off for a sharded run
    _check_run_dir(out, scenario, resume=args.resume is not None)
    seeds = seed_list(args.seeds, args.first_seed)
    hook, close = _progress(scenario, seeds, names, quiet=args.quiet)
    command = "recdrift " + shlex.join(sys.argv[1:] if sys.argv[0].endswith("recdrift") else [])
    try:
        result = run(scenario, seeds, names, progress=hook, out=out, checkpoint_every=every,
                     log_interactions=args.log_interactions, shards=args.shards, scheduler=args.scheduler)
    except RunFailed as failed:
        close()
        write_run(failed.result, out, command=command)
        if args.debug:
            raise
        print(f"recdrift: error: {failed} (results so far saved in {out}, manifest status 'failed')", file=sys.stderr)
        return EXIT_ERROR
    finally:
        close()
    write_run(result, out, command=command)
    _print_summary(result)
    print(f"wrote {out / 'metrics.parquet'} and {out / 'manifest.json'} ({result.seconds:.1f} s)")
    return EXIT_OK


def check_recommenders(names: list[str]) -> None:
    """Every name resolves (registered, or an importable ``module:factory``)."""
    from recommender.registry import available, resolve

    if not names:
        raise BadInput(f"no recommender given; available: {', '.join(available())}")
    for name in names:
        try:
            resolve(name)
        except KeyError as exc:
            raise BadInput(exc.args[0]) from None


def _check_run_dir(out: Path, scenario, *, resume: bool) -> None:
    """Record which scenario a run folder belongs to; refuse to mix scenarios in one."""
    from sim.checkpoint import FORMAT_VERSION
    from sim.io import write_json

    tag = out / "run.json"
    if tag.exists():
        try:
            import json

            known = json.loads(tag.read_text())
        except (OSError, ValueError) as exc:
            raise BadInput(f"{tag}: unreadable ({exc})") from None
        if known.get("scenario_hash") != scenario.digest() or known.get("format_version") != FORMAT_VERSION:
            raise BadInput(f"{out} holds a run of another scenario or format (hash {known.get('scenario_hash')}, "
                           f"this scenario {scenario.digest()}); use another --out")
    elif resume:
        raise BadInput(f"--resume {out}: no interrupted run there (no run.json)")
    if not resume and (out / "cells").exists() and not tag.exists():
        raise BadInput(f"{out} holds results of an unknown run; use another --out")
    if not tag.exists():
        write_json({"scenario_hash": scenario.digest(), "format_version": FORMAT_VERSION}, tag)


def _progress(scenario, seeds, names, quiet: bool):
    """A rich progress bar: iteration, seconds per iteration, ETA, current EUR."""
    if quiet:
        return None, lambda: None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} it"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("eur {task.fields[eur]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )
    total = scenario.iterations * len(seeds) * len(names)
    task = progress.add_task(scenario.name, total=total, rate="", eur="")
    progress.start()
    last = [time.perf_counter()]

    def hook(name, seed, t, seconds, world):
        eur = world.metrics.latest("eur")
        progress.update(task, advance=1, description=f"{scenario.name} {name} seed {seed}",
                        rate=f"{seconds:.3f} s/it", eur=f"{eur:.3f}")
        last[0] = time.perf_counter()

    return hook, progress.stop


def _print_summary(result) -> None:
    m = result.metrics
    last = m["iteration"].max()
    tail = m[(m["iteration"] > last - max(1, (last + 1) // 5))]
    table = tail.pivot_table(index="recommender", columns="metric", values="value", aggfunc="mean")
    cols = [c for c in ("eur", "mtu", "ctr_item", "coverage", "coverage_cum") if c in table.columns]
    print(f"mean over the last {last + 1 - (last - max(1, (last + 1) // 5) + 1)} iterations, all seeds:")
    print(table[cols].round(4).to_string())


def _summarize(args: argparse.Namespace) -> int:
    from sim.summary import summarize_run

    for run_dir in args.run_dir:
        try:
            print(summarize_run(run_dir, args.format))
        except FileNotFoundError as exc:
            raise BadInput(str(exc)) from None
    return EXIT_OK


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    if not formats or set(formats) - {"html", "md"}:
        raise BadInput(f"--format takes html and/or md, got {text!r}")
    return formats


def _report(args: argparse.Namespace) -> int:
    formats = _formats(args.format)
    from reports.build import build_report
    from reports.sweep_report import build_sweep_report

    build = build_sweep_report if (Path(args.run_dir) / "sweep.json").exists() else build_report
    try:
        written = build(args.run_dir, args.out, formats)
    except FileNotFoundError as exc:
        raise BadInput(str(exc)) from None
    for fmt, path in written.items():
        print(f"{fmt}: {path}")
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    formats = _formats(args.format)
    from reports.compare import CompareError, compare_runs, render_markdown, write_compare_report

    guards = [g.strip() for g in args.guard.split(",") if g.strip()]
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    try:
        result = compare_runs(args.run_dir, labels=labels, level=args.level, guards=guards)
    except (CompareError, FileNotFoundError) as exc:
        raise BadInput(str(exc)) from None
    print(render_markdown(result))
    if args.out:
        for fmt, path in write_compare_report(result, args.out, formats).items():
            print(f"{fmt}: {path}")
    return EXIT_REGRESSION if not result.regressions.empty else EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    from sim.sweep import describe, load_sweep, run_sweep

    spec, cells = load_sweep(args.sweep)
    if args.workers is not None and args.workers < 1:
        raise BadInput(f"--workers must be >= 1, got {args.workers}")
    out = Path(args.out or f"runs/sweep-{spec.name}")
    print(describe(spec, cells) + f" → {out}")
    progress = None
    if not args.quiet:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        progress = Progress(TextColumn("cells"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.description}"), transient=True)
        task = progress.add_task("", total=len(cells))
        progress.start()
        done_before = sum((c.directory(out) / "done.json").exists() for c in cells)
        progress.update(task, completed=done_before)

    def on_cell(cell, status):
        if progress is not None:
            progress.update(task, advance=1, description=f"last: {cell.key} {status.split(':')[0]}")
        elif status.startswith("failed"):
            print(f"failed: {cell.key}: {status[8:]}", file=sys.stderr)

    try:
        result = run_sweep(cells, out, scheduler=args.scheduler, workers=args.workers, on_cell=on_cell, spec=spec)
    finally:
        if progress is not None:
            progress.stop()
    counts = {}
    for v in result.status.values():
        key = "failed" if v.startswith("failed") else v
        counts[key] = counts.get(key, 0) + 1
    print(", ".join(f"{n} {k}" for k, n in counts.items()) + f" in {result.seconds:.1f} s; combined metrics: "
          f"{out / 'metrics.parquet'}")
    for key, why in result.failed.items():
        print(f"recdrift: cell {key} {why} (details: {out}/cells/…/error.json)", file=sys.stderr)
    return EXIT_ERROR if result.failed else EXIT_OK


def _data(args: argparse.Namespace) -> int:
    from sim.datasets import DataError, fetch, resolve_log

    try:
        if args.data_command == "fetch":
            fetch(args.name)
            return EXIT_OK
        data = resolve_log(args.log, args.format)
    except DataError as exc:
        raise BadInput(str(exc)) from None
    span = (data.timestamp.max() - data.timestamp.min()) / 86_400
    print(f"{data.name}: {data.n_users} users, {data.n_items} items, {len(data)} interactions over {span:.0f} days; "
          f"density {len(data) / (data.n_users * data.n_items):.4f}")
    print(f"read: {data.report.summary()}")
    return EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from sim.datasets import DataError, resolve_log
    from sim.io import write_json, write_parquet
    from sim.replay import replay, summarise
    from sim.runner import seed_list

    names = [n.strip() for n in args.recommenders.split(",") if n.strip()]
    check_recommenders(names)
    if "oracle" in names:
        raise BadInput("the oracle needs a simulated world; a real log has no true interests")
    if args.seeds < 1:
        raise BadInput("--seeds must be >= 1")
    try:
        data = resolve_log(args.log, args.format)
    except DataError as exc:
        raise BadInput(str(exc)) from None
    out = Path(args.out or f"runs/replay-{data.name}")
    print(f"{data.name}: {data.n_users} users, {data.n_items} items, {len(data)} interactions ({data.report.summary()})")
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    try:
        table = replay(data, names, seed_list(args.seeds), window_days=args.window_days,
                       train_fraction=args.train_fraction,
                       config=load_scenario(args.config) if args.config else None)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    write_parquet(table, out / "replay.parquet")
    summary = summarise(table)
    write_json({"dataset": data.name, "source": str(args.log), "recommenders": names, "seeds": seed_list(args.seeds),
                "config": args.config,
                "window_days": args.window_days, "train_fraction": args.train_fraction,
                "read": data.report.summary(), "started": started.isoformat(), "seconds": round(time.perf_counter() - t0, 3),
                "summary": summary.to_dict(orient="records")}, out / "manifest.json")
    shown = summary[summary.metric.isin(["ndcg@10", "recall@20", "hit@10", "ndcg@10[cold]"])]
    table_ = shown.pivot(index="recommender", columns="metric", values="mean").reindex(names)
    print(f"mean over windows, {args.seeds} seed(s) (95 % t-intervals in {out / 'manifest.json'}):")
    print(table_.round(4).to_string())
    print(f"wrote {out / 'replay.parquet'}")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from sim.resources import check_fits

    for path in args.scenario:
        sc = load_scenario(path)
        est = check_fits(sc, ["random"], source=str(path))
        print(f"{path}: ok ({sc.name} v{sc.version}: {sc.world.users.n} users, {sc.world.items.n} items, "
              f"{sc.iterations} iterations, drift: {', '.join(d.type for d in sc.drift) or 'none'}; "
              f"estimated peak {est['total'] / 2**30:.2f} GiB without the full pipeline)")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from recommender.registry import available
    from scenarios import shipped_scenarios

    print("scenarios:")
    for path in shipped_scenarios():
        try:
            sc = load_scenario(path)
            print(f"  {sc.name:<22} {sc.description}")
        except ScenarioError as exc:
            print(f"  {path.stem:<22} (invalid: {exc})")
    print("recommenders:")
    for name, desc in available().items():
        print(f"  {name:<22} {desc}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
