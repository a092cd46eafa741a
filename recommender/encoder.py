"""Stage 2 of the full pipeline: a Keras encoder learns user and item embeddings.

Input: :class:`recommender.preprocessing.Feedback` (sparse decayed clicks).
Output: user embeddings (the bottleneck) and item embeddings (the output layer),
in one d-dimensional space, for cosine ranking and KMeans patterns.

The default is a denoising autoencoder over each user's decayed interaction vector
(Mult-DAE, Liang et al. 2018): unit-normalise the vector, drop inputs at random,
encode through ``hidden`` tanh layers to a ``dim``-wide bottleneck, decode to logits
over all items, and train with a multinomial (softmax) log-likelihood. Why this
default: it needs nothing but the click log; its bottleneck *is* the user embedding,
so folding in a user's newest clicks is one forward pass (no optimisation per user,
unlike matrix factorisation); the output layer's columns are item embeddings in the
same space; and the softmax over items matches the "pick one of many" shape of
implicit feedback. It is trained in minibatches of users given as their stored
entries (:meth:`DenoisingAutoencoder._train_step`), never a users × items matrix.

Determinism: initialisers and dropout take explicit seeds, batches are shuffled with
a numpy Generator derived from the stored seed, and TensorFlow op determinism is on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402


def _keras():
    import keras
    import tensorflow as tf

    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # noqa: BLE001 - older TF: best effort
        pass
    return keras


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture and training of the encoder.

    ``kind`` "dae": the denoising autoencoder below (``hidden`` layers, ``dim``-wide
    bottleneck). ``kind`` "attention": :class:`recommender.attention.SequenceEncoder`
    (``layers`` blocks of ``heads``-head causal self-attention, width ``dim``, over
    the last ``sequence_length`` clicks; ``negatives`` sampled items per batch).
    """

    kind: str = "dae"
    dim: int = 32
    hidden: tuple[int, ...] = (128,)
    dropout: float = 0.5
    epochs: int = 15
    warm_epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 3e-3
    min_steps: int = 300  # at least this many updates per full training, however few users
    layers: int = 2
    heads: int = 2
    sequence_length: int = 20
    time_feature: bool = True
    negatives: int = 256


