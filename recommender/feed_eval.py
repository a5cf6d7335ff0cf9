"""Feeds people would want: each group's list measured against laws judged apart from the engine.

The group check of :mod:`recommender.evaluate` counts items by the engine's own topic tags
against the engine's own group weights, so it cannot catch a taxonomy that is wrong. This
report reads ``corpus/eval/group_laws.yaml`` instead: for each of the 15 groups, the laws and
regulations a person of the group must know, judged by hand from the 八五普法 plan and common
sense (see the file's header). For each group and day it asks the engine for an anonymous
list (``groups=[g], k=30, date=day``) and reports:

- ``judged@10``, ``judged@30``: the share of the top 10 / 30 that is an article of a judged
  law or an item about one (:func:`judged`);
- ``laws@10``, ``laws@30``: distinct laws (``law_title``) among them;
- ``run@30``: the longest run of consecutive items of one law in the top 30;
- ``camp@10``: campaign items in the top 10: the larger of the entries the engine slotted as
  campaign items and those whose reasons name a campaign in force (:func:`campaign_items`);
- ``dup@30``: items of the top 30 whose body repeats an earlier one's (whitespace ignored);
- ``boiler@30``: boilerplate items in the top 30 (``corpus.boilerplate.is_boilerplate``).

Days: an ordinary day (2026-10-15: no campaign of ``campaigns.yaml`` is in force; 2026-09-15
falls in the cyber-security week and the Inner Mongolia ethnic-unity month), the national
constitution day 2026-12-04 and the national security education day 2026-04-15. The targets
the engine is held to are checked by :func:`targets`. ``pufa evaluate --feeds`` prints it; it
reads no people and only the taxonomy's campaigns (not the editors' stored ones), so a run is
repeatable.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import statistics
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from corpus.schema import Item
from recommender.catalog import ItemMeta
from recommender.engine import Engine
from recommender.inputs import RecommendRequest

__all__ = [
    "DEFAULT_DAYS", "DEFAULT_LAWS", "FeedReport", "FeedRow", "JudgedLaw", "LawMatcher", "campaign_items",
    "distinct_laws", "duplicate_texts", "evaluate_feeds", "format_report", "judged", "load_group_laws",
    "longest_run", "share", "targets",
]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LAWS = REPO / "corpus" / "eval" / "group_laws.yaml"
ORDINARY_DAY = dt.date(2026, 10, 15)
DEFAULT_DAYS = (ORDINARY_DAY, dt.date(2026, 12, 4), dt.date(2026, 4, 15))
K = 30
LAW_TYPES = ("law", "law_article")
IMPLEMENTING = ("实施条例", "实施细则", "实施办法")  # 土地管理法实施条例 is about 土地管理法
PRC = "中华人民共和国"
ItemReader = Callable[[Sequence[str]], Mapping[str, Item]]


# --------------------------------------------------------------------------- the judged laws


@dataclass(frozen=True)
class JudgedLaw:
    law: str
    reason: str


def load_group_laws(path: Path = DEFAULT_LAWS) -> dict[str, list[JudgedLaw]]:
    """group id -> its judged laws, in the file's order."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(g): [JudgedLaw(str(e["law"]), str(e["reason"])) for e in body["laws"]]
            for g, body in raw["groups"].items()}


class LawMatcher:
    """Which of some laws a text names: 草原法 or 《中华人民共和国草原法》, but not 教育法 inside
    义务教育法 (a mention inside a longer title of ``known`` belongs to that title)."""

    def __init__(self, laws: Iterable[str], known: Iterable[str] = ()) -> None:
        self.laws = sorted(set(laws))
        titles = set(known) | set(self.laws)
        self._longer = {law: [t for t in titles if law in t and t != law] for law in self.laws}

    def named(self, text: str) -> set[str]:
        out = set()
        for law in self.laws:
            at = text.find(law)
            while at >= 0:
                if not any(self._inside(text, at, law, longer) for longer in self._longer[law]):
                    out.add(law)
                    break
                at = text.find(law, at + 1)
        return out

    @staticmethod
    def _inside(text: str, at: int, law: str, longer: str) -> bool:
        off = longer.find(law)
        while off >= 0:
            if at - off >= 0 and text.startswith(longer, at - off):
                return True
            off = longer.find(law, off + 1)
        return False


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _quotes(text: str, law: str) -> bool:
    return f"《{law}》" in text or f"《{PRC}{law}》" in text


