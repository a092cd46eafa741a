"""What every benchmark script shares: the size options, one child process per size
(so peak RSS is that size's own), and keeping this folder off ``sys.path``
(``benchmarks/recommender.py`` would otherwise shadow the ``recommender`` package)."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def size_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--users", type=int, action="append", help="users (repeat for several sizes)")
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p


def run_child(script: str, args: list[str]) -> dict:
    """Run ``script --child ARGS`` in a fresh interpreter; its last stdout line is JSON."""
    out = subprocess.run([sys.executable, script, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
