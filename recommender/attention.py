"""Stage 2, second choice: a causal self-attention encoder over click sequences.

Where the default encoder (:mod:`recommender.encoder`) sees a user as a decayed
bag of items, this one sees the order: each user's last ``L`` clicks (item
embedding + position from the end + optionally the iteration gap to the next
click, bucketed) go through ``layers`` pre-norm transformer blocks with causal
multi-head self-attention (SASRec, Kang & McAuley 2018). It is trained on
next-click prediction — every position predicts the click after it — with a
sampled softmax over items (uniform negatives shared by the batch; the full
softmax when the catalogue is small).

What the rest of the pipeline needs is the same as for the default encoder: the
user embedding is the output at the last position, the item embeddings are the
shared input table (plus an output bias), and the dot product of the two
(:func:`recommender.encoder.augment_users`) is exactly the model's logit, so
cosine ranking, KMeans patterns and retraining work unchanged. A user's embedding
is a forward pass over their newest sequence: nothing is optimised per user.

Padding never attends and is never attended to; no position sees a later one.
On a GPU the layers compute in mixed precision (float16, float32 variables and
loss) and the encoder says which device it used (:attr:`SequenceEncoder.device`).
Determinism: seeded initialisers and dropout, batches and negatives from a numpy
Generator, TensorFlow op determinism on.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recommender.encoder import EncoderConfig, _keras, compute_device, load_training_state, run_epochs, training_state
from recommender.preprocessing import ClickSequences

#: gap buckets: 0 (padding or same iteration), then ⌈log2(1 + gap)⌉ up to this many
GAP_BUCKETS = 12


def gap_buckets(gaps: np.ndarray) -> np.ndarray:
    return np.minimum(np.ceil(np.log2(1.0 + gaps)), GAP_BUCKETS - 1).astype(np.int32)


@dataclass
class SequenceEncoder:
    """The trained attention model, its output bias and optimiser."""

    config: EncoderConfig
    n_items: int
    seed: int
    weights: list[np.ndarray] | None = field(default=None, repr=False)
    epochs_trained: int = 0

    def __post_init__(self) -> None:
        self.device, self.mixed_precision = compute_device()
        self._build(int(self.n_items))
        if self.weights is not None:
            self._set_weights(self.weights)
            self.weights = None

    # ------------------------------------------------------------------ model
    def _build(self, n_items: int) -> None:
        keras = _keras()
        import tensorflow as tf

        keras.utils.set_random_seed(self.seed)
        cfg, s = self.config, self.seed
        policy = "mixed_float16" if self.mixed_precision else "float32"
        w, length = cfg.dim, cfg.sequence_length
        init = lambda i: keras.initializers.TruncatedNormal(stddev=0.02, seed=s * 31 + i)  # noqa: E731
        items = keras.Input(shape=(length,), dtype="int32", name="items")
        gaps = keras.Input(shape=(length,), dtype="int32", name="gaps")
        positions = keras.ops.zeros_like(items) + keras.ops.arange(length, dtype="int32")[None]  # symbolic: trained
        x = keras.layers.Embedding(n_items + 1, w, embeddings_initializer=init(0), name="item_table",
                                   dtype=policy)(items)
        x = x + keras.layers.Embedding(length, w, embeddings_initializer=init(1), name="positions",
                                       dtype=policy)(positions)
        if cfg.time_feature:
            x = x + keras.layers.Embedding(GAP_BUCKETS, w, embeddings_initializer=init(2), name="gap_table",
                                           dtype=policy)(gaps)
        real = keras.ops.not_equal(items, 0)  # (B, L) padding mask
        causal = keras.ops.tril(keras.ops.ones((length, length), dtype="bool"))
        eye = keras.ops.eye(length, dtype="bool")
        # query i may read key j when j <= i and j is real; a padded query reads only itself
        allowed = keras.ops.logical_or(keras.ops.logical_and(causal[None], real[:, None, :]), eye[None])
        keep = keras.ops.cast(real[..., None], x.dtype)
        x = keras.layers.Dropout(cfg.dropout, seed=s, name="embedding_dropout", dtype=policy)(x) * keep
        for b in range(cfg.layers):
            h = keras.layers.LayerNormalization(name=f"block{b}_norm1", dtype=policy)(x)
            h = keras.layers.MultiHeadAttention(cfg.heads, w // cfg.heads, dropout=cfg.dropout, seed=s + 10 + b,
                                                kernel_initializer=init(10 + b), name=f"block{b}_attention",
                                                dtype=policy)(h, h, attention_mask=allowed)
            x = x + keras.layers.Dropout(cfg.dropout, seed=s + 20 + b, name=f"block{b}_dropout1", dtype=policy)(h)
            h = keras.layers.LayerNormalization(name=f"block{b}_norm2", dtype=policy)(x)
            h = keras.layers.Dense(4 * w, activation="gelu", kernel_initializer=init(30 + b), name=f"block{b}_ffn1",
                                   dtype=policy)(h)
            h = keras.layers.Dense(w, kernel_initializer=init(40 + b), name=f"block{b}_ffn2", dtype=policy)(h)
            x = (x + keras.layers.Dropout(cfg.dropout, seed=s + 50 + b, name=f"block{b}_dropout2", dtype=policy)(h)) * keep
        out = keras.layers.LayerNormalization(name="final_norm", dtype="float32")(keras.ops.cast(x, "float32"))
        self.model = keras.Model([items, gaps], out, name="sequence_encoder")
        self.bias = keras.Variable(np.zeros(n_items, np.float32), name="item_bias")
        opt = keras.optimizers.Adam(cfg.learning_rate)
        self.optimizer = keras.optimizers.LossScaleOptimizer(opt) if self.mixed_precision else opt
        self._step = tf.function(self._train_step, reduce_retracing=True)
        self._forward = tf.function(lambda i, g: self.model([i, g], training=False), reduce_retracing=True)
        self.n_items = n_items

    @property
    def variables(self) -> list:
        return [*self.model.trainable_variables, self.bias]

    @property
    def parameters(self) -> int:
        """Trainable parameters (item table, positions, blocks, output bias)."""
        return int(sum(np.prod(v.shape) for v in self.variables))

    def _train_step(self, items, gaps, targets, negatives):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            h = self.model([items, gaps], training=True)  # (B, L, w) float32
            mask = targets > 0
            h = tf.boolean_mask(h, mask)
            y = tf.boolean_mask(targets, mask) - 1
            table = tf.cast(self.model.get_layer("item_table").embeddings[1:], tf.float32)
            bias = tf.convert_to_tensor(self.bias)
            if negatives is None:  # full softmax over every item
                logits = tf.matmul(h, table, transpose_b=True) + bias[None]
                labels = y
            else:  # positive first, then shared uniform negatives (accidental hits removed)
                pos = tf.reduce_sum(h * tf.gather(table, y), axis=1, keepdims=True) + tf.gather(bias, y)[:, None]
                neg = tf.matmul(h, tf.gather(table, negatives), transpose_b=True) + tf.gather(bias, negatives)[None]
                neg = tf.where(tf.equal(y[:, None], negatives[None]), tf.cast(-1e9, neg.dtype), neg)
                logits = tf.concat([pos, neg], axis=1)
                labels = tf.zeros_like(y)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
            scaled = self.optimizer.scale_loss(loss) if self.mixed_precision else loss
        grads = tape.gradient(scaled, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return loss

    # ------------------------------------------------------------------ training
    def train(self, seqs: ClickSequences, epochs: int, rng: np.random.Generator) -> list[float]:
        """Next-click training on users with at least two clicks; mean loss per epoch.

        ``seqs`` holds ``sequence_length + 1`` clicks per user: the first L are the
        input, the last L the targets (each position's next click).
        """
        import tensorflow as tf

        cfg = self.config
        seqs = seqs.known_items(self.n_items)
        rows = np.flatnonzero((seqs.items > 0).sum(axis=1) >= 2)
        if rows.size == 0:
            return []
        inputs = seqs.items[:, :-1]
        targets = np.where(inputs > 0, seqs.items[:, 1:], 0).astype(np.int32)
        gaps = gap_buckets(seqs.gaps()[:, :-1])
        bs = cfg.batch_size
        sampled = cfg.negatives < self.n_items

        def step(batch: np.ndarray) -> float:
            neg = tf.constant(rng.integers(0, self.n_items, cfg.negatives), tf.int32) if sampled else None
            return float(self._step(tf.constant(inputs[batch]), tf.constant(gaps[batch]), tf.constant(targets[batch]), neg))

        losses = run_epochs(rows, epochs, bs, rng, step, cfg)
        self.epochs_trained += len(losses)
        return losses

    def grow(self, n_items: int) -> None:
        """Widen the item table and bias for newly arrived items, keeping what was learned."""
        if n_items <= self.n_items:
            return
        old_model, old_bias, old_n = self.model, np.asarray(self.bias), self.n_items
        self._build(n_items)
        for layer in old_model.layers:
            weights = layer.get_weights()
            if not weights:
                continue
            if layer.name == "item_table":  # new rows keep their fresh initialisation
                table = self.model.get_layer("item_table").get_weights()[0]
                table[: old_n + 1] = weights[0]
                weights = [table]
            self.model.get_layer(layer.name).set_weights(weights)
        bias = np.zeros(n_items, np.float32)
        bias[:old_n] = old_bias
        self.bias.assign(bias)

    # ------------------------------------------------------------------ embeddings
    def sequence_outputs(self, seqs: ClickSequences, batch: int = 4096) -> np.ndarray:
        """(n, L, dim): the output at every position (inference mode)."""
        import tensorflow as tf

        seqs = seqs.known_items(self.n_items)
        items = seqs.items[:, -self.config.sequence_length :]
        gaps = gap_buckets(seqs.gaps()[:, -self.config.sequence_length :])
        out = np.zeros((len(items), items.shape[1], self.config.dim), np.float32)
        for start in range(0, len(items), batch):
            sl = slice(start, start + batch)
            out[sl] = self._forward(tf.constant(items[sl]), tf.constant(gaps[sl])).numpy()
        return out

    def user_embeddings(self, seqs: ClickSequences, batch: int = 4096) -> np.ndarray:
        """Fold-in: the output at the last position of each user's newest sequence."""
        return np.ascontiguousarray(self.sequence_outputs(seqs, batch)[:, -1, :])

    def item_embeddings(self) -> np.ndarray:
        """(n_items, dim + 1): the shared item table and the output bias, so that
        ``augment_users(user) · item`` is the model's logit."""
        table = np.asarray(self.model.get_layer("item_table").embeddings, np.float32)[1:]
        return np.ascontiguousarray(np.concatenate([table, np.asarray(self.bias, np.float32)[:, None]], axis=1))

    # ------------------------------------------------------------------ state
    def _get_weights(self) -> list[np.ndarray]:
        return [np.asarray(w) for w in self.model.get_weights()] + [np.asarray(self.bias)]

    def _set_weights(self, weights: list[np.ndarray]) -> None:
        self.model.set_weights(weights[:-1])
        self.bias.assign(weights[-1])

    def training_state(self) -> list[np.ndarray]:
        """The dropout layers' generator states and the optimiser's variables."""
        return training_state(self.model, self.optimizer)

    def load_training_state(self, arrays: list[np.ndarray]) -> None:
        load_training_state(self.model, self.optimizer, self.variables, arrays)

    def save(self, path: str | Path) -> Path:
        """The weights as a ``.npz`` (no pickle); the architecture is the config's."""
        path = Path(path)
        buf = io.BytesIO()
        np.savez(buf, *self._get_weights())
        path.write_bytes(buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path, config: EncoderConfig, seed: int) -> "SequenceEncoder":
        with np.load(Path(path)) as z:
            weights = [z[f"arr_{i}"] for i in range(len(z.files))]
        return cls(config, len(weights[-1]), seed, weights=weights)
