"""Streaming the interaction log to Parquet (``recdrift run --log-interactions``).

The world keeps only the log its recommenders still need; a user who wants every
impression gets them on disk as the run goes, in row groups, so memory stays flat.
Rows are those of :class:`~sim.log.Interactions` (one per shown item, ``clicked``
marks clicks, ``organic`` marks items found by browsing).

Files: ``DIR/part-<first iteration>.parquet``. A part is written under a temporary
name and renamed when closed, so a part that exists is complete. With checkpoints
the sink starts a new part at every checkpoint, and on resume from iteration ``T``
drops parts that start at or after ``T`` (their iterations are simulated again):
``pandas.read_parquet(DIR)`` then reads each iteration exactly once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.log import Interactions, LogBlock

SCHEMA = pa.schema([
    ("iteration", pa.int32()), ("user", pa.int64()), ("item", pa.int32()), ("position", pa.int8()),
    ("clicked", pa.bool_()), ("rating", pa.float32()), ("organic", pa.bool_()),
])


class InteractionSink:
    """Appends log blocks to the current part, flushing a row group every ``rows`` rows."""

    def __init__(self, directory: str | Path, start: int = 0, rows: int = 262_144):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.row_group = rows
        for old in self.directory.glob("part-*.parquet*"):  # a crashed attempt's leftovers
            if old.suffix != ".parquet" or int(old.name[5:11]) >= start:
                old.unlink()
        self._buffer: list[Interactions] = []
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None
        self._open(start)

    def _open(self, start: int) -> None:
        self._final = self.directory / f"part-{start:06d}.parquet"
        self._tmp = self._final.with_suffix(".parquet.tmp")
        self._writer = pq.ParquetWriter(self._tmp, SCHEMA, compression="zstd")

    def write(self, block: LogBlock) -> None:
        rows = Interactions.from_blocks([block])
        if len(rows):
            self._buffer.append(rows)
            self._buffered += len(rows)
        if self._buffered >= self.row_group:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        rows = Interactions.concat(self._buffer)
        table = pa.Table.from_arrays([pa.array(np.asarray(getattr(rows, f.name)), type=f.type) for f in SCHEMA],
                                     schema=SCHEMA)
        self._writer.write_table(table)
        self._buffer, self._buffered = [], 0

    def _close_part(self) -> None:
        self._flush()
        self._writer.close()
        with open(self._tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self._tmp, self._final)

    def rotate(self, start: int) -> None:
        """Close the current part and start one at iteration ``start`` (at a checkpoint)."""
        self._close_part()
        self._open(start)

    def close(self) -> None:
        if self._writer is not None:
            self._close_part()
            self._writer = None
