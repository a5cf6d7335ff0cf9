"""Loaders: files of legal content -> :class:`~corpus.schema.Item`.

Formats (see ``../shared/corpus/PROVENANCE.md``):

- law Markdown (``# 中华人民共和国XX法``, history lines, ``<!-- INFO END -->``, ``##`` headings,
  articles starting with ``第X条``), with the source's ``index.sqlite3`` beside it;
- plain-text regulations (no Markdown headings; articles start lines) such as the Inner
  Mongolia regulations and the Party regulations;
- the guiding cases JSON Lines;
- generic JSON Lines and CSV whose columns are item fields.

Every loader returns a :class:`LoadResult`: the items, and for each file that could not be
used its path and the reason. One bad file never stops the others.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from corpus.schema import Item, stable_id

__all__ = [
    "LoadResult",
    "Rejected",
    "cn_to_int",
    "iter_files",
    "load_cases_jsonl",
    "load_items_csv",
    "load_items_jsonl",
    "load_law_markdown",
    "load_paths",
    "load_plain_regulation",
    "parse_articles",
    "resolve_versions",
    "short_law_title",
]

TAXONOMY_DIR = Path(__file__).parent / "taxonomy"

# --------------------------------------------------------------------------- results


@dataclass
class Rejected:
    path: str
    reason: str


@dataclass
class LoadResult:
    items: list[Item] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        self.items.extend(other.items)
        self.rejected.extend(other.rejected)
        self.ignored.extend(other.ignored)
        self.warnings.extend(other.warnings)


# --------------------------------------------------------------------------- numerals

_CN_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_NUM = "零〇○一二三四五六七八九十百千万两"


def cn_to_int(text: str) -> int:
    """Chinese numerals to int: 一千零七十九 -> 1079, 十一 -> 11, 二百零一 -> 201.

    Arabic digits pass through (第12条 -> 12). Raises ValueError on anything else.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty numeral")
    if text.isdigit():
        return int(text)
    total = section = number = 0
    for ch in text:
        if ch in _CN_DIGITS:
            number = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            if number == 0 and ch == "十":
                number = 1  # 十一 = 11
            section += number * _CN_UNITS[ch]
            number = 0
        elif ch == "万":
            total += (section + number) * 10000
            section = number = 0
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + section + number


# --------------------------------------------------------------------------- law names

_PRC = "中华人民共和国"


def short_law_title(title: str) -> str:
    """The short name: no 中华人民共和国 prefix, no Markdown, no version suffix."""
    t = title.strip().lstrip("#").strip()
    t = re.sub(r"\s+", "", t)
    t = re.sub(r"[（(]\d{4}-\d{2}-\d{2}[)）]$", "", t)
    if t.startswith(_PRC) and len(t) > len(_PRC):
        t = t[len(_PRC):]
    return t


_DATE_CN = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_DATE_CN_NUM = re.compile(r"([一二三四五六七八九〇○零]{4})年([一二三四五六七八九十]{1,3})月([一二三四五六七八九十]{1,3})日")
_FILE_DATE = re.compile(r"[（(](\d{4})-(\d{2})-(\d{2})[)）]")


def _dates_in(text: str) -> list[dt.date]:
    out = []
    for y, m, d in _DATE_CN.findall(text):
        try:
            out.append(dt.date(int(y), int(m), int(d)))
        except ValueError:
            continue
    for y, m, d in _DATE_CN_NUM.findall(text):
        try:
            year = int("".join(str(_CN_DIGITS[c]) for c in y))
            out.append(dt.date(year, cn_to_int(m), cn_to_int(d)))
        except (ValueError, KeyError):
            continue
    return out


# --------------------------------------------------------------------------- articles

