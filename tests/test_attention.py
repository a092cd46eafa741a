"""The self-attention sequence encoder: shapes, masking, causality, fold-in,
determinism, and a planted sequential pattern the bag-of-items encoder cannot learn."""

import numpy as np
import pytest

from recommender.attention import SequenceEncoder
from recommender.base import Exclusions
from recommender.checks import check_recommender
from recommender.encoder import EncoderConfig, augment_users
from recommender.pipeline import FullPipeline, PipelineConfig
from recommender.preprocessing import ClickSequences, PreprocessConfig, build_sequences
from recommender.ranking import l2_normalise
from sim.catalog import ItemInfo
from sim.log import Interactions

TINY = EncoderConfig(kind="attention", dim=16, layers=2, heads=2, sequence_length=6, epochs=2, warm_epochs=1,
                     batch_size=32, min_steps=10, dropout=0.1, negatives=8)
N_ITEMS = 30


def random_sequences(n: int, length: int, seed: int, min_len: int = 1) -> ClickSequences:
    rng = np.random.default_rng(seed)
    items = rng.integers(1, N_ITEMS + 1, (n, length)).astype(np.int32)
    times = np.tile(np.arange(length, dtype=np.int32), (n, 1))
    for r, keep in enumerate(rng.integers(min_len, length + 1, n)):  # left padding of random depth
        items[r, : length - keep], times[r, : length - keep] = 0, -1
    return ClickSequences(items, times, now=length)


@pytest.fixture(scope="module")
def trained():
    enc = SequenceEncoder(TINY, N_ITEMS, seed=5)
    enc.train(random_sequences(120, TINY.sequence_length + 1, 0, min_len=2), TINY.epochs, np.random.default_rng(1))
    return enc


def test_shapes_and_size(trained):
    seqs = random_sequences(9, TINY.sequence_length, 2)
    assert trained.sequence_outputs(seqs).shape == (9, TINY.sequence_length, TINY.dim)
    assert trained.user_embeddings(seqs).shape == (9, TINY.dim)
    assert trained.item_embeddings().shape == (N_ITEMS, TINY.dim + 1)
    w = TINY.dim
    # item table + positions + gap buckets + per block (attention 4w²+4w, ffn 8w²+5w, 2 norms 4w) + final norm + bias
    expected = (N_ITEMS + 1) * w + TINY.sequence_length * w + 12 * w + TINY.layers * (12 * w * w + 13 * w) + 2 * w + N_ITEMS
    assert trained.parameters == expected
    assert trained.device == "CPU"


def test_padding_never_attends(trained):
    seqs = random_sequences(20, TINY.sequence_length, 3)
    before = trained.sequence_outputs(seqs)
    layer = trained.model.get_layer("item_table")
    table = layer.get_weights()[0]
    try:
        junk = table.copy()
        junk[0] = np.random.default_rng(0).normal(0, 5, table.shape[1])  # the padding row: must not matter
        layer.set_weights([junk])
        after = trained.sequence_outputs(seqs)
    finally:
        layer.set_weights([table])
    real = seqs.items > 0
    np.testing.assert_allclose(after[real], before[real], atol=1e-5)
    assert (seqs.items == 0).any(), "the check needs padded positions"


def test_no_position_sees_the_future(trained):
    seqs = random_sequences(20, TINY.sequence_length, 4, min_len=TINY.sequence_length)
    before = trained.sequence_outputs(seqs)
    j = 3
    changed = seqs.items.copy()
    changed[:, j] = (changed[:, j] % N_ITEMS) + 1  # a different item at position j
    after = trained.sequence_outputs(ClickSequences(changed, seqs.times, seqs.now))
    np.testing.assert_allclose(after[:, :j], before[:, :j], atol=1e-5)
    assert np.abs(after[:, j:] - before[:, j:]).max() > 1e-3  # later positions do see it


