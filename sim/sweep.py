"""``recdrift sweep SWEEP.toml``: a grid of independent runs, on a Dask cluster.

A sweep file names scenarios, recommenders, seeds and a grid over scenario
parameters (dotted paths). Every (scenario, grid point, seed, recommender) is one
*cell*: an independent task that builds its own world from the seed — the same
world a serial ``recdrift run`` would build, so a cell's metrics equal the serial
run's. By default the cells run on a local ``dask.distributed`` cluster with one
single-threaded worker process per core; ``--scheduler tcp://HOST:PORT`` sends the
same tasks to an existing cluster (workers need recdrift installed, not a shared
file system: results travel back to the client, which writes them).

Output: ``OUT/cells/<scenario>/<variant>/<recommender>__seed<s>/`` per cell (the
files of a run, plus ``done.json``), a failed cell's ``error.json`` instead, the
combined ``OUT/metrics.parquet`` (with a ``variant`` column) and ``OUT/sweep.json``.
A failing cell is reported and the others complete; rerunning skips finished cells.
"""

from __future__ import annotations

import itertools
import os
import re
import time
import tomllib
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.io import write_json, write_parquet
from sim.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict


class Shrink(BaseModel):
    """Run every scenario smaller (drift times scale with ``iterations``)."""

    model_config = ConfigDict(extra="forbid")
    users: int = Field(200, ge=1)
    items: int = Field(300, ge=1)
    iterations: int | None = Field(None, ge=1)


