"""Worlds calibrated from a real log (``world.source = "ml-100k"`` in a scenario).

The log's users and items become the world's: each gets a true latent vector from
a regularised matrix factorisation of the binary user × item interaction matrix
(soft-thresholded truncated SVD — the closed-form solution of nuclear-norm
regularised factorisation of a fully observed matrix), item quality comes from
the item's popularity (standardised log count × ``items.quality_sd``: broad appeal),
categories from KMeans on the item vectors, and each user's home category is the
nearest category centre. The choice model's temperature and no-click utility are
then set so that the mean click probability μ (of an item shown alone) over logged
(user, item) pairs equals the log's rating-based engagement (the share of ratings
≥ 4), and over random pairs equals that engagement times the log's density. Drift processes apply on top, as in synthetic scenarios.

What the calibration achieved is measured and kept (manifest, report): the
held-out AUC of the latent model (fitted on 90 % of the interactions, a held-out
pair against a random item the user never touched), and the Spearman rank
correlation between the items' expected clicks in the simulated world (Σ_u μ_ui)
and their real interaction counts. The fit is deterministic (its own fixed seed):
the calibration is part of the scenario, not of a run's seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import stats
from scipy.sparse.linalg import svds
from sklearn.cluster import KMeans

from sim.datasets import InteractionData, resolve_log
from sim.truth import sigmoid

METHOD = "soft-thresholded truncated SVD of the binary interaction matrix (nuclear-norm regularised MF)"


@dataclass(frozen=True)
class Calibration:
    user_vectors: np.ndarray  # (n_users, dim) unit
    item_vectors: np.ndarray  # (n_items, dim) unit
    quality: np.ndarray  # (n_items,)
    category: np.ndarray  # (n_items,) int32
    home_category: np.ndarray  # (n_users,) int32
    centres: np.ndarray  # (n_categories, dim) unit
    temperature: float
    no_click_utility: float
    report: dict


def _binary(data: InteractionData, mask: np.ndarray | None = None) -> sp.csr_matrix:
    m = np.ones(len(data), bool) if mask is None else mask
    x = sp.csr_matrix((np.ones(int(m.sum()), np.float32), (data.user[m], data.item[m])),
                      shape=(data.n_users, data.n_items))
    x.data[:] = 1.0
    return x


def factorise(x: sp.csr_matrix, dim: int, shrink: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Rank-``dim`` factors U√S', V√S' with singular values soft-thresholded by
    ``shrink`` × the (dim+1)-th one (the regularisation)."""
    k = min(dim + 1, min(x.shape) - 1)
    u, s, vt = svds(x.astype(np.float64), k=k, random_state=0)
    order = np.argsort(-s)
    u, s, vt = u[:, order], s[order], vt[order]
    s_shrunk = np.maximum(s[:dim] - shrink * s[min(dim, len(s) - 1)], 0.0)
    root = np.sqrt(s_shrunk)
    return u[:, :dim] * root, vt[:dim].T * root


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def holdout_auc(data: InteractionData, dim: int, fraction: float = 0.1, seed: int = 0) -> float:
    """AUC of the latent model fitted without a random ``fraction`` of the interactions:
    P(held-out pair scores above a random never-touched item of the same user)."""
    rng = np.random.default_rng(seed)
    held = rng.random(len(data)) < fraction
    train = _binary(data, ~held)
    u, v = factorise(train, dim)
    users, pos = data.user[held], data.item[held]
    neg = rng.integers(0, data.n_items, size=len(users))
    touched = np.asarray(_binary(data)[users, neg]).ravel() > 0
    users, pos, neg = users[~touched], pos[~touched], neg[~touched]
    sp_ = np.einsum("ij,ij->i", u[users], v[pos])
    sn = np.einsum("ij,ij->i", u[users], v[neg])
    return float((sp_ > sn).mean() + 0.5 * (sp_ == sn).mean())


