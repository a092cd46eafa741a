"""Running scenarios: every recommender on the same worlds, for each seed.

The end of the simulation half of the data flow (… → interactions → metrics →
**RunResult** → ``metrics.parquet`` + ``manifest.json``). :func:`simulate` runs one
(recommender, seed); :func:`run` runs the grid and :func:`write_run` stores it.
Reports read only the files, never the objects.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from recommender.registry import make_recommender
from sim.checkpoint import load_checkpoint, save_checkpoint, supports_checkpoints
from sim.io import write_json, write_parquet
from sim.logsink import InteractionSink
from sim.metrics.events import adaptation_table, homogenisation_vs_oracle
from sim.metrics.suite import CURVE_COLUMNS
from sim.random import STREAMS, RunSeeds
from sim.scenario import Scenario
from sim.world import World

METRIC_COLUMNS = ["scenario", "recommender", "seed", "iteration", "metric", "value", "n_defined"]
FORMAT_VERSION = 1

#: (recommender, seed, iteration, seconds for that iteration, world) after every step
ProgressHook = Callable[[str, int, int, float, World], None]


class RunFailed(RuntimeError):
    """A run that stopped early; ``result`` holds everything computed until then."""

    def __init__(self, message: str, result: "RunResult"):
        super().__init__(message)
        self.result = result


@dataclass
class RunResult:
    """Everything one ``run`` produced, as tidy tables."""

    scenario: Scenario
    seeds: list[int]
    recommenders: list[str]
    metrics: pd.DataFrame
    events: pd.DataFrame
    world: pd.DataFrame
    timings: pd.DataFrame
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    adaptation: pd.DataFrame = field(default_factory=pd.DataFrame)
    exposure: pd.DataFrame = field(default_factory=pd.DataFrame)
    started: str = ""
    finished: str = ""
    seconds: float = 0.0
    status: str = "complete"
    extra: dict = field(default_factory=dict)


def simulate(
    scenario: Scenario,
    seed: int,
    recommender: str,
    *,
    iterations: int | None = None,
    progress: ProgressHook | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 0,
    log_dir: Path | None = None,
    shards: int = 0,
    client: Any = None,
) -> tuple[pd.DataFrame, ...]:
    """Run one recommender on the world of one seed.

    Returns ``(metrics, drift events, world scalars, timings, event curves, item exposure)``
    as DataFrames;
    everything but the timings is a pure function of (scenario, seed, recommender).
    With ``checkpoint`` and ``checkpoint_every``, the world is saved there every N
    iterations and, if the file exists, resumed from it (recommenders that expose
    ``state()``; others start the cell over, which gives the same result). With
    ``log_dir``, every impression is streamed there as Parquet parts (:mod:`sim.logsink`).
    With ``shards`` > 0 and a Dask ``client``, the users are split over that many
    shard actors (:mod:`sim.shards`); the results are the same.
    """
    seeds = RunSeeds.from_seed(seed)
    _seed_frameworks(seeds)
    rec = make_recommender(recommender, scenario, seeds)
    if shards:
        if client is None:
            raise ValueError("a sharded run needs a Dask client")
        if checkpoint_every:
            raise ValueError("checkpoints are not supported in sharded runs (--shards); run without --checkpoint-every")
        from sim.shards import ShardedWorld

        world = ShardedWorld(scenario, seed, rec, name=recommender, client=client, shards=shards)
    else:
        world = World(scenario, seed, rec, name=recommender)
    n = scenario.iterations if iterations is None else iterations
    can_checkpoint = checkpoint is not None and checkpoint_every > 0 and supports_checkpoints(rec)
    first = 0
    if can_checkpoint and checkpoint.exists():
        first = load_checkpoint(checkpoint, world, scenario.digest())
    if log_dir is not None:
        world.log_sink = InteractionSink(log_dir, start=first)
    error: Exception | None = None
    for t in range(first, n):
        start = time.perf_counter()
        try:
            world.step()
        except Exception as exc:  # noqa: BLE001 - keep what was computed, then report
            error = exc
            break
        seconds = time.perf_counter() - start
        world.timings.add(t, "step_seconds", seconds, 1)
        if can_checkpoint and (t + 1) % checkpoint_every == 0 and t + 1 < n:
            if world.log_sink is not None:  # parts end where checkpoints are, so a resume rewrites no row twice
                world.log_sink.rotate(t + 1)
            save_checkpoint(checkpoint, world, scenario.digest())
        if progress is not None:
            progress(recommender, seed, t, seconds, world)
    if world.log_sink is not None:
        world.log_sink.close()
    if shards:
        world.close()
    metrics, timings = world.metrics.frame(), world.timings.frame()
    if error is not None:  # rows of the failed iteration are incomplete: drop them
        metrics = metrics[metrics["iteration"] < world.iteration].reset_index(drop=True)
    for frame in (metrics, timings):
        frame.insert(0, "seed", seed)
        frame.insert(0, "recommender", recommender)
        frame.insert(0, "scenario", scenario.name)
    events = events_frame(world, scenario.name, seed)
    wvars = world.datacollector.get_model_vars_dataframe().reset_index(names="iteration")
    wvars.insert(0, "seed", seed)
    wvars.insert(0, "recommender", recommender)
    curves = pd.DataFrame(world.suite.curves, columns=CURVE_COLUMNS)
    curves.insert(0, "seed", seed)
    curves.insert(0, "recommender", recommender)
    curves.insert(0, "scenario", scenario.name)
    exposure = exposure_frame(world, recommender, seed)
    frames = (metrics, events, wvars, timings, curves, exposure)
    if error is not None:
        raise _Partial(error, world.iteration, frames) from error
    return frames


class _Partial(Exception):
    def __init__(self, error: Exception, iteration: int, frames: tuple):
        super().__init__(str(error))
        self.error, self.iteration, self.frames = error, iteration, frames


def exposure_frame(world: World, recommender: str, seed: int) -> pd.DataFrame:
    """Per item available after warm-up: its slate impressions summed over those iterations."""
    suite = world.suite
    items = np.flatnonzero(suite.exposure_available)
    return pd.DataFrame({
        "recommender": recommender, "seed": seed, "item": items.astype(np.int64),
        "category": world.catalog.category[items].astype(np.int64),
        "exposure": suite.exposure_total[items],
    })


def events_frame(world: World, scenario: str, seed: int) -> pd.DataFrame:
    """Drift events of a world: one row per (event, affected user)."""
    rows = [
        pd.DataFrame(
            {
                "scenario": scenario,
                "seed": seed,
                "event_id": e.event_id,
                "kind": e.kind,
                "onset": e.onset,
                "end": e.end,
                "process": e.process,
                "user": e.users,
            }
        )
        for e in world.drift.events
    ]
    cols = ["scenario", "seed", "event_id", "kind", "onset", "end", "process", "user"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


CELL_FILES = ("metrics", "events", "world", "timings", "curves", "exposure")


def _cell_dir(out: Path, name: str, seed: int) -> Path:
    return out / "cells" / f"{name}__seed{seed}"


def _load_cell(path: Path):
    return tuple(pd.read_parquet(path / f"{f}.parquet") if (path / f"{f}.parquet").exists() else pd.DataFrame()
                 for f in CELL_FILES)


def _save_cell(path: Path, frames) -> None:
    """Each frame atomically, then the ``done`` marker: a cell without it is incomplete."""
    for f, frame in zip(CELL_FILES, frames):
        write_parquet(frame, path / f"{f}.parquet")
    write_json({"complete": True}, path / "done.json")


def run(
    scenario: Scenario,
    seeds: Sequence[int],
    recommenders: Sequence[str],
    *,
    progress: ProgressHook | None = None,
    out: str | Path | None = None,
    checkpoint_every: int = 0,
    log_interactions: bool = False,
    shards: int = 0,
    scheduler: str | None = None,
) -> RunResult:
    """Every recommender × seed on the scenario. Worlds of one seed are shared (CRN).

    With ``out``, each finished (recommender, seed) cell is stored under
    ``out/cells/`` and cells already there are reused — so rerunning into the same
    folder resumes an interrupted run; with ``checkpoint_every`` unfinished cells
    also continue from their last checkpoint in ``out/checkpoints/``. With
    ``log_interactions``, each cell streams its impressions to ``out/interactions/``.
    With ``shards``, each world's users are split over that many Dask actors — on
    ``scheduler`` (``tcp://HOST:PORT``) or on a local cluster of ``shards`` workers.
    """
    if shards:
        from sim.sweep import dask_client

        with dask_client(scheduler, workers=shards) as client:
            return _run(scenario, seeds, recommenders, progress, out, checkpoint_every, log_interactions,
                        shards, client)
    return _run(scenario, seeds, recommenders, progress, out, checkpoint_every, log_interactions, 0, None)


def _run(scenario, seeds, recommenders, progress, out, checkpoint_every, log_interactions, shards, client) -> RunResult:
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    metrics, events, world, timings, curves, exposure = [], [], [], [], [], []
    failure: _Partial | None = None
    where = ""
    out = Path(out) if out is not None else None
    for seed in seeds:
        for name in recommenders:
            cell = _cell_dir(out, name, seed) if out is not None else None
            try:
                if cell is not None and (cell / "done.json").exists():
                    m, e, w, tm, c, x = _load_cell(cell)
                else:
                    ckpt = out / "checkpoints" / f"{name}__seed{seed}.npz" if out is not None else None
                    logs = out / "interactions" / f"{name}__seed{seed}" if log_interactions and out is not None else None
                    m, e, w, tm, c, x = simulate(scenario, seed, name, progress=progress, checkpoint=ckpt,
                                                 checkpoint_every=checkpoint_every, log_dir=logs,
                                                 shards=shards, client=client)
                    if cell is not None:
                        _save_cell(cell, (m, e, w, tm, c, x))
                        if ckpt is not None:
                            ckpt.unlink(missing_ok=True)
            except _Partial as partial:
                failure, (m, e, w, tm, c, x) = partial, partial.frames
                where = f"{name}, seed {seed}, iteration {partial.iteration}"
            metrics.append(m)
            world.append(w)
            timings.append(tm)
            curves.append(c)
            exposure.append(x)
            if name == recommenders[0] or failure is not None:
                events.append(e)  # exogenous events are the same for every recommender
            if failure is not None:
                break
        if failure is not None:
            break
    if failure is not None:
        events = events[:1]
    extra: dict = {"shards": shards} if shards else {}
    if scenario.world.source:
        from sim.calibration import world_calibration

        extra["calibration"] = world_calibration(scenario.world).report
    metrics_df = pd.concat(metrics, ignore_index=True)[METRIC_COLUMNS]
    if encoders := encoder_summary(metrics_df):
        extra["encoders"] = encoders
    metrics_df = pd.concat([metrics_df, homogenisation_vs_oracle(metrics_df)], ignore_index=True)
    curves_df = pd.concat(curves, ignore_index=True)
    result = RunResult(
        scenario=scenario,
        seeds=list(seeds),
        recommenders=list(recommenders),
        metrics=metrics_df,
        events=pd.concat(events, ignore_index=True),
        world=pd.concat(world, ignore_index=True),
        timings=pd.concat(timings, ignore_index=True)[METRIC_COLUMNS],
        curves=curves_df,
        exposure=pd.concat(exposure, ignore_index=True),
        adaptation=adaptation_table(curves_df, scenario.iterations, scenario.name,
                                    bootstrap_seed=RunSeeds.from_seed(seeds[0]).int_seed("evaluation", 1)),
        started=started.isoformat(),
        finished=datetime.now(timezone.utc).isoformat(),
        seconds=time.perf_counter() - t0,
        status="complete" if failure is None else f"failed at {where}: {failure.error}",
        extra=extra,
    )
    if failure is not None:
        raise RunFailed(f"run stopped at {where}: {failure.error}", result) from failure.error
    return result


def encoder_summary(metrics: pd.DataFrame) -> dict[str, dict]:
    """Per recommender with a trained encoder: its parameter count and the device it
    trained on (from the ``rec:encoder_*`` rows the pipeline records at each retrain)."""
    rows = metrics[metrics["metric"].isin(["rec:encoder_parameters", "rec:encoder_on_gpu"])]
    out = {}
    for rec, g in rows.groupby("recommender", sort=False):
        last = g.sort_values("iteration").groupby("metric")["value"].last()
        out[str(rec)] = {"parameters": int(last.get("rec:encoder_parameters", 0)),
                         "device": "GPU" if last.get("rec:encoder_on_gpu", 0) > 0 else "CPU"}
    return out


def write_run(result: RunResult, out: str | Path, *, command: str | None = None) -> Path:
    """Write ``metrics.parquet``, ``drift_events.parquet``, ``world.parquet``, ``timings.parquet``
    and, last, ``manifest.json`` (its presence marks a complete run)."""
    out = Path(out)
    write_parquet(result.metrics, out / "metrics.parquet")
    write_parquet(result.events, out / "drift_events.parquet")
    write_parquet(result.world, out / "world.parquet")
    write_parquet(result.timings, out / "timings.parquet")
    write_parquet(result.curves, out / "event_curves.parquet")
    write_parquet(result.adaptation, out / "events.parquet")
    write_parquet(result.exposure, out / "exposure.parquet")
    write_json(manifest(result, command), out / "manifest.json")
    return out


def manifest(result: RunResult, command: str | None = None) -> dict:
    sc = result.scenario
    return {
        "format_version": FORMAT_VERSION,
        "scenario": sc.to_dict(),
        "scenario_hash": sc.digest(),
        "seeds": result.seeds,
        "seed_entropy": {str(s): RunSeeds.from_seed(s).sequence("population").entropy for s in result.seeds},
        "streams": list(STREAMS),
        "recommenders": result.recommenders,
        "started": result.started,
        "finished": result.finished,
        "seconds": round(result.seconds, 3),
        "status": result.status,
        "command": command if command is not None else " ".join(sys.argv),
        "versions": _versions(),
        "files": {
            "metrics": "metrics.parquet",
            "drift_events": "drift_events.parquet",
            "world": "world.parquet",
            "timings": "timings.parquet",
            "event_curves": "event_curves.parquet",
            "events": "events.parquet",
            "exposure": "exposure.parquet",
        },
        "oracle_is_greedy": sc.choice.model == "mnl",
        **result.extra,
    }


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("recdrift", "numpy", "pandas", "mesa", "scikit-learn", "scipy", "pyarrow", "tensorflow-cpu", "tensorflow"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _seed_frameworks(seeds: RunSeeds) -> None:
    """Seed TensorFlow/Keras once per simulation, if a recommender has loaded it."""
    if "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seeds.int_seed("recommender", salt=1023))


def seed_list(n: int, first: int = 0) -> list[int]:
    return list(range(first, first + n))


__all__ = ["RunResult", "simulate", "run", "write_run", "manifest", "seed_list"]
