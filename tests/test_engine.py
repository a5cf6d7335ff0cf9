"""The recommendation engine: known answers on the bundled sample content."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from recommender.config import PipelineConfig
from recommender.engine import Engine
from recommender.inputs import RecommendRequest
from recommender.model import load_model
from recommender.sources import MemoryEvents

NOW = dt.datetime(2026, 8, 12, 10, 0, tzinfo=dt.UTC)
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def model(sample_env):
    return load_model(sample_env["models"] / sample_env["version"])


@pytest.fixture
def engine(model):
    return Engine(model, MemoryEvents())


def main_topic(model, item_id: str) -> str:
    cat = model.catalog
    return cat.topic_ids[int(cat.main_topic[cat.row_of[item_id]])]


def has_topic(model, item_id: str, topic: str, min_weight: float = 0.5) -> bool:
    cat = model.catalog
    return bool(cat.topics[cat.row_of[item_id], cat.topic_index[topic]] >= min_weight)


def ask(engine: Engine, user: str, text: str, groups: list[str] | None = None) -> None:
    ev = engine.events
    ev.put_user(user, groups=groups or [])
    ev.add_event(user, {"type": "question", "text": text, "ts": NOW - dt.timedelta(minutes=5),
                        "topics": engine.event_topics(text)})


def test_herder_who_asked_about_grassland_contracts_gets_grassland_content_first(engine, model):
    ask(engine, "herder1", "我家承包的草场被邻居占了，草牧场承包合同还有用吗？", ["herders"])
    res = engine.recommend(RecommendRequest(user_id="herder1", k=10), now=NOW)
    first = res.items[0]
    assert has_topic(model, first["item_id"], "agriculture_rural"), first
    assert any(r.startswith(("与您的提问相关", "与您的问题相关：")) for r in first["reasons"])
    assert sum(has_topic(model, i["item_id"], "agriculture_rural") for i in res.items[:5]) >= 4


def test_migrant_worker_with_no_history_gets_labour_in_top5(engine, model):
    res = engine.recommend(RecommendRequest(user_id="new-worker", groups=["migrant_workers"], k=10), now=NOW)
    assert res.cold_start
    assert any(has_topic(model, i["item_id"], "labour") for i in res.items[:5])
    assert all(i["reasons"] for i in res.items)


def test_unknown_user_without_groups_is_a_public_cold_start_not_an_error(engine):
    res = engine.recommend(RecommendRequest(user_id="nobody-knows-me", k=5), now=NOW)
    assert res.cold_start and res.groups == ["public"] and len(res.items) == 5


def test_dismiss_hides_the_item_and_lowers_its_topic(engine, model):
    ev = engine.events
    ev.put_user("d1", groups=["public"])
    for j, item in enumerate(["sample-b-001", "sample-b-002"]):  # two labour items read
        ev.add_event("d1", {"type": "click", "item_id": item, "ts": NOW - dt.timedelta(hours=5 - j)})
    before = engine.recommend(RecommendRequest(user_id="d1", k=10), now=NOW)
    weights = engine.profile("d1", now=NOW).topic_weights
    # The first item on a topic the person read about (the feed also holds the group's own).
    target = next(i["item_id"] for i in before.items
                  if weights[model.catalog.topic_index[main_topic(model, i["item_id"])]] > 0)
    topic = main_topic(model, target)
    w_before = weights[model.catalog.topic_index[topic]]
    ev.add_event("d1", {"type": "dismiss", "item_id": target, "ts": NOW - dt.timedelta(minutes=1)})
    after = engine.recommend(RecommendRequest(user_id="d1", k=10), now=NOW)
    assert target not in [i["item_id"] for i in after.items]
    prof = engine.profile("d1", now=NOW)
    assert target in prof.dismissed
    assert prof.topic_weights[model.catalog.topic_index[topic]] < w_before


def test_one_event_changes_the_very_next_recommendation(engine):
    engine.events.put_user("e1", groups=["public"])
    before = [i["item_id"] for i in engine.recommend(RecommendRequest(user_id="e1", k=10), now=NOW).items]
    ask(engine, "e1", "网上刷单返利被骗了钱怎么追回")
    after = engine.recommend(RecommendRequest(user_id="e1", k=10), now=NOW)
    assert [i["item_id"] for i in after.items] != before
    assert any(r.startswith(("与您的提问相关", "与您的问题相关：")) for i in after.items[:3] for r in i["reasons"])


def test_superseded_and_repealed_items_are_never_returned(engine, model):
    cat = model.catalog
    old = [m.id for m in cat.metas if m.status != "current"]
    assert old, "the fixture holds a superseded law version"
    ask(engine, "s1", "草原承包经营权流转要签书面合同吗，草牧场被侵占怎么办，禁牧休牧")
    for req in (RecommendRequest(user_id="s1", k=100), RecommendRequest(groups=["herders"], k=100),
                RecommendRequest(query="草场测试法 草原承包经营权 草牧场流转", k=100)):
        ids = {i["item_id"] for i in engine.recommend(req, now=NOW).items}
        assert not ids & set(old)
    current = [m.id for m in cat.metas if m.law_title == "草场测试法" and m.status == "current"]
    q = engine.recommend(RecommendRequest(query="草场测试法 草原承包经营权 草牧场流转", k=20), now=NOW)
    assert set(current) & {i["item_id"] for i in q.items}, "the current version is recommended instead"


def test_personalized_false_ignores_history(engine):
    ask(engine, "p1", "离婚后孩子的抚养权归谁", ["public"])
    personal = engine.recommend(RecommendRequest(user_id="p1", k=10), now=NOW)
    plain = engine.recommend(RecommendRequest(user_id="p1", k=10, personalized=False), now=NOW)
    anonymous = engine.recommend(RecommendRequest(k=10, personalized=False), now=NOW)
    assert [i["item_id"] for i in plain.items] == [i["item_id"] for i in anonymous.items]
    assert [i["item_id"] for i in plain.items] != [i["item_id"] for i in personal.items]
    assert not plain.personalized and all("提问" not in r for i in plain.items for r in i["reasons"])
    # The person's own setting switches it off too.
    engine.events.put_user("p1", personalized=False)
    assert ([i["item_id"] for i in engine.recommend(RecommendRequest(user_id="p1", k=10), now=NOW).items]
            == [i["item_id"] for i in anonymous.items])


def test_a_campaign_week_takes_a_share_of_a_list_not_the_list(engine, model):
    day = engine.recommend(RecommendRequest(groups=["public"], k=10, date=dt.date(2026, 12, 4)), now=NOW)
    ordinary = engine.recommend(RecommendRequest(groups=["public"], k=10, date=dt.date(2026, 8, 12)), now=NOW)
    assert [i["item_id"] for i in day.items] != [i["item_id"] for i in ordinary.items]
    slotted = [i for i in day.items if i.get("slot") == "campaign"]
    # One to three of ten (SlotConfig), one of them in the first three places, each on the
    # Constitution and saying so.
    assert 1 <= len(slotted) <= 3
    assert any(i.get("slot") == "campaign" for i in day.items[:3])
    assert all(has_topic(model, i["item_id"], "constitution") and "国家宪法日专题" in i["reasons"] for i in slotted)
    assert not any(i.get("slot") == "campaign" for i in ordinary.items)
    assert not any("国家宪法日专题" in i["reasons"] for i in ordinary.items)
    security = engine.recommend(RecommendRequest(groups=["public"], k=10, date=dt.date(2027, 4, 15)), now=NOW)
    assert any(has_topic(model, i["item_id"], "national_security") for i in security.items[:3])
    assert 1 <= sum(i.get("slot") == "campaign" for i in security.items) <= 3


def test_reasons_are_short_chinese_phrases(engine):
    ask(engine, "r1", "老板拖欠工资不给怎么办", ["migrant_workers"])
    for req in (RecommendRequest(user_id="r1", k=10), RecommendRequest(groups=["officials"], k=10)):
        for item in engine.recommend(req, now=NOW).items:
            assert 1 <= len(item["reasons"]) <= 3
            for reason in item["reasons"]:
                assert CJK.search(reason) and len(reason) <= 20 and not re.search(r"[A-Za-z_]", reason)
    officials = engine.recommend(RecommendRequest(groups=["officials"], k=10), now=NOW)
    assert any("领导干部应知应会" in i["reasons"] for i in officials.items)


def test_diversity_caps_per_law_and_topic(engine, model):
    res = engine.recommend(RecommendRequest(groups=["public"], k=20), now=NOW)
    cfg = engine.config.diversity
    assert len(res.items) == 20
    for start in range(0, 20 - cfg.window + 1):  # every window of 10 consecutive items
        window = res.items[start:start + cfg.window]
        topics = [main_topic(model, i["item_id"]) for i in window]
        assert max(topics.count(t) for t in set(topics) if t) <= cfg.max_per_topic
        laws = [i.get("law_title") for i in window if i.get("law_title")]
        assert all(laws.count(law) <= cfg.max_per_law for law in laws)


def test_lists_read_in_score_order_and_youth_learn_about_bullying(engine, model):
    for groups, day in ((["youth"], dt.date(2026, 10, 15)), (["herders"], dt.date(2026, 12, 4)),
                        (["migrant_workers", "women"], dt.date(2027, 4, 15))):
        res = engine.recommend(RecommendRequest(groups=groups, k=20, date=day), now=NOW)
        scores = [i["score"] for i in res.items]
        assert scores == sorted(scores, reverse=True), (groups, scores)
        bodies = [model.catalog.text_keys[model.catalog.row_of[i["item_id"]]] for i in res.items]
        assert len(set(bodies)) == len(bodies)
    # The plan names 校园欺凌 for pupils: an item on it is in a pupil's first ten.
    youth = engine.recommend(RecommendRequest(groups=["youth"], k=10, date=dt.date(2026, 10, 15)), now=NOW)
    assert any("欺负" in i["title"] or "欺凌" in i["title"] for i in youth.items), [i["title"] for i in youth.items]


def test_minor_never_gets_adults_only_items(engine, model):
    adults = {m.id for m in model.catalog.metas if m.audience == "adults"}
    assert adults
    engine.events.put_user("kid", groups=["youth"], minor=True)
    ask(engine, "kid", "吸毒贩毒会判什么刑，性侵案件怎么判", ["youth"])
    ids = {i["item_id"] for i in engine.recommend(RecommendRequest(user_id="kid", k=100), now=NOW).items}
    assert not ids & adults
    grown = {i["item_id"] for i in engine.recommend(RecommendRequest(query="吸毒贩毒 性侵", k=100), now=NOW).items}
    assert grown & adults


def test_elderly_get_anti_fraud_favoured(engine, model):
    res = engine.recommend(RecommendRequest(groups=["elderly"], k=10), now=NOW)
    assert any(has_topic(model, i["item_id"], "anti_fraud") for i in res.items[:5])


# ---------------------------------------------------------------- conformance suite


def test_conformance_fit_recommend_unknown_user_round_trip(sample_env, tmp_path):
    """Every engine passes: it was fitted (built), recommends, treats an unknown user as a
    cold start, and a saved version loads back to identical answers."""
    import shutil

    path = sample_env["models"] / sample_env["version"]
    a = Engine(load_model(path), MemoryEvents())
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    b = Engine(load_model(copy), MemoryEvents())
    for eng in (a, b):
        eng.events.put_user("u", groups=["herders"])
        eng.events.add_event("u", {"type": "like", "item_id": "sample-a-001", "ts": NOW - dt.timedelta(days=1)})
        eng.events.add_event("u", {"type": "search", "text": "宅基地能不能卖", "ts": NOW - dt.timedelta(hours=1),
                                   "topics": eng.event_topics("宅基地能不能卖")})
    for req in (RecommendRequest(user_id="u", k=10), RecommendRequest(user_id="ghost", k=10),
                RecommendRequest(groups=["youth", "women"], k=10, query="校园欺凌")):
        ra, rb = a.recommend(req, now=NOW), b.recommend(req, now=NOW)
        assert [(i["item_id"], i["score"], i["reasons"]) for i in ra.items] == \
               [(i["item_id"], i["score"], i["reasons"]) for i in rb.items]
        assert len(ra.items) == 10
    assert a.recommend(RecommendRequest(user_id="ghost"), now=NOW).cold_start


def test_pipeline_config_round_trips_json_and_changes_results(engine):
    cfg = PipelineConfig()
    again = PipelineConfig.from_json(cfg.to_json())
    assert again == cfg
    with pytest.raises(ValueError, match="unknown"):
        PipelineConfig.from_dict({"scoring": {"campain": 1.0}})
    with pytest.raises(ValueError, match=r"diversity\.max_per_law: Input should be a valid integer"):
        PipelineConfig.from_dict({"diversity": {"max_per_law": "two"}})
    no_campaign = PipelineConfig.from_dict({"scoring": {"campaign": 0.0}})
    day = dt.date(2026, 12, 4)
    a = engine.recommend(RecommendRequest(groups=["public"], k=10, date=day), now=NOW)
    b = engine.with_config(no_campaign).recommend(RecommendRequest(groups=["public"], k=10, date=day), now=NOW)
    assert [i["item_id"] for i in a.items] != [i["item_id"] for i in b.items]


def test_items_added_while_requests_run_never_break_them(model):
    """Adding items swaps in a new index and catalogue; requests in flight keep a consistent
    snapshot (this raised shape errors before copy-on-write)."""
    import threading

    from corpus.schema import Item

    eng = Engine(model, MemoryEvents())
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                eng.recommend(RecommendRequest(groups=["herders"], query="草场承包", k=10), now=NOW)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for n in range(15):
        eng.add_items([Item(id=f"live-{n}", title=f"草场承包问答{n}", body="草牧场承包经营权流转", type="qa",
                            must_know_for=["herders"] if n % 2 else [])])
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(eng.model.catalog) == len(model.catalog) + 15
    assert "live-14" not in model.catalog.row_of  # the loaded model itself was never mutated


def test_odd_publication_dates_never_give_a_non_finite_score(model):
    import math

    from corpus.schema import Item

    eng = Engine(model, MemoryEvents())
    eng.add_items([Item(id="d-future", title="欠钱不还多久不能告", body="诉讼时效三年", type="quiz",
                        published_at="9999-12-31"),
                   Item(id="d-ancient", title="欠钱不还还能告吗", body="诉讼时效", type="quiz", published_at="0001-01-01")])
    res = eng.recommend(RecommendRequest(query="欠钱不还 诉讼时效", k=20), now=NOW)
    assert {"d-future", "d-ancient"} & {i["item_id"] for i in res.items}
    assert all(math.isfinite(i["score"]) for i in res.items)


def test_co_reading_within_the_persons_groups(model):
    """Two herders read A then B; a third herder reads A: B comes with the co-reading reason.
    A migrant worker who reads A does not get that push (not the same group)."""
    eng = Engine(model, MemoryEvents())
    ev = eng.events
    a, b = "sample-c-001", "sample-b-050"
    for u in ("h1", "h2"):
        ev.put_user(u, groups=["herders"])
        ev.add_event(u, {"type": "complete", "item_id": a, "ts": NOW - dt.timedelta(days=2)})
        ev.add_event(u, {"type": "complete", "item_id": b, "ts": NOW - dt.timedelta(days=1)})
    ev.put_user("h3", groups=["herders"])
    ev.add_event("h3", {"type": "view", "item_id": a, "ts": NOW - dt.timedelta(hours=1)})
    ev.put_user("w1", groups=["migrant_workers"])
    ev.add_event("w1", {"type": "view", "item_id": a, "ts": NOW - dt.timedelta(hours=1)})
    ev.put_user("h4", groups=["herders"])  # a herder who read something else
    ev.add_event("h4", {"type": "view", "item_id": "sample-c-002", "ts": NOW - dt.timedelta(hours=1)})
    eng.co_reading.refresh(ev, force=True)

    def ranked(user: str) -> dict[str, dict]:
        return {i["item_id"]: i for i in eng.recommend(RecommendRequest(user_id=user, k=100), now=NOW).items}

    herder, other, worker = ranked("h3"), ranked("h4"), ranked("w1")
    assert "同群体的人也在读" in herder[b]["reasons"]
    assert herder[b]["score"] > other.get(b, {"score": 0})["score"]
    assert "同群体的人也在读" not in worker.get(b, {"reasons": []})["reasons"]


# ---------------------------------------------------------------- caches (issue 8's bugs)


def _cheap_model(taxonomy):
    """A model whose text reading costs microseconds (no tokenizer, index or classifier work),
    so a test can read thousands of texts: only the engine's own caching is exercised."""
    import types

    import numpy as np
    import scipy.sparse as sp

    from recommender.catalog import Catalog, ItemMeta
    from recommender.model import Model

    topics = ["labour", "anti_fraud", "marriage_family"]
    cat = Catalog(topics, [ItemMeta(id="a", type="qa", title="A", status="current")], np.zeros((1, 3), np.float32))
    cheap = types.SimpleNamespace(
        expand=lambda text: text, matches=lambda text: [], tokenize=lambda text: [text],
        vectorize=lambda tokens: sp.csr_matrix((1, 1), dtype=np.float32),
        embed_query=lambda tokens, text: np.zeros(2, np.float32),
        predict_proba=lambda texts: np.zeros((len(texts), 3)),
    )
    return Model(version="cheap", path=None, manifest={}, tokenizer=cheap, expander=cheap, index=cheap,
                 classifier=cheap, catalog=cat, taxonomy=taxonomy)


