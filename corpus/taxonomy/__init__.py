"""The taxonomy as data: topics, groups, campaigns, the legal dictionary, stop words, lexicon.

The files beside this module are for editors to read and extend. :func:`load_taxonomy` reads and
validates them; any problem is a :class:`TaxonomyError` naming the file and the entry, at start-up.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Campaign", "ColloquialEntry", "Group", "Region", "Taxonomy", "TaxonomyError", "Topic", "load_taxonomy",
           "normalize_law_title"]

DATA_DIR = Path(__file__).parent
_ID = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


class TaxonomyError(ValueError):
    """A taxonomy data file is missing or wrong; the message names the file and the entry."""


@dataclass(frozen=True)
class Topic:
    id: str
    name: str
    en: str
    description: str
    parent: str | None
    keywords: tuple[str, ...]
    key_laws: tuple[str, ...]
    title_patterns: tuple[str, ...] = ()
    civil_code_books: tuple[str, ...] = ()


@dataclass(frozen=True)
class Region:
    name: str  # official: 巴彦淖尔市
    short: str  # 巴彦淖尔 (the name itself where it has none)
    parent: str | None  # the official name of the region it lies in
    code: str | None = None  # 行政区划代码: 150800


# Longest first: 广西壮族自治区 -> 广西, 巴彦淖尔市 -> 巴彦淖尔, 乌拉特前旗 keeps its 旗.
_REGION_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市", "盟", "区", "县")


def _short_region(name: str) -> str:
    return next((name[: -len(s)] for s in _REGION_SUFFIXES if name.endswith(s) and len(name) - len(s) >= 2), name)


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    en: str
    description: str
    plan_section: str
    topics: dict[str, float]
    short_name: str = ""

    @property
    def label(self) -> str:
        """The short name used in readable reasons."""
        return self.short_name or self.name


@dataclass(frozen=True)
class Campaign:
    """A recurring annual campaign (``start``/``end`` are month-day) or a dated one."""

    id: str
    name: str
    topics: tuple[str, ...]
    start: str
    end: str
    boost: float
    reason: str
    groups: tuple[str, ...] = ()
    region: str | None = None
    note: str | None = None
    laws: tuple[str, ...] = ()  # the laws at its heart: its share of a feed prefers them (宪法)

    def active_on(self, day: dt.date) -> bool:
        """True when ``day`` falls in the campaign (inclusive; a period may wrap the year)."""
        if len(self.start) == 10:  # a dated, one-off campaign: YYYY-MM-DD
            return dt.date.fromisoformat(self.start) <= day <= dt.date.fromisoformat(self.end)
        md = day.strftime("%m-%d")
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end


@dataclass(frozen=True)
class ColloquialEntry:
    colloquial: tuple[str, ...]
    legal: tuple[str, ...]
    topics: tuple[str, ...]


@dataclass(frozen=True)
class DictWord:
    word: str
    freq: int
    tag: str


@dataclass
class Taxonomy:
    topics: dict[str, Topic]
    groups: dict[str, Group]
    campaigns: list[Campaign]
    dictionary: list[DictWord]
    stopwords: frozenset[str]
    colloquial: list[ColloquialEntry]
    regions: dict[str, Region] = field(default_factory=dict)  # by official name, short form and code
    source_dir: Path = field(default=DATA_DIR)
    _law_topics: dict[str, set[str]] | None = field(default=None, repr=False)

    @property
    def topic_ids(self) -> list[str]:
        return list(self.topics)

    @property
    def group_ids(self) -> list[str]:
        return list(self.groups)

    def topic_name(self, topic_id: str) -> str:
        t = self.topics.get(topic_id)
        return t.name if t else topic_id

    def law_topics(self) -> dict[str, set[str]]:
        """Normalised short law title -> topics, from each topic's ``key_laws``."""
        if self._law_topics is None:
            out: dict[str, set[str]] = {}
            for t in self.topics.values():
                for law in t.key_laws:
                    out.setdefault(normalize_law_title(law), set()).add(t.id)
            self._law_topics = out
        return self._law_topics

    def topics_for_law(self, law_title: str, book: str | None = None) -> set[str]:
        """Topics a law (or one book of the Civil Code) belongs to, by key law and title pattern.

        Titles are compared without 中华人民共和国, 《》, （试行） and spaces, so the Party
        regulations' file titles match the names editors write.
        """
        key = normalize_law_title(law_title)
        found: set[str] = set()
        # A judicial interpretation of a named law (最高人民法院关于适用《中华人民共和国民法典》
        # 婚姻家庭编的解释) is taught under that law's topics (and the book it names).
        for named, named_book in _NAMED_LAW.findall(law_title):
            named = short_name(named)
            if named and named != key and named != law_title:
                found |= self.topics_for_law(named, named_book or None)
        listed = self.law_topics().get(key, set())
        for t in self.topics.values():
            if t.id in listed:
                if t.civil_code_books and key == "民法典":
                    if book is not None and book in t.civil_code_books:
                        found.add(t.id)
                    continue
                found.add(t.id)
            elif any(p in law_title for p in t.title_patterns):
                found.add(t.id)
        return found

    def region(self, name: str | None) -> Region | None:
        """The region a name (official or short, spaces ignored) or a code stands for, or None."""
        return self.regions.get("".join(name.split())) if name else None

    def region_within(self, region: str, ancestor: str) -> bool:
        """Whether ``region`` is ``ancestor`` or lies inside it, by the parents in regions.yaml:
        临河区 is within 巴彦淖尔市 and 内蒙古自治区, 巴彦淖尔市 not within 临河区 nor 包头市. Either
        may be an official name, a short form or a code (巴彦淖尔市 = 巴彦淖尔 = 150800); a name not
        listed (data from before regions were checked) matches by text, one containing the other."""
        here, target = self.region(region), self.region(ancestor)
        if here is None or target is None:
            r, a = "".join(region.split()), "".join(ancestor.split())
            return bool(r and a) and (a in r or r in a)
        while here is not None and here.name != target.name:  # parents come first: no cycles
            here = self.region(here.parent)
        return here is not None

    def item_reaches(self, item_region: str | None, person_region: str | None) -> bool:
        """Whether an item tagged ``item_region`` (a regional regulation) is for a person or request
        in ``person_region``: the engine's ranking filter (recommender/rank.py) asks it of every item
        with a region. An item for 内蒙古自治区 (内蒙古, 150000) or 巴彦淖尔市 reaches 临河区; one for
        包头市 does not, nor one for 巴彦淖尔市 a person known only as 内蒙古自治区 (:meth:`region_within`).
        An item without a region reaches everyone; a request without a region sees every item."""
        if not item_region or not person_region:
            return True
        return self.region_within(person_region, item_region)


