"""The full recommender: preprocessing → Keras encoder → KMeans patterns → cosine
ranking → feedback retraining, behind the harness's ``Recommender`` interface.

Each stage is its own module with a plain input and output (see their docstrings);
this class wires them and owns stage 5, the retraining policy:

* ``never``          — train once (when ``min_train_iterations`` of data exist), then
  only fold in users' newest clicks;
* ``periodic_full``  — retrain from scratch every ``retrain_every`` iterations;
* ``periodic_warm``  — fine-tune the current model (optimiser state kept) for
  ``warm_epochs`` on the recent window every ``retrain_every`` iterations;
* ``drift_triggered``— fine-tune when the share of users changing interest pattern,
  or the relative change of recent click-through, exceeds ``drift_threshold``.

Every update call folds in the users with new events (a forward pass), so
recommendations follow a user between retrains. Before the first training the
pipeline serves the most-clicked items of its window (a cold-start fallback).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from recommender.base import Exclusions, serving_copy, top_k_shared
from recommender.encoder import EncoderConfig, augment_users, load_encoder, make_encoder
from recommender.patterns import InterestPatterns
from recommender.preprocessing import PreprocessConfig, build_feedback, build_sequences
from recommender.ranking import cosine_top_k, l2_normalise
from sim.catalog import ItemInfo
from sim.log import Interactions


class _ModelElsewhere:
    """Stands in for the Keras model in a serving copy: trained, but not held here."""


_SERVED_MODEL = _ModelElsewhere()

Strategy = Literal["never", "periodic_full", "periodic_warm", "drift_triggered"]


@dataclass(frozen=True)
class PipelineConfig:
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    n_patterns: int = 8
    blend_history: int = 3
    diversity_share: float = 0.0
    strategy: Strategy = "periodic_warm"
    retrain_every: int = 5
    drift_threshold: float = 0.15
    min_train_iterations: int = 3
    # ranking: cosine + recency_prior × (standardised log clicks of the last recency_window
    # iterations); 0 = pure cosine. Between retrains the model cannot know what is
    # trending now; this prior does, without retraining.
    recency_prior: float = 0.0
    recency_window: int = 4


class FullPipeline:
    """The five-stage recommender that recdrift exists to study."""

    def __init__(self, config: PipelineConfig | None = None, random_state: int = 0):
        self.config = config or PipelineConfig()
        self.random_state = random_state

    # ------------------------------------------------------------------ API
    def fit(self, log: Interactions, items: ItemInfo) -> "FullPipeline":
        """Start over: forget everything, train on ``log`` if there is enough of it."""
        self.buffer_ = self._kept(log)
        self.seen_ = np.unique(log.iteration).astype(np.int64)  # iterations of data in the window
        self.now_ = int(log.iteration.max()) + 1 if len(log) else 0
        self.n_items_ = items.n_items
        self.model_ = None
        self.patterns_ = None
        self.model_versions_ = 0
        self.last_train_ = -10**9
        self.n_users_ = int(log.user.max()) + 1 if len(log) else 0
        self.user_vecs_ = np.zeros((self.n_users_, self.config.encoder.dim + 1), np.float32)
        self.user_history_ = np.zeros(self.n_users_, np.int64)
        self.labels_ = np.full(self.n_users_, -1, np.int64)
        self.diagnostics_: dict[str, float] = {}
        self._ctr_ref: float | None = None
        self._rng = np.random.default_rng(self.random_state)
        if self._enough_data():
            self._train(full=True)
        return self

    def partial_fit(self, new: Interactions, items: ItemInfo) -> "FullPipeline":
        """Take in new events: maybe retrain (by strategy), then fold in changed users."""
        if not hasattr(self, "buffer_"):
            return self.fit(new, items)
        cfg = self.config
        self.diagnostics_ = {}
        if len(new):
            self.now_ = max(self.now_, int(new.iteration.max()) + 1)
            self._grow_users(int(new.user.max()) + 1)
        window = cfg.preprocess.window
        start = self.now_ - window if window else -1
        self.buffer_ = Interactions.concat([self.buffer_, self._kept(new)]).since(start)
        self.seen_ = np.union1d(self.seen_, new.iteration.astype(np.int64))
        self.seen_ = self.seen_[self.seen_ >= start]
        self.n_items_ = max(self.n_items_, items.n_items)
        retrained = False
        if self.model_ is None:
            if self._enough_data():
                self._train(full=True)
                retrained = True
        else:
            due = self.now_ - self.last_train_ >= cfg.retrain_every
            if cfg.strategy == "periodic_full" and due:
                self._train(full=True)
                retrained = True
            elif cfg.strategy == "periodic_warm" and due:
                self._train(full=False)
                retrained = True
        if self.model_ is not None and not retrained:
            changed = np.unique(new.user[new.clicked]) if len(new) else np.empty(0, np.int64)
            switch = self._fold_in(changed)
            if cfg.strategy == "drift_triggered" and self._drift_signal(switch, new) > cfg.drift_threshold:
                self._train(full=False)
                retrained = True
        self.diagnostics_["retrained"] = float(retrained)
        self.diagnostics_["model_versions"] = float(self.model_versions_)
        return self

    def recommend(self, user_ids: np.ndarray, k: int, *, exclude: Exclusions) -> np.ndarray:
        user_ids = np.asarray(user_ids, np.int64)
        if self.model_ is None:
            return top_k_shared(self._fallback_scores(exclude.n_items), k, exclude, len(user_ids))
        vecs = self._user_vectors(user_ids)
        items = self.item_vecs_
        if items.shape[0] < exclude.n_items:  # items that arrived after the last retrain
            items = np.concatenate([items, np.zeros((exclude.n_items - items.shape[0], items.shape[1]), np.float32)])
        share = self.config.diversity_share
        n_div = int(round(share * k)) if self.patterns_ is not None and self.patterns_.k_ > 1 else 0
        prior = self._recency_prior(exclude.n_items)
        main = cosine_top_k(vecs, items, k - n_div, exclude, item_bias=prior)
        if n_div == 0:
            return main
        second = np.argsort(-self.patterns_.similarities(l2_normalise(vecs)), axis=1)[:, 1]
        placed = main

        def mask_placed(s, sl):
            rows = np.repeat(np.arange(sl.stop - sl.start), placed.shape[1])
            s[rows, placed[sl].ravel()] = -np.inf

        extra = cosine_top_k(self.patterns_.centroids_[second], items, n_div, exclude, extra_mask=mask_placed,
                             item_bias=prior)
        return np.concatenate([main, extra], axis=1)

    def serving(self) -> "FullPipeline":
        """A copy that recommends but cannot learn: embeddings, patterns and recent
        clicks, without the Keras model or the impression buffer (for user shards)."""
        return serving_copy(self, model_=None if self.model_ is None else _SERVED_MODEL,
                            buffer_=self.buffer_.clicks(), _rng=None)

    # ------------------------------------------------------------------ checkpoints
    _ARRAYS = ("user_vecs_", "user_history_", "labels_")

    def state(self) -> dict[str, np.ndarray]:
        """Everything learned, as arrays; the Keras model travels as its ``.keras`` bytes."""
        import tempfile
        from pathlib import Path

        from recommender.base import generator_state

        out = {name: getattr(self, name) for name in self._ARRAYS}
        out.update({f"buffer.{f}": getattr(self.buffer_, f) for f in self.buffer_.__dataclass_fields__})
        out["seen"] = self.seen_
        out["scalars"] = np.array([self.now_, self.n_items_, self.model_versions_, self.last_train_, self.n_users_,
                                   np.nan if self._ctr_ref is None else self._ctr_ref], np.float64)
        out["rng"] = generator_state(self._rng)
        if self.patterns_ is not None:
            out["centroids"] = self.patterns_.centroids_
        if self.model_ is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = self.model_.save(Path(tmp) / self._model_file)
                out[self._model_file] = np.frombuffer(path.read_bytes(), np.uint8)
            out["item_vecs"] = self.item_vecs_
            out["epochs_trained"] = np.asarray(self.model_.epochs_trained)
            for i, v in enumerate(self.model_.training_state()):
                out[f"training_state{i}"] = v
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        import tempfile
        from pathlib import Path

        from recommender.base import restore_generator

        for name in self._ARRAYS:
            setattr(self, name, np.array(state[name]))
        self.buffer_ = Interactions(*(np.array(state[f"buffer.{f}"]) for f in Interactions.__dataclass_fields__))
        self.seen_ = np.array(state["seen"], np.int64)
        now, n_items, versions, last, n_users, ctr = state["scalars"]
        self.now_, self.n_items_, self.model_versions_ = int(now), int(n_items), int(versions)
        self.last_train_, self.n_users_ = int(last), int(n_users)
        self._ctr_ref = None if np.isnan(ctr) else float(ctr)
        self._rng = restore_generator(state["rng"])
        self.patterns_ = None
        if "centroids" in state:
            self.patterns_ = InterestPatterns(self.config.n_patterns, random_state=self.random_state)
            self.patterns_.centroids_ = np.array(state["centroids"])
            self.patterns_.k_ = len(self.patterns_.centroids_)
        self.model_ = None
        if self._model_file in state:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / self._model_file
                path.write_bytes(bytes(np.asarray(state[self._model_file], np.uint8)))
                seed = self.random_state + 7919 * (self.model_versions_ - 1)
                self.model_ = load_encoder(path, self.config.encoder, seed)
            self.model_.epochs_trained = int(state["epochs_trained"])
            self.model_.load_training_state([state[f"training_state{i}"] for i in range(len(
                [k for k in state if k.startswith("training_state")]))])
            self.item_vecs_ = np.array(state["item_vecs"])
        self.diagnostics_ = {}

    @property
    def _model_file(self) -> str:
        return "model.npz" if self.config.encoder.kind == "attention" else "model.keras"

    def diagnostics(self) -> dict[str, float]:
        """Pattern sizes and churn between patterns, for the harness to record."""
        return dict(self.diagnostics_)

    # ------------------------------------------------------------------ internals
    def _enough_data(self) -> bool:
        return len(self.buffer_) > 0 and len(self.seen_) >= self.config.min_train_iterations

    def _kept(self, log: Interactions) -> Interactions:
        """What the buffer holds: clicks only, unless skipped impressions are used as negatives
        (a tenth of the rows or less: the window is copied and filtered every update)."""
        return log if self.config.preprocess.skipped_as_negative else log.clicks()

    def _feedback(self):
        return build_feedback(self.buffer_, self.n_users_, self.n_items_, self.now_, self.config.preprocess)

    def _encoder_input(self, fb):
        """What the encoder reads for every user: the decayed click rows (autoencoder),
        or each user's last L + 1 clicks in order (attention: L in, L next-click targets)."""
        enc = self.config.encoder
        if enc.kind == "attention":
            return build_sequences(self.buffer_, self.n_users_, self.n_items_, self.now_, self.config.preprocess,
                                   enc.sequence_length + 1)
        return fb.positives

    def _train(self, full: bool) -> None:
        cfg = self.config
        fb = self._feedback()
        data = self._encoder_input(fb)
        if full or self.model_ is None:
            seed = self.random_state + 7919 * self.model_versions_
            self.model_ = make_encoder(cfg.encoder, self.n_items_, seed)
            self.model_.train(data, cfg.encoder.epochs, self._rng)
        else:
            self.model_.grow(self.n_items_)
            self.model_.train(data, cfg.encoder.warm_epochs, self._rng)
        self.diagnostics_["encoder_parameters"] = float(self.model_.parameters)
        self.diagnostics_["encoder_on_gpu"] = float(self.model_.device != "CPU")
        self.item_vecs_ = l2_normalise(self.model_.item_embeddings())
        self.model_versions_ += 1
        self.last_train_ = self.now_
        users = np.flatnonzero(fb.user_counts)
        self.user_vecs_[:] = 0.0
        self.user_history_[:] = 0
        self.user_vecs_[users] = self._embed(data[users])
        self.user_history_[users] = fb.user_counts[users]
        self.patterns_ = InterestPatterns(cfg.n_patterns, random_state=self.random_state).fit(self.user_vecs_[users])
        old = self.labels_.copy()
        self.labels_[:] = -1
        self.labels_[users] = self.patterns_.align_to(old[users], self.user_vecs_[users])
        self._record_patterns(old, users)

    def _embed(self, rows) -> np.ndarray:
        """Unit user vectors in the ranking space (bottleneck plus the bias coordinate)."""
        return l2_normalise(augment_users(self.model_.user_embeddings(rows)))

    def _fold_in(self, users: np.ndarray) -> float:
        """Refresh embeddings of ``users`` from their newest feedback by a forward pass;
        returns the share of them that changed interest pattern. The attention encoder
        with its time feature refreshes every user with data: their gaps grew."""
        fb = self._feedback()
        enc = self.config.encoder
        if enc.kind == "attention" and enc.time_feature:
            users = np.union1d(users, np.flatnonzero(fb.user_counts))
        users = users[users < self.n_users_]
        if users.size == 0:
            self._record_patterns(self.labels_, users)
            return 0.0
        data = self._encoder_input(fb)
        if enc.kind == "attention":
            rows = data[users].known_items(self.model_.n_items)
        else:
            rows = data[users][:, : self.model_.n_items]  # items newer than the model are unknown to it
        self.user_vecs_[users] = self._embed(rows)
        self.user_history_[users] = fb.user_counts[users]
        old = self.labels_.copy()
        self.labels_[users] = self.patterns_.assign(self.user_vecs_[users])
        return self._record_patterns(old, users)

    def _record_patterns(self, old: np.ndarray, users: np.ndarray) -> float:
        had = old[users] >= 0
        switched = float(((old[users] != self.labels_[users]) & had).sum() / max(int(had.sum()), 1))
        known = self.labels_[self.labels_ >= 0]
        if self.patterns_ is not None and known.size:
            sizes = self.patterns_.sizes(known) / known.size
            self.diagnostics_.update({f"pattern_share[{i}]": float(s) for i, s in enumerate(sizes)})
            self.diagnostics_["pattern_switch_share"] = switched
            self.diagnostics_["n_patterns"] = float(self.patterns_.k_)
        return switched

    def _drift_signal(self, switch_share: float, new: Interactions) -> float:
        shown = new.select(~new.organic)
        if len(shown) == 0:
            return switch_share
        ctr = float(shown.clicked.mean())
        ref = self._ctr_ref if self._ctr_ref is not None else ctr
        self._ctr_ref = 0.8 * ref + 0.2 * ctr if self._ctr_ref is not None else ctr
        ctr_change = abs(ctr - ref) / max(ref, 1e-9)
        return max(switch_share, ctr_change)

    def _user_vectors(self, user_ids: np.ndarray) -> np.ndarray:
        """Each user's embedding, blended towards its pattern centroid when history is short."""
        d = self.config.encoder.dim + 1
        vecs = np.zeros((len(user_ids), d), np.float32)
        known = user_ids < self.n_users_
        vecs[known] = self.user_vecs_[user_ids[known]]
        history = np.zeros(len(user_ids))
        history[known] = self.user_history_[user_ids[known]]
        labels = np.full(len(user_ids), -1)
        labels[known] = self.labels_[user_ids[known]]
        if self.patterns_ is not None:
            biggest = int(np.argmax(self.patterns_.sizes(self.labels_[self.labels_ >= 0]))) if (self.labels_ >= 0).any() else 0
            labels = np.where(labels >= 0, labels, biggest)
            alpha = np.minimum(1.0, history / max(self.config.blend_history, 1))[:, None]
            centroid = l2_normalise(self.patterns_.centroids_[labels])
            vecs = alpha * vecs + (1 - alpha) * centroid
        return vecs

    def _recency_prior(self, n_items: int) -> np.ndarray | None:
        """β × standardised log(1 + clicks) per item over the last ``recency_window``
        iterations (None when β = 0)."""
        beta = self.config.recency_prior
        if beta <= 0:
            return None
        clicks = self.buffer_.clicks()
        recent = (clicks.iteration >= self.now_ - self.config.recency_window) & (clicks.item < n_items)
        z = np.log1p(np.bincount(clicks.item[recent], minlength=n_items).astype(np.float64))
        return (beta * (z - z.mean()) / max(z.std(), 1e-12)).astype(np.float32)

    def _fallback_scores(self, n_items: int) -> np.ndarray:
        clicks = self.buffer_.clicks()
        counts = np.bincount(clicks.item[clicks.item < n_items], minlength=n_items).astype(np.float64)
        if not hasattr(self, "_tiebreak") or len(self._tiebreak) < n_items:
            self._tiebreak = np.random.default_rng(self.random_state + 1).random(n_items)
        return counts + self._tiebreak[:n_items]

    def _grow_users(self, n: int) -> None:
        if n <= self.n_users_:
            return
        extra = n - self.n_users_
        self.user_vecs_ = np.concatenate([self.user_vecs_, np.zeros((extra, self.user_vecs_.shape[1]), np.float32)])
        self.user_history_ = np.concatenate([self.user_history_, np.zeros(extra, np.int64)])
        self.labels_ = np.concatenate([self.labels_, np.full(extra, -1, np.int64)])
        self.n_users_ = n