def judged(item_meta: ItemMeta | Mapping[str, Any], laws: Collection[str], text: str = "", *,
           matcher: LawMatcher | None = None, parent_law: str | None = None) -> bool:
    """Whether an item (a catalogue meta or a recommendation entry) is of or about a judged law.

    A law or article counts by its ``law_title``: one of ``laws``, an interpretation whose
    title quotes one (关于适用《中华人民共和国民法典》…的解释) or an implementing regulation
    (土地管理法实施条例). Anything else (explainer, case, Q&A, news ...) counts when it is linked
    to one (its ``law_title``, or ``parent_law``: the law of its ``parent_id``) or when its
    title or ``text`` names one."""
    law_title = _field(item_meta, "law_title")
    if law_title in laws or (parent_law is not None and parent_law in laws):
        return True
    if _field(item_meta, "type") in LAW_TYPES:
        return bool(law_title) and any(_quotes(law_title, law) or law_title in (law + s for s in IMPLEMENTING)
                                       for law in laws)
    body = f"{_field(item_meta, 'title') or ''}\n{text}"
    if any(_quotes(body, law) for law in laws):
        return True
    return bool((matcher or LawMatcher(laws)).named(body) & set(laws))


# --------------------------------------------------------------------------- metrics


def share(flags: Sequence[bool], k: int) -> float:
    """The share of the first ``k`` (of those there are) that is true; 0 for an empty list."""
    top = flags[:k]
    return sum(top) / len(top) if top else 0.0


def distinct_laws(laws: Sequence[str | None], k: int) -> int:
    return len({law for law in laws[:k] if law})


def longest_run(laws: Sequence[str | None]) -> int:
    """The longest run of consecutive items of one law (items without a law break a run)."""
    best = run = 0
    prev: str | None = None
    for law in laws:
        run = run + 1 if law and law == prev else (1 if law else 0)
        prev = law
        best = max(best, run)
    return best


def duplicate_texts(bodies: Sequence[str | None]) -> int:
    """Items whose body (whitespace ignored) repeats an earlier item's; empty bodies never do."""
    seen: set[str] = set()
    dups = 0
    for body in bodies:
        norm = "".join((body or "").split())
        if not norm:
            continue
        dups += norm in seen
        seen.add(norm)
    return dups


def campaign_items(entries: Sequence[Mapping[str, Any]], reasons: Collection[str]) -> tuple[int, int]:
    """(entries the engine slotted as campaign items, entries whose reasons name a campaign in force)."""
    slotted = sum(1 for e in entries if e.get("slot") == "campaign")
    by_reason = sum(1 for e in entries if any(c in r for r in e.get("reasons", []) for c in reasons))
    return slotted, by_reason


# --------------------------------------------------------------------------- the report


@dataclass
class FeedRow:
    group: str
    n: int
    judged10: float
    judged30: float
    judged10_n: int
    laws10: int
    laws30: int
    run30: int
    campaign10: int
    campaign10_slot: int
    campaign10_reason: int
    dup30: int | None
    boilerplate30: int | None
    campaigns: list[str] = field(default_factory=list)


@dataclass
class DayReport:
    day: dt.date
    ordinary: bool  # no campaign in force for any group
    rows: list[FeedRow]