# Tolerant of the source's typos: 笫 for 第, a stray space before 条 (第一百二十八 条).
_ART_AT = re.compile(
    rf"[第笫]\s?([{CN_NUM}]+|\d+)\s?条(?:之([一二三四五六七八九十]+))?(?=[\s　:：]|$)"
)
_ART_LINE = re.compile(rf"^[第笫弟]\s?([{CN_NUM}]+|\d+)\s?条(?:之([一二三四五六七八九十]+))?")
_HEADING = re.compile(rf"^(第[{CN_NUM}]+(?:分编|编|章|节)|附\s*则|序\s*言|总\s*则)(?:[\s　]|$)")
_ANNEX = re.compile(r"^(附件|附录|附表)")
_WS = " \t\u3000\xa0"


@dataclass
class ParsedArticle:
    no: int
    sub: int  # 0 for 第X条, k for 第X条之k
    label: str
    text: str
    path: list[str]


@dataclass
class ParsedBody:
    articles: list[ParsedArticle]
    preamble: str
    annex: str
    headings: list[str]
    anomalies: list[str]


def _heading_level(name: str) -> int:
    for level, mark in enumerate(("编", "分编", "章", "节")):
        if re.match(rf"^第[{CN_NUM}]+{mark}", name):
            return level
    return 2  # 附则, 总则, 序言: chapter level


def parse_articles(lines: Iterable[str], base_path: list[str] | None = None) -> ParsedBody:
    """Split a law body into articles.

    An article starts where ``第X条`` stands at the start of a line, or after whitespace inside
    a line (some sources run several articles into one line). Inside a line only the expected
    next number counts, so references such as "依照本法第十条 规定" are left in the text.
    At the start of a line a number below the last one is text (amendments quote old
    articles); a jump forward is accepted and reported as an anomaly.
    """
    base = list(base_path or [])
    path: dict[int, str] = {}
    articles: list[ParsedArticle] = []
    preamble: list[str] = []
    annex: list[str] = []
    headings: list[str] = []
    anomalies: list[str] = []
    in_annex = False
    last_no, last_sub = 0, 0

    def current_path() -> list[str]:
        return base + [path[k] for k in sorted(path)]

    for raw in lines:
        line = raw.strip(_WS + "\r")
        if not line:
            if articles and not in_annex:
                articles[-1].text += "\n"
            continue
        md_heading = line.startswith("#")
        plain = line.lstrip("#").strip(_WS)
        if _ANNEX.match(plain) and (md_heading or len(plain) < 40):
            in_annex = True
        if in_annex:
            annex.append(plain)
            continue
        hm = _HEADING.match(plain)
        if md_heading or (hm and len(plain) < 60 and not _ART_AT.match(plain)):
            name = re.sub(r"[\s　]+", " ", plain)
            if hm or md_heading:
                level = _heading_level(name)
                path = {k: v for k, v in path.items() if k < level}
                path[level] = name
                headings.append(name)
                continue
        # Find article starts in this line.
        starts: list[tuple[int, int, int, int]] = []
        pos = 0
        lm = _ART_LINE.match(plain)
        if lm and not _ART_AT.match(plain):
            # "第二条本条例的任务…": no space after the label; accept only the expected number.
            try:
                no, sub = cn_to_int(lm.group(1)), cn_to_int(lm.group(2)) if lm.group(2) else 0
            except ValueError:
                no, sub = -1, 0
            if (sub == 0 and no == last_no + 1) or (sub > 0 and no == last_no):
                starts.append((0, lm.end(), no, sub))
                pos = lm.end()
        while True:
            m = _ART_AT.search(plain, pos)
            if not m:
                break
            at_line_start = m.start() == 0
            after_space = m.start() > 0 and plain[m.start() - 1] in _WS
            if at_line_start or after_space:
                try:
                    no = cn_to_int(m.group(1))
                except ValueError:
                    pos = m.end()
                    continue
                sub = cn_to_int(m.group(2)) if m.group(2) else 0
                prev_no, _prev_sub = (starts[-1][2], starts[-1][3]) if starts else (last_no, last_sub)
                expected = (sub == 0 and no == prev_no + 1) or (sub > 0 and no == prev_no)
                if expected or (at_line_start and sub == 0 and no > prev_no):
                    if not expected and prev_no > 0:
                        anomalies.append(f"article numbers jump from {prev_no} to {no}")
                    starts.append((m.start(), m.end(), no, sub))
            pos = m.end()
        if not starts:
            if articles:
                articles[-1].text += plain + "\n"
            else:
                preamble.append(plain)
            continue
        if starts[0][0] > 0:
            head = plain[: starts[0][0]].strip(_WS)
            if head:
                if articles:
                    articles[-1].text += head + "\n"
                else:
                    preamble.append(head)
        for i, (s, e, no, sub) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(plain)
            label = plain[s:e].replace(" ", "").replace("笫", "第")
            body = plain[e:end].strip(_WS + ":：")
            articles.append(ParsedArticle(no, sub, label, body + "\n", current_path()))
            last_no, last_sub = no, sub
    for a in articles:
        a.text = re.sub(r"\n{2,}", "\n", a.text).strip()
    return ParsedBody(articles, "\n".join(preamble), "\n".join(annex), headings, anomalies)


