"""IVFIndex (faiss IndexIVFFlat): recall against the exact inner-product scan on clustered unit
vectors, appended rows, persistence, and the ranking's candidate stage reading through it."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest

from recommender.ann import IVF_FILE, IVFIndex
from recommender.answer_model import AnswerConfig
from recommender.catalog import Catalog, ItemMeta
from recommender.config import CandidateConfig, ProfileConfig
from recommender.profiles import ProfileBuilder
from recommender.rank import CandidateSelector, RankContext

N, DIM, CLUSTERS, K = 4000, 64, 40, 10
NPROBE = CandidateConfig().ivf_nprobe  # the ranking's default, the smaller of the engine's two


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """4,000 unit vectors around 40 Gaussian centres in 64 dims, and 200 queries near them:
    half jittered items, half profile-like means of 5-10 items of one or two clusters."""
    rng = np.random.default_rng(8)
    centres = unit(rng.normal(size=(CLUSTERS, DIM)))
    label = rng.integers(0, CLUSTERS, N)
    X = unit(centres[label] + rng.normal(0, 0.12, (N, DIM)))
    queries = []
    for i in range(200):
        if i % 2:
            queries.append(X[rng.integers(N)] + rng.normal(0, 0.05, DIM))
        else:
            pool = np.flatnonzero(np.isin(label, rng.integers(0, CLUSTERS, 2)))
            queries.append(X[rng.choice(pool, int(rng.integers(5, 11)), replace=False)].mean(axis=0))
    return X, unit(np.asarray(queries))


@pytest.fixture(scope="module")
def ivf(data) -> IVFIndex:
    return IVFIndex().fit(data[0])


def exact_top(X: np.ndarray, q: np.ndarray, k: int = K) -> np.ndarray:
    s = X @ q
    top = np.argpartition(-s, k - 1)[:k]
    return top[np.argsort(-s[top], kind="stable")]


def recall(ivf: IVFIndex, X: np.ndarray, Q: np.ndarray, nprobe: int = NPROBE) -> float:
    hits = [len(set(ivf.search(X, q, K, nprobe)[0].tolist()) & set(exact_top(X, q).tolist())) for q in Q]
    return sum(hits) / (K * len(Q))


def test_recall_at_10_against_the_exact_scan(ivf, data):
    X, Q = data
    assert ivf.nlist_ == int(2 * np.sqrt(N)) and ivf.ntotal == N
    assert recall(ivf, X, Q) >= 0.95
    assert recall(ivf, X, Q, AnswerConfig().dense_nprobe) >= recall(ivf, X, Q)


def test_search_scores_are_the_exact_scores_best_first(ivf, data):
    X, Q = data
    rows, scores = ivf.search(X, Q[0], K, NPROBE)
    assert rows.dtype == np.int64 and len(rows) == K
    np.testing.assert_allclose(scores, X[rows] @ Q[0], rtol=1e-6)
    assert np.all(np.diff(scores) <= 0)


def test_search_returns_only_the_rows_the_cells_hold(ivf, data):
    X, Q = data
    cand = ivf.candidates(Q[0], 1)
    rows, scores = ivf.search(X, Q[0], cand.size + 50, 1)
    assert sorted(rows.tolist()) == sorted(cand.tolist()) and len(scores) == cand.size


def test_candidates_are_whole_cells_and_cover_everything_at_full_nprobe(ivf, data):
    Q = data[1]
    assert sorted(ivf.candidates(Q[0], ivf.nlist_).tolist()) == list(range(N))
    part = ivf.candidates(Q[0], NPROBE)
    assert 0 < part.size < N // 3 and len(set(part.tolist())) == part.size  # a share of the rows


def test_training_is_deterministic(ivf, data):
    X, Q = data
    again = IVFIndex().fit(X)
    for q in Q[:20]:
        np.testing.assert_array_equal(np.sort(again.candidates(q, 3)), np.sort(ivf.candidates(q, 3)))


def test_with_added_rows_are_findable_and_the_original_is_untouched(data):
    X, Q = data
    base = IVFIndex().fit(X[:3500])
    grown = base.with_added(X[3500:])
    assert base.ntotal == 3500 and grown.ntotal == N and grown.nlist_ == base.nlist_
    for r in range(3500, N, 25):
        rows, scores = grown.search(X, X[r], 1, NPROBE)
        assert rows[0] == r and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert recall(grown, X, Q) >= 0.95
    assert base.candidates(X[3600], base.nlist_).max() < 3500


def test_save_and_load_give_the_same_results(ivf, data, tmp_path):
    X, Q = data
    ivf.save(tmp_path)
    assert (tmp_path / IVF_FILE).exists()
    loaded = IVFIndex.load(tmp_path)
    assert loaded is not None and loaded.nlist_ == ivf.nlist_ and loaded.ntotal == N
    for q in Q[:30]:
        a, sa = ivf.search(X, q, K, NPROBE)
        b, sb = loaded.search(X, q, K, NPROBE)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa, sb)
        np.testing.assert_array_equal(ivf.candidates(q, NPROBE), loaded.candidates(q, NPROBE))


def test_load_without_a_saved_ivf_is_none(tmp_path, caplog):
    assert IVFIndex.load(tmp_path) is None
    # A model written by the hand-written IVF before faiss: no IVF (the exact scan), with a warning.
    np.save(tmp_path / "ivf_centroids.npy", np.zeros((2, 4), dtype=np.float32))
    np.save(tmp_path / "ivf_assign.npy", np.zeros(3, dtype=np.int32))
    with caplog.at_level("WARNING", logger="pufa.ann"):
        assert IVFIndex.load(tmp_path) is None
    assert "exact scan" in caplog.text


def test_candidate_selection_through_the_ivf_keeps_the_exact_top_items(ivf, data):
    """The ranking's candidate stage (profile vector -> dense top rows) with and without the IVF."""
    X, Q = data
    metas = [ItemMeta(id=f"i{r}", type="explainer", title=f"item {r}", status="current") for r in range(N)]
    catalog = Catalog(["t"], metas, np.zeros((N, 1), dtype=np.float32))
    index = SimpleNamespace(dense_=X)  # the candidate stage reads only the dense rows here
    allowed = np.ones(N, dtype=bool)
    allowed[::7] = False  # filtered rows must stay out of both
    exact_stage = CandidateSelector(CandidateConfig(per_source=50, ann="exact"))
    ivf_stage = CandidateSelector(CandidateConfig(per_source=50, ann="ivf"))
    builder = ProfileBuilder(ProfileConfig(), ["t"])
    hits = total = 0
    for q in Q[:50]:
        profile = builder.empty("p", ["public"])
        profile.dense = q
        ctx = RankContext(profile=profile, group_ids=["public"], group_vector=np.zeros(1, dtype=np.float32),
                          campaigns=[], day=dt.date(2026, 1, 1), k=K, exclude_seen=False)
        exact = exact_stage.select(ctx, catalog, index, allowed, ivf)
        approx = ivf_stage.select(ctx, catalog, index, allowed, ivf)
        assert allowed[approx].all() and len(approx) == len(exact) == 50
        best = exact[np.argsort(-(X[exact] @ q), kind="stable")][:K]
        hits += len(set(best.tolist()) & set(approx.tolist()))
        total += K
    assert hits / total >= 0.95