def test_same_seed_same_model_other_seed_another():
    seqs = random_sequences(60, TINY.sequence_length + 1, 6, min_len=2)
    runs = []
    for seed in (11, 11, 12):
        enc = SequenceEncoder(TINY, N_ITEMS, seed=seed)
        enc.train(seqs, TINY.epochs, np.random.default_rng(0))
        runs.append((enc.item_embeddings(), enc.user_embeddings(seqs)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.allclose(runs[0][0], runs[2][0])


def test_grow_keeps_what_was_learned_and_save_load_round_trips(trained, tmp_path):
    seqs = random_sequences(10, TINY.sequence_length, 7)
    enc = SequenceEncoder.load(trained.save(tmp_path / "m.npz"), TINY, seed=5)
    np.testing.assert_array_equal(enc.item_embeddings(), trained.item_embeddings())
    np.testing.assert_allclose(enc.user_embeddings(seqs), trained.user_embeddings(seqs), atol=1e-6)
    enc.grow(N_ITEMS + 4)
    assert enc.item_embeddings().shape == (N_ITEMS + 4, TINY.dim + 1)
    np.testing.assert_array_equal(enc.item_embeddings()[:N_ITEMS], trained.item_embeddings())
    np.testing.assert_allclose(enc.user_embeddings(seqs), trained.user_embeddings(seqs), atol=1e-6)


# ---------------------------------------------------------------- in the pipeline
def cycle_log(users: int, n_items: int, length: int, seed: int) -> tuple[Interactions, np.ndarray]:
    """Every user walks a hidden cycle over all items, one click per iteration, from a
    random start, and clicks each item once: the bag of items is the same for
    everyone; only the order says what comes next."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_items)
    succ = np.empty(n_items, np.int64)
    succ[perm] = np.roll(perm, -1)
    rows = []
    for u in range(users):
        x = int(rng.integers(n_items))
        for t in range(length):
            rows.append((t, u, x))
            x = int(succ[x])
    a = np.array(rows)
    n = len(a)
    log = Interactions(a[:, 0].astype(np.int32), a[:, 1], a[:, 2].astype(np.int32), np.zeros(n, np.int8),
                       np.ones(n, bool), np.full(n, np.nan, np.float32), np.zeros(n, bool))
    return log, succ


def items_info(n: int) -> ItemInfo:
    return ItemInfo(n, np.ones(n, bool), np.zeros(n, np.int32), np.zeros((n, 0), np.float32))


def pipeline(kind: str, seed: int) -> FullPipeline:
    enc = EncoderConfig(kind=kind, dim=16, hidden=(64,), layers=1, heads=2, sequence_length=8, epochs=8,
                        batch_size=32, min_steps=300, dropout=0.1, negatives=8)
    cfg = PipelineConfig(preprocess=PreprocessConfig(window=0, half_life=0.0), encoder=enc, n_patterns=4)
    return FullPipeline(cfg, random_state=seed)


@pytest.mark.slow
def test_attention_learns_a_planted_sequence_the_bag_of_items_encoder_cannot():
    n_items, users = 20, 240
    hits = {"attention": [], "dae": []}
    for seed in (0, 1):
        log, succ = cycle_log(users, n_items, n_items, seed)
        last = log.item[log.iteration == n_items - 1]
        ids = log.user[log.iteration == n_items - 1]
        for kind in hits:
            rec = pipeline(kind, seed).fit(log, items_info(n_items))
            top = rec.recommend(ids, 1, exclude=Exclusions(np.zeros(n_items, bool)))[:, 0]
            hits[kind].append(float((top == succ[last]).mean()))
    # chance is 1/20; the bag is identical for every user, so the autoencoder cannot beat it by much
    assert min(hits["attention"]) > 0.8, hits
    assert max(hits["dae"]) < 0.25, hits


def test_fold_in_is_a_forward_pass_over_the_newest_sequence():
    n_items, users = 20, 60
    log, succ = cycle_log(users, n_items, 12, seed=3)
    rec = pipeline("attention", 0)
    rec.config = PipelineConfig(preprocess=rec.config.preprocess,
                                encoder=EncoderConfig(**{**rec.config.encoder.__dict__, "epochs": 1, "min_steps": 5}),
                                n_patterns=4, strategy="never")
    rec.fit(log, items_info(n_items))
    before = rec.user_vecs_.copy()
    new_log, _ = cycle_log(users, n_items, 13, seed=3)
    new = new_log.select(new_log.iteration == 12)  # one more click each, in the same walk
    rec.partial_fit(new, items_info(n_items))
    versions = rec.model_versions_
    seqs = build_sequences(rec.buffer_, rec.n_users_, n_items, rec.now_, rec.config.preprocess, 9)
    full_pass = rec.model_.model([seqs.items[:, 1:], np.minimum(np.ceil(np.log2(1.0 + seqs.gaps()[:, 1:])), 11).astype(np.int32)],
                                 training=False).numpy()[:, -1]
    np.testing.assert_allclose(rec.user_vecs_, l2_normalise(augment_users(full_pass)), atol=1e-5)
    assert versions == 1, "fold-in must not retrain"
    assert np.abs(rec.user_vecs_ - before).max() > 1e-3


def test_the_attention_pipeline_passes_the_recommender_checks():
    check_recommender(lambda rs: pipeline("attention", rs), name="full[attention]")


def test_a_run_records_the_encoder_size_and_device_in_its_manifest(tmp_path):
    from conftest import tiny
    from sim.runner import manifest, run

    sc = tiny("abrupt_shift", users=40, items=30, iterations=8).replace(
        recommenders={"full": {"encoder": "attention", "dim": 8, "layers": 1, "heads": 2, "sequence_length": 4,
                               "epochs": 1, "retrain_every": 3}})
    result = run(sc, [0], ["full", "popularity"])
    enc = manifest(result)["encoders"]
    assert list(enc) == ["full"] and enc["full"]["device"] == "CPU"
    w = 8  # item table (31 rows), 4 positions, 12 gap buckets, one block, final norm, output bias
    assert enc["full"]["parameters"] == 31 * w + 4 * w + 12 * w + (12 * w * w + 13 * w) + 2 * w + 30


def test_a_restored_attention_pipeline_continues_exactly():
    n_items, users = 20, 50
    log, _ = cycle_log(users, n_items, 16, seed=4)
    make = lambda: FullPipeline(PipelineConfig(  # noqa: E731
        preprocess=PreprocessConfig(window=0, half_life=0.0), n_patterns=3, retrain_every=2,
        encoder=EncoderConfig(kind="attention", dim=8, layers=1, heads=2, sequence_length=5, epochs=1, warm_epochs=2,
                              batch_size=16, min_steps=5, dropout=0.3, negatives=8)), random_state=1)
    info = items_info(n_items)
    a = make().fit(log.select(log.iteration < 8), info)
    a.partial_fit(log.select(log.iteration == 8), info)
    b = make()
    b.load_state(a.state())
    for t in range(9, 16):  # warm retrains (with dropout) and fold-ins on both
        step = log.select(log.iteration == t)
        a.partial_fit(step, info)
        b.partial_fit(step, info)
    assert a.model_versions_ >= 4
    np.testing.assert_array_equal(a.user_vecs_, b.user_vecs_)
    np.testing.assert_array_equal(a.item_vecs_, b.item_vecs_)