# --------------------------------------------------------------------------- law Markdown

_INFO_END = "<!-- INFO END -->"


@dataclass
class _LawMeta:
    level: str | None
    expired: bool
    publish: dt.date | None


def _read_law_index(root: Path) -> dict[tuple[str, str], _LawMeta]:
    """(folder, file stem) -> metadata, from the source's ``index.sqlite3``."""
    db = root / "index.sqlite3"
    out: dict[tuple[str, str], _LawMeta] = {}
    if not db.exists():
        return out
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT l.name, l.filename, l.publish, l.expired, l.level, c.folder "
            "FROM law l JOIN category c ON c.id = l.category_id"
        ).fetchall()
    finally:
        con.close()
    for name, filename, publish, expired, level, folder in rows:
        pub = dt.date.fromisoformat(publish) if publish else None
        meta = _LawMeta(level, bool(expired), pub)
        if filename:
            out[(folder, filename)] = meta
        stem = f"{name}({publish})" if publish else name
        out.setdefault((folder, stem), meta)
        out.setdefault((folder, name), meta)
    return out


def _find_law_root(path: Path) -> Path | None:
    for parent in [path.parent, *path.parents]:
        if (parent / "index.sqlite3").exists():
            return parent
    return None


@dataclass
class _LawDoc:
    path: Path
    title: str
    subtitle: str | None
    history: list[str]
    body: list[str]
    version_date: dt.date | None
    level: str | None
    expired: bool


def _read_law_doc(path: Path, index: dict[tuple[str, str], _LawMeta], root: Path | None) -> _LawDoc:
    text = path.read_text(encoding="utf-8")
    if _INFO_END not in text:
        raise ValueError(f"no '{_INFO_END}' marker: not a law Markdown file")
    head, _, body = text.partition(_INFO_END)
    head_lines = [ln.strip() for ln in head.splitlines() if ln.strip()]
    titles = [ln.lstrip("#").strip() for ln in head_lines if ln.startswith("#")]
    if not titles:
        raise ValueError("no '# title' line before the INFO END marker")
    history = [ln for ln in head_lines if not ln.startswith("#")]
    folder = str(path.parent.relative_to(root)) if root else path.parent.name
    meta = index.get((folder, path.stem))
    m = _FILE_DATE.search(path.stem)
    if m:
        version_date: dt.date | None = dt.date(int(m[1]), int(m[2]), int(m[3]))
    elif meta and meta.publish:
        version_date = meta.publish
    else:
        dates = _dates_in("\n".join(history))
        version_date = max(dates) if dates else None
    level = meta.level if meta else None
    if level is None and root is not None:
        level = _LEVEL_BY_FOLDER.get(folder.split("/")[0])
    return _LawDoc(path, titles[0], titles[1] if len(titles) > 1 else None, history,
                   body.splitlines(), version_date, level, bool(meta and meta.expired))


