"""What the service tells about itself: coverage of each group, the model's report, the
exposure log, and the disclosure of how recommendation works (算法推荐管理规定 art. 16).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from corpus.taxonomy import Taxonomy
from recommender.records import Exposure
from recommender.service.errors import ServiceError
from recommender.service.models import ModelKeeper
from recommender.store import Store

__all__ = ["Reports"]


class Reports:
    def __init__(self, store: Store, keeper: ModelKeeper, taxonomy: Taxonomy) -> None:
        self.store = store
        self.keeper = keeper
        self.taxonomy = taxonomy

    def model_report(self) -> dict[str, Any]:
        """The active model's version and the figures its build measured."""
        engine = self.keeper.engine
        return {"model_version": engine.version, **engine.model.manifest.get("report", {})}

    def exposures(self, *, user_id: str | None = None, since: dt.datetime | None = None,
                  limit: int = 100) -> list[Exposure]:
        return self.store.exposures.list(user_id=user_id, since=since, limit=limit)

    def disclosure(self) -> dict[str, Any]:
        """算法推荐管理规定 art. 16: the basic principle, purpose and main mechanism, in Chinese."""
        version = self.keeper.current.version if self.keeper.current is not None else None
        return {
            "name": "普法内容精准推送（Pufa）",
            "principle": ("系统根据内容所属的法律主题（如劳动保障、婚姻家庭、草牧场承包等）、您所属的人群（如农牧民、"
                          "农牧民工、青少年）以及您主动提出的问题和阅读行为，计算每条普法内容与您需要之间的相关程度，"
                          "按相关程度从高到低推送，并为每条内容说明推荐理由。"),
            "purpose": ("落实“八五”普法规划关于精准普法的要求：把宪法、民法典和与您生产生活密切相关的法律知识，"
                        "以及本地开展的普法主题活动内容，推送给最需要的人。系统不以商业营销为目的。"),
            "mechanism": [
                "内容理解：对法律条文、案例、讲解和问答进行中文分词，按普法规划的主题自动分类，编辑可以审核和纠正。",
                "人群画像：依据普法规划为各类人群设定重点学习主题（如领导干部学习宪法和党内法规，农牧民学习土地草牧场承包）。",
                "个人兴趣：根据您的阅读、点赞、完成学习、搜索和提问，随时间衰减地估计您关注的主题；您标记“不感兴趣”的内容不再推送。",
                "应知应会与主题活动：优先推送您所属人群的应知应会内容，以及国家宪法日、全民国家安全教育日等活动期间的专题内容。",
                "版本管理：已被修订或废止的法律文本不会作为现行有效内容推送。",
                "多样性：同一部法律、同一主题的内容在一次推荐中有数量上限，避免信息茧房。",
                "未成年人：不向未成年人推送仅限成年人阅读的内容，并限制每日推送数量；老年人优先获得防范诈骗内容。",
            ],
            "data_used": ["您所属的人群（由平台设置）", "您的阅读、点赞、分享、完成学习和“不感兴趣”记录",
                          "您的搜索词和提问内容", "您所在的地区（仅到盟市或旗县一级）"],
            "your_choices": [
                "关闭个性化推荐：请求中设置 personalized=false，或在个人设置中关闭；关闭后不使用任何个人数据。",
                "查看和删除兴趣标签：可查看系统为您形成的标签及其来源，删除后不再使用。",
                "注销并删除个人数据：删除您的账户及全部行为记录和推荐记录。",
            ],
            "model_version": version,
        }

    def coverage(self, group: str | None = None) -> dict[str, Any]:
        """For each group: how much of each topic, and of its must-know list, its people were
        shown and completed (from the exposure log and events)."""
        if group is not None and group not in self.taxonomy.groups:
            raise ServiceError(422, f"unknown group '{group}'", "group")
        cat = self.keeper.engine.model.catalog
        raw = self.store.exposures.coverage()
        groups = [group] if group else list(self.taxonomy.groups)
        out: dict[str, Any] = {}
        for g in groups:
            members = {u for u, gs in raw.users.items() if g in gs}
            shown: dict[str, int] = {}
            completed: dict[str, int] = {}
            shown_items: set[str] = set()
            done_items: set[str] = set()
            for uid, item_ids in raw.exposures:
                if uid in members:
                    shown_items.update(item_ids)
            for uid, item_id in raw.completed:
                if uid in members:
                    done_items.add(item_id)
            for bucket, ids in ((shown, shown_items), (completed, done_items)):
                for item_id in ids:
                    r = cat.row_of.get(item_id)
                    if r is not None and cat.main_topic[r] >= 0:
                        t = cat.topic_ids[int(cat.main_topic[r])]
                        bucket[t] = bucket.get(t, 0) + 1
            must = {m.id for m in cat.metas if g in m.must_know_for and m.recommendable}
            out[g] = {
                "users": len(members), "shown_items": len(shown_items), "completed_items": len(done_items),
                "topics": {t: {"shown": shown.get(t, 0), "completed": completed.get(t, 0)}
                           for t in sorted(set(shown) | set(completed))},
                "must_know": {"items": len(must), "shown": len(must & shown_items),
                              "completed": len(must & done_items)},
            }
        return {"groups": out}
