"""内容 · 批量上传: a CSV or JSON Lines file of items, with a report row by row.

``GET /console/items/upload`` shows the file input and what a file looks like;
``POST /console/items/upload`` (multipart, the CSRF token checked as for every form) reads the
file with the project's own loaders (:func:`corpus.loaders.load_items_csv`,
:func:`corpus.loaders.load_items_jsonl`), then checks each row as ``POST /v1/items:bulk``
does: the API's item fields (:class:`api.schemas.ItemIn`), the service's checks
(:meth:`recommender.service.content.Content.validate`: taxonomy ids, region, url), one row per
id, a ``supersedes`` that names an item. The rule is the API's: a bad row is refused with its
reason and the good rows are stored, together, in one transaction (an item is never half
stored); with "全部无误才导入" ticked, one bad row stores nothing. Re-uploading a corrected
file is safe: unchanged rows are reported as unchanged and nothing is written for them.

Topic and group names may be written in Chinese (劳动保障); they become the taxonomy's ids.
:func:`zh_problem` turns a field and an English problem into the Chinese the pages show (the
item form uses it too).
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from corpus.loaders import LoadResult, load_items_csv, load_items_jsonl
from corpus.schema import Item, first_problem
from corpus.taxonomy import Taxonomy
from recommender.service import ServiceError
from recommender.service.content import Content

from ..deps import ServiceDep
from ..schemas import ItemIn
from .auth import ConsoleRefusal, EditorUser, check_csrf
from .pages import TYPE_NAMES, render

__all__ = ["FIELD_NAMES", "ReportRow", "chinese_ids", "router", "zh_problem"]

router = APIRouter(include_in_schema=False)

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 20_000

FIELD_NAMES = {
    "id": "编号", "title": "标题", "body": "正文", "type": "类型", "source": "来源", "url": "网址",
    "published_at": "发布日期", "region": "地区", "topics": "主题", "groups": "适用人群",
    "must_know_for": "应知应会人群", "supersedes": "取代的内容", "status": "效力", "law_title": "法律名称",
    "article_no": "条号", "language": "语言", "audience": "受众", "keywords": "关键词", "file": "文件",
    "row": "这一行", "item": "这一行", "superseded_by": "取代它的内容", "article_label": "条文序号",
    "path": "章节", "version_date": "版本日期", "legal_level": "效力级别", "parent_id": "所属法律",
    "version_group": "版本组", "version_note": "版本说明", "source_expired": "来源过期",
    "known_newer_version": "已知新版本日期", "retired": "下架", "boilerplate": "程式性条文（不推送）",
}

# (pattern of the English problem, the Chinese; {0}, {1} are the pattern's groups)
_PROBLEMS: tuple[tuple[str, str], ...] = (
    (r"String should have at least 1 character", "不能为空，请填写"),
    (r"Field required|missing field", "必须填写"),
    (r"String should have at most (\d+) characters?", "太长了：最多 {0} 个字"),
    (r"List should have at most (\d+) items?", "太多了：最多 {0} 项"),
    (r"String should match pattern", "只能用英文字母、数字和 - _ . : 组成，最长 128 个字符"),
    (r"Input should be a valid date|Input should be a valid datetime|invalid date", "不是日期，应写成 2024-05-01 这样的格式"),
    (r"Input should be a valid integer|Input should be an instance of int", "应为整数"),
    (r"Input should be (?:greater|less) than or equal to (\d+)", "超出范围（界限 {0}）"),
    (r"Input should be a valid boolean", "应为 true 或 false"),
    (r"Input should be a valid list|invalid JSON list", "应为列表（用 | 分隔，或写成 JSON 数组）"),
    (r"Input should be a valid string", "应为文字"),
    (r"Input should be '", "不是可选的值"),
    (r"Extra inputs are not permitted", "不是可以上传的字段（请检查表头的拼写）"),
    (r"unknown id\(s\) (.+)", "不认识：{0}（请用系统中的主题或人群名称）"),
    (r"url must be a web address", "应为以 http:// 或 https:// 开头的网址"),
    (r"'(.+)' is not a region Pufa knows", "“{0}”不是系统知道的地区（请写省、盟市或旗县区的名称）"),
    (r"supersedes names no item: '(.+)'", "指向的内容“{0}”不存在"),
    (r"cannot supersede itself", "不能取代它自己"),
    (r"id cannot be changed", "编号不能修改"),
    (r"invalid JSON", "不是有效的 JSON（这一行的格式有误）"),
    (r"each (?:line|item) must be a JSON object", "每一行必须是一个 JSON 对象 {...}"),
    (r"more cells than header columns", "格子比表头多（可能多了逗号，含逗号的内容请加英文双引号）"),
    (r"header must name", "表头至少要有 title（标题）和 type（类型）两列"),
    (r"cannot read as UTF-8|not UTF-8|not valid UTF-8", "不是 UTF-8 编码的文本（在 Excel 中请另存为“CSV UTF-8”）"),
)


def zh_problem(field: str | None, message: str) -> tuple[str, str]:
    """(the field's Chinese name, the problem in Chinese) for a validation problem."""
    field = (field or "").split(".")[0]
    text = message.removeprefix(f"{field}: ") if field else message
    for pattern, chinese in _PROBLEMS:
        found = re.search(pattern, text)
        if found:
            reason = chinese.format(*found.groups())
            break
    else:
        reason = f"内容有误（{text}）"
    if field == "type" and reason == "不是可选的值":
        reason = "不是可选的类型：" + "、".join(f"{v}（{k}）" for k, v in TYPE_NAMES.items())
    return FIELD_NAMES.get(field, field or "这一行"), reason


def chinese_ids(data: dict[str, object], taxonomy: Taxonomy) -> dict[str, object]:
    """``data`` with topic and group names (劳动保障, 农牧民) turned into the taxonomy's ids."""
    topics = {t.name: t.id for t in taxonomy.topics.values()}
    groups = {g.name: g.id for g in taxonomy.groups.values()} | {g.short_name: g.id for g in taxonomy.groups.values() if g.short_name}
    out = dict(data)
    for key, names in (("topics", topics), ("groups", groups), ("must_know_for", groups)):
        values = out.get(key)
        if isinstance(values, list):
            out[key] = [names.get(v, v) if isinstance(v, str) else v for v in values]
    return out


def _text(value: object) -> str:
    return value[:200] if isinstance(value, str) else ""


@dataclass
class ReportRow:
    """One row of the file: what became of it."""

    row: int  # the line of the file (CSV: the spreadsheet row, the header being row 1)
    item_id: str | None = None
    title: str = ""
    outcome: str = "refused"  # added, updated, unchanged, refused, held (good, but nothing was stored)
    field: str = ""
    reason: str = ""


Parsed = list[tuple[int, Item | None, str, dict[str, Any]]]  # (row, item or None, problem, the raw row)


def _raw_rows(text: str, is_json: bool) -> dict[int, dict[str, Any]]:
    """Each row as written (to name the id and title of a row the loader refused)."""
    out: dict[int, dict[str, Any]] = {}
    if is_json:
        for n, line in enumerate(io.StringIO(text), 1):
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                out[n] = row
    else:
        try:
            out.update(enumerate(csv.DictReader(io.StringIO(text)), 2))
        except csv.Error:
            pass
    return out


def _rows_of(result: LoadResult, numbers: list[int]) -> list[tuple[int, Item | None, str]]:
    """The loader's outcomes by row: rejected rows name theirs (``path:row``), the items fill
    the other rows of ``numbers`` in order (the loaders keep the file's order)."""
    bad: dict[int, str] = {}
    for rej in result.rejected:
        where = rej.path.rsplit(":", 1)
        bad[int(where[1]) if len(where) == 2 and where[1].isdigit() else 0] = rej.reason
    if 0 in bad or len(numbers) != len(result.items) + len(bad):  # a problem with the whole file
        return [(0, None, bad.get(0) or next(iter(bad.values()), "cannot read the file"))]
    items = iter(result.items)
    return [(n, None, bad[n]) if n in bad else (n, next(items), "") for n in numbers]


def _load(raw: bytes, name: str) -> Parsed:
    """Parse an uploaded file with the project's loaders: (row, item or None, problem, raw row)."""
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    is_json = name.lower().endswith((".jsonl", ".json", ".ndjson")) or head in (b"{", b"[")
    if head == b"[":
        return [(0, None, "请上传 JSON Lines（每行一个 JSON 对象），而不是一个 JSON 数组", {})]
    with tempfile.TemporaryDirectory(prefix="pufa-upload-") as tmp:
        path = Path(tmp) / ("upload.jsonl" if is_json else "upload.csv")
        path.write_bytes(raw)
        if is_json:
            result = load_items_jsonl(path)
            try:  # the loader's rows: the lines that are not blank (iterated as it does)
                with path.open(encoding="utf-8") as fh:
                    numbers = [n for n, line in enumerate(fh, 1) if line.strip()]
            except UnicodeDecodeError:
                numbers = []
        else:
            result = load_items_csv(path)
            numbers = list(range(2, 2 + len(result.items) + len(result.rejected)))
    try:
        raw_rows = _raw_rows(raw.decode("utf-8-sig"), is_json)
    except UnicodeDecodeError:
        raw_rows = {}
    return [(n, item, problem, raw_rows.get(n, {})) for n, item, problem in _rows_of(result, numbers)]


def check_rows(content: Content, taxonomy: Taxonomy, parsed: Parsed) -> tuple[list[ReportRow], list[Item]]:
    """Each row checked as ``POST /v1/items:bulk`` checks it: the report and the good items."""
    report: list[ReportRow] = []
    good: list[tuple[ReportRow, Item]] = []
    first_row: dict[str, int] = {}
    for n, loaded, problem, raw in parsed:
        row = ReportRow(row=n, item_id=loaded.id if loaded else _text(raw.get("id")) or None,
                        title=loaded.title if loaded else _text(raw.get("title")))
        report.append(row)
        if loaded is None:
            field = problem.split(":")[0] if re.match(r"^[a-z_]+(\.\d+)?: ", problem) else ""
            row.field, row.reason = zh_problem(field, problem)
            continue
        try:
            data = chinese_ids(loaded.model_dump(mode="json", exclude_unset=True), taxonomy)
            parsed_in = ItemIn.model_validate(data)
            item = content.validate(parsed_in.model_dump(mode="json", exclude_none=True, exclude_unset=True))
        except ServiceError as exc:
            row.field, row.reason = zh_problem(exc.field, exc.message)
            continue
        except ValidationError as exc:
            row.field, row.reason = zh_problem(*first_problem(exc))
            continue
        if item.id in first_row:
            row.field, row.reason = "编号", f"与第 {first_row[item.id]} 行的编号相同：每条内容只能出现一次"
            continue
        first_row[item.id] = n
        good.append((row, item))
    orphans = content.orphans([it for _, it in good])
    for row, it in good:
        if it.id in orphans:
            row.field, row.reason = zh_problem("supersedes", orphans[it.id])
    kept = [(row, it) for row, it in good if it.id not in orphans]
    stored = content.store.items.get_many([it.id for _, it in kept])
    for row, it in kept:
        before = stored.get(it.id)
        row.outcome = "added" if before is None else \
            "unchanged" if before.content_hash() == it.content_hash() else "updated"
    return report, [it for _, it in kept]


def _upload_page(request: Request, user: EditorUser, *, status: int = 200, **context: object) -> Response:
    return render(request, user, "items_upload.html", "items", status=status, title="批量上传内容",
                  type_names=TYPE_NAMES, **context)


@router.get("/console/items/upload", response_class=HTMLResponse)
def upload_form(request: Request, user: EditorUser) -> Response:
    return _upload_page(request, user)


@router.post("/console/items/upload", response_class=HTMLResponse)
async def upload(request: Request, svc: ServiceDep, user: EditorUser) -> Response:
    """Read the file, check every row, store the good ones (or none), show the report."""
    if int(request.headers.get("content-length") or 0) > MAX_BYTES + 65_536:
        raise ConsoleRefusal(413, "文件太大", "一次最多上传 20 MB。请把文件拆成几份分别上传。", user=user)
    try:
        form = await request.form(max_files=1, max_fields=20)
    except Exception as exc:  # not multipart, a broken body: Starlette says which
        raise ConsoleRefusal(400, "表单无法读取", "上传的表单无法读取，操作没有执行。请刷新页面后重试。", user=user) from exc
    token = form.get("csrf")
    check_csrf(request, user, token if isinstance(token, str) else "")
    file = form.get("file")
    all_or_nothing = form.get("all_or_nothing") == "1"
    if not isinstance(file, UploadFile) or not file.filename:
        return _upload_page(request, user, status=422, error="请先选择要上传的文件（CSV 或 JSON Lines）。")
    raw = await file.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        return _upload_page(request, user, status=413, error="文件太大：一次最多上传 20 MB，请拆成几份。")
    parsed = _load(raw, file.filename)
    if len(parsed) > MAX_ROWS:
        return _upload_page(request, user, status=413, error=f"行数太多：一次最多 {MAX_ROWS} 行，请拆成几份。")
    report, good = check_rows(svc.content, svc.taxonomy, parsed)
    refused = [r for r in report if r.outcome == "refused"]
    stored = bool(good) and not (refused and all_or_nothing)
    if stored:
        svc.content.add(good, editor=user.editor_label)
    else:
        for r in report:
            r.outcome = "held" if r.outcome != "refused" else r.outcome
    counts = {k: sum(r.outcome == k for r in report) for k in ("added", "updated", "unchanged", "refused", "held")}
    return _upload_page(request, user, report=report, counts=counts,
                        filename=file.filename, stored=stored, all_or_nothing=all_or_nothing)