_LEVEL_BY_FOLDER = {"宪法": "宪法", "行政法规": "行政法规", "部门规章": "部门规章"}


def _law_items(
    short: str, docs: list[_LawDoc], *, id_prefix: str = "law", region: str | None = None,
    source: str = "flk.npc.gov.cn", level: str | None = None,
) -> tuple[list[Item], list[str]]:
    """One ``law`` item and its ``law_article`` items from one or more files of one version."""
    first = docs[0]
    version_date = max((d.version_date for d in docs if d.version_date), default=None)
    level = level or first.level
    group = f"{level or ''}:{short}"
    vid = version_date.strftime("%Y%m%d") if version_date else "undated"
    law_id = f"{stable_id(id_prefix, group)}-{vid}"
    anomalies: list[str] = []
    articles: list[Item] = []
    preambles: list[str] = []
    annexes: list[str] = []
    headings: list[str] = []
    seen: set[tuple[int, int]] = set()
    for doc in docs:
        base = [doc.subtitle] if doc.subtitle else []
        parsed = parse_articles(doc.body, base)
        anomalies += [f"{doc.path.name}: {a}" for a in parsed.anomalies]
        if parsed.preamble:
            preambles.append(parsed.preamble)
        if parsed.annex:
            annexes.append(parsed.annex)
        headings += base + parsed.headings
        for art in parsed.articles:
            key = (art.no, art.sub)
            if key in seen:
                anomalies.append(f"{doc.path.name}: duplicate {art.label}")
                continue
            seen.add(key)
            aid = f"{law_id}-a{art.no}" + (f"-{art.sub}" if art.sub else "")
            articles.append(Item(
                id=aid, title=f"{short} {art.label}", body=art.text, type="law_article",
                source=source, law_title=short, article_no=art.no, article_label=art.label,
                path=art.path, version_date=version_date, legal_level=level, parent_id=law_id,
                version_group=group, region=region, source_expired=any(d.expired for d in docs),
                published_at=version_date,
            ))
    articles.sort(key=lambda a: (a.article_no or 0, a.id))
    intro = "\n".join(preambles)
    outline = " / ".join(dict.fromkeys(headings))
    lead = "\n".join(a.body for a in articles[:3])
    body_parts = [p for p in ("\n".join(first.history), intro, outline, lead) if p]
    body = "\n".join(body_parts)
    if annexes:
        body += "\n" + "\n".join(annexes)[:20000]
    law = Item(
        id=law_id, title=first.title,
        body=body[:60000], type="law", source=source, law_title=short,
        version_date=version_date, published_at=version_date, legal_level=level,
        version_group=group, region=region, source_expired=any(d.expired for d in docs),
    )
    return [law, *articles], anomalies


def _one_file_per_text(docs: list[_LawDoc], warnings: list[str]) -> list[_LawDoc]:
    """One law version per text: the source holds some files twice (职业病防治法 under both
    经济法/ and 社会法/; an interpretation under two spellings of its title, or with its
    publication and its effective date). Files with the same body are one version; the one
    the source's index describes (and then the newest date) is kept."""
    by_body: dict[str, list[_LawDoc]] = {}
    out: list[_LawDoc] = []
    for doc in docs:
        body = re.sub(r"\s+", "", "".join(doc.body))
        if len(body) < 20 or doc.subtitle:
            out.append(doc)
            continue
        by_body.setdefault(hashlib.sha1(body.encode("utf-8")).hexdigest(), []).append(doc)
    for same in by_body.values():
        same.sort(key=lambda d: (d.level is not None, d.version_date or dt.date.min, len(d.title)), reverse=True)
        kept: list[_LawDoc] = []
        for doc in same:
            twin = next((k for k in kept if _same_version(k, doc)), None)
            if twin is None:
                kept.append(doc)
            else:
                warnings.append(f"{doc.path}: same text as {twin.path}; imported once")
        out.extend(kept)
    return out