def compute_device() -> tuple[str, bool]:
    """Where TensorFlow will run the encoder: (device name, whether it is a GPU)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return (gpus[0].name, True) if gpus else ("CPU", False)


def make_encoder(config: EncoderConfig, n_items: int, seed: int):
    """A fresh, untrained encoder of the configured kind."""
    if config.kind == "attention":
        from recommender.attention import SequenceEncoder

        return SequenceEncoder(config, n_items, seed)
    return DenoisingAutoencoder(config, n_items, seed)


def load_encoder(path, config: EncoderConfig, seed: int):
    """An encoder saved by its ``save`` (``.keras`` for the autoencoder, ``.npz`` for attention)."""
    if config.kind == "attention":
        from recommender.attention import SequenceEncoder

        return SequenceEncoder.load(path, config, seed)
    return DenoisingAutoencoder.load(path, config, seed)


@dataclass
class DenoisingAutoencoder:
    """The trained model and its optimiser (kept for warm-start fine-tuning)."""

    config: EncoderConfig
    n_items: int
    seed: int
    model: object = field(default=None, repr=False)
    encoder: object = field(default=None, repr=False)
    epochs_trained: int = 0
    _step: tuple | None = field(default=None, init=False, repr=False, compare=False)  # (model, its train step)

    def __post_init__(self) -> None:
        if self.model is None:
            self.model, self.encoder = self._build(self.n_items)

    def _build(self, n_items: int):
        keras = _keras()
        keras.utils.set_random_seed(self.seed)
        cfg, s = self.config, self.seed
        init = lambda i: keras.initializers.GlorotUniform(seed=s * 31 + i)  # noqa: E731
        n_items = int(n_items)
        inp = keras.Input(shape=(n_items,), name="interactions")
        x = keras.layers.UnitNormalization(name="normalise")(inp)
        x = keras.layers.Dropout(cfg.dropout, seed=s, name="denoise")(x)
        for i, width in enumerate(cfg.hidden):
            x = keras.layers.Dense(width, activation="tanh", kernel_initializer=init(i), name=f"hidden{i}")(x)
        emb = keras.layers.Dense(cfg.dim, activation="tanh", kernel_initializer=init(99), name="user_embedding")(x)
        logits = keras.layers.Dense(n_items, kernel_initializer=init(100), name="items")(emb)
        model = keras.Model(inp, logits, name="dae")
        model.compile(
            optimizer=keras.optimizers.Adam(cfg.learning_rate),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        )
        return model, keras.Model(inp, emb, name="dae_encoder")

    @property
    def parameters(self) -> int:
        return int(self.model.count_params())

    @property
    def device(self) -> str:
        return compute_device()[0]

    # ------------------------------------------------------------------ training
    def train(self, x: sp.csr_matrix, epochs: int, rng: np.random.Generator) -> list[float]:
        """Fit on the rows of ``x`` that have data; returns the mean loss per epoch."""
        rows = np.flatnonzero(np.diff(x.indptr))
        if rows.size == 0:
            return []
        x = sp.csr_matrix(x, dtype=np.float32)
        step = self._train_step()

        def run(batch_rows: np.ndarray) -> float:
            b = x[batch_rows]
            owner = np.repeat(np.arange(len(batch_rows), dtype=np.int32), np.diff(b.indptr))
            return float(step(owner, b.indices.astype(np.int32), b.data, np.int32(len(batch_rows))))

        losses = run_epochs(rows, epochs, self.config.batch_size, rng, run, self.config)
        self.epochs_trained += len(losses)
        return losses

    def _train_step(self):
        """One optimiser update from a minibatch given sparsely: for each stored entry its
        row in the batch, its item and its decayed value.

        The same model and loss as a dense pass over the (batch × items) matrix, at
        the cost of the entries instead of the matrix: the unit normalisation and the
        input dropout only ever change stored entries (a dropped zero is still zero),
        the first layer is a sum of the kernel rows of the items present, and the
        multinomial log-likelihood needs the logits of those items plus each row's
        log-sum-exp. Dropout draws come from the model's own ``denoise`` layer, so the
        training state saved with a checkpoint still covers them. Built once per model.
        """
        if self._step is not None and self._step[0] is self.model:
            return self._step[1]
        import tensorflow as tf

        model = self.model
        dense = [model.get_layer(f"hidden{i}") for i in range(len(self.config.hidden))]
        dense.append(model.get_layer("user_embedding"))
        first, rest = dense[0], dense[1:]
        drop, out = model.get_layer("denoise"), model.get_layer("items")
        optimizer, variables = model.optimizer, model.trainable_variables
        spec = [tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([], tf.int32)]

        @tf.function(input_signature=spec)
        def step(owner, items, values, n_rows):
            per_row = lambda v: tf.math.unsorted_segment_sum(v, owner, n_rows)  # noqa: E731
            norm = tf.sqrt(tf.maximum(per_row(values * values), 1e-24))
            inputs = values / tf.gather(norm, owner)  # UnitNormalization, on the stored entries
            target = values / tf.gather(per_row(values), owner)  # the row as a distribution over items
            with tf.GradientTape() as tape:
                kept = drop(inputs, training=True)
                h = first.activation(per_row(tf.gather(first.kernel, items) * kept[:, None]) + first.bias)
                for layer in rest:
                    h = layer(h)
                logits = out(h)
                picked = tf.gather_nd(logits, tf.stack([owner, items], axis=1))
                loss = tf.reduce_mean(tf.reduce_logsumexp(logits, axis=1) - per_row(target * picked))
            grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]  # dense Adam, as before
            optimizer.apply_gradients(zip(grads, variables))
            return loss

        self._step = (model, step)
        return step

    def grow(self, n_items: int) -> None:
        """Widen the item layer for newly arrived items, keeping learned weights."""
        if n_items <= self.n_items:
            return
        old = self.model
        model, encoder = self._build(n_items)
        for layer in old.layers:
            new = model.get_layer(layer.name)
            weights = layer.get_weights()
            if layer.name == "items":  # new output columns keep their fresh initialisation
                kernel, bias = new.get_weights()
                kernel[:, : self.n_items], bias[: self.n_items] = weights
                weights = [kernel, bias]
            elif weights and weights[0].shape[0] == self.n_items:  # the first layer reads items too
                kernel = new.get_weights()[0]
                kernel[: self.n_items] = weights[0]
                weights = [kernel, *weights[1:]]
            new.set_weights(weights)
        self.model, self.encoder, self.n_items = model, encoder, n_items

    # ------------------------------------------------------------------ embeddings
    def user_embeddings(self, x: sp.csr_matrix, batch: int = 65_536) -> np.ndarray:
        """Fold-in: the bottleneck for each row of ``x`` — the encoder's inference pass
        (unit-normalise, no dropout, dense tanh layers), computed from the sparse rows
        so the first layer costs nnz × width instead of rows × items × width."""
        layers = [self.model.get_layer(f"hidden{i}").get_weights() for i in range(len(self.config.hidden))]
        layers.append(self.model.get_layer("user_embedding").get_weights())
        out = np.zeros((x.shape[0], self.config.dim), np.float32)
        for start in range(0, x.shape[0], batch):
            rows = sp.csr_matrix(x[start : start + batch], dtype=np.float32)
            norm = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1), np.float32).ravel())
            rows = sp.diags(1.0 / np.maximum(norm, 1e-12)).astype(np.float32) @ rows
            (kernel, bias), rest = layers[0], layers[1:]
            h = np.tanh(np.asarray(rows @ kernel, np.float32) + bias)
            for kernel, bias in rest:
                h = np.tanh(h @ kernel + bias)
            out[start : start + batch] = h
        return out

    def item_embeddings(self) -> np.ndarray:
        """(n_items, dim + 1): each item's decoder weights and bias.

        With user embeddings augmented by a constant 1 (:func:`augment_users`), the
        dot product of the two is exactly the model's logit, so cosine ranking in
        this space keeps what the bias learned (an item's broad appeal) instead of
        discarding it.
        """
        kernel, bias = self.model.get_layer("items").get_weights()
        return np.ascontiguousarray(np.concatenate([kernel.T, bias[:, None]], axis=1), dtype=np.float32)

    # ------------------------------------------------------------------ training state
    def training_state(self) -> list[np.ndarray]:
        """What ``.keras`` files leave out but exact continuation needs: the dropout
        layers' random-generator states and the optimiser's variables (step count, moments)."""
        return training_state(self.model, self.model.optimizer)

    def load_training_state(self, arrays: list[np.ndarray]) -> None:
        load_training_state(self.model, self.model.optimizer, self.model.trainable_variables, arrays)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Native ``.keras`` format (no pickle)."""
        path = Path(path)
        self.model.save(path)
        return path

    @classmethod
    def load(cls, path: str | Path, config: EncoderConfig, seed: int) -> "DenoisingAutoencoder":
        keras = _keras()
        model = keras.models.load_model(path, safe_mode=True)
        encoder = keras.Model(model.input, model.get_layer("user_embedding").output)
        n_items = int(model.input.shape[-1])
        return cls(config, n_items, seed, model=model, encoder=encoder)


def run_epochs(rows: np.ndarray, epochs: int, batch_size: int, rng: np.random.Generator, step,
               config: EncoderConfig) -> list[float]:
    """Minibatch training common to the encoders: each epoch shuffles ``rows`` with
    ``rng`` and calls ``step(batch_rows)`` (the batch's mean loss) per minibatch;
    returns the mean loss per epoch. A full training (``epochs == config.epochs``)
    runs at least ``config.min_steps`` updates, however few rows there are."""
    if epochs == config.epochs:
        epochs = max(epochs, -(-config.min_steps // -(-len(rows) // batch_size)))
    losses = []
    for _ in range(epochs):
        order = rng.permutation(rows)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            total += step(batch) * len(batch)
        losses.append(total / len(order))
    return losses


def _seed_states(model) -> list:
    """Every random-generator state of ``model`` (dropout layers, and those nested in
    other layers such as attention's), in a fixed order."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def training_state(model, optimizer) -> list[np.ndarray]:
    """The random-generator states of ``model`` and the optimiser's variables, as
    arrays: what weights alone leave out."""
    gens = [np.asarray(v) for v in _seed_states(model)]
    opt = [np.asarray(v) for v in optimizer.variables] if optimizer.built else []
    return [np.asarray([len(gens)]), *gens, *opt]


def load_training_state(model, optimizer, variables, arrays: list[np.ndarray]) -> None:
    """Restore what :func:`training_state` returned (``variables``: what the optimiser updates)."""
    n_gens = int(arrays[0][0]) if arrays else 0
    gens, opt = arrays[1 : 1 + n_gens], arrays[1 + n_gens :]
    for var, value in zip(_seed_states(model), gens):
        var.assign(value)
    if opt:
        if not optimizer.built:
            optimizer.build(variables)
        for var, value in zip(optimizer.variables, opt):
            var.assign(value)


def augment_users(embeddings: np.ndarray) -> np.ndarray:
    """Append the constant 1 that pairs with the item bias in :meth:`item_embeddings`."""
    return np.concatenate([embeddings, np.ones((len(embeddings), 1), embeddings.dtype)], axis=1)


