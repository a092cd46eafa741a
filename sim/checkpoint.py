"""Checkpoints: a (recommender, seed) world frozen mid-run, to resume exactly.

One ``.npz`` file per cell, written atomically (temporary file, fsync, rename), so
a reader finds either the previous complete checkpoint or the new one. It holds
the world's whole state (arrays and the metric suite's state), the metric,
timing and DataCollector rows so far, the recommender's learned state (only for
recommenders that expose ``state()``/``load_state()``), a format version and the
scenario's hash. Nothing is pickled: loading uses ``allow_pickle=False``, and a
tampered or truncated file fails with :class:`CheckpointError` naming the path.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from sim.io import atomic_write

FORMAT_VERSION = 2  # 2: metric suite keeps per-item exposure


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def supports_checkpoints(recommender) -> bool:
    return callable(getattr(recommender, "state", None)) and callable(getattr(recommender, "load_state", None))


def _blob(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), np.uint8)


def _unblob(arr: np.ndarray):
    return json.loads(bytes(np.asarray(arr, np.uint8)).decode())


def _rows(recorder) -> dict[str, np.ndarray]:
    return {"iteration": np.asarray(recorder._it, np.int64), "metric": np.asarray(recorder._name, dtype="U64"),
            "value": np.asarray(recorder._value, np.float64), "n": np.asarray(recorder._n, np.int64)}


def _restore_rows(recorder, arrays: dict[str, np.ndarray]) -> None:
    recorder._it = arrays["iteration"].tolist()
    recorder._name = [str(x) for x in arrays["metric"]]
    recorder._value = arrays["value"].tolist()
    recorder._n = arrays["n"].tolist()


def save_checkpoint(path: str | Path, world, scenario_hash: str) -> Path:
    """Write the world and its recommender at the current iteration."""
    arrays: dict[str, np.ndarray] = {
        "meta": _blob({"format_version": FORMAT_VERSION, "scenario_hash": scenario_hash, "iteration": world.iteration,
                       "seed": world.seed, "recommender": world.name}),
        "collector": _blob(world.datacollector.model_vars),
    }
    arrays.update({f"world/{k}": np.asarray(v) for k, v in world.state().items()})
    arrays.update({f"metrics/{k}": v for k, v in _rows(world.metrics).items()})
    arrays.update({f"timings/{k}": v for k, v in _rows(world.timings).items()})
    arrays.update({f"recommender/{k}": np.asarray(v) for k, v in world.recommender.state().items()})

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    return atomic_write(path, write)


def read_meta(path: str | Path) -> dict:
    return _unblob(_load(path)["meta"])


def _load(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise CheckpointError(f"{path}: not a readable recdrift checkpoint ({type(exc).__name__}: {exc})") from None


def load_checkpoint(path: str | Path, world, scenario_hash: str) -> int:
    """Restore ``world`` (built from the same scenario and seed) from ``path``; returns the iteration."""
    data = _load(path)
    try:
        meta = _unblob(data["meta"])
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: checkpoint metadata is missing or corrupt ({exc})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format_version')} is not the supported {FORMAT_VERSION}")
    if meta.get("scenario_hash") != scenario_hash:
        raise CheckpointError(f"{path}: written for a different scenario (hash {meta.get('scenario_hash')}, "
                              f"this one is {scenario_hash}); refusing to resume")
    if meta.get("seed") != world.seed or meta.get("recommender") != world.name:
        raise CheckpointError(f"{path}: belongs to {meta.get('recommender')} seed {meta.get('seed')}, "
                              f"not {world.name} seed {world.seed}")
    try:
        group = lambda prefix: {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}  # noqa: E731
        world.load_state(group("world/"))
        _restore_rows(world.metrics, group("metrics/"))
        _restore_rows(world.timings, group("timings/"))
        world.datacollector.model_vars = _unblob(data["collector"])
        world.recommender.load_state(group("recommender/"))
    except (KeyError, ValueError, IndexError, TypeError) as exc:
        raise CheckpointError(f"{path}: checkpoint is incomplete or inconsistent ({type(exc).__name__}: {exc})") from None
    return int(meta["iteration"])