_NAMED_LAW = re.compile(r"《([^》]+)》((?:[\u4e00-\u9fff]{2,4})编)?")


def short_name(title: str) -> str:
    """A law's name without 中华人民共和国 (《中华人民共和国民法典》 -> 民法典)."""
    t = re.sub(r"\s+", "", title)
    return t[len("中华人民共和国"):] if t.startswith("中华人民共和国") and len(t) > 7 else t


_TRIAL = re.compile(r"[（(]试行[)）]|_试行$")


def normalize_law_title(title: str) -> str:
    """中华人民共和国监察法实施条例 / 《监察法实施条例》 / 监察法实施条例（试行） -> 监察法实施条例."""
    t = re.sub(r"[\s《》]", "", title)
    t = _TRIAL.sub("", t)
    if t.startswith("中华人民共和国") and len(t) > 7:
        t = t[7:]
    return t


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise TaxonomyError(f"{path}: file is missing")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: invalid YAML: {exc}") from exc


def _need(entry: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in entry or entry[key] is None:
        raise TaxonomyError(f"{where}: missing '{key}'")
    if not isinstance(entry[key], kind):
        raise TaxonomyError(f"{where}: '{key}' must be {getattr(kind, '__name__', kind)}")
    return entry[key]


def _str_list(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TaxonomyError(f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _load_topics(path: Path) -> dict[str, Topic]:
    data = _read_yaml(path)
    rows = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise TaxonomyError(f"{path}: expected a mapping with a non-empty list 'topics'")
    topics: dict[str, Topic] = {}
    for n, row in enumerate(rows):
        where = f"{path}: topics[{n}]"
        if not isinstance(row, dict):
            raise TaxonomyError(f"{where}: each topic must be a mapping")
        tid = _need(row, "id", where)
        where = f"{path}: topic '{tid}'"
        if not _ID.match(tid):
            raise TaxonomyError(f"{where}: id must be lower-case ascii (a-z, 0-9, _)")
        if tid in topics:
            raise TaxonomyError(f"{where}: duplicate id")
        keywords = _str_list(row, "keywords", where)
        if not keywords:
            raise TaxonomyError(f"{where}: needs at least one seed keyword")
        topics[tid] = Topic(
            id=tid, name=_need(row, "name", where), en=str(row.get("en") or tid),
            description=str(row.get("description") or ""), parent=row.get("parent"),
            keywords=keywords, key_laws=_str_list(row, "key_laws", where),
            title_patterns=_str_list(row, "title_patterns", where),
            civil_code_books=_str_list(row, "civil_code_books", where),
        )
    for t in topics.values():
        if t.parent is not None and t.parent not in topics:
            raise TaxonomyError(f"{path}: topic '{t.id}': parent '{t.parent}' is not a topic")
    return topics


def _load_groups(path: Path, topics: dict[str, Topic]) -> dict[str, Group]:
    data = _read_yaml(path)
    rows = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise TaxonomyError(f"{path}: expected a mapping with a non-empty list 'groups'")
    groups: dict[str, Group] = {}
    for n, row in enumerate(rows):
        where = f"{path}: groups[{n}]"
        if not isinstance(row, dict):
            raise TaxonomyError(f"{where}: each group must be a mapping")
        gid = _need(row, "id", where)
        where = f"{path}: group '{gid}'"
        if not _ID.match(gid):
            raise TaxonomyError(f"{where}: id must be lower-case ascii (a-z, 0-9, _)")
        if gid in groups:
            raise TaxonomyError(f"{where}: duplicate id")
        weights = _need(row, "topics", where, dict)
        clean: dict[str, float] = {}
        for tid, w in weights.items():
            if tid not in topics:
                raise TaxonomyError(f"{where}: unknown topic '{tid}' in its weights")
            if not isinstance(w, int | float) or not 0 < float(w) <= 1:
                raise TaxonomyError(f"{where}: weight of '{tid}' must be a number in (0, 1]")
            clean[tid] = float(w)
        groups[gid] = Group(gid, _need(row, "name", where), str(row.get("en") or gid),
                            str(row.get("description") or ""), str(row.get("plan_section") or ""),
                            clean, str(row.get("short_name") or ""))
    return groups


_MD = re.compile(r"^(\d{2}-\d{2}|\d{4}-\d{2}-\d{2})$")


def _load_campaigns(path: Path, topics: dict[str, Topic], groups: dict[str, Group]) -> list[Campaign]:
    data = _read_yaml(path)
    rows = data.get("campaigns") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise TaxonomyError(f"{path}: expected a mapping with a list 'campaigns'")
    out: list[Campaign] = []
    seen: set[str] = set()
    for n, row in enumerate(rows):
        where = f"{path}: campaigns[{n}]"
        if not isinstance(row, dict):
            raise TaxonomyError(f"{where}: each campaign must be a mapping")
        cid = _need(row, "id", where)
        where = f"{path}: campaign '{cid}'"
        if cid in seen:
            raise TaxonomyError(f"{where}: duplicate id")
        seen.add(cid)
        start, end = str(_need(row, "start", where, (str, dt.date))), str(_need(row, "end", where, (str, dt.date)))
        for key, value in (("start", start), ("end", end)):
            if not _MD.match(value):
                raise TaxonomyError(f"{where}: '{key}' must be MM-DD (every year) or YYYY-MM-DD")
        ctopics = _str_list(row, "topics", where)
        for tid in ctopics:
            if tid not in topics:
                raise TaxonomyError(f"{where}: unknown topic '{tid}'")
        cgroups = _str_list(row, "groups", where)
        for gid in cgroups:
            if gid not in groups:
                raise TaxonomyError(f"{where}: unknown group '{gid}'")
        boost = row.get("boost", 0.3)
        if not isinstance(boost, int | float) or not 0 <= boost <= 5:
            raise TaxonomyError(f"{where}: 'boost' must be a number in [0, 5]")
        out.append(Campaign(cid, _need(row, "name", where), ctopics, start, end, float(boost),
                            str(row.get("reason") or row["name"]), cgroups, row.get("region"),
                            row.get("note"), _str_list(row, "laws", where)))
    return out


def _load_dictionary(path: Path) -> list[DictWord]:
    if not path.exists():
        raise TaxonomyError(f"{path}: file is missing")
    words: dict[str, DictWord] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) > 3 or (len(parts) >= 2 and not parts[1].isdigit()):
            raise TaxonomyError(f"{path}:{n}: expected 'word freq [tag]', got {line!r}")
        freq = int(parts[1]) if len(parts) >= 2 else 20000
        words[parts[0]] = DictWord(parts[0], freq, parts[2] if len(parts) == 3 else "n")
    return list(words.values())


def _load_lines(path: Path) -> frozenset[str]:
    if not path.exists():
        raise TaxonomyError(f"{path}: file is missing")
    return frozenset(
        ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    )


def _load_colloquial(path: Path, topics: dict[str, Topic]) -> list[ColloquialEntry]:
    if not path.exists():
        return []
    data = _read_yaml(path)
    rows = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise TaxonomyError(f"{path}: expected a mapping with a list 'entries'")
    out = []
    for n, row in enumerate(rows):
        where = f"{path}: entries[{n}]"
        if not isinstance(row, dict):
            raise TaxonomyError(f"{where}: each entry must be a mapping")
        coll, legal, tids = (_str_list(row, k, where) for k in ("colloquial", "legal", "topics"))
        if not coll or not legal:
            raise TaxonomyError(f"{where}: needs 'colloquial' and 'legal' terms")
        for tid in tids:
            if tid not in topics:
                raise TaxonomyError(f"{where}: unknown topic '{tid}'")
        out.append(ColloquialEntry(coll, legal, tids))
    return out


_CODE = re.compile(r"^[1-8]\d{5}$")


def _load_regions(path: Path) -> dict[str, Region]:
    """Regions by official name, short form and code, checked as regions.yaml's header says."""
    if not path.exists():
        return {}
    data = _read_yaml(path)
    if not isinstance(data, list):
        raise TaxonomyError(f"{path.name}: expected a list of regions")
    out: dict[str, Region] = {}
    for n, entry in enumerate(data):
        where = f"{path.name}: entry {n + 1}"
        if not isinstance(entry, dict):
            raise TaxonomyError(f"{where}: expected a mapping with name, code and parent")
        name = _need(entry, "name", where)
        where, up, short = f"{where} ({name})", entry.get("parent"), entry.get("short", _short_region(name))
        code, parent = str(_need(entry, "code", where, (str, int))), out.get(up) if isinstance(up, str) else None
        if up is not None and (parent is None or parent.name != up):
            raise TaxonomyError(f"{where}: parent '{up}' must be the official name of a region listed before it")
        if not isinstance(short, str) or not short or "".join(short.split()) != short:
            raise TaxonomyError(f"{where}: 'short' must be a name without spaces")
        if taken := next((key for key in (name, short) if key in out), None):
            raise TaxonomyError(f"{where}: '{taken}' is already {out[taken].name}'s name or short form "
                                "(qualify the name by its city, or give it a 'short' of its own)")
        if not _CODE.match(code) or code in out:
            owner = f", not {out[code].name}'s" if code in out else ""
            raise TaxonomyError(f"{where}: code '{code}' must be a 6-digit 行政区划代码 (150802) of its own{owner}")
        if parent is None and code[2:] != "0000":
            raise TaxonomyError(f"{where}: code {code} is not a province's (NN0000): name its parent")
        if parent and (code == parent.code or not code.startswith(re.sub(r"(00)+$", "", str(parent.code)))):
            raise TaxonomyError(f"{where}: code {code} does not lie in {parent.name} ({parent.code})")
        out.update(dict.fromkeys((name, short, code), Region(name, short, up, code)))
    return out


def load_taxonomy(directory: str | Path | None = None) -> Taxonomy:
    """Read and validate the taxonomy files (cached per directory)."""
    return _load_cached(str(Path(directory) if directory else DATA_DIR))


@lru_cache(maxsize=8)
def _load_cached(directory: str) -> Taxonomy:
    d = Path(directory)
    topics = _load_topics(d / "topics.yaml")
    groups = _load_groups(d / "groups.yaml", topics)
    campaigns = _load_campaigns(d / "campaigns.yaml", topics, groups)
    return Taxonomy(
        topics=topics, groups=groups, campaigns=campaigns,
        dictionary=_load_dictionary(d / "legal_dict.txt"),
        stopwords=_load_lines(d / "stopwords.txt"),
        colloquial=_load_colloquial(d / "colloquial.yaml", topics),
        regions=_load_regions(d / "regions.yaml"),
        source_dir=d,
    )