@dataclass
class FeedReport:
    days: list[DayReport]
    warnings: list[str]
    meta: dict[str, Any]
    listings: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)  # group -> day -> entries

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "warnings": self.warnings, "targets": targets(self),
                "days": [{"date": d.day.isoformat(), "ordinary": d.ordinary, "rows": [asdict(r) for r in d.rows],
                          "summary": summary(d.rows)} for d in self.days],
                **({"listings": self.listings} if self.listings else {})}


def _boilerplate_test(warnings: list[str]) -> Callable[[Item], bool] | None:
    try:
        test: Callable[[Item], bool] = importlib.import_module("corpus.boilerplate").is_boilerplate
        return test
    except (ImportError, AttributeError) as exc:
        warnings.append(f"corpus.boilerplate.is_boilerplate is not available ({exc}): boilerplate not counted")
        return None


def _measure(engine: Engine, group: str, laws: set[str], day: dt.date, matcher: LawMatcher,
             read_items: ItemReader | None, is_boilerplate: Callable[[Item], bool] | None,
             ) -> tuple[FeedRow, list[dict[str, Any]]]:
    """One group's anonymous top 30 on one day: its row, and its entries marked ``judged`` and
    ``campaign`` (for ``--show``)."""
    cat = engine.model.catalog
    now = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    entries = engine.recommend(RecommendRequest(groups=[group], k=K, date=day), now=now).items[:K]
    items = read_items([e["item_id"] for e in entries]) if read_items is not None else {}
    flags = []
    for e in entries:
        meta = cat.meta(e["item_id"])
        item = items.get(e["item_id"])
        parent = cat.meta(meta.parent_id) if meta is not None and meta.parent_id else None
        flags.append(judged(meta if meta is not None else e, laws,
                            item.body if item is not None else e.get("snippet", ""),
                            matcher=matcher, parent_law=parent.law_title if parent else None))
    item_laws = [e.get("law_title") for e in entries]
    in_force = engine.campaigns_on(day, [group], None)
    reasons = {c.reason for c in in_force if c.reason}
    slot, by_reason = campaign_items(entries[:10], reasons)
    bodies = [items[e["item_id"]].body if e["item_id"] in items else None for e in entries]
    row = FeedRow(
        group=group, n=len(entries), judged10=round(share(flags, 10), 3), judged30=round(share(flags, K), 3),
        judged10_n=sum(flags[:10]), laws10=distinct_laws(item_laws, 10), laws30=distinct_laws(item_laws, K),
        run30=longest_run(item_laws), campaign10=max(slot, by_reason), campaign10_slot=slot,
        campaign10_reason=by_reason, dup30=duplicate_texts(bodies) if read_items is not None else None,
        boilerplate30=None if is_boilerplate is None else
        sum(1 for e in entries if e["item_id"] in items and is_boilerplate(items[e["item_id"]])),
        campaigns=[c.name for c in in_force])
    marked = [{**e, "judged": f, "campaign": sum(campaign_items([e], reasons)) > 0}
              for e, f in zip(entries, flags, strict=True)]
    return row, marked


