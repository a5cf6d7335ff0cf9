"""The campaign form of the console: what was typed, the JSON the service takes, and the
problems in Chinese, each for the field it concerns; and the words the pages show (windows,
the region hierarchy, Beijing's today).

:class:`CampaignForm` keeps every value as typed, so a refused form comes back as it was
sent. :meth:`CampaignForm.payload` builds the body of :class:`recommender.inputs.CampaignIn`;
:func:`problems_of` turns its validation errors, and :func:`service_problem` the service's
taxonomy checks, into ``{field: message}`` in words an editor reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from corpus.taxonomy import Taxonomy
from recommender.service import ServiceError
from recommender.vocab import CAMPAIGN_BOOST_MAX, CAMPAIGN_BOOST_MIN, CAMPAIGN_REASON_MAX

from .auth import Form

__all__ = ["BEIJING", "CampaignForm", "beijing_today", "problems_of", "region_options", "service_problem",
           "window_words"]

BEIJING = dt.timezone(dt.timedelta(hours=8), "北京时间")
FIELDS = ("name", "topics", "window", "boost", "reason", "groups", "region")


def beijing_today() -> dt.date:
    """Today in Beijing, the day the plan's campaigns are counted in."""
    return dt.datetime.now(BEIJING).date()


def _md(value: str) -> str:
    """``12-01`` -> 12月1日."""
    month, day = value[-5:].split("-")
    return f"{int(month)}月{int(day)}日"


def window_words(start: str, end: str) -> str:
    """A window as people say it: 每年12月1日至12月7日, 2026年9月1日至9月7日."""
    if len(start) == 5:  # recurring MM-DD
        if start == end:
            return f"每年{_md(start)}"
        return f"每年{_md(start)}至{'次年' if end < start else ''}{_md(end)}"
    if start == end:
        return f"{start[:4]}年{_md(start)}"
    if start[:4] == end[:4]:
        return f"{start[:4]}年{_md(start)}至{_md(end)}"
    return f"{start[:4]}年{_md(start)}至{end[:4]}年{_md(end)}"


@dataclass(frozen=True)
class RegionOption:
    """One line of the region select: the official name, indented by its depth."""

    name: str
    depth: int

    @property
    def label(self) -> str:
        return "\u3000" * self.depth + ("└ " if self.depth else "") + self.name


def region_options(taxonomy: Taxonomy) -> list[RegionOption]:
    """The hierarchy of ``regions.yaml`` as an indented list, 内蒙古自治区 (the plan's) first,
    each region followed by the regions inside it."""
    official = list(dict.fromkeys(r for r in taxonomy.regions.values()))
    children: dict[str | None, list[str]] = {}
    for r in official:
        children.setdefault(r.parent, []).append(r.name)
    roots = sorted(children.get(None, []), key=lambda n: n != "内蒙古自治区")
    out: list[RegionOption] = []

    def walk(name: str, depth: int) -> None:
        out.append(RegionOption(name, depth))
        for child in children.get(name, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return out


@dataclass
class CampaignForm:
    """The form's values as typed (strings), and the problems found with them."""

    id: str = ""
    name: str = ""
    topics: list[str] = field(default_factory=list)
    kind: str = "dated"  # dated (YYYY-MM-DD) or yearly (MM-DD)
    start_date: str = ""
    end_date: str = ""
    start_month: str = ""
    start_day: str = ""
    end_month: str = ""
    end_day: str = ""
    boost: str = "0.3"
    reason: str = ""
    groups: list[str] = field(default_factory=list)
    region: str = ""
    problems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: Form, campaign_id: str = "") -> CampaignForm:
        """What the editor sent."""
        return cls(id=campaign_id, name=form.get("name"), topics=form.getlist("topics"),
                   kind="yearly" if form.get("kind") == "yearly" else "dated", groups=form.getlist("groups"),
                   start_date=form.get("start_date"), end_date=form.get("end_date"),
                   start_month=form.get("start_month"), start_day=form.get("start_day"),
                   end_month=form.get("end_month"), end_day=form.get("end_day"), boost=form.get("boost"),
                   reason=form.get("reason"), region=form.get("region"))

    @classmethod
    def from_campaign(cls, c: dict[str, Any]) -> CampaignForm:
        """A stored or built-in campaign, to edit."""
        start, end = str(c["start"]), str(c["end"])
        yearly = len(start) == 5
        return cls(id=c["id"], name=c["name"], topics=list(c.get("topics") or []), kind="yearly" if yearly else "dated",
                   start_date="" if yearly else start, end_date="" if yearly else end,
                   start_month=str(int(start[-5:-3])), start_day=str(int(start[-2:])),
                   end_month=str(int(end[-5:-3])), end_day=str(int(end[-2:])),
                   boost=f"{float(c.get('boost', 0.3)):g}", reason=c.get("reason") or "",
                   groups=list(c.get("groups") or []), region=c.get("region") or "")

    def _window(self) -> tuple[str, str]:
        if self.kind == "yearly":
            parts = (self.start_month, self.start_day, self.end_month, self.end_day)
            if not all(p.isdigit() for p in parts):
                self.problems["window"] = "请选择每年开始和结束的月、日。"
                return "", ""
            sm, sd, em, ed = (int(p) for p in parts)
            return f"{sm:02d}-{sd:02d}", f"{em:02d}-{ed:02d}"
        if not self.start_date or not self.end_date:
            self.problems["window"] = "请选择开始日期和结束日期。"
        return self.start_date, self.end_date

    def payload(self) -> dict[str, Any]:
        """The body of ``CampaignIn``; problems of the form itself go to :attr:`problems`."""
        start, end = self._window()
        try:
            boost: Any = float(self.boost)
        except ValueError:
            self.problems["boost"] = f"加权要填一个数，在 {CAMPAIGN_BOOST_MIN} 到 {CAMPAIGN_BOOST_MAX} 之间。"
            boost = 0.3
        body: dict[str, Any] = {"name": self.name, "topics": self.topics, "start": start, "end": end,
                                "boost": boost, "reason": self.reason, "groups": self.groups or None,
                                "region": self.region or None}
        if self.id:
            body["id"] = self.id
        return body


