"""Real interaction logs: loaders for the common public formats, and fetching ML-100K.

Formats (detected from the file name, or given): MovieLens ``u.data`` (tab
separated ``user item rating timestamp``), ``ratings.dat`` (``::`` separated),
``ratings.csv`` (``userId,movieId,rating,timestamp`` with a header) and RecBole
atomic ``.inter`` files (tab separated, typed header such as ``user_id:token
item_id:token rating:float timestamp:float``).

User and item ids are remapped to dense integers (in order of first appearance in
time order) and the mapping is kept. Nothing is dropped silently: malformed lines
are skipped and reported (how many, and the first line number), exact duplicate
lines are kept once and reported the same way, and repeated (user, item) pairs at
different times are kept (re-consumption) and counted.

ML-100K is not committed (its licence forbids redistribution): ``recdrift data
fetch ml-100k`` downloads the RecBole wheel that ships it (``pip download --no-deps
recbole==1.2.1``) into the cache directory (``RECDRIFT_DATA``, default
``~/.cache/recdrift``) and extracts that one file.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = ("u.data", "ratings.dat", "ratings.csv", "inter")
DATASETS = {
    "ml-100k": {"package": "recbole==1.2.1", "member": "recbole/dataset_example/ml-100k/ml-100k.inter",
                "file": "ml-100k.inter", "format": "inter", "rows": 100_000},
}


class DataError(ValueError):
    """A log that cannot be read at all (missing file, unknown format, no valid line)."""


@dataclass
class LoadReport:
    """What reading a log found, line numbers 1-based in the file."""

    lines: int = 0
    malformed: int = 0
    first_malformed: int | None = None
    duplicates: int = 0
    first_duplicate: int | None = None
    repeats: int = 0  # (user, item) pairs seen again at another time: kept

    def summary(self) -> str:
        parts = [f"{self.lines} data lines"]
        if self.malformed:
            parts.append(f"{self.malformed} malformed skipped (first at line {self.first_malformed})")
        if self.duplicates:
            parts.append(f"{self.duplicates} exact duplicates kept once (first at line {self.first_duplicate})")
        if self.repeats:
            parts.append(f"{self.repeats} repeated user-item pairs kept")
        return ", ".join(parts)


@dataclass
class InteractionData:
    """A log as dense-id columns, sorted by time (stable: file order among equal times)."""

    name: str
    user: np.ndarray  # int64 dense ids
    item: np.ndarray  # int64 dense ids
    rating: np.ndarray  # float32, NaN where the format has none
    timestamp: np.ndarray  # int64 seconds
    user_ids: np.ndarray  # dense id → original token
    item_ids: np.ndarray
    report: LoadReport = field(default_factory=LoadReport)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"user": self.user, "item": self.item, "rating": self.rating, "timestamp": self.timestamp})


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".inter"):
        return "inter"
    if name.endswith(".dat"):
        return "ratings.dat"
    if name.endswith(".csv"):
        return "ratings.csv"
    if name == "u.data" or name.endswith(".data"):
        return "u.data"
    raise DataError(f"{path}: cannot tell the format from the name; give one of {', '.join(FORMATS)}")


def _rows(path: Path, fmt: str):
    """(line number, [user, item, rating, timestamp] as text or None) per data line."""
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    if fmt == "inter":
        if not lines:
            return
        header = [h.split(":")[0] for h in lines[0].split("\t")]
        try:
            cols = [header.index("user_id"), header.index("item_id")]
        except ValueError:
            raise DataError(f"{path}: line 1: an .inter header needs user_id and item_id, got {lines[0]!r}") from None
        opt = [header.index(c) if c in header else None for c in ("rating", "timestamp")]
        for no, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            f = line.split("\t")
            if len(f) != len(header):
                yield no, None
                continue
            yield no, [f[cols[0]], f[cols[1]]] + [f[i] if i is not None else "" for i in opt]
    elif fmt == "ratings.csv":
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None:
            return
        for no, f in enumerate(reader, start=2):
            if not f:
                continue
            yield no, (f[:4] if len(f) == 4 else None)
    else:
        sep = "\t" if fmt == "u.data" else "::"
        for no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            f = line.split(sep) if sep != "\t" else line.split()
            yield no, (f if len(f) == 4 else None)


def load_log(path: str | Path, fmt: str | None = None, name: str | None = None) -> InteractionData:
    """Read a log file; see the module docstring for what is reported and kept."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"{path}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    report = LoadReport()
    users, items, ratings, times, numbers = [], [], [], [], []
    for no, f in _rows(path, fmt):
        report.lines += 1
        try:
            if f is None or not f[0].strip() or not f[1].strip():
                raise ValueError
            rating = float(f[2]) if f[2].strip() else np.nan
            stamp = int(float(f[3])) if f[3].strip() else 0
            if not np.isfinite(rating) and f[2].strip():
                raise ValueError
        except (ValueError, IndexError):
            report.malformed += 1
            report.first_malformed = report.first_malformed or no
            continue
        users.append(f[0].strip())
        items.append(f[1].strip())
        ratings.append(rating)
        times.append(stamp)
        numbers.append(no)
    if not users:
        raise DataError(f"{path}: no valid interaction line ({report.summary()})")
    df = pd.DataFrame({"u": users, "i": items, "r": np.asarray(ratings, np.float32), "t": np.asarray(times, np.int64),
                       "line": numbers})
    dup = df.duplicated(["u", "i", "r", "t"])
    if dup.any():
        report.duplicates = int(dup.sum())
        report.first_duplicate = int(df.loc[dup, "line"].min())
        df = df[~dup]
    report.repeats = int(df.duplicated(["u", "i"]).sum())
    df = df.sort_values(["t", "line"], kind="stable")
    user_codes, user_ids = pd.factorize(df["u"])
    item_codes, item_ids = pd.factorize(df["i"])
    return InteractionData(name or path.stem, user_codes.astype(np.int64), item_codes.astype(np.int64),
                           df["r"].to_numpy(np.float32), df["t"].to_numpy(np.int64),
                           np.asarray(user_ids, dtype=object), np.asarray(item_ids, dtype=object), report)


# ----------------------------------------------------------------------------- fetched datasets
def data_dir() -> Path:
    return Path(os.environ.get("RECDRIFT_DATA", Path.home() / ".cache" / "recdrift"))


def dataset_path(name: str) -> Path:
    """Where a fetched dataset lives (it may not be there yet)."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return data_dir() / name / DATASETS[name]["file"]


def fetch(name: str, *, quiet: bool = False) -> Path:
    """Download (once) and extract a known dataset; returns its path."""
    target = dataset_path(name)
    if target.exists():
        return target
    spec = DATASETS[name]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec["package"], "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise DataError(f"fetching {name}: `{' '.join(cmd[2:])}` failed: {done.stderr.strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as z:
            data = z.read(spec["member"])
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    os.replace(partial, target)
    if not quiet:
        print(f"{name}: {target} ({len(data.splitlines()) - 1} interactions)")
    return target


def resolve_log(source: str | Path, fmt: str | None = None) -> InteractionData:
    """A dataset name (``ml-100k``, fetched) or a file path."""
    if str(source) in DATASETS:
        path = dataset_path(str(source))
        if not path.exists():
            raise DataError(f"{source} is not fetched yet: run `recdrift data fetch {source}` (or `make data`)")
        return load_log(path, DATASETS[str(source)]["format"], name=str(source))
    return load_log(source, fmt)