def test_read_text_cache_survives_concurrent_eviction(taxonomy):
    """Bug: ``read_text`` found an entry, then moved it to the end outside the lock; a thread
    evicting that entry in between made the mover raise KeyError. One reader hits "a" over
    and over while others fill a one-entry cache with other texts (old code: KeyError within
    a few thousand reads on every run tried)."""
    import sys
    import threading

    eng = Engine(_cheap_model(taxonomy), MemoryEvents(), text_cache=1)
    errors: list[BaseException] = []
    failed = threading.Event()

    def work(n: int) -> None:
        try:
            for i in range(30_000):
                if failed.is_set():
                    return
                sig = eng.read_text("a" if n % 2 else f"b{i % 7}")
                assert sig.text == ("a" if n % 2 else f"b{i % 7}")
        except BaseException as exc:
            errors.append(exc)
            failed.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, repr(errors[0])


def test_public_list_cache_never_returns_a_list_from_before_a_change(model, monkeypatch):
    """Bug: non-personal lists were cached under ``id()`` of the model and of the campaign
    list. A freed object's id is given to the next object made, so after a change the old
    list could come back. Here every ``id()`` in the engine collides, as a reused id does:
    a new campaign and a retired item must still show at once."""
    import dataclasses

    import recommender.engine as engine_module
    from corpus.schema import Item

    monkeypatch.setattr(engine_module, "id", lambda obj: 0, raising=False)
    eng = Engine(dataclasses.replace(model), MemoryEvents())
    req = RecommendRequest(groups=["public"], k=10, date=dt.date(2026, 8, 12))
    before = eng.recommend(req, now=NOW)
    assert not any("测试宣传周" in i["reasons"] for i in before.items)
    eng.events.campaigns.append({"id": "t-week", "name": "测试宣传周", "topics": ["anti_fraud"],
                                 "start": "2026-08-01", "end": "2026-08-31", "boost": 1.0, "reason": "测试宣传周"})
    eng.invalidate_campaigns()
    with_campaign = eng.recommend(req, now=NOW)
    assert any("测试宣传周" in i["reasons"] for i in with_campaign.items)
    first = with_campaign.items[0]
    eng.add_items([Item(id=first["item_id"], title=first["title"], body="已废止", type=first["type"], retired=True)])
    after = eng.recommend(req, now=NOW)
    assert first["item_id"] not in [i["item_id"] for i in after.items]


def test_cache_is_lru_with_an_optional_ttl():
    from recommender.cache import Cache

    now = [0.0]
    c: Cache[str, int] = Cache(maxsize=2, ttl=10.0, clock=lambda: now[0])
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # a is now the most recently used
    c.put("c", 3)  # so b goes
    assert c.get("b") is None and c.get("a") == 1 and c.get("c") == 3
    now[0] = 9.9
    assert c.get("a") == 1  # age counts from the put, not from the last read
    now[0] = 10.0
    assert c.get("a") is None and len(c) == 1  # expired: dropped
    c.ttl = 0.0
    assert c.get("c") is None  # a ttl of 0 turns reading off (bench/recommend.py measures so)
    c.put("d", 4)
    c.clear()
    assert len(c) == 0
    off: Cache[str, int] = Cache(maxsize=0)
    off.put("a", 1)
    assert off.get("a") is None
