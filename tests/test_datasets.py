"""Loaders for real logs: every format, dense ids with the mapping kept, nothing
dropped silently; and the fetched ML-100K file when it is there."""

import numpy as np
import pytest

from sim.cli import main
from sim.datasets import DataError, dataset_path, load_log

ROWS = [("u7", "i1", 4.0, 30), ("u2", "i1", 5.0, 10), ("u7", "i9", 3.0, 20), ("u2", "i3", 1.0, 40)]


def write(path, fmt, rows=ROWS, extra=()):
    """``extra``: (position, raw line) inserted among the data lines."""
    seps = {"u.data": "\t", "ratings.dat": "::", "ratings.csv": ",", "inter": "\t"}
    header = {"ratings.csv": ["userId,movieId,rating,timestamp"],
              "inter": ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]}.get(fmt, [])
    lines = [seps[fmt].join(str(x) for x in r) for r in rows]
    for pos, raw in extra:
        lines.insert(pos, raw)
    path.write_text("\n".join(header + lines) + "\n")
    return path


@pytest.mark.parametrize("fmt, name", [("u.data", "u.data"), ("ratings.dat", "ratings.dat"),
                                       ("ratings.csv", "ratings.csv"), ("inter", "log.inter")])
def test_every_format_loads_in_time_order_with_dense_ids(tmp_path, fmt, name):
    data = load_log(write(tmp_path / name, fmt))
    assert len(data) == 4 and data.n_users == 2 and data.n_items == 3
    np.testing.assert_array_equal(data.timestamp, [10, 20, 30, 40])
    # ids are dense, in order of first appearance in time; the mapping gives the tokens back
    assert list(data.user_ids[data.user]) == ["u2", "u7", "u7", "u2"]
    assert list(data.item_ids[data.item]) == ["i1", "i9", "i1", "i3"]
    np.testing.assert_array_equal(data.rating, [5, 3, 4, 1])
    assert data.report.malformed == data.report.duplicates == 0


def test_malformed_and_duplicate_lines_are_reported_with_line_numbers(tmp_path):
    path = write(tmp_path / "log.inter", "inter", ROWS + [ROWS[0], ("u2", "i1", 2.0, 50)],
                 extra=[(1, "u9\ti4\tnot-a-number\t5"), (3, "too\tfew")])
    data = load_log(path)
    r = data.report
    assert (r.malformed, r.first_malformed) == (2, 3)  # header is line 1
    assert (r.duplicates, r.first_duplicate) == (1, 8)  # the exact copy of line 2
    assert r.repeats == 1  # u2 rated i1 again at t = 50: kept, counted
    assert len(data) == 5 and "2 malformed skipped (first at line 3)" in r.summary()


def test_unreadable_logs_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_log(tmp_path / "missing.inter")
    (tmp_path / "x.bin").write_text("1 2 3 4\n")
    with pytest.raises(DataError, match="cannot tell the format"):
        load_log(tmp_path / "x.bin")
    (tmp_path / "bad.inter").write_text("user:token\tthing:token\n1\t2\n")
    with pytest.raises(DataError, match="line 1: an .inter header needs user_id and item_id"):
        load_log(tmp_path / "bad.inter")
    (tmp_path / "all_bad.data").write_text("a b\nc d\n")
    with pytest.raises(DataError, match="no valid interaction line"):
        load_log(tmp_path / "all_bad.data")


def test_data_info_command(tmp_path, capsys):
    path = write(tmp_path / "u.data", "u.data")
    assert main(["data", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 users, 3 items, 4 interactions" in out
    assert main(["data", "info", str(tmp_path / "nope.inter")]) == 2


ML100K = dataset_path("ml-100k")


@pytest.mark.skipif(not ML100K.exists(), reason=f"ML-100K not fetched ({ML100K}); run `make data`")
def test_ml100k_loads_whole():
    data = load_log(ML100K)
    assert (len(data), data.n_users, data.n_items) == (100_000, 943, 1682)
    assert data.report.malformed == 0 and data.report.duplicates == 0
    assert set(np.unique(data.rating)) == {1, 2, 3, 4, 5}
    assert np.all(np.diff(data.timestamp) >= 0)
