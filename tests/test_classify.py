"""TopicClassifier: known answers on laws it never saw, on questions and on cases; calibration,
explanations, round trip."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.loaders import load_paths
from recommender.classify import ClassifierConfig, TopicClassifier, model_context, model_text
from recommender.classify_training import training_set
from recommender.expander import QueryExpander

from .conftest import SAMPLE_DIR

HELD_OUT = {"反家庭暴力法": "domestic_violence", "禁毒法": "drug_control", "农村土地承包法": "agriculture_rural"}


@pytest.fixture(scope="module")
def held_out_model(shared_corpus_items, taxonomy, tokenizer):
    """Trained on the shared corpus and the sample content WITHOUT the three test laws."""
    _, items = shared_corpus_items
    sample = load_paths([SAMPLE_DIR]).items
    train_items = [it for it in items + sample if it.law_title not in HELD_OUT]
    cfg = ClassifierConfig(max_negative_law_articles=8000)
    data = training_set(train_items, taxonomy, config=cfg)
    clf = TopicClassifier(taxonomy.topic_ids, tokenizer, QueryExpander(taxonomy), cfg)
    clf.fit(data.texts, data.matrix(taxonomy.topic_ids), data.weights, contexts=data.contexts)
    test = {law: [it for it in items if it.law_title == law and it.status == "current"] for law in HELD_OUT}
    return clf, test


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(("law", "topic"), sorted(HELD_OUT.items()))
def test_articles_of_an_unseen_law_get_its_topic(held_out_model, law, topic):
    clf, test = held_out_model
    articles = [it for it in test[law] if it.type == "law_article"]
    assert len(articles) > 10
    # Articles are read in the context of their law, as the build does.
    probs = clf.predict_proba([model_text(a) for a in articles], contexts=[model_context(a) for a in articles])
    col = clf.topic_ids.index(topic)
    top3 = np.argsort(-probs, axis=1)[:, :3]
    share = float(np.mean([col in row for row in top3]))
    assert share >= 0.8, f"{law}: only {share:.0%} of articles have {topic} in their top 3"
    # The law as a whole is tagged with the topic first.
    whole = next(it for it in test[law] if it.type == "law")
    assert clf.predict_topics(whole.text)[0][0] == topic


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "topic"),
    [("老公喝了酒就打我，我能去法院申请保护吗", "domestic_violence"),
     ("老板拖欠了我们三个月工钱，包工头跑了怎么办", "labour"),
     ("家里承包的草场被邻居占了，嘎查不管", "agriculture_rural"),
     ("孩子在学校被同学欺负还被拍视频发到网上", "minors"),
     ("接到自称公安局的电话让我把钱转到安全账户", "anti_fraud")],
)
def test_everyday_questions(held_out_model, text, topic):
    clf, _ = held_out_model
    topics = [t for t, _ in clf.predict_topics(text, min_score=0.0, limit=3)]
    assert topic in topics, topics


@pytest.mark.realdata
@pytest.mark.slow
def test_explain_names_the_driving_words(held_out_model):
    clf, _ = held_out_model
    words = clf.explain("当事人遭受家庭暴力，可以申请人身安全保护令", ["domestic_violence"])
    assert words and any(w in ("家庭暴力", "人身安全保护令", "暴力") for w in words[:3]), words


def test_small_model_round_trip_and_calibration(tmp_path, taxonomy, tokenizer):
    sample = load_paths([SAMPLE_DIR]).items
    cfg = ClassifierConfig(min_df=1, n_jobs=1)
    data = training_set(sample, taxonomy, config=cfg)
    assert data.sources.count("sample") >= 200
    clf = TopicClassifier(taxonomy.topic_ids, tokenizer, QueryExpander(taxonomy), cfg)
    clf.fit(data.texts, data.matrix(taxonomy.topic_ids), data.weights)
    probs = clf.predict_proba(["农民工讨要被拖欠的工资", "未成年人沉迷网络游戏"])
    assert probs.shape == (2, len(taxonomy.topic_ids)) and np.all((probs >= 0) & (probs <= 1))
    assert clf.predict_topics("农民工讨要被拖欠的工资")[0][0] == "labour"
    clf.save(tmp_path / "clf")
    loaded = TopicClassifier.load(tmp_path / "clf", tokenizer=tokenizer, expander=QueryExpander(taxonomy))
    texts = ["离婚后孩子的抚养费怎么算", "Mongolian ᠮᠣᠩᠭᠣᠯ", ""]
    assert np.array_equal(clf.predict_proba(texts), loaded.predict_proba(texts))
    assert loaded.explain("离婚后孩子的抚养费怎么算") == clf.explain("离婚后孩子的抚养费怎么算")


def test_expander_reads_everyday_words(taxonomy):
    exp = QueryExpander(taxonomy)
    assert "拖欠劳动报酬" in exp.extra("老板一直不给工钱怎么办")
    assert "抚养" in exp.extra("离婚孩子归谁")
    assert exp.extra("今天天气很好") == ""


def test_config_round_trips():
    cfg = ClassifierConfig(C=2.0)
    assert ClassifierConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        ClassifierConfig.from_dict({"c": 1})
