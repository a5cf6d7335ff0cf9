"""What the service tells about itself: coverage of each group, what was pushed (by group and,
for the roles allowed, by person), model versions side by side, the model's report, the
exposure log, and the disclosure of how recommendation works (算法推荐管理规定 art. 16).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from corpus.taxonomy import Taxonomy
from recommender.artifacts import ArtifactError, read_manifest
from recommender.config import PipelineConfig
from recommender.records import (
    BuildJob,
    Exposure,
    GroupPushes,
    MetricComparison,
    ModelComparison,
    ModelVersion,
    MustKnowItem,
    PersonPush,
    PersonPushes,
    PushedItem,
    PushReport,
    TopicShare,
    TopItem,
)
from recommender.service.errors import ServiceError
from recommender.service.models import ModelKeeper
from recommender.store import Store
from recommender.variety import describe
from recommender.vocab import EARLIEST_EVENT

__all__ = [
    "MODEL_READERS", "PERSONAL_ROW_READERS", "PLAN_TZ", "PUSH_READERS", "RETRAIN_ROLES", "Reports",
    "coverage_view", "may_read_personal_rows", "period", "personal_rows_rule",
]


# Who may do what here (``api/deps.require`` admits admin to everything besides). From the
# roles of docs/api.md: analyst is "read-only: stats, evaluation", admin "all"; editor is
# "items, topics, campaigns, review" -- no personal data. Issue 9 lets editors read what was
# pushed, in aggregate, and request a retrain; activating a version stays admin's.
PUSH_READERS: tuple[str, ...] = ("editor", "analyst")
PERSONAL_ROW_READERS: tuple[str, ...] = ("analyst",)
MODEL_READERS: tuple[str, ...] = ("editor", "analyst")
RETRAIN_ROLES: tuple[str, ...] = ("editor",)
ROLE_NAMES = {"platform": "平台（platform）", "editor": "编辑（editor）", "analyst": "分析员（analyst）",
              "admin": "管理员（admin）"}


def may_read_personal_rows(role: str) -> bool:
    """The rule: who may read what the exposure log holds for one person (GET
    /v1/stats/pushes/people/{id}, GET /v1/exposures). Everyone who may read the pushes
    sees the aggregates."""
    return role == "admin" or role in PERSONAL_ROW_READERS


def personal_rows_rule() -> str:
    """The rule in Chinese, as the page states it (written from the same roles)."""
    allowed = "、".join(ROLE_NAMES[r] for r in (*PERSONAL_ROW_READERS, "admin"))
    denied = "、".join(ROLE_NAMES[r] for r in PUSH_READERS if not may_read_personal_rows(r))
    text = f"个人推送记录（某一个人在何时被推送了哪些内容、推荐理由、模型版本、是否个性化）只有{allowed}可以查看。"
    if denied:
        text += f"{denied}可以查看按人群汇总的推送情况，不能查看个人记录。"
    return text + ("依据 docs/api.md 的角色划分：分析员只读统计和评估，管理员拥有全部权限；"
                   "编辑负责内容、主题、活动和审核，不处理个人数据。")


# Dates on the pages are Beijing time: a day is 00:00-24:00 +08:00.
PLAN_TZ = dt.timezone(dt.timedelta(hours=8), "北京时间")
DEFAULT_DAYS = 30


def period(start: dt.date | dt.datetime | None = None, end: dt.date | dt.datetime | None = None, *,
           default_days: int | None = DEFAULT_DAYS, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) from what a caller gave. A date is a whole day in Beijing time, the end
    date included; a time without a zone is Beijing time. Without ``end``: now; without
    ``start``: ``default_days`` before the end, or the beginning of the log when None."""
    def bound(t: dt.date | dt.datetime, next_day: bool, field: str) -> dt.datetime:
        # Nothing was pushed before the service could log it; a far date is a typing error.
        if not EARLIEST_EVENT.date() <= (t.date() if isinstance(t, dt.datetime) else t) <= dt.date(9000, 1, 1):
            raise ServiceError(422, f"{field} must be a day from {EARLIEST_EVENT.date()} on", field)
        if isinstance(t, dt.datetime):
            return t if t.tzinfo is not None else t.replace(tzinfo=PLAN_TZ)
        return dt.datetime.combine(t + dt.timedelta(days=int(next_day)), dt.time(), tzinfo=PLAN_TZ)

    t1 = bound(end, True, "end") if end is not None else (now or dt.datetime.now(dt.UTC))
    if start is not None:
        t0 = bound(start, False, "start")
    else:
        t0 = t1 - dt.timedelta(days=default_days) if default_days is not None else EARLIEST_EVENT
    if t0 >= t1:
        raise ServiceError(422, "the period is empty: start must come before end", "start")
    return t0, t1


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
        engine = self.keeper.current
        version = engine.version if engine is not None else None
        cfg = engine.config if engine is not None else PipelineConfig()
        return {
            "name": "普法内容精准推送（Pufa）",
            "principle": ("系统根据内容所属的法律主题（如劳动保障、婚姻家庭、草牧场承包等）、您所属的人群（如农牧民、"
                          "农牧民工、青少年）以及您主动提出的问题和阅读行为，计算每条普法内容与您需要之间的相关程度，"
                          "按相关程度从高到低推送，并为每条内容说明推荐理由。"),
            "purpose": ("落实“八五”普法规划关于精准普法的要求：把宪法、民法典和与您生产生活密切相关的法律知识，"
                        "以及本地开展的普法主题活动内容，推送给最需要的人。系统不以商业营销为目的。"),
            "mechanism": [
                "内容理解：对法律条文、案例、讲解和问答进行中文分词，按普法规划的主题自动分类，编辑可以审核和纠正。",
                ("问题解答：您提问或搜索时，系统在现行有效的法律条文中用全文检索和语义向量查找候选条文，参考法律专业人员"
                 "为相似问题标注过的条文，用排序模型选出最能回答问题的条文放在最前，并注明“与您的问题相关”。"),
                "人群画像：依据普法规划为各类人群设定重点学习主题（如领导干部学习宪法和党内法规，农牧民学习土地草牧场承包）。",
                "个人兴趣：根据您的阅读、点赞、完成学习、搜索和提问，随时间衰减地估计您关注的主题；您标记“不感兴趣”的内容不再推送。",
                "应知应会与主题活动：优先推送您所属人群的应知应会内容，以及国家宪法日、全民国家安全教育日等活动期间的专题内容。",
                "版本管理：已被修订或废止的法律文本不会作为现行有效内容推送。",
                describe(cfg.diversity, cfg.slots),
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

    def coverage(self, start: dt.date | dt.datetime | None = None, end: dt.date | dt.datetime | None = None,
                 group: str | None = None, top: int = 10) -> dict[str, Any]:
        """GET /v1/stats/coverage: :meth:`pushes`, keyed by group (:func:`coverage_view`)."""
        return coverage_view(self.pushes(start, end, group, top))

    # ------------------------------------------------------------------ what is pushed

    def pushes(self, start: dt.date | dt.datetime | None = None, end: dt.date | dt.datetime | None = None,
               group: str | None = None, top: int = 10) -> PushReport:
        """Coverage (the plan's 七(五) question): for each group (or one), what the exposure log
        shows it was pushed in [start, end): recommendations, items and people; the share of
        the pushes on the group's plan topics and on its must-know list; each topic's share
        (plan topics first); the must-know list with titles, how often each was pushed and
        completed; the items pushed most. A recommendation counts for every group it was made
        for, made for a person or for the group alone (anonymous: no person counted). The one
        function behind GET /v1/stats/pushes and /v1/stats/coverage, the console's 推送情况 page,
        ``pufa coverage`` and the coverage notebook."""
        groups = self._group_ids(group)
        t0, t1 = period(start, end)
        cat = self.keeper.engine.model.catalog
        requests: Counter[str] = Counter()
        people: dict[str, set[str]] = {g: set() for g in groups}
        item_pushes: dict[str, Counter[str]] = {g: Counter() for g in groups}
        item_people: dict[str, defaultdict[str, set[str]]] = {g: defaultdict(set) for g in groups}
        for exp in self.store.exposures.in_period(t0, t1, group=group):
            for g in set(exp.groups or []) & people.keys():
                requests[g] += 1
                for it in exp.items:
                    item_pushes[g][it["item_id"]] += 1
                    if exp.user_id:
                        item_people[g][it["item_id"]].add(exp.user_id)
                if exp.user_id:
                    people[g].add(exp.user_id)
        must = {g: [cat.metas[r] for r in np.flatnonzero(cat.must_know_matrix([g]) & cat.recommendable)]
                for g in groups}
        done_by: defaultdict[str, set[str]] = defaultdict(set)  # item -> people who completed it
        for u, i in self.store.exposures.completions(t0, t1, {m.id for ms in must.values() for m in ms}):
            done_by[i].add(u)
        topics_of: dict[str, list[str]] = {}
        tops = {g: sorted(item_pushes[g].items(), key=lambda kv: (-kv[1], kv[0]))[:top] for g in groups}
        titles = self._titles({i for g in groups for i, _ in tops[g]})
        out = []
        for g in groups:
            plan = self.taxonomy.groups[g].topics
            pushed = item_pushes[g]
            n = sum(pushed.values())
            by_topic: Counter[str] = Counter()
            on_plan = 0
            for item_id, k in pushed.items():
                ts = topics_of.setdefault(item_id, cat.shown_topics(r) if (r := cat.row_of.get(item_id)) is not None else [])
                by_topic.update(dict.fromkeys(ts, k))
                on_plan += k if any(t in plan for t in ts) else 0
            order = sorted(plan, key=lambda t: (-plan[t], t)) + sorted(set(by_topic) - set(plan),
                                                                       key=lambda t: (-by_topic[t], t))
            shares = [TopicShare(t, self._topic_name(t), float(plan.get(t, 0.0)), by_topic[t],
                                 by_topic[t] / n if n else 0.0) for t in order]
            must_rows = [MustKnowItem(m.id, m.title, pushed[m.id], len(item_people[g].get(m.id, ())),
                                      len(done_by.get(m.id, set()) & people[g]))
                         for m in sorted(must[g], key=lambda m: m.id)]
            on_must = sum(r.pushes for r in must_rows)
            out.append(GroupPushes(
                group=g, name=self.taxonomy.groups[g].name, requests=requests[g], pushes=n, items=len(pushed),
                people=len(people[g]), plan_share=on_plan / n if n else 0.0,
                plan_topics_reached=sum(1 for t in plan if by_topic[t]),
                must_know_share=on_must / n if n else 0.0, topics=shares, must_know=must_rows,
                must_know_pushed=sum(1 for r in must_rows if r.pushes),
                must_know_completed=sum(1 for r in must_rows if r.completed),
                top_items=[TopItem(i, titles.get(i), k, len(item_people[g].get(i, ()))) for i, k in tops[g]],
            ))
        return PushReport(start=t0, end=t1, groups=out)

    def person_pushes(self, user_id: str, start: dt.date | dt.datetime | None = None,
                      end: dt.date | dt.datetime | None = None) -> PersonPushes:
        """Exactly what the exposure log holds for one person in [start, end) (by default all
        it holds), newest first, each item with its title. Who may call this:
        :func:`may_read_personal_rows`."""
        t0, t1 = period(start, end, default_days=None)
        rows = list(self.store.exposures.in_period(t0, t1, user_id=user_id, newest_first=True))
        titles = self._titles({i["item_id"] for r in rows for i in r.items})
        return PersonPushes(user_id=user_id, start=t0, end=t1, pushes=[
            PersonPush(request_id=r.request_id, created_at=r.created_at, groups=list(r.groups or []),
                       model_version=r.model_version, personalized=r.personalized,
                       items=[PushedItem(item_id=i["item_id"], title=titles.get(i["item_id"]),
                                         reasons=list(i.get("reasons") or []), score=i.get("score"))
                              for i in r.items])
            for r in rows])

    def _group_ids(self, group: str | None) -> list[str]:
        if group is not None and group not in self.taxonomy.groups:
            raise ServiceError(422, f"unknown group '{group}'", "group")
        return [group] if group else list(self.taxonomy.groups)

    def _topic_name(self, topic: str) -> str:
        t = self.taxonomy.topics.get(topic)
        return t.name if t else topic

    def _titles(self, item_ids: Collection[str]) -> dict[str, str]:
        """Titles from the active model's catalogue, else from the store (an item added or
        deleted since); an item no longer stored has none."""
        out: dict[str, str] = {}
        self.keeper.loaded_version()
        engine = self.keeper.current
        if engine is not None:
            for i in item_ids:
                meta = engine.model.catalog.meta(i)
                if meta is not None:
                    out[i] = meta.title
        missing = [i for i in item_ids if i not in out]
        if missing:
            out.update({i: it.title for i, it in self.store.items.get_many(missing).items()})
        return out

    # ------------------------------------------------------------------ models side by side

    def compare_models(self, version: str) -> ModelComparison:
        """A version's figures (classifier cross-validation, answer cross-validation, offline
        evaluation where its build stored one, sizes) beside the active version's, each with
        the difference and whether it is better, knowing which figures are higher-better."""
        versions = {m.version: m for m in self.store.models.list()}
        this = versions.get(version)
        if this is None:
            raise ServiceError(404, f"no model version '{version}'", "version")
        active = next((m for m in versions.values() if m.active), None)
        mine = _figures(_report_of(this), self.taxonomy)
        theirs = _figures(_report_of(active), self.taxonomy) if active is not None else {}
        rows = []
        for name in list(mine) + [n for n in theirs if n not in mine]:
            label, section, higher, b = mine.get(name) or (*theirs[name][:3], None)
            a = theirs[name][3] if name in theirs else None
            diff = b - a if a is not None and b is not None else None
            if diff is None:
                verdict = "missing"
            elif higher is None:
                verdict = "neutral"
            elif abs(diff) < 1e-9:
                verdict = "same"
            else:
                verdict = "better" if (diff > 0) == higher else "worse"
            rows.append(MetricComparison(name, label, section, a, b, diff, higher, verdict))
        return ModelComparison(
            version=version, active_version=active.version if active else None, is_active=this.active,
            created_at=this.created_at, active_created_at=active.created_at if active else None, metrics=rows,
            better=sum(1 for r in rows if r.verdict == "better"), worse=sum(1 for r in rows if r.verdict == "worse"))

    def request_build(self, *, evaluate: bool = True) -> BuildJob:
        """Start training a new version in the background (an editor's "retrain"). The new
        version is registered, not activated: it is compared with the active one
        (:meth:`compare_models`) and an admin activates it. One such build at a time per
        process (409 while one runs). Progress is in the build job row."""
        job_id = self.keeper.start_build(evaluate=evaluate, activate=False)
        job = self.store.models.job(job_id)
        assert job is not None
        return job


def coverage_view(report: PushReport) -> dict[str, Any]:
    """A report of :meth:`Reports.pushes` keyed by group, as GET /v1/stats/coverage answers:
    each group's counts and shares, its topics by id and a summary of its must-know list
    (``shown``: items pushed at least once; ``completed``: items someone of the group
    completed) with the rows. ``users`` (people) and ``shown_items`` (items) keep the names
    of the first version of this endpoint."""
    groups: dict[str, Any] = {}
    for g in report.groups:
        groups[g.group] = {
            "name": g.name, "requests": g.requests, "pushes": g.pushes, "items": g.items, "people": g.people,
            "users": g.people, "shown_items": g.items, "plan_share": g.plan_share,
            "plan_topics_reached": g.plan_topics_reached,
            "must_know_share": g.must_know_share,
            "topics": {t.topic: {"name": t.name, "plan_weight": t.plan_weight, "pushes": t.pushes, "share": t.share}
                       for t in g.topics},
            "must_know": {"items": len(g.must_know), "shown": g.must_know_pushed, "completed": g.must_know_completed,
                          "pushes": sum(m.pushes for m in g.must_know), "share": g.must_know_share,
                          "rows": [m.to_dict() for m in g.must_know]},
            "top_items": [t.to_dict() for t in g.top_items],
        }
    return {"start": report.start, "end": report.end, "groups": groups}


# Figures of a build report: (path, label, section, higher is better; None: a count).
_FIGURES: list[tuple[str, str, str, bool | None]] = [
    ("classifier_cv.macro_f1", "主题分类 宏平均F1（交叉验证）", "classifier", True),
    ("classifier_cv.micro_f1", "主题分类 微平均F1（交叉验证）", "classifier", True),
    *((f"answer.cv.{m}.mean", f"法条答案 {label}（交叉验证）", "answers", True)
      for m, label in (("recall@10", "召回率@10"), ("recall@100", "召回率@100"), ("ndcg@10", "nDCG@10"),
                       ("mrr@10", "MRR@10"))),
    # The offline evaluation (`pufa evaluate`: the engine's row), where a build stored one.
    ("evaluation.questions.engine.topic_p@5", "离线评估 真实问题 主题准确率@5", "evaluation", True),
    ("evaluation.questions.engine.law_hit@10", "离线评估 真实问题 法律命中率@10", "evaluation", True),
    *((f"evaluation.simulated.engine.{m}", f"离线评估 模拟用户 {label}", "evaluation", True)
      for m, label in (("p@10", "准确率@10"), ("r@10", "召回率@10"), ("ndcg@10", "nDCG@10"), ("map", "MAP"),
                       ("coverage", "覆盖率"))),
    ("n_items", "条目数", "size", None),
    ("n_terms", "词表大小", "size", None),
    ("classifier_cv.n_examples", "分类训练样本数", "size", None),
    ("answer.questions", "答案训练问题数", "size", None),
]


def _report_of(version: ModelVersion) -> dict[str, Any]:
    """A version's build report: ``model_versions.metrics``, else its manifest's report."""
    if version.metrics:
        return version.metrics
    try:
        return dict(read_manifest(Path(version.path)).get("report") or {})
    except (ArtifactError, OSError, ValueError):
        return {}


def _figures(report: dict[str, Any], taxonomy: Taxonomy) -> dict[str, tuple[str, str, bool | None, float]]:
    """The comparable numbers of a build report by path, in the order of the page."""
    def at(path: str) -> float | None:
        node: Any = report
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        ok = isinstance(node, int | float) and not isinstance(node, bool) and math.isfinite(node)
        return float(node) if ok else None

    out: dict[str, tuple[str, str, bool | None, float]] = {}
    for path, label, section, higher in _FIGURES:
        value = at(path)
        if value is not None:
            out[path] = (label, section, higher, value)
    per_topic = (report.get("classifier_cv") or {}).get("per_topic") or {}
    for topic in taxonomy.topic_ids:
        value = at(f"classifier_cv.per_topic.{topic}.f1") if topic in per_topic else None
        if value is not None:
            t = taxonomy.topics[topic]
            out[f"classifier_cv.per_topic.{topic}.f1"] = (f"{t.name} F1", "classifier_topics", True, value)
    return out