def evaluate_feeds(engine: Engine, *, days: Sequence[dt.date] = DEFAULT_DAYS,
                   group_laws: Mapping[str, Sequence[JudgedLaw]] | None = None,
                   read_items: ItemReader | None = None, show: Sequence[str] = ()) -> FeedReport:
    """Every group's anonymous top 30 on each day, measured (see the module docstring).
    ``read_items`` reads stored items by id (bodies for the text checks); without it titles and
    snippets stand in for bodies and duplicates and boilerplate are not counted."""
    group_laws = group_laws if group_laws is not None else load_group_laws()
    m = engine.model
    cat = m.catalog
    warnings: list[str] = []
    missing = sorted(set(m.taxonomy.groups) - set(group_laws))
    if missing:
        warnings.append(f"groups without judged laws (not measured): {', '.join(missing)}")
    groups = [g for g in m.taxonomy.groups if g in group_laws]
    all_laws = {j.law for g in groups for j in group_laws[g]}
    servable = {meta.law_title for meta in cat.metas if meta.law_title and meta.recommendable}
    absent = sorted(all_laws - servable)
    if absent:
        warnings.append(f"judged laws with no recommendable item in this catalogue: {', '.join(absent)}")
    matcher = LawMatcher(all_laws, cat.law_ids)
    is_boilerplate = _boilerplate_test(warnings) if read_items is not None else None
    if read_items is None:
        warnings.append("no item store: titles and snippets stand in for bodies; duplicates and boilerplate not counted")
    out: list[DayReport] = []
    listings: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for day in days:
        rows = []
        for g in groups:
            row, entries = _measure(engine, g, {j.law for j in group_laws[g]}, day, matcher, read_items,
                                    is_boilerplate)
            rows.append(row)
            if g in show:
                listings.setdefault(g, {})[day.isoformat()] = entries
        ordinary = not engine.campaigns_on(day, list(m.taxonomy.groups), None)
        out.append(DayReport(day, ordinary, rows))
    if not any(d.ordinary for d in out):
        warnings.append("no ordinary day (each day has a campaign in force): the judged-share target is not checked")
    info = {"model_version": m.version, "items": len(cat), "k": K, "groups": len(groups),
            "days": [d.isoformat() for d in days], "judged_laws": len(all_laws)}
    return FeedReport(out, warnings, info, listings)


# --------------------------------------------------------------------------- summaries and targets

COLUMNS = (("judged@10", "judged10", ".2f"), ("judged@30", "judged30", ".2f"), ("laws@10", "laws10", "d"),
           ("laws@30", "laws30", "d"), ("run@30", "run30", "d"), ("camp@10", "campaign10", "d"),
           ("dup@30", "dup30", "d"), ("boiler@30", "boilerplate30", "d"))


def summary(rows: Sequence[FeedRow]) -> dict[str, dict[str, float | None]]:
    """mean, min and max of each column over the groups (None where a column was not measured)."""
    out: dict[str, dict[str, float | None]] = {}
    for stat, fn in (("mean", statistics.fmean), ("min", min), ("max", max)):
        out[stat] = {}
        for _, key, _ in COLUMNS:
            values = [getattr(r, key) for r in rows if getattr(r, key) is not None]
            out[stat][key] = round(float(fn(values)), 3) if values else None
    return out


def targets(report: FeedReport) -> list[dict[str, Any]]:
    """The targets the engine is held to: met (True/False; None when not measured) and the failures."""

    def check(name: str, pairs: list[tuple[str, bool | None]]) -> dict[str, Any]:
        known = [(where, ok) for where, ok in pairs if ok is not None]
        fails = [where for where, ok in known if not ok]
        return {"target": name, "met": (not fails) if known else None, "checked": len(known), "failed": fails}

    def each(test: Callable[[FeedRow, DayReport], bool | None]) -> list[tuple[str, bool | None]]:
        return [(f"{r.group}@{d.day.isoformat()}", test(r, d)) for d in report.days for r in d.rows]

    return [
        check("1-3 campaign items in the top 10 on campaign days",
              each(lambda r, d: 1 <= r.campaign10 <= 3 if r.campaigns else None)),
        check("longest run of one law <= 2 in the top 30", each(lambda r, d: r.run30 <= 2)),
        check("0 duplicate texts in the top 30", each(lambda r, d: None if r.dup30 is None else r.dup30 == 0)),
        check("0 boilerplate items in the top 30",
              each(lambda r, d: None if r.boilerplate30 is None else r.boilerplate30 == 0)),
        check(">= 6 of the top 10 of or about judged laws on an ordinary day",
              each(lambda r, d: r.judged10_n >= 6 if d.ordinary else None)),
    ]