def _same_version(a: _LawDoc, b: _LawDoc) -> bool:
    """Two files of one text are one version when their dates are at most two months apart
    (a publication and an effective date) or one is undated; years apart they are two
    versions whose text did not change."""
    if a.version_date is None or b.version_date is None:
        return True
    return abs((a.version_date - b.version_date).days) <= 62


def load_law_markdown(paths: Iterable[Path]) -> LoadResult:
    """Law Markdown files -> items. Books of one law (民法典) are merged into one law."""
    result = LoadResult()
    indexes: dict[Path, dict[tuple[str, str], _LawMeta]] = {}
    groups: dict[tuple[str, dt.date | None, str], list[_LawDoc]] = {}
    docs_read: list[_LawDoc] = []
    for path in paths:
        root = _find_law_root(path)
        if root is not None and root not in indexes:
            try:
                indexes[root] = _read_law_index(root)
            except sqlite3.Error as exc:
                result.warnings.append(f"{root / 'index.sqlite3'}: unreadable ({exc}); no metadata")
                indexes[root] = {}
        try:
            doc = _read_law_doc(path, indexes.get(root, {}) if root else {}, root)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            result.rejected.append(Rejected(str(path), str(exc)))
            continue
        docs_read.append(doc)
    for doc in _one_file_per_text(docs_read, result.warnings):
        short = short_law_title(doc.title)
        # A book of a code (民法典 婚姻家庭编) belongs to the code: same title, one version.
        key_date = doc.version_date if not doc.subtitle else None
        groups.setdefault((short, key_date, str(doc.path.parent)), []).append(doc)
    for (short, _, _), docs in groups.items():
        try:
            items, anomalies = _law_items(short, docs)
        except ValidationError as exc:
            result.rejected.append(Rejected(str(docs[0].path), _short_validation(exc)))
            continue
        if not any(i.type == "law_article" for i in items):
            result.warnings.append(f"{docs[0].path}: no 第X条 articles; imported as one document")
        result.warnings += [f"{short}: {a}" for a in anomalies]
        result.items.extend(items)
    return result


# --------------------------------------------------------------------------- plain text

_COMPILATION = re.compile(r"(清单|汇总|概述|体系|解答)")


def _known_versions() -> dict[str, dict[str, Any]]:
    path = TAXONOMY_DIR / "known_versions.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {e["law_title"]: e for e in data.get("outdated", [])}


def _plain_title(path: Path, first_line: str) -> str:
    t = first_line.lstrip("#").strip(_WS)
    t = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", t)  # [text](link) -> text
    t = t.replace("*", "").replace("《", "").replace("》", "")
    t = re.sub(r"[（(]全文[）)]", "", t)
    t = re.sub(r"[\s_]*\d{4}\s*$", "", t)  # 中国共产党纪律处分条例 2023
    t = re.sub(r"\s+", "", t)
    return t or path.stem