def fit_choice(a_logged: np.ndarray, a_random: np.ndarray, target_logged: float,
               target_random: float) -> tuple[float, float]:
    """(temperature T, no-click utility u0) whose mean σ((a − u0)/T) over logged and
    over random pairs come closest to the two targets (on the log-odds scale)."""
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    best, best_err = (1.0, 0.0), np.inf
    for t in np.logspace(np.log10(0.05), np.log10(2.0), 40):
        for u0 in np.quantile(a_random, np.linspace(0.5, 0.9999, 60)):
            ml = np.clip(sigmoid((a_logged - u0) / t).mean(), 1e-9, 1 - 1e-9)
            mr = np.clip(sigmoid((a_random - u0) / t).mean(), 1e-9, 1 - 1e-9)
            err = (logit(ml) - logit(target_logged)) ** 2 + (logit(mr) - logit(target_random)) ** 2
            if err < best_err:
                best, best_err = (float(t), float(u0)), err
    return best


def calibrate(data: InteractionData, dim: int, n_categories: int, quality_sd: float) -> Calibration:
    """Fit the world to ``data`` (see the module docstring)."""
    x = _binary(data)
    u, v = factorise(x, dim)
    theta, vec = _unit(u).astype(np.float32), _unit(v).astype(np.float32)
    counts = np.asarray(x.sum(axis=0)).ravel()
    logc = np.log1p(counts)
    quality = (quality_sd * (logc - logc.mean()) / max(logc.std(), 1e-12)).astype(np.float32)
    k = max(1, min(n_categories, data.n_items))
    km = KMeans(n_clusters=k, random_state=0, n_init=3).fit(vec)
    centres = _unit(km.cluster_centers_).astype(np.float32)
    category = km.labels_.astype(np.int32)
    home = np.argmax(theta @ centres.T, axis=1).astype(np.int32)
    # number categories by audience, largest first, as synthetic worlds do (the shared
    # abrupt shift goes to the last one: the smallest audience, a niche going mainstream)
    order = np.argsort(-np.bincount(home, minlength=k), kind="stable")
    rank = np.empty(k, np.int32)
    rank[order] = np.arange(k, dtype=np.int32)
    centres, category, home = centres[order], rank[category], rank[home]
    # choice model: mean μ over logged pairs = share of ratings >= 4, and over random
    # pairs = that share × the log's density (an item the user never chose is engaged
    # with at the catalogue's base rate)
    rated = ~np.isnan(data.rating)
    engagement = float((data.rating[rated] >= 4).mean()) if rated.any() else 0.5
    density = len(data) / (data.n_users * data.n_items)
    a_logged = np.einsum("ij,ij->i", theta[data.user], vec[data.item]) + quality[data.item]
    rng = np.random.default_rng(0)
    ru, ri = rng.integers(0, data.n_users, 20_000), rng.integers(0, data.n_items, 20_000)
    a_random = np.einsum("ij,ij->i", theta[ru], vec[ri]) + quality[ri]
    temperature, no_click = fit_choice(a_logged, a_random, engagement, engagement * density)
    # expected clicks per item if every user saw every item alone, against real counts
    expected = np.zeros(data.n_items)
    for start in range(0, data.n_users, 4096):
        aff = theta[start : start + 4096] @ vec.T + quality
        expected += sigmoid((aff - no_click) / temperature).sum(axis=0)
    rho = float(stats.spearmanr(expected, counts).statistic)
    report = {
        "source": data.name, "method": METHOD, "dim": dim, "users": data.n_users, "items": data.n_items,
        "interactions": len(data), "read": data.report.summary(),
        "holdout_auc": round(holdout_auc(data, dim), 4),
        "engagement": round(engagement, 4), "density": round(density, 5),
        "temperature": round(temperature, 5), "no_click_utility": round(no_click, 5),
        "mean_mu_logged": round(float(sigmoid((a_logged - no_click) / temperature).mean()), 4),
        "mean_mu_random": round(float(sigmoid((a_random - no_click) / temperature).mean()), 4),
        "popularity_spearman": round(rho, 4),
    }
    return Calibration(theta, vec, quality, category, home, centres, temperature, no_click, report)


@functools.lru_cache(maxsize=8)
def calibration_for(source: str, fmt: str | None, dim: int, n_categories: int, quality_sd: float) -> Calibration:
    """Cached per process: every world of a run shares one fit."""
    return calibrate(resolve_log(source, fmt), dim, n_categories, quality_sd)


def world_calibration(world) -> Calibration:
    """The (cached) calibration of a scenario's ``[world]`` that has a ``source``."""
    return calibration_for(world.source, world.source_format, world.dim, world.items.n_categories,
                           world.items.quality_sd)