def _window_problem(kind: str, value: str) -> str:
    if kind == "campaign_window":
        return "结束日期早于开始日期。只有“每年”的活动可以跨年（如每年12月25日至次年1月5日）。"
    if value and len(value) == 5:
        return f"{_md(value)}不是日历上的日子（例如2月只有28或29天），请重新选择。"
    if value:
        return f"“{value}”不是有效的日期，请重新选择。"
    return "请选择开始日期和结束日期。"


def problems_of(exc: ValidationError) -> dict[str, str]:
    """``CampaignIn``'s validation errors as ``{field: message in Chinese}`` (first per field)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        where = str(err["loc"][0]) if err["loc"] else "form"
        kind, value = err["type"], err.get("input")
        if where == "name":
            message = "活动名称最多200个字。" if kind == "string_too_long" else "请填写活动名称，例如“禁毒宣传周”。"
        elif where == "topics":
            message = "请至少勾选一个主题：活动期间优先推送这些主题的内容。"
        elif where in ("start", "end"):
            where, message = "window", _window_problem(kind, value if isinstance(value, str) else "")
        elif where == "boost":
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            message = f"加权 {shown} 超出允许范围：请填 {CAMPAIGN_BOOST_MIN} 到 {CAMPAIGN_BOOST_MAX} 之间的数。"
        elif where == "reason":
            text = " ".join(value.split()) if isinstance(value, str) else ""
            if not text:
                message = "请填写推荐理由：群众在“为什么推荐给我”里看到的一句话，例如“禁毒宣传周专题”。"
            elif len(text) > CAMPAIGN_REASON_MAX:
                message = f"推荐理由有{len(text)}个字，最多{CAMPAIGN_REASON_MAX}个字，请改短一些。"
            else:
                message = "推荐理由要用中文写，让群众看得懂，例如“禁毒宣传周专题”。"
        elif where == "region":
            message = "地区名称太长，请从列表中选择。"
        else:
            where, message = "form", f"没有保存：{err.get('msg', '')}"
        out.setdefault(where, message)
    return out


def service_problem(exc: ServiceError) -> tuple[str, str]:
    """(field, message in Chinese) of a refusal by the service."""
    if exc.status == 503:
        return "form", "服务暂时不可用（数据库或模型未就绪），没有保存，请稍后重试。"
    names = {"topics": ("topics", "有不认识的主题，请从列表中勾选。"),
             "groups": ("groups", "有不认识的人群，请从列表中勾选。"),
             "region": ("region", "不认识这个地区，请从列表中选择。"),
             "id": ("form", "活动编号不正确，请从活动列表重新进入编辑。")}
    return names.get(exc.field or "", ("form", f"没有保存：{exc.message}"))