def load_plain_regulation(path: Path, *, corpus_kind: str | None = None) -> LoadResult:
    """A plain-text regulation: title on line 1, articles start lines (``第X条``).

    ``corpus_kind`` is ``"inner_mongolia"``, ``"party"``, ``"supervision"`` or None (guessed
    from the folder names). Explanatory compilations (清单, 汇总, 概述 ...) become
    ``explainer`` items, not law. Documents without articles become one document item.
    """
    result = LoadResult()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.rejected.append(Rejected(str(path), f"cannot read as UTF-8 text: {exc}"))
        return result
    lines = [ln for ln in text.splitlines()]
    nonempty = [ln for ln in lines if ln.strip(_WS)]
    if not nonempty:
        result.rejected.append(Rejected(str(path), "empty file"))
        return result
    kind = corpus_kind or _guess_kind(path)
    title = _plain_title(path, nonempty[0])
    short = short_law_title(title)
    head_lines = []
    for ln in nonempty[1:6]:
        plain = ln.strip(_WS)
        if _ART_LINE.match(plain) or _HEADING.match(plain) or plain.startswith("目"):
            break
        head_lines.append(plain)
    head = "\n".join(head_lines)
    intro_dates = _dates_in(head[:400])
    m = re.search(r"(\d{4})\s*$", nonempty[0].strip(_WS + "#")) or re.search(r"(\d{4})$", path.stem)
    if intro_dates:
        version_date: dt.date | None = max(intro_dates)
    elif m:
        version_date = dt.date(int(m.group(1)), 1, 1)
    else:
        version_date = None
    level = {"inner_mongolia": "地方性法规", "party": "党内法规", "supervision": "监察法规"}.get(kind or "")
    region = None
    if kind == "inner_mongolia":
        region = "包头" if short.startswith("包头") else "内蒙古"
    elif short.startswith("中共山东省委"):
        region = "山东"
    source = {"inner_mongolia": "flk.npc.gov.cn", "party": "party-regulations",
              "supervision": "party-regulations"}.get(kind or "", "import")
    body_lines = lines[lines.index(next(ln for ln in lines if ln.strip(_WS))) + 1:]
    known = _known_versions().get(short)
    if _COMPILATION.search(path.stem) and kind in ("party", "supervision"):
        body = "\n".join(ln.strip(_WS) for ln in body_lines if ln.strip(_WS))
        try:
            result.items.append(Item(
                id=stable_id("doc", path.name), title=title, body=body, type="explainer",
                source=source, legal_level=None, region=region, law_title=None,
                published_at=version_date, topics=[],
            ))
        except ValidationError as exc:
            result.rejected.append(Rejected(str(path), _short_validation(exc)))
        return result
    doc = _LawDoc(path, title, None, [], body_lines, version_date, level, False)
    prefix = {"inner_mongolia": "reg", "party": "party", "supervision": "sup"}.get(kind or "", "doc")
    try:
        items, anomalies = _law_items(short, [doc], id_prefix=prefix, region=region,
                                      source=source, level=level)
    except ValidationError as exc:
        result.rejected.append(Rejected(str(path), _short_validation(exc)))
        return result
    if len(items) == 1:
        # No articles: the whole text is the document.
        body = "\n".join(ln.strip(_WS) for ln in body_lines if ln.strip(_WS))
        items = [items[0].model_copy(update={"body": body})]
    if known:
        newer = dt.date.fromisoformat(str(known["newer"]))
        if version_date is None or version_date < newer:
            items = [i.model_copy(update={"known_newer_version": newer,
                                          "version_note": known.get("note")}) for i in items]
    result.warnings += [f"{path.name}: {a}" for a in anomalies]
    result.items.extend(items)
    return result


def _guess_kind(path: Path) -> str | None:
    parts = set(path.parts)
    if "inner_mongolia" in parts or path.name.startswith(("内蒙古", "包头")):
        return "inner_mongolia"
    if "监察相关_国家规定" in parts:
        return "supervision"
    if "party_regulations" in parts or "党内法律法规" in parts or "八项规定" in parts:
        return "party"
    return None


# --------------------------------------------------------------------------- cases

_CASE_SOURCES = {"spp_guiding": "最高人民检察院指导性案例", "nsc_ccdi_joint": "国家监委、中央纪委联合发布典型案例",
                 "ccdi_guiding": "中央纪委国家监委指导性案例"}


def load_cases_jsonl(path: Path) -> LoadResult:
    """The guiding cases: ``{source, title, number, keywords, text}`` -> ``case`` items."""
    result = LoadResult()
    for lineno, row, error in _iter_json_lines(path):
        where = f"{path}:{lineno}"
        if error:
            result.rejected.append(Rejected(where, error))
            continue
        try:
            title = re.sub(r"\s+", " ", str(row["title"])).strip()
            number = row.get("number")
            src = str(row.get("source") or "case")
            cid = f"case-{src.replace('_', '-')}-{number}" if number else stable_id(f"case-{src}", title)
            body = str(row.get("text") or "")
            body = re.sub(r"^#+\s*", "", body, flags=re.M)
            result.items.append(Item(
                id=cid, title=title, body=body, type="case",
                source=_CASE_SOURCES.get(src, src), keywords=list(row.get("keywords") or []),
                url=row.get("url"),
            ))
        except (KeyError, TypeError) as exc:
            result.rejected.append(Rejected(where, f"missing field {exc}"))
        except ValidationError as exc:
            result.rejected.append(Rejected(where, _short_validation(exc)))
    return result


