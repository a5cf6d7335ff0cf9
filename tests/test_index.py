"""ItemIndex: search finds the known document; artifacts round-trip to identical scores."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.index import IndexConfig, ItemIndex

DOCS = {
    "wage": "用人单位拖欠劳动报酬的，劳动者可以向劳动争议仲裁委员会申请仲裁，农民工工资应当按时足额支付。",
    "grass": "草原承包经营权受法律保护，牧民承包的草牧场可以依法流转，实行草畜平衡和禁牧休牧制度。",
    "dv": "家庭暴力受害人可以向人民法院申请人身安全保护令，公安机关可以出具告诫书。",
    "drug": "禁毒是全社会的共同责任，学校应当开展毒品预防教育，吸毒人员应当接受社区戒毒。",
    "fraud": "电信网络诈骗分子冒充客服、公检法，诱导受害人转账汇款，银行应当落实风险防控措施。",
    "const": "宪法是国家的根本法，具有最高的法律效力，每年十二月四日为国家宪法日。",
}


@pytest.fixture(scope="module")
def index(tokenizer):
    ids = list(DOCS)
    toks = [tokenizer.tokenize(DOCS[i]) for i in ids]
    return ItemIndex(IndexConfig(min_df=1, dense_dim=8, dense_backend="lsa")).fit(ids, toks, [DOCS[i] for i in ids])


def test_sparse_search_finds_the_known_document(index, tokenizer):
    q = index.vectorize([tokenizer.tokenize("公司拖欠工资，劳动仲裁怎么申请")])
    assert index.search_sparse(q, k=1)[0][0] == "wage"
    q = index.vectorize([tokenizer.tokenize("草牧场流转")])
    assert index.search_sparse(q, k=1)[0][0] == "grass"


def test_dense_search_ranks_the_matching_document_first(index, tokenizer):
    for query, expected in [("申请人身安全保护令", "dv"), ("毒品预防教育", "drug"), ("国家宪法日", "const")]:
        vec = index.embed([tokenizer.tokenize(query)])[0]
        assert index.search_dense(vec, k=1)[0][0] == expected


def test_unknown_words_give_a_zero_vector_not_an_error(index):
    vec = index.embed([["完全陌生的词"]])[0]
    assert not np.any(vec)
    assert index.vectorize([[]]).nnz == 0


def test_round_trip_identical_scores(index, tokenizer, tmp_path):
    index.save(tmp_path / "idx")
    loaded = ItemIndex.load(tmp_path / "idx")
    assert loaded.ids_ == index.ids_ and loaded.terms_ == index.terms_
    toks = [tokenizer.tokenize("老板不给工钱，去哪里仲裁")]
    q1, q2 = index.vectorize(toks), loaded.vectorize(toks)
    assert np.array_equal(q1.toarray(), q2.toarray())
    assert index.search_sparse(q1, 6) == loaded.search_sparse(q2, 6)
    e1, e2 = index.embed(toks)[0], loaded.embed(toks)[0]
    assert np.array_equal(e1, e2)
    assert index.search_dense(e1, 6) == loaded.search_dense(e2, 6)


def test_added_and_replaced_items_are_searchable_and_ids_stay_mapped(index, tokenizer):
    idx = index.with_added(["fraud2"], [tokenizer.tokenize("冒充客服的诈骗分子诱导转账汇款")])
    assert "fraud2" not in index and len(index) == len(DOCS)  # the original is untouched
    assert "fraud2" in idx and idx.id_at(idx.row("fraud2")) == "fraud2" and len(idx) == len(DOCS) + 1
    q = idx.vectorize([tokenizer.tokenize("冒充客服 转账汇款")])
    assert {i for i, _ in idx.search_sparse(q, k=2)} == {"fraud", "fraud2"}
    # Replacing an item's text moves it in both spaces; its row stays.
    row = idx.row("const")
    before = idx.dense_[row].copy()
    idx2 = idx.with_added(["const"], [tokenizer.tokenize("毒品预防教育 社区戒毒 禁毒")])
    assert (idx.dense_[row] == before).all()
    idx = idx2
    assert idx.row("const") == row and len(idx) == len(DOCS) + 1
    q = idx.vectorize([tokenizer.tokenize("国家宪法日 根本法")])
    assert "const" not in [i for i, s in idx.search_sparse(q, k=6) if s > 0]
    q = idx.vectorize([tokenizer.tokenize("社区戒毒")])
    assert "const" in {i for i, _ in idx.search_sparse(q, k=2)}


def test_fit_rejects_duplicate_ids(tokenizer):
    with pytest.raises(ValueError, match="unique"):
        ItemIndex().fit(["a", "a"], [["x"], ["y"]])


def test_config_round_trips_json():
    cfg = IndexConfig(dense_dim=128, min_df=3)
    assert IndexConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        IndexConfig.from_dict({"dense_dimension": 3})


def test_lsa_floor_is_near_zero(index):
    assert -0.01 <= index.dense_floor_ < 0.3


def test_unknown_dense_backend_is_an_error():
    with pytest.raises(ValueError, match="dense_backend"):
        ItemIndex(IndexConfig(dense_backend="word2vec")).fit(["a", "b"], [["x"], ["y"]])


@pytest.mark.parametrize("backend", ["e5", "use"])
def test_sentence_backends_shipped_in_their_wheels(tokenizer, tmp_path, backend):
    """e5 and USE read questions by meaning; vectors come back from the cache unchanged."""
    from recommender.embed import EmbeddingCache

    ids = list(DOCS)
    texts = [DOCS[i] for i in ids]
    cache = EmbeddingCache(tmp_path / "vectors.sqlite3")
    idx = ItemIndex(IndexConfig(min_df=1, dense_backend=backend)).fit(
        ids, [tokenizer.tokenize(t) for t in texts], texts, cache=cache)
    assert np.allclose(np.linalg.norm(idx.dense_, axis=1), 1.0, atol=1e-4)
    # Sentence cosines are bunched: unrelated legal texts sit well above 0; rescaled they start at 0.
    assert {"e5": 0.5, "use": 0.05}[backend] < idx.dense_floor_ < 0.95
    assert idx.rescale(np.array([idx.dense_floor_, 1.0])).tolist() == [0.0, 1.0]
    for query, expected in [("丈夫喝醉了打我，法院能管吗", "dv"), ("包工头跑了，工钱找谁要", "wage")]:
        vec = idx.embed_query(tokenizer.tokenize(query), query)
        assert idx.search_dense(vec, k=1)[0][0] == expected, (backend, query, idx.search_dense(vec, k=3))
    done = []
    again = ItemIndex(IndexConfig(min_df=1, dense_backend=backend)).fit(
        ids, [tokenizer.tokenize(t) for t in texts], texts, cache=cache, progress=lambda d, n: done.append((d, n)))
    assert np.allclose(again.dense_, idx.dense_, atol=1e-6)
    assert done[0] == (len(ids), len(ids))  # every vector came from the cache
    idx.save(tmp_path / "idx")
    loaded = ItemIndex.load(tmp_path / "idx")
    assert np.array_equal(loaded.dense_, idx.dense_)
    q = "草场流转合同"
    assert np.allclose(loaded.embed_query(tokenizer.tokenize(q), q), idx.embed_query(tokenizer.tokenize(q), q))


def test_a_long_question_vector_reads_its_start_and_its_end():
    """The sentence vector of a question longer than ``profile.query_dense_chars`` reads its
    first 5/8 and last 3/8 (the story, then the question); a short one is read whole."""
    from recommender.embed import dense_part

    story = "我在一家工厂上班三年了，" * 10 + "老板一直拖欠工资，请问我可以去哪里投诉？"
    part = dense_part(story, 64)
    assert len(part) == 64 and part.startswith("我在一家工厂上班三年了") and part.endswith("请问我可以去哪里投诉？")
    assert dense_part("老板拖欠工资怎么办", 64) == "老板拖欠工资怎么办"
