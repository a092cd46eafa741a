"""The full pipeline, stage by stage, and as a whole."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st

from recommender.base import Exclusions, RecommenderError
from recommender.checks import check_recommender
from recommender.encoder import DenoisingAutoencoder, EncoderConfig
from recommender.patterns import InterestPatterns
from recommender.pipeline import FullPipeline, PipelineConfig
from recommender.preprocessing import PreprocessConfig, build_feedback, decay_weights
from recommender.ranking import cosine_top_k
from sim.log import Interactions
from sim.runner import run, simulate
from conftest import needs_fetched_data, tiny

SMALL_ENCODER = EncoderConfig(dim=8, hidden=(16,), epochs=3, warm_epochs=1, batch_size=32, min_steps=20)


def log_of(rows):
    """rows: (iteration, user, item, clicked)"""
    a = np.array(rows, dtype=np.int64).reshape(-1, 4)
    n = len(a)
    return Interactions(a[:, 0].astype(np.int32), a[:, 1], a[:, 2].astype(np.int32), np.zeros(n, np.int8),
                        a[:, 3].astype(bool), np.full(n, np.nan, np.float32), np.zeros(n, bool))


# -- stage 1 -------------------------------------------------------------------
def test_decay_halves_every_half_life():
    np.testing.assert_allclose(decay_weights(np.array([0.0, 10.0, 20.0]), 10.0), [1.0, 0.5, 0.25])


def test_feedback_is_sparse_decayed_windowed_and_merges_duplicates():
    log = log_of([(0, 0, 1, 1), (8, 0, 1, 1), (9, 1, 2, 1), (9, 1, 3, 0), (10, 2, 2, 1)])
    fb = build_feedback(log, n_users=4, n_items=5, now=10, cfg=PreprocessConfig(window=5, half_life=1.0, skipped_as_negative=True))
    assert sp.issparse(fb.positives) and fb.positives.shape == (4, 5)
    # iteration 0 is outside the window; 8 has age 1 -> 0.5; 9 has age 0 -> 1; 10 is the future
    assert fb.positives[0, 1] == pytest.approx(0.5)
    assert fb.positives[1, 2] == pytest.approx(1.0)
    assert fb.positives[2].nnz == 0
    assert fb.negatives[1, 3] == pytest.approx(1.0)
    dup = build_feedback(log_of([(5, 0, 1, 1), (5, 0, 1, 1)]), 1, 3, 6, PreprocessConfig(half_life=0))
    assert dup.positives.nnz == 1 and dup.positives[0, 1] == 2.0
    assert fb.user_counts.tolist() == [1, 1, 0, 0]


def test_empty_log_gives_empty_matrices_not_nans():
    fb = build_feedback(Interactions.empty(), 3, 4, 0, PreprocessConfig())
    assert fb.positives.shape == (3, 4) and fb.positives.nnz == 0


# -- stage 2 -------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    x = sp.random(80, 30, density=0.15, random_state=1, format="csr", dtype=np.float32)
    dae = DenoisingAutoencoder(SMALL_ENCODER, 30, seed=3)
    dae.train(x, SMALL_ENCODER.epochs, rng)
    return dae, x


def test_fold_in_equals_the_full_forward_pass(trained):
    dae, x = trained
    import keras

    full = keras.Model(dae.model.input, dae.model.get_layer("user_embedding").output)
    ref = np.asarray(full(x[:10].toarray(), training=False))
    np.testing.assert_allclose(dae.user_embeddings(x[:10]), ref, rtol=1e-5, atol=1e-6)
    # and batching does not change it
    np.testing.assert_allclose(dae.user_embeddings(x, batch=7)[:10], ref, rtol=1e-5, atol=1e-6)


def test_same_seed_same_model_and_keras_file_round_trip(trained, tmp_path):
    dae, x = trained
    again = DenoisingAutoencoder(SMALL_ENCODER, 30, seed=3)
    again.train(x, SMALL_ENCODER.epochs, np.random.default_rng(0))
    np.testing.assert_array_equal(dae.item_embeddings(), again.item_embeddings())
    path = dae.save(tmp_path / "model.keras")
    loaded = DenoisingAutoencoder.load(path, SMALL_ENCODER, seed=3)
    np.testing.assert_allclose(loaded.user_embeddings(x[:5]), dae.user_embeddings(x[:5]), rtol=1e-6)
    assert dae.item_embeddings().shape == (30, SMALL_ENCODER.dim + 1)


@pytest.mark.parametrize("hidden", [(16,), (16, 12), ()])
def test_sparse_training_step_is_the_dense_models_step(hidden):
    """Without dropout, one update from a minibatch's stored entries gives the loss the
    compiled Keras model computes on the dense (batch × items) rows, and the same
    weights after Adam as ``train_on_batch`` on them."""
    cfg = EncoderConfig(dim=8, hidden=hidden, dropout=0.0, batch_size=16)
    x = sp.random(16, 30, density=0.2, random_state=5, format="csr", dtype=np.float32) * 3
    x = x[np.flatnonzero(np.diff(x.indptr))]  # rows with data, as train() selects
    dense = x.toarray()
    target = dense / dense.sum(axis=1, keepdims=True)
    a, b = DenoisingAutoencoder(cfg, 30, seed=4), DenoisingAutoencoder(cfg, 30, seed=4)
    expected_loss = float(a.model.test_on_batch(dense, target))
    a.model.train_on_batch(dense, target)
    owner = np.repeat(np.arange(x.shape[0], dtype=np.int32), np.diff(x.indptr))
    loss = float(b._train_step()(owner, x.indices.astype(np.int32), x.data, np.int32(x.shape[0])))
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_allclose(wb, wa, rtol=1e-4, atol=1e-6)


def test_growing_the_item_layer_keeps_learned_weights(trained):
    dae, x = trained
    before = dae.item_embeddings()
    grown = DenoisingAutoencoder(SMALL_ENCODER, 30, seed=3, model=dae.model, encoder=dae.encoder)
    grown.grow(35)
    np.testing.assert_array_equal(grown.item_embeddings()[:30], before)
    assert grown.user_embeddings(sp.csr_matrix((2, 35), dtype=np.float32)).shape == (2, SMALL_ENCODER.dim)


# -- stage 3 -------------------------------------------------------------------
def test_kmeans_labels_are_stable_under_a_fixed_seed_and_auto_k_finds_clusters():
    rng = np.random.default_rng(0)
    centres = np.eye(4)[:3] * 5
    x = np.concatenate([c + rng.normal(size=(50, 4)) * 0.2 for c in centres])
    a = InterestPatterns(3, random_state=1).fit(x).assign(x)
    b = InterestPatterns(3, random_state=1).fit(x).assign(x)
    np.testing.assert_array_equal(a, b)
    auto = InterestPatterns(0, random_state=1).fit(x)
    assert auto.k_ == 3


@given(st.permutations(range(4)), st.integers(0, 2))
@settings(max_examples=20, deadline=None)
def test_a_refit_keeps_pattern_ids_of_the_groups_it_finds_again(perm, extra):
    """KMeans numbers clusters arbitrarily; after aligning, a group keeps its id, a
    user moved to another group is the only one that changes, and centroids follow."""
    rng = np.random.default_rng(3)
    centres = np.eye(6)[:4] * 5
    x = np.concatenate([c + rng.normal(size=(40, 6)) * 0.2 for c in centres])
    truth = np.repeat(np.arange(4), 40)
    previous = np.asarray(perm)[truth]  # the old numbering: any permutation
    moved = np.arange(extra) * 40 + 5  # a few users now sit in the next group
    x[moved] = centres[(truth[moved] + 1) % 4] + 0.01
    patterns = InterestPatterns(4, random_state=extra).fit(x)
    labels = patterns.align_to(previous, x)
    expected = previous.copy()
    expected[moved] = previous[(truth[moved] + 1) % 4 * 40]
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(patterns.assign(x), labels)  # the centroids were renumbered too


# -- stage 4 -------------------------------------------------------------------
def brute_force(users, items, k, unavailable, per_user):
    out = []
    un = users / np.linalg.norm(users, axis=1, keepdims=True)
    inorm = items / np.linalg.norm(items, axis=1, keepdims=True)
    for r, u in enumerate(un):
        scores = {j: float(u @ inorm[j]) for j in range(len(items)) if not unavailable[j] and j not in per_user[r]}
        out.append(sorted(scores, key=lambda j: (-scores[j], j))[:k])
    return np.array(out)


@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(8, 40))
@settings(max_examples=30)
def test_cosine_ranking_equals_brute_force_and_respects_exclusions(seed, k, n):
    rng = np.random.default_rng(seed)
    users, items = rng.normal(size=(5, 4)), rng.normal(size=(n, 4)).astype(np.float32)
    unavailable = rng.random(n) < 0.2
    per_user = [set(rng.choice(n, 3, replace=False).tolist()) for _ in range(5)]
    rows = np.repeat(np.arange(5), 3)
    csr = sp.csr_matrix((np.ones(15), (rows, [j for s in per_user for j in sorted(s)])), shape=(5, n))
    excl = Exclusions(unavailable, csr)
    eligible = n - unavailable.sum() - max(len(s - set(np.flatnonzero(unavailable))) for s in per_user)
    if eligible < k:
        with pytest.raises(RecommenderError):
            cosine_top_k(users, items / np.linalg.norm(items, axis=1, keepdims=True), k, excl)
        return
    got = cosine_top_k(users, items / np.linalg.norm(items, axis=1, keepdims=True), k, excl)
    np.testing.assert_array_equal(got, brute_force(users, items, k, unavailable, per_user))
    # scaling a user vector changes nothing
    np.testing.assert_array_equal(got, cosine_top_k(users * 7.5, items / np.linalg.norm(items, axis=1, keepdims=True), k, excl))


# -- the whole pipeline ----------------------------------------------------------
def small_pipeline(rs, **changes):
    settings = {"encoder": SMALL_ENCODER, "n_patterns": 3, "min_train_iterations": 2, "retrain_every": 2} | changes
    cfg = PipelineConfig(**settings)
    return FullPipeline(cfg, random_state=rs)


@pytest.mark.parametrize("strategy", ["never", "periodic_full", "periodic_warm", "drift_triggered"])
def test_pipeline_passes_the_conformance_checks(strategy):
    check_recommender(lambda rs: small_pipeline(rs, strategy=strategy), name=f"full-{strategy}")


def test_diversity_mode_fills_part_of_the_slate_from_the_second_pattern():
    check_recommender(lambda rs: small_pipeline(rs, diversity_share=0.4), name="full-diverse")


def test_cf_baseline_passes_the_conformance_checks():
    from recommender.cf import PureSVD

    check_recommender(lambda rs: PureSVD(dim=4, retrain_every=2, random_state=rs), name="cf")


def test_full_runs_are_identical_under_one_seed_and_record_patterns():
    sc = tiny("stable", users=150, items=120, iterations=8)
    a, *_ = simulate(sc, 4, "full")
    b, *_ = simulate(sc, 4, "full")
    pd.testing.assert_frame_equal(a, b)
    names = set(a.metric)
    assert {"rec:pattern_switch_share", "rec:n_patterns", "model_versions"} <= names


def test_every_recommender_runs_on_every_shipped_scenario():
    from scenarios import shipped_scenarios

    for path in shipped_scenarios():
        if needs_fetched_data(path):
            continue  # the calibrated scenarios run in tests/test_calibration.py when the data is there
        sc = tiny(path.stem, users=80, items=100, iterations=6)
        res = run(sc, [0], ["full", "full-never", "cf", "popularity", "random", "oracle"])
        assert res.metrics["value"].notna().any()


@pytest.mark.slow
def test_on_stable_full_beats_popularity_and_random_after_warm_up():
    sc = tiny("stable", users=500, items=300, iterations=24)
    res = run(sc, [0, 1, 2], ["full", "popularity", "random"])
    m = res.metrics[(res.metrics.metric == "eur") & (res.metrics.iteration >= 12)]
    per_seed = m.groupby(["recommender", "seed"])["value"].mean().unstack("recommender")
    assert (per_seed["full"] - per_seed["popularity"] > 0.15).all(), per_seed
    assert (per_seed["full"] - per_seed["random"] > 0.3).all(), per_seed


@pytest.mark.slow
def test_on_abrupt_shift_retraining_recovers_better_than_never():
    sc = tiny("abrupt_shift", users=500, items=300, iterations=40)
    onset = sc.drift[0].onset
    res = run(sc, [0, 1, 2], ["full", "full-never"])
    m = res.metrics[(res.metrics.metric == "eur") & (res.metrics.iteration >= onset + 5)]
    per_seed = m.groupby(["recommender", "seed"])["value"].mean().unstack("recommender")
    assert (per_seed["full"] - per_seed["full-never"] > 0.02).all(), per_seed


def test_window_zero_keeps_all_history_and_a_window_forgets():
    from sim.catalog import ItemInfo

    info = ItemInfo(6, np.ones(6, bool), np.zeros(6, np.int32), np.zeros((6, 0)))
    keep_all = small_pipeline(0, preprocess=PreprocessConfig(window=0), min_train_iterations=100)
    windowed = small_pipeline(0, preprocess=PreprocessConfig(window=2), min_train_iterations=100)
    for rec in (keep_all, windowed):
        rec.fit(Interactions.empty(), info)
        for t in range(5):
            rec.partial_fit(log_of([(t, 0, t, 1)]), info)
    assert sorted(set(keep_all.buffer_.iteration.tolist())) == [0, 1, 2, 3, 4]
    assert sorted(set(windowed.buffer_.iteration.tolist())) == [3, 4]


def test_a_strong_recency_prior_ranks_what_was_clicked_lately_first():
    """recency_prior adds β × standardised recent clicks to the cosine score: with a huge
    β every slate is the recently most-clicked items (cosine only breaks ties); β = 0 is
    pure cosine."""
    from recommender.registry import make_recommender
    from sim.random import RunSeeds
    from sim.world import World

    sc = tiny("stable", users=80, items=100, iterations=8)
    doc = sc.model_dump()
    doc["recommenders"]["full"].update({"recency_prior": 1000.0, "recency_window": 3, "min_train_iterations": 2})
    sc = type(sc).model_validate(doc)
    world = World(sc, 0, make_recommender("full", sc, RunSeeds.from_seed(0)), "full")
    for _ in range(6):
        world.step()
    rec = world.recommender
    assert rec.model_ is not None
    clicks = rec.buffer_.clicks()
    recent = clicks.item[clicks.iteration >= rec.now_ - 3]
    counts = np.bincount(recent, minlength=100)
    users = np.arange(20)
    slates = rec.recommend(users, 5, exclude=Exclusions(np.zeros(100, bool)))
    kth = np.sort(counts)[::-1][4]
    assert (counts[slates] >= kth).all()  # only the top recent items (ties at the k-th count allowed)
    from dataclasses import replace

    rec.config = replace(rec.config, recency_prior=0.0)
    plain = rec.recommend(users, 5, exclude=Exclusions(np.zeros(100, bool)))
    assert not np.array_equal(np.sort(plain, axis=1), np.sort(slates, axis=1))


def test_cf_holds_only_clicks_but_keeps_a_row_for_every_user_shown_something_in_the_window():
    """Impressions are ~10× the clicks, so cf keeps clicks only; its matrix still has a
    row for the highest user shown anything in the window (the SVD's rank depends on
    the shape), and that row leaves with the window."""
    from recommender.cf import PureSVD
    from sim.catalog import ItemInfo
    from sim.log import Interactions
    from recommender.preprocessing import PreprocessConfig

    def events(t, users, clicked):
        n = len(users)
        return Interactions(np.full(n, t, np.int32), np.asarray(users, np.int64), np.arange(n, dtype=np.int32) % 6,
                            np.zeros(n, np.int8), np.asarray(clicked, bool), np.zeros(n, np.float32), np.zeros(n, bool))

    items = ItemInfo(6, np.ones(6, bool), np.zeros(6, np.int32), np.zeros((6, 0)))
    rec = PureSVD(dim=2, preprocess=PreprocessConfig(window=2), random_state=0).fit(Interactions.empty(), items)
    rec.partial_fit(events(0, [0, 1, 2, 9], [1, 1, 1, 0]), items)  # user 9 only shown, never clicks
    assert len(rec.log_) == 3 and rec._feedback.shape[0] == 10
    rec.partial_fit(events(1, [0, 1, 2], [1, 0, 1]), items)
    assert len(rec.log_) == 5 and rec._feedback.shape[0] == 10
    rec.partial_fit(events(2, [0, 1, 2], [1, 1, 0]), items)  # iteration 0 has left the window
    assert len(rec.log_) == 4 and rec._feedback.shape[0] == 3
    # a log of several iterations at once: one (iteration, highest user) per iteration
    whole = Interactions.concat([events(0, [0, 1, 2, 9], [1, 1, 1, 0]), events(1, [0, 4], [1, 0]), events(2, [3], [1])])
    again = PureSVD(dim=2, preprocess=PreprocessConfig(window=2), random_state=0).fit(whole, items)
    assert again.user_span_.tolist() == [[0, 9], [1, 4], [2, 3]] and len(again.log_) == 5
