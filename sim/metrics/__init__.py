"""Metrics: pure functions of (slates, clicks, true state) → values with ``n_defined``.

Step 3 (slate metrics, before any feedback) and step 4 (click metrics) of each
iteration. Ids follow ``shared/metrics.md``; undefined values are NaN and counted
out, never silently 0. Metrics never read a recommender's internals.
"""

from sim.metrics.recorder import MetricRecorder  # noqa: F401
