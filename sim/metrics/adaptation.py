"""Adaptation speed after a drift event (spec §4): TTR95 and its companions.

Input: for each drift event and seed, the event-aligned curve of oracle-normalised
utility of the *affected* users, q_s(τ) = Σ EU / Σ EU* over them at t = onset + τ,
for τ = −W..H−1 (recorded by the world). Output: per-seed and seed-mean summaries,
and a percentile bootstrap over seeds for TTR95. Pure functions of arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

RHO, M_CONSEC, W_PRE, H_MAX = 0.05, 5, 20, 100


def time_to_threshold(q: np.ndarray, threshold: float, m: int) -> tuple[int, bool]:
    """min τ in [0, H−m] with q(τ..τ+m−1) ≥ threshold; censored → (H, True)."""
    q = np.asarray(q, np.float64)
    h = len(q)
    ok = q >= threshold
    for tau in range(0, h - m + 1):
        if ok[tau : tau + m].all():
            return tau, False
    return h, True


@dataclass(frozen=True)
class Adaptation:
    """Summary of one curve (a seed's, or the seed mean)."""

    ttr95: int
    censored: bool
    b: float
    q_min: float
    D: float
    final: float
    pdl_H: float
    pdl_H_pos: float
    half_life: float
    deterioration: float
    baseline_not_stationary: bool
    H: int

    def as_dict(self) -> dict:
        return asdict(self)


def summarise_curve(pre: np.ndarray, post: np.ndarray, *, rho: float = RHO, m: int = M_CONSEC, w: int = 10,
                    absolute_eps: float | None = None) -> Adaptation:
    """Adaptation metrics of one event-aligned curve.

    ``pre``: q for τ = −W..−1 (the baseline window); ``post``: q for τ = 0..H−1.
    ``absolute_eps`` switches TTR to the threshold b − ε instead of (1 − ρ)·b.
    """
    pre, post = np.asarray(pre, np.float64), np.asarray(post, np.float64)
    b = float(pre.mean())
    threshold = b - absolute_eps if absolute_eps is not None else (1 - rho) * b
    ttr, censored = time_to_threshold(post, threshold, m)
    q_min = float(post.min())
    depth = b - q_min
    half = np.nan
    if depth >= rho * b:
        tau_min = int(post.argmin())
        t, c = time_to_threshold(post[tau_min:], q_min + depth / 2, m)
        half = np.nan if c else float(tau_min + t)
    x = np.arange(len(pre))
    slope = np.polyfit(x, pre, 1)[0] if len(pre) >= 2 else 0.0
    ww = min(w, len(pre), len(post))
    return Adaptation(
        ttr95=int(ttr), censored=bool(censored), b=b, q_min=q_min, D=depth, final=float(post[-1]),
        pdl_H=float((b - post).sum()), pdl_H_pos=float(np.clip(b - post, 0, None).sum()),
        half_life=half, deterioration=float(post[:ww].mean() - pre[-ww:].mean()),
        baseline_not_stationary=bool(abs(slope * len(pre)) > rho * b), H=len(post),
    )


def ttr_of_mean(curves: np.ndarray, n_pre: int, *, rho: float = RHO, m: int = M_CONSEC) -> tuple[int, bool]:
    """TTR95 of the seed-mean curve (``curves``: (S, n_pre + H)), with b̄ = mean of b_s."""
    b = curves[:, :n_pre].mean(axis=1).mean()
    return time_to_threshold(curves[:, n_pre:].mean(axis=0), (1 - rho) * b, m)


def bootstrap_ttr(curves: np.ndarray, n_pre: int, rng: np.random.Generator, *, n_resamples: int = 10_000,
                  rho: float = RHO, m: int = M_CONSEC) -> dict:
    """Percentile bootstrap over seeds of TTR95 (spec §4.3).

    Resamples seed indices with replacement, recomputes the seed-mean curve, its
    baseline and TTR95; bounds are inverted-CDF quantiles, so they are attainable
    integers. Returns the point value, the 95 % interval, the share of censored
    replicates and the replicate values.
    """
    s = curves.shape[0]
    point, censored = ttr_of_mean(curves, n_pre, rho=rho, m=m)
    idx = rng.integers(0, s, size=(n_resamples, s))
    means = curves[idx].mean(axis=1)  # (B, n_pre + H)
    b = means[:, :n_pre].mean(axis=1)
    post = means[:, n_pre:]
    ok = post >= ((1 - rho) * b)[:, None]
    h = post.shape[1]
    runs = np.ones((n_resamples, max(h - m + 1, 0)), bool)
    for j in range(m):
        runs &= ok[:, j : h - m + 1 + j]
    found = runs.any(axis=1)
    reps = np.where(found, runs.argmax(axis=1), h)
    lo, hi = np.quantile(reps, [0.025, 0.975], method="inverted_cdf")
    return {"ttr95": point, "censored": censored, "ci_low": int(lo), "ci_high": int(hi),
            "censored_share": float((~found).mean()), "replicates": reps}


def paired_bootstrap_ttr(curves_a: np.ndarray, curves_b: np.ndarray, n_pre: int, rng: np.random.Generator,
                         *, n_resamples: int = 10_000) -> dict:
    """Δ TTR95 (A − B) with the *same* resampled seeds for both (spec §4.3 step 5)."""
    s = curves_a.shape[0]
    idx = rng.integers(0, s, size=(n_resamples, s))
    deltas = np.empty(n_resamples)
    for r in range(n_resamples):
        deltas[r] = ttr_of_mean(curves_a[idx[r]], n_pre)[0] - ttr_of_mean(curves_b[idx[r]], n_pre)[0]
    lo, hi = np.quantile(deltas, [0.025, 0.975], method="inverted_cdf")
    return {"delta": ttr_of_mean(curves_a, n_pre)[0] - ttr_of_mean(curves_b, n_pre)[0],
            "ci_low": float(lo), "ci_high": float(hi), "p_a_faster": float((deltas < 0).mean())}


# ----------------------------------------------------------------------------- detection (§4.1)
def detection_metrics(alarms, drifts, n: int | None = None, *, delta_max: int = 50, delta_pre: int = 0,
                      drift_ends=None) -> dict[str, float]:
    """Match alarms to drifts: an alarm in [t_s − δpre, t_e + δmax] (inclusive) of the
    earliest still-undetected drift detects it; other alarms are false.

    Returns detection delay (mean over detected drifts), missed detection rate,
    episode recall and precision, false alarms per sample (needs ``n``), mean time
    between false alarms (MTFA) and the mean time ratio MTR = MTFA/delay·(1 − MDR).
    """
    drifts = list(drifts)
    ends = list(drift_ends) if drift_ends is not None else drifts
    detected: dict[int, int] = {}
    false: list[int] = []
    for a in sorted(alarms):
        match = next((i for i, (s, e) in enumerate(zip(drifts, ends))
                      if i not in detected and s - delta_pre <= a <= e + delta_max), None)
        if match is None:
            in_detected = any(s - delta_pre <= a <= e + delta_max for i, (s, e) in enumerate(zip(drifts, ends)) if i in detected)
            if not in_detected:
                false.append(a)
        else:
            detected[match] = a
    delays = [detected[i] - drifts[i] for i in detected]
    delay = float(np.mean(delays)) if delays else np.nan
    mdr = 1 - len(detected) / len(drifts) if drifts else np.nan
    mtfa = float(np.mean(np.diff(false))) if len(false) >= 2 else np.nan
    n_alarms = len(alarms)
    return {
        "delay": delay, "missed_detection_rate": mdr, "recall": 1 - mdr if drifts else np.nan,
        "precision": len(detected) / n_alarms if n_alarms else np.nan,
        "false_alarm_rate": len(false) / n if n else np.nan, "mtfa": mtfa,
        "mtr": mtfa / delay * (1 - mdr) if delays and not np.isnan(mtfa) and delay > 0 else np.nan,
    }


# ----------------------------------------------------------------------------- tracking (§4.4)
def tracking_cos(estimated: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per user cosine of estimated and true interest vectors; NaN for a zero vector."""
    ne, nt = np.linalg.norm(estimated, axis=1), np.linalg.norm(true, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((ne > 0) & (nt > 0), (estimated * true).sum(axis=1) / (ne * nt), np.nan)


def score_mse(predicted: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean((np.asarray(predicted, np.float64) - np.asarray(true, np.float64)) ** 2))
