"""Will a run fit in memory? An estimate made before anything is allocated.

Checked by ``recdrift run`` and ``recdrift validate`` right after the scenario is
loaded: a run whose estimated peak exceeds the memory available is refused with
the estimate and the setting that reduces it, instead of being killed an hour in.
The estimate follows the arrays the world preallocates (population and catalogue
for every arrival, the log window the schedule keeps, one scoring buffer of
``chunk_size`` × items per pass, the homogenisation matrices) plus a fixed
allowance for the interpreter and libraries; it errs on the high side.
"""

from __future__ import annotations

import os

from sim.scenario import Scenario, ScenarioError

BASE_BYTES = 600 * 2**20  # interpreter, numpy, pandas, mesa (TensorFlow adds more when used)
TF_BYTES = 700 * 2**20


def estimate_peak_bytes(scenario: Scenario, recommenders: list[str] | None = None) -> dict[str, int]:
    """Bytes by component, and the total under ``"total"``."""
    w, it = scenario.world, scenario.iterations
    users = w.users.n + w.users.arrivals_per_iteration * it
    items = w.items.n + w.items.arrivals_per_iteration * it
    d, k = w.dim, scenario.k
    sched = scenario.schedule
    kept = sched.retrain_every if sched.mode == "warm" else (sched.window or it)
    kept = max(kept, scenario.recommenders.full.window, scenario.recommenders.cf.window) if recommenders and any(
        r.startswith("full") or r == "cf" for r in recommenders) else kept
    parts = {
        "population": users * d * 4 * 2 + users * 24,  # theta, satiation, lifecycle counters
        "catalog": items * (d + w.items.feature_dim) * 4 + items * 16,
        "log": min(kept, it) * users * (k * 4 + 16) * 2,  # recommended + organic blocks
        "scoring": 3 * min(w.chunk_size, users) * items * 8,  # score buffer, mask and temporaries
        "homogenisation": (min(users, scenario.metrics.pair_limit) ** 2 * 8 * 3
                           if "homogenisation" in scenario.metrics.families else 0),
        "metrics": it * 64 * 100,
        "interpreter": BASE_BYTES,
    }
    if recommenders and any(r.startswith("full") for r in recommenders):
        f = scenario.recommenders.full
        widths = [items, *f.hidden, f.dim, items]
        params = sum(a * b for a, b in zip(widths, widths[1:]))
        parts["encoder"] = TF_BYTES + params * 4 * 4 + f.batch_size * items * 4 * 6 + users * (f.dim + 1) * 4 * 3
    parts["total"] = sum(parts.values())
    return parts


def available_bytes() -> int | None:
    """Memory available to a new allocation now (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(scenario: Scenario, recommenders: list[str] | None = None, *, source: str = "<scenario>",
               available: int | None = None) -> dict[str, int]:
    """Raise :class:`ScenarioError` when the estimated peak exceeds the available memory."""
    est = estimate_peak_bytes(scenario, recommenders)
    avail = available_bytes() if available is None else available
    if avail is not None and est["total"] > avail:
        biggest = max((k for k in est if k not in ("total", "interpreter")), key=est.get)
        advice = {
            "population": "fewer world.users.n or arrivals, or a smaller world.dim",
            "catalog": "fewer world.items.n or arrivals, or a smaller world.dim / feature_dim",
            "log": "a shorter schedule.window or recommenders' window",
            "scoring": "a smaller world.chunk_size",
            "homogenisation": "a smaller metrics.pair_limit, or drop 'homogenisation' from metrics.families",
            "metrics": "fewer iterations",
            "encoder": "a smaller recommenders.full.batch_size or hidden widths",
        }[biggest]
        raise ScenarioError(
            source, "world",
            f"estimated peak memory {est['total'] / 2**30:.1f} GiB exceeds the {avail / 2**30:.1f} GiB available "
            f"(largest part: {biggest}, {est[biggest] / 2**30:.1f} GiB); reduce it with {advice}",
        )
    return est