# --------------------------------------------------------------------------- generic items


def _iter_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any], str | None]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        yield 0, {}, f"cannot open: {exc}"
        return
    with handle:
        try:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield lineno, {}, f"invalid JSON: {exc.msg} (column {exc.colno})"
                    continue
                if not isinstance(row, dict):
                    yield lineno, {}, "each line must be a JSON object"
                    continue
                yield lineno, row, None
        except UnicodeDecodeError as exc:
            yield 0, {}, f"not UTF-8: {exc}"


def _short_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "item"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def item_from_dict(row: dict[str, Any], *, default_source: str | None = None) -> Item:
    """Validate one generic item row (API fields). Raises ValidationError."""
    data = dict(row)
    if default_source and not data.get("source"):
        data["source"] = default_source
    if not data.get("id"):
        basis = f"{data.get('title', '')}\x1f{data.get('body', '')}"
        data["id"] = stable_id("item", basis)
    return Item.model_validate(data)


def load_items_jsonl(path: Path, *, default_source: str | None = None) -> LoadResult:
    """JSON Lines of items with the API's fields; a bad row is rejected with its line."""
    result = LoadResult()
    for lineno, row, error in _iter_json_lines(path):
        where = f"{path}:{lineno}"
        if error:
            result.rejected.append(Rejected(where, error))
            continue
        try:
            result.items.append(item_from_dict(row, default_source=default_source))
        except ValidationError as exc:
            result.rejected.append(Rejected(where, _short_validation(exc)))
    return result


_LIST_FIELDS = ("groups", "topics", "must_know_for", "keywords", "path")


def load_items_csv(path: Path) -> LoadResult:
    """CSV with a header of item fields; list fields are JSON arrays or ``|``/``;`` separated."""
    result = LoadResult()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        result.rejected.append(Rejected(str(path), f"cannot read as UTF-8 text: {exc}"))
        return result
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "title" not in reader.fieldnames or "type" not in reader.fieldnames:
        result.rejected.append(Rejected(str(path), "CSV header must name at least 'title' and 'type'"))
        return result
    for lineno, row in enumerate(reader, 2):
        data: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
        if None in row:
            result.rejected.append(Rejected(f"{path}:{lineno}", "more cells than header columns"))
            continue
        for key in _LIST_FIELDS:
            if key in data:
                raw = str(data[key]).strip()
                if raw.startswith("["):
                    try:
                        data[key] = json.loads(raw)
                    except json.JSONDecodeError:
                        result.rejected.append(Rejected(f"{path}:{lineno}", f"{key}: invalid JSON list"))
                        break
                else:
                    data[key] = [v.strip() for v in re.split(r"[|;；]", raw) if v.strip()]
        else:
            try:
                result.items.append(item_from_dict(data))
            except ValidationError as exc:
                result.rejected.append(Rejected(f"{path}:{lineno}", _short_validation(exc)))
    return result


# --------------------------------------------------------------------------- dispatch

_SKIP_NAMES = {"_index.md", "README.md", "PROVENANCE.md", "index.sqlite3", ".DS_Store"}


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for p in paths:
        path = Path(p)
        if path.is_dir():
            yield from sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
        else:
            yield path


def _sniff_jsonl(path: Path) -> str:
    for _, row, error in _iter_json_lines(path):
        if error:
            continue
        if "text" in row and "keywords" in row and "type" not in row:
            return "cases"
        return "items"
    return "items"