def _cell(value: Any, fmt: str, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if fmt == "d" and float(value).is_integer():
        return f"{int(value):>{width}d}"
    return f"{float(value):>{width}.2f}"


def format_report(report: FeedReport) -> str:
    m = report.meta
    lines = [f"model {m['model_version']}: {m['items']} items; {m['groups']} groups, anonymous top {m['k']}; "
             f"{m['judged_laws']} judged laws (corpus/eval/group_laws.yaml)"]
    head = f"{'group':<17}" + "".join(f"{label:>10}" for label, _, _ in COLUMNS) + "  campaigns in force"
    for d in report.days:
        kind = "ordinary day" if d.ordinary else "campaign day"
        lines += ["", f"{d.day.isoformat()} ({kind})", head, "-" * len(head)]
        for r in d.rows:
            lines.append(f"{r.group:<17}" + "".join(_cell(getattr(r, key), fmt, 10) for _, key, fmt in COLUMNS)
                         + "  " + "、".join(r.campaigns))
        lines.append("-" * len(head))
        for stat, values in summary(d.rows).items():
            lines.append(f"{stat:<17}" + "".join(_cell(values[key], fmt, 10) for _, key, fmt in COLUMNS))
    lines += ["", "targets:"]
    for t in targets(report):
        state = "not measured" if t["met"] is None else "MET" if t["met"] else \
            f"NOT MET ({len(t['failed'])} of {t['checked']} fail: {', '.join(t['failed'][:8])}" + \
            (" ..." if len(t["failed"]) > 8 else "") + ")"
        lines.append(f"  {t['target']}: {state}")
    lines += [f"note: {w}" for w in report.warnings]
    return "\n".join(lines)


def format_listing(report: FeedReport, group: str) -> str:
    """A group's top 30 on each day, to read as a person of the group would (J: of or about a
    judged law; C: a campaign item)."""
    lines = []
    for day, entries in report.listings.get(group, {}).items():
        lines += ["", f"== {group} {day} =="]
        for n, e in enumerate(entries, 1):
            if e["type"] in LAW_TYPES and e.get("law_title"):
                label = e.get("article_label") or (f"第{e['article_no']}条" if e.get("article_no") is not None else "")
                head = f"《{e['law_title']}》{label} {e.get('snippet', '')[:30]}"
            else:
                head = e["title"][:46]
            marks = ("J" if e["judged"] else " ") + ("C" if e["campaign"] else " ")
            lines.append(f"{n:>2}. {marks} [{e['type']}] {head}")
            lines.append(f"         {'；'.join(e.get('reasons', []))}")
    return "\n".join(lines) if lines else f"(no list for {group})"


# --------------------------------------------------------------------------- the command


def run_cli(args: Any, model: Any) -> int:
    """``pufa evaluate --feeds [--date D ...] [--show GROUP ...] [--json]``."""
    from recommender.cli.common import UsageError, db_url
    from recommender.cli.configs import read_config_file
    from recommender.sources import MemoryEvents
    from recommender.store import open_store

    try:
        days = [dt.date.fromisoformat(d) for d in args.date] if args.date else list(DEFAULT_DAYS)
    except ValueError as exc:
        raise UsageError(f"--date: {exc} (YYYY-MM-DD)") from None
    unknown = [g for g in (args.show or []) if g not in model.taxonomy.groups]
    if unknown:
        raise UsageError(f"--show: unknown group {', '.join(unknown)}")
    cfg = read_config_file(args.config) if args.config else None  # None: the version's own pipeline config
    engine = Engine(model, MemoryEvents(), cfg)
    read_items: ItemReader | None = None
    try:
        store = open_store(db_url(args), migrate_schema=False)
        read_items = store.items.get_many
    except Exception as exc:  # no database: the report runs on titles and snippets
        print(f"pufa: note: no item store ({exc})", file=sys.stderr)
    report = evaluate_feeds(engine, days=days, read_items=read_items, show=args.show or [])
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, default=str))
        return 0
    print(format_report(report))
    for g in args.show or []:
        print(format_listing(report, g))
    return 0
