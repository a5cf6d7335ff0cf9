"""Related content: for a law article, its explainers, the cases that cite it and the
neighbouring articles of its chapter; for an explainer or a case, the articles it is about.

Links are *found at import*: an explainer or a case naming 《X法》第N条 (or 根据X法第N条,
《中华人民共和国X法》第N条之一, 第N条至第M条 ...) cites that article. :func:`extract_citations`
reads them from a text as ``(law title, article number, 之N suffix)`` keys (the keys
:func:`recommender.answer_labels.article_key` gives an article); ``pufa build`` saves every
item's keys in the model version (``links.json``), and :class:`Related` resolves them to the
*current* article of the catalogue when the model is loaded, so a repealed or superseded
text is never shown as what a case is about.

A call is a few dict lookups on indexes made once per catalogue snapshot (article key →
citing rows, row → cited rows, chapter → its articles in order). No personal data is read:
the only person-dependent rule is the compliance one (a minor never gets an adults-only item).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from corpus.loaders import cn_to_int, short_law_title
from corpus.schema import Item
from recommender.answer_labels import article_key
from recommender.catalog import Catalog

__all__ = [
    "CITING_TYPES",
    "LINKS_FILE",
    "Related",
    "RelatedItem",
    "citations_of_items",
    "extract_citations",
    "load_links",
    "save_links",
]

Key = tuple[str, int, int]  # (law short title, article number, 之N suffix or 0)

LINKS_FILE = "links.json"
# Items whose text is read for citations: what explains or applies articles, not the texts.
CITING_TYPES = frozenset({"case", "explainer", "qa", "interpretation", "news", "video", "quiz"})

REASON_CASE = "本条的以案释法"
REASON_EXPLAINER = "本条的解读"
REASON_CHAPTER = "同章相关条文"
REASON_CITED = "所涉法条"
REASON_SIBLING_CASE = "相关案例"
REASON_SIBLING = "相关解读"

_NUM = "零〇○一二三四五六七八九十百千两\\d"
_ARTICLE = re.compile(rf"第([{_NUM}]+)条(?:之([一二三四五六七八九十]+))?")
_RANGE_TO = re.compile(rf"^\s*(?:至|到|—|－|-|~|～)\s*第([{_NUM}]+)条")
# 《X法》第N条, and 《X法》（2020年修订）第N条 / 《…解释》（法释〔2018〕6号）第N条.
_BRACKET = re.compile(r"《([^《》]{1,60})》\s*(?:[（(][^（）()《》]{1,30}[）)])?\s*$")
# Between two articles of one enumeration: 第三十条、第三十一条; 第三十条第一款和第三十一条.
_JOINER = re.compile(rf"^(?:第[{_NUM}]+[款项]|[（(][{_NUM}]+[）)]|[、，,和及与或以\s]|之[一二三四五六七八九十]+)*$")
_SAME_LAW = re.compile(r"(?:本法|该法|同法|此法)\s*$")
_PRC = "中华人民共和国"
_VERSION_SUFFIX = re.compile(r"[（(][^（()）]*[)）]$")
_MAX_RANGE = 20
_LOOKBACK = 40


def _norm_title(title: str) -> str:
    t = short_law_title(title)
    # 《刑法（2020修正）》, 《民法典(2020年)》: the law, whatever version the text names.
    while True:
        s = _VERSION_SUFFIX.sub("", t)
        if s == t:
            break
        t = s
    return t


def _sub_no(text: str | None) -> int:
    if not text:
        return 0
    try:
        return cn_to_int(text)
    except ValueError:
        return 0


def extract_citations(text: str, known_laws: Iterable[str] | None = None) -> list[Key]:
    """The articles a text cites, in order of first mention, each once.

    ``《X》第N条`` names any law (its title normalised as the catalogue does: no
    中华人民共和国, no version in brackets); without brackets (``根据劳动合同法第三十条``) the
    words before 第N条 must end with one of ``known_laws`` (with or without 中华人民共和国).
    ``本法第N条`` / ``该法第N条`` and the rest of an enumeration (``第三十条、第三十一条``) take
    the law last named; ``第N条至第M条`` names every article between (at most 20).
    """
    return _extract(text, frozenset(_norm_title(t) for t in known_laws or () if t))


def _extract(text: str, known: frozenset[str]) -> list[Key]:
    longest = max((len(t) for t in known), default=0) + len(_PRC)
    out: list[Key] = []
    seen: set[Key] = set()
    last_law: str | None = None
    last_end = -1

    def add(key: Key) -> None:
        if key not in seen:
            seen.add(key)
            out.append(key)

    for m in _ARTICLE.finditer(text):
        try:
            no = cn_to_int(m.group(1))
        except ValueError:
            continue
        before = text[max(0, m.start() - _LOOKBACK):m.start()]
        law: str | None = None
        b = _BRACKET.search(before)
        if b:
            law = _norm_title(b.group(1))
        elif known:
            squeezed = re.sub(r"\s+", "", before)[-longest:]
            for n in range(len(squeezed), 1, -1):
                cand = squeezed[-n:]
                if cand in known:
                    law = cand
                    break
                if cand.startswith(_PRC) and cand[len(_PRC):] in known:
                    law = cand[len(_PRC):]
                    break
        if law is None and last_law is not None and (
                _SAME_LAW.search(before) or (last_end >= 0 and _JOINER.match(text[last_end:m.start()]))):
            law = last_law
        end = m.end()
        if law is None:
            last_law, last_end = None, -1
            continue
        add((law, no, _sub_no(m.group(2))))
        r = _RANGE_TO.match(text[end:end + 20])
        if r:
            try:
                upto = cn_to_int(r.group(1))
            except ValueError:
                upto = no
            if no < upto <= no + _MAX_RANGE:
                for n2 in range(no + 1, upto + 1):
                    add((law, n2, 0))
        last_law, last_end = law, end
    return out


def citations_of_items(items: Iterable[Item], known_laws: Iterable[str | None]) -> dict[str, list[Key]]:
    """Item id → the article keys its text cites, for the items of :data:`CITING_TYPES`."""
    known = frozenset(_norm_title(t) for t in set(known_laws) if t)
    out: dict[str, list[Key]] = {}
    for it in items:
        if it.type not in CITING_TYPES:
            continue
        keys = _extract(f"{it.title}\n{it.body}", known)
        if keys:
            out[it.id] = keys
    return out


def save_links(links: dict[str, list[Key]], path: Path) -> None:
    path.write_text(json.dumps({i: [list(k) for k in ks] for i, ks in links.items()}, ensure_ascii=False),
                    encoding="utf-8")


def load_links(path: Path) -> dict[str, list[Key]]:
    """The links a version holds (none for versions built before links existed)."""
    if not path.exists():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {str(i): [(str(k[0]), int(k[1]), int(k[2])) for k in ks] for i, ks in raw.items()}


@dataclass(frozen=True)
class RelatedItem:
    item_id: str
    reason: str
    score: float


class Related:
    """Related items over one catalogue snapshot and the links of its version."""

    def __init__(self, catalog: Catalog, links: dict[str, list[Key]], *, neighbours: int = 2) -> None:
        self.catalog = catalog
        self.neighbours = neighbours
        metas = catalog.metas
        # The current article of each key (the first held, as the answer labels do).
        current: dict[Key, int] = {}
        self._key_of: dict[int, Key] = {}
        chapters: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
        self._chapter_of: dict[int, tuple[str, str]] = {}
        for r, m in enumerate(metas):
            if m.type != "law_article" or not m.law_title or m.article_no is None:
                continue
            key = article_key(m.law_title, m.article_no, m.article_label)
            self._key_of[r] = key
            if m.recommendable:
                current.setdefault(key, r)
            chap = (m.parent_id or m.law_title, m.section or "")
            self._chapter_of[r] = chap
            chapters.setdefault(chap, []).append((key[1], key[2], r))
        self._chapters = {c: [r for _, _, r in sorted(rows)] for c, rows in chapters.items()}
        self._current = current
        # Row of a citing item → rows of the current articles it cites; key → citing rows.
        self.cites: dict[int, list[int]] = {}
        self.cited_by: dict[Key, list[int]] = {}
        for item_id, keys in links.items():
            at = catalog.row_of.get(item_id)
            if at is None:
                continue
            r = at
            rows: list[int] = []
            for key in keys:
                self.cited_by.setdefault(key, []).append(r)
                a = current.get(key)
                if a is not None and a not in rows:
                    rows.append(a)
            if rows:
                self.cites[r] = rows

    # -- one item ------------------------------------------------------------------------------
    def cited_rows(self, row: int) -> list[int]:
        """Rows of the current articles the item of ``row`` cites."""
        return self.cites.get(row, [])

    def citing_rows(self, row: int) -> list[int]:
        """Rows of the items citing the article of ``row`` (any status)."""
        key = self._key_of.get(row)
        return self.cited_by.get(key, []) if key else []

    def related(self, item_id: str, k: int = 10, *, minor: bool = False) -> list[RelatedItem] | None:
        """Up to ``k`` related items, best first; None when the catalogue lacks ``item_id``.
        Only current (recommendable) items, never the item itself, never boilerplate articles,
        never an adults-only item for a minor; one copy of each text."""
        cat = self.catalog
        row = cat.row_of.get(item_id)
        if row is None:
            return None
        scored: dict[int, tuple[float, str]] = {}

        def offer(r: int, score: float, reason: str) -> None:
            if r == row:
                return
            old = scored.get(r)
            if old is None or score > old[0]:
                scored[r] = (score, reason)

        if row in self._key_of:
            for r in self.citing_rows(row):
                n = len(self.cites.get(r, ())) or 1
                reason = REASON_CASE if cat.metas[r].type == "case" else REASON_EXPLAINER
                offer(r, 0.5 + 0.5 / math.sqrt(n), reason)
            chap = self._chapter_of[row]
            rows = self._chapters[chap]
            at = rows.index(row)
            known_chapter = bool(chap[1])
            reach = len(rows) if known_chapter else self.neighbours
            for d in range(1, reach + 1):
                for j in (at - d, at + d):
                    if 0 <= j < len(rows):
                        offer(rows[j], 0.6 / d, REASON_CHAPTER)
        else:
            mine = self.cites.get(row, [])
            for a in mine:
                offer(a, 1.0, REASON_CITED)
            mine_set = set(mine)
            shared: dict[int, int] = {}
            for a in mine:
                for r in self.citing_rows(a)[:2000]:
                    if r != row:
                        shared[r] = shared.get(r, 0) + 1
            for r, s in shared.items():
                theirs = len(self.cites.get(r, ())) or 1
                reason = REASON_SIBLING_CASE if cat.metas[r].type == "case" else REASON_SIBLING
                offer(r, 0.8 * s / math.sqrt(max(len(mine_set), 1) * theirs), reason)
        order = sorted(scored.items(), key=lambda kv: (-kv[1][0], kv[0]))
        out: list[RelatedItem] = []
        texts: set[str] = {cat.text_keys[row]}
        for r, (score, reason) in order:
            if not cat.recommendable[r] or cat.boilerplate[r] or (minor and cat.adults_only[r]):
                continue
            if cat.text_keys[r] in texts:
                continue
            texts.add(cat.text_keys[r])
            out.append(RelatedItem(cat.metas[r].id, reason, round(float(score), 4)))
            if len(out) >= k:
                break
        return out

    def links_of(self, item_id: str) -> dict[str, list[str]]:
        """What editors see: the current articles an item cites and the items citing it."""
        row = self.catalog.row_of.get(item_id)
        if row is None:
            return {"cites": [], "cited_by": []}
        ids = [m.id for m in self.catalog.metas]
        return {"cites": [ids[r] for r in self.cited_rows(row)],
                "cited_by": [ids[r] for r in self.citing_rows(row)]}