class SweepSpec(BaseModel):
    """A sweep file: what to run, over which seeds and parameter values."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    scenarios: list[str] = Field(min_length=1)  # shipped names or paths (relative to the sweep file)
    recommenders: list[str] = Field(min_length=1)
    seeds: int = Field(3, ge=1)
    first_seed: int = Field(0, ge=0)
    iterations: int | None = Field(None, ge=1)
    shrink: Shrink | None = None
    grid: dict[str, list[Any]] = Field(default_factory=dict)  # "choice.temperature" = [0.05, 0.1]
    # settings for every cell, by dotted path (not part of the variant names)
    set: dict[str, Any] = Field(default_factory=dict)
    # settings that go together (e.g. one encoder size); each is crossed with the grid
    variants: list[dict[str, Any]] = Field(default_factory=list)  # [{name = "dae-s", "recommenders.full.dim" = 8}]


@dataclass(frozen=True)
class Cell:
    """One independent task of a sweep."""

    scenario: Scenario
    variant: str  # "base", or "choice.temperature=0.05,k=5"
    seed: int
    recommender: str

    @property
    def key(self) -> str:
        return f"{self.scenario.name}/{self.variant}/{self.recommender}/seed{self.seed}"

    def directory(self, out: Path) -> Path:
        return out / "cells" / _safe(self.scenario.name) / _safe(self.variant) / f"{_safe(self.recommender)}__seed{self.seed}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", text)


def load_sweep(path: str | Path) -> tuple[SweepSpec, list[Cell]]:
    """Read and validate a sweep file and every scenario variant it makes (errors name
    the file and the field, before anything runs)."""
    path = Path(path)
    source = str(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(source, "", f"not a valid TOML sweep file: {exc}") from None
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ScenarioError(source, field, err["msg"]) from None
    for key, values in spec.grid.items():
        if not values:
            raise ScenarioError(source, f"grid.{key}", "needs at least one value")
    labels = [_variant_label(v) for v in spec.variants]
    for i, v in enumerate(spec.variants):
        if "name" in v and not isinstance(v["name"], str):
            raise ScenarioError(source, f"variants.{i}.name", "must be a string")
        if labels[i] in labels[:i]:
            raise ScenarioError(source, f"variants.{i}", f"two variants are both named {labels[i]!r}")
    from recommender.registry import resolve

    for name in spec.recommenders:
        try:
            resolve(name)
        except KeyError as exc:
            raise ScenarioError(source, "recommenders", exc.args[0]) from None
    cells = []
    seeds = range(spec.first_seed, spec.first_seed + spec.seeds)
    for ref in spec.scenarios:
        target = path.parent / ref if (path.parent / ref).exists() else ref
        base = load_scenario(target)
        if spec.shrink is not None:
            base = base.small(users=spec.shrink.users, items=spec.shrink.items, iterations=spec.shrink.iterations)
        if spec.iterations is not None:
            base = base.replace(iterations=spec.iterations)
        keys = list(spec.grid)
        for fixed, values in itertools.product(spec.variants or [{}], itertools.product(*(spec.grid[k] for k in keys))):
            settings = {**spec.set, **{k: v for k, v in fixed.items() if k != "name"}, **dict(zip(keys, values))}
            parts = ([_variant_label(fixed)] if fixed else []) + [f"{k}={v}" for k, v in zip(keys, values)]
            variant = ",".join(parts) or "base"
            scenario = base
            if settings:
                doc = base.model_dump()
                for k, v in settings.items():
                    _set_path(doc, k, v, source)
                scenario = scenario_from_dict(doc, f"{source} (scenario {ref}, {variant})")
            cells += [Cell(scenario, variant, s, r) for s in seeds for r in spec.recommenders]
    return spec, cells


def _variant_label(variant: dict[str, Any]) -> str:
    return str(variant["name"]) if "name" in variant else ",".join(f"{k}={v}" for k, v in variant.items())


def _set_path(doc: dict, dotted: str, value: Any, source: str) -> None:
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise ScenarioError(source, f"grid.{dotted}", f"{part!r} is not a section of a scenario")
        node = node[part]
    node[parts[-1]] = value  # an unknown last key is caught by the scenario's validation


# ----------------------------------------------------------------------------- running
def run_cell(scenario: Scenario, seed: int, recommender: str) -> tuple[str, Any]:
    """The task a worker runs: ``("ok", frames)`` or ``("failed", message)``. Errors are
    caught here so one bad cell never takes a worker or the sweep down."""
    from sim.runner import _Partial, simulate

    try:
        return "ok", simulate(scenario, seed, recommender)
    except _Partial as partial:
        return "failed", f"{type(partial.error).__name__}: {partial.error}\n{_trace(partial.error)}"
    except Exception as exc:  # noqa: BLE001 - reported per cell
        return "failed", f"{type(exc).__name__}: {exc}\n{_trace(exc)}"


def _trace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])


@dataclass
class SweepResult:
    cells: list[Cell]
    status: dict[str, str]  # key → "complete" | "skipped (already complete)" | "failed: …"
    metrics: pd.DataFrame
    seconds: float

    @property
    def failed(self) -> dict[str, str]:
        return {k: v for k, v in self.status.items() if v.startswith("failed")}


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A client for ``scheduler`` (``tcp://HOST:PORT``), or a local cluster with one
    single-threaded worker process per core (``workers`` to change)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    # one core per worker: numpy/BLAS and recdrift's own chunk threads are told so
    env = {"RECDRIFT_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1", env=env) as cluster, Client(cluster) as client:
        yield client


def run_sweep(cells: list[Cell], out: str | Path, *, scheduler: str | None = None, workers: int | None = None,
              on_cell: Callable[[Cell, str], None] | None = None, spec: SweepSpec | None = None) -> SweepResult:
    """Run the cells not yet complete under ``out``; write each as it finishes, then the
    combined metrics and ``sweep.json``. ``scheduler="serial"`` runs in this process."""
    from sim.runner import _save_cell

    out = Path(out)
    start = time.perf_counter()
    status: dict[str, str] = {}
    todo = []
    for cell in cells:
        if (cell.directory(out) / "done.json").exists():
            status[cell.key] = "skipped (already complete)"
        else:
            todo.append(cell)

    def finish(cell: Cell, outcome: str, payload: Any) -> None:
        where = cell.directory(out)
        if outcome == "ok":
            _save_cell(where, payload)
            (where / "error.json").unlink(missing_ok=True)
            status[cell.key] = "complete"
        else:
            write_json({"cell": cell.key, "error": payload}, where / "error.json")
            status[cell.key] = "failed: " + str(payload).splitlines()[0]
        if on_cell is not None:
            on_cell(cell, status[cell.key])

    if todo and scheduler == "serial":
        for cell in todo:
            finish(cell, *run_cell(cell.scenario, cell.seed, cell.recommender))
    elif todo:
        from dask.distributed import as_completed

        with dask_client(scheduler, workers) as client:
            futures = {client.submit(run_cell, c.scenario, c.seed, c.recommender, key=f"cell-{i}-{c.key}", pure=False): c
                       for i, c in enumerate(todo)}
            for future in as_completed(futures):
                cell = futures[future]
                if future.status == "finished":
                    finish(cell, *future.result())
                else:  # the worker itself died (out of memory, killed): the task never returned
                    finish(cell, "failed", f"{type(future.exception()).__name__}: {future.exception()}")
                future.release()
    metrics = combine(cells, out)
    result = SweepResult(cells, status, metrics, time.perf_counter() - start)
    write_parquet(metrics, out / "metrics.parquet")
    write_json({
        "sweep": spec.model_dump() if spec is not None else None,
        "cells": [{"key": c.key, "scenario": c.scenario.name, "variant": c.variant, "seed": c.seed,
                   "recommender": c.recommender, "status": status[c.key], "path": str(c.directory(out).relative_to(out))}
                  for c in cells],
        "scenarios": {f"{c.scenario.name}/{c.variant}": c.scenario.to_dict() for c in cells},
        "complete": sum(not v.startswith("failed") for v in status.values()),
        "failed": len(result.failed),
        "seconds": round(result.seconds, 3),
    }, out / "sweep.json")
    return result


def combine(cells: list[Cell], out: Path) -> pd.DataFrame:
    """All complete cells' metrics in one tidy table, with the grid point as ``variant``."""
    frames = []
    for cell in cells:
        path = cell.directory(out) / "metrics.parquet"
        if (cell.directory(out) / "done.json").exists():
            frames.append(pd.read_parquet(path).assign(variant=cell.variant))
    if not frames:
        return pd.DataFrame(columns=["scenario", "variant", "recommender", "seed", "iteration", "metric", "value",
                                     "n_defined"])
    df = pd.concat(frames, ignore_index=True)
    return df[["scenario", "variant"] + [c for c in df.columns if c not in ("scenario", "variant")]]


def describe(spec: SweepSpec, cells: list[Cell]) -> str:
    variants = len({(c.scenario.name, c.variant) for c in cells})
    return (f"sweep {spec.name}: {len(cells)} cells = {variants} scenario variant(s) × {spec.seeds} seed(s) × "
            f"{len(spec.recommenders)} recommender(s)")


__all__ = ["SweepSpec", "Cell", "load_sweep", "run_cell", "run_sweep", "dask_client", "combine", "SweepResult",
           "describe"]