def load_paths(
    paths: Iterable[str | Path], *, progress: Callable[[str], None] | None = None
) -> LoadResult:
    """Load every file under the given paths with the loader its format asks for."""
    result = LoadResult()
    law_md: list[Path] = []
    for path in iter_files(paths):
        if progress:
            progress(str(path))
        if not path.exists():
            result.rejected.append(Rejected(str(path), "no such file or directory"))
            continue
        if path.name in _SKIP_NAMES:
            result.ignored.append(str(path))
            continue
        suffix = path.suffix.lower()
        if suffix in (".md", ".txt"):
            try:
                with path.open(encoding="utf-8") as fh:
                    head = fh.read(4096)
            except (OSError, UnicodeDecodeError) as exc:
                result.rejected.append(Rejected(str(path), f"cannot read as UTF-8 text: {exc}"))
                continue
            if _INFO_END in head or (_find_law_root(path) and head.startswith("# ")):
                law_md.append(path)
            elif _guess_kind(path) or _ART_AT.search(head):
                result.extend(load_plain_regulation(path))
            else:
                result.rejected.append(Rejected(
                    str(path), "not a law Markdown file (no INFO END marker) and no 第X条 articles"))
        elif suffix == ".jsonl":
            if _sniff_jsonl(path) == "cases":
                result.extend(load_cases_jsonl(path))
            else:
                result.extend(load_items_jsonl(path))
        elif suffix == ".json":
            result.extend(_load_items_json(path))
        elif suffix == ".csv":
            result.extend(load_items_csv(path))
        else:
            result.rejected.append(Rejected(str(path), f"unsupported file type '{suffix or path.name}'"))
    if law_md:
        result.extend(load_law_markdown(law_md))
    return result


def _load_items_json(path: Path) -> LoadResult:
    result = LoadResult()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        result.rejected.append(Rejected(str(path), f"invalid JSON: {exc}"))
        return result
    rows = data if isinstance(data, list) else data.get("items") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        result.rejected.append(Rejected(str(path), "expected a JSON array of items or {\"items\": [...]}"))
        return result
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            result.rejected.append(Rejected(f"{path}[{i}]", "each item must be a JSON object"))
            continue
        try:
            result.items.append(item_from_dict(row))
        except ValidationError as exc:
            result.rejected.append(Rejected(f"{path}[{i}]", _short_validation(exc)))
    return result


# --------------------------------------------------------------------------- versions


def resolve_versions(items: list[Item]) -> list[Item]:
    """Statuses of the versions of each law (items sharing ``version_group``).

    The newest version is ``current`` (``repealed`` if the source marks it expired, and
    ``superseded`` if a newer version outside the corpus is known); every older one is
    ``superseded`` with ``superseded_by`` pointing at the next newer version, which
    ``supersedes`` it. Articles take their law's status. Returns the changed items only.
    """
    laws: dict[str, list[Item]] = {}
    for it in items:
        if it.type == "law" and it.version_group:
            laws.setdefault(it.version_group, []).append(it)
    new_state: dict[str, dict[str, Any]] = {}
    for versions in laws.values():
        versions = sorted(versions, key=lambda i: (i.version_date or dt.date.min, i.id))
        for i, law in enumerate(versions):
            newer = versions[i + 1] if i + 1 < len(versions) else None
            older = versions[i - 1] if i > 0 else None
            if newer is not None:
                status = "superseded"
            elif law.source_expired:
                status = "repealed"
            elif law.known_newer_version and (law.version_date is None
                                              or law.version_date < law.known_newer_version):
                status = "superseded"
            else:
                status = "current"
            new_state[law.id] = {
                "status": status,
                "superseded_by": newer.id if newer else None,
                "supersedes": older.id if older else None,
            }
    changed: list[Item] = []
    for it in items:
        if it.id in new_state:
            upd = new_state[it.id]
        elif it.type == "law_article" and it.parent_id in new_state:
            upd = {"status": new_state[it.parent_id]["status"]}
        else:
            continue
        if any(getattr(it, k) != v for k, v in upd.items()):
            changed.append(it.model_copy(update=upd))
    return changed
