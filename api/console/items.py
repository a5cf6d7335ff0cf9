"""内容: find, read, add, edit and retire items (bulk upload: :mod:`api.console.items_upload`).

``GET /console/items`` searches by words (title and body), law title and article number
(30 or 第三十条), with type and status filters and pages
(:meth:`recommender.store.items.ItemStore.search`). ``GET /console/items/{id}`` shows the full
text, the status in words, what supersedes it, its tags and where each came from, and its
versions. An explainer, Q&A, case or news item is added at ``/console/items/new`` and edited
at ``/console/items/{id}/edit`` through the service (``Content.validate``, ``add``, ``patch``:
indexed and classified at once); a refused field is shown next to it in Chinese.
``POST /console/items/{id}/retire`` (下架, after a confirmation on the page) keeps the item but
stops recommending it; ``.../restore`` brings it back. Editors and admins only.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from corpus.loaders import cn_to_int, short_law_title
from corpus.schema import Item
from recommender.service import ServiceError

from ..deps import ServiceDep
from . import items_upload
from .auth import ROLE_NAMES, ConsoleRefusal, ConsoleUser, EditForm, EditorUser, Form
from .items_upload import FIELD_NAMES, chinese_ids, zh_problem
from .pages import STATUS_NAMES, TYPE_NAMES, page_url, render

__all__ = ["EDITABLE_TYPES", "router"]

router = APIRouter(include_in_schema=False)
router.include_router(items_upload.router)  # before /console/items/{item_id}: "upload" is not an id

EDITABLE_TYPES = ("explainer", "qa", "case", "news")  # what the form adds and edits; laws come by import
PER_PAGE = (20, 50, 100)
STATUS_CHOICES = {**STATUS_NAMES, "retired": "已下架"}
_FORM_FIELDS = ("title", "body", "type", "source", "url", "published_at", "region", "law_title")
_LIST_FIELDS = ("topics", "groups", "must_know_for")
_DONE = {"added": "已添加", "edited": "已保存修改", "retired": "已下架", "restored": "已重新上架"}


def _article(value: str) -> int | None:
    """30, 第三十条 or 三十 as an article number; ValueError when it is none of these."""
    text = value.strip().removeprefix("第").removesuffix("条").strip()
    return cn_to_int(text) if text else None


@router.get("/console/items", response_class=HTMLResponse)
def search_page(
    request: Request, svc: ServiceDep, user: EditorUser,
    q: Annotated[str, Query(max_length=200)] = "", law: Annotated[str, Query(max_length=200)] = "",
    article: Annotated[str, Query(max_length=32)] = "", type: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=16)] = "", page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: int = 20, done: Annotated[str, Query(max_length=16)] = "",
    item: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    """The search form and a page of what it finds (everything, newest change first, without a search)."""
    problems: list[str] = []
    try:
        article_no = _article(article)
    except ValueError:
        article_no = None
        problems.append(f"条号“{article}”看不懂：请写 30 或 第三十条 这样的条号。")
    per_page = per_page if per_page in PER_PAGE else PER_PAGE[0]
    words = q.split()[:8]
    law_title = short_law_title(law.strip()) if law.strip() else None
    try:
        found, total = svc.store.items.search(
            words, law_title=law_title, article_no=article_no, types=[type] if type in TYPE_NAMES else None,
            statuses=[status] if status in STATUS_NAMES else None,
            retired=True if status == "retired" else (False if status in STATUS_NAMES else None),
            limit=per_page, offset=(page - 1) * per_page)
    except ServiceError as exc:
        return render(request, user, "message.html", "items", status=exc.status, title="内容暂时无法显示",
                      message="内容暂时无法显示：服务暂时不可用，请稍后重试。")
    pages = max(1, math.ceil(total / per_page))
    params = {"q": q, "law": law, "article": article, "type": type, "status": status,
              "per_page": per_page if per_page != PER_PAGE[0] else ""}
    message = ""
    if done in _DONE and item:
        stored = svc.store.items.get(item)
        message = f"{_DONE[done]}：{stored.title if stored else item}"
    return render(
        request, user, "items.html", "items", title="内容", found=found, total=total, page=page, pages=pages,
        params=params, per_page=per_page, per_page_choices=PER_PAGE, problems=problems, message=message,
        type_names=TYPE_NAMES, status_choices=STATUS_CHOICES, editable=EDITABLE_TYPES,
        searched=bool(words or law_title or article_no is not None), words=words,
        prev_url=page_url("/console/items", {**params, "page": page - 1}) if page > 1 else "",
        next_url=page_url("/console/items", {**params, "page": page + 1}) if page < pages else "",
    )


# ------------------------------------------------------------------ the form


def _blank(item_type: str) -> dict[str, Any]:
    return {"type": item_type if item_type in EDITABLE_TYPES else "qa", "title": "", "body": "", "source": "",
            "url": "", "published_at": "", "region": "", "law_title": "", "topics": [], "groups": [],
            "must_know_for": []}


def _values(item: Item) -> dict[str, Any]:
    """An item's fields as the form shows them."""
    data = item.model_dump(mode="json")
    return {k: (data.get(k) or ([] if k in _LIST_FIELDS else "")) for k in (*_FORM_FIELDS, *_LIST_FIELDS)}


def _submitted(form: Form) -> dict[str, Any]:
    """The form's fields as typed (to show again), lists as ticked."""
    values: dict[str, Any] = {k: form.get(k) for k in _FORM_FIELDS}
    values.update({k: form.getlist(k) for k in _LIST_FIELDS})
    return values


def _item_data(values: dict[str, Any]) -> dict[str, Any]:
    """The fields as the service takes them: empty optional text is "no value" (None); an
    empty title stays, to be refused by validation."""
    return {k: v if v or k in ("title", "body", *_LIST_FIELDS) else None for k, v in values.items()}


def _form_page(request: Request, user: ConsoleUser, values: dict[str, Any], *, item: Item | None = None,
               errors: dict[str, str] | None = None, status: int = 200) -> Response:
    tax = request.app.state.service.taxonomy
    regions = sorted({r.name for r in tax.regions.values()})
    return render(request, user, "items_form.html", "items", status=status,
                  title=f"修改：{item.title}" if item else "添加内容", item=item, values=values, errors=errors or {},
                  field_names=FIELD_NAMES, type_names={t: TYPE_NAMES[t] for t in EDITABLE_TYPES},
                  topics=list(tax.topics.values()), groups=list(tax.groups.values()), regions=regions)


def _refusal(exc: ServiceError) -> dict[str, str]:
    """A 422 as {field: Chinese reason} (fields the form lacks under "form")."""
    label, reason = zh_problem(exc.field, exc.message)
    field = (exc.field or "").split(".")[0]
    key = field if field in (*_FORM_FIELDS, *_LIST_FIELDS) else "form"
    return {key: reason if key != "form" else f"{label}：{reason}"}


def _stored(svc: ServiceDep, user: ConsoleUser, item_id: str) -> Item:
    item = svc.store.items.get(item_id)
    if item is None:
        raise ConsoleRefusal(404, "找不到这条内容", f"没有编号为“{item_id}”的内容，它可能已被删除。", user=user)
    return item


@router.get("/console/items/new", response_class=HTMLResponse)
def new_form(request: Request, user: EditorUser, type: Annotated[str, Query(max_length=32)] = "qa") -> Response:
    return _form_page(request, user, _blank(type))


@router.post("/console/items/new", response_class=HTMLResponse)
def create(request: Request, svc: ServiceDep, form: EditForm, user: EditorUser) -> Response:
    """Validate through the service; a new item is stored, indexed and classified at once."""
    values = _submitted(form)
    if values["type"] not in EDITABLE_TYPES:
        return _form_page(request, user, values, errors={"type": "请选择类型"}, status=422)
    try:
        data = {k: v for k, v in _item_data(values).items() if v not in (None, [])}
        item = svc.content.validate(chinese_ids(data, svc.taxonomy))
    except ServiceError as exc:
        return _form_page(request, user, values, errors=_refusal(exc), status=422)
    if svc.store.items.get(item.id) is not None:
        return _form_page(request, user, values, status=422, errors={
            "title": f"已有标题和正文都相同的内容（编号 {item.id}），请打开它修改，不要重复添加。"})
    try:
        svc.content.add([item], editor=user.editor_label)
    except ServiceError as exc:
        return _form_page(request, user, values, errors=_refusal(exc), status=exc.status)
    return RedirectResponse(page_url(f"/console/items/{item.id}", {"done": "added"}), status_code=303)


@router.get("/console/items/{item_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, item_id: str, svc: ServiceDep, user: EditorUser) -> Response:
    item = _stored(svc, user, item_id)
    if item.type not in EDITABLE_TYPES:
        raise ConsoleRefusal(409, "这类内容不能在这里修改",
                             f"“{TYPE_NAMES.get(item.type, item.type)}”由导入维护（pufa import），请修改原文件后重新导入。",
                             user=user)
    return _form_page(request, user, _values(item), item=item)


@router.post("/console/items/{item_id}/edit", response_class=HTMLResponse)
def save(request: Request, item_id: str, svc: ServiceDep, form: EditForm, user: EditorUser) -> Response:
    """The form's fields replace the item's (an emptied field is cleared)."""
    item = _stored(svc, user, item_id)
    values = _submitted(form)
    if item.type not in EDITABLE_TYPES or values["type"] not in EDITABLE_TYPES:
        return _form_page(request, user, values, item=item, errors={"type": "请选择类型"}, status=422)
    try:
        svc.content.patch(item_id, chinese_ids(_item_data(values), svc.taxonomy), editor=user.editor_label)
    except ServiceError as exc:
        return _form_page(request, user, values, item=item, errors=_refusal(exc), status=exc.status)
    return RedirectResponse(page_url(f"/console/items/{item_id}", {"done": "edited"}), status_code=303)


@router.post("/console/items/{item_id}/retire")
def retire(item_id: str, svc: ServiceDep, form: EditForm, user: EditorUser) -> Response:
    """下架: no longer recommended to anyone, kept for the record."""
    _stored(svc, user, item_id)
    svc.content.retire(item_id, editor=user.editor_label)
    return RedirectResponse(page_url(f"/console/items/{item_id}", {"done": "retired"}), status_code=303)


@router.post("/console/items/{item_id}/restore")
def restore(item_id: str, svc: ServiceDep, form: EditForm, user: EditorUser) -> Response:
    """重新上架: recommended again."""
    _stored(svc, user, item_id)
    svc.content.patch(item_id, {"retired": False}, editor=user.editor_label)
    return RedirectResponse(page_url(f"/console/items/{item_id}", {"done": "restored"}), status_code=303)


# ------------------------------------------------------------------ one item


def _who(changed_by: str | None) -> str:
    """``console:editor`` -> 编辑（工作台）; ``api:admin`` -> 管理员（接口）; ``pufa import`` -> 导入."""
    if not changed_by:
        return "（未记录）"
    where, _, role = changed_by.partition(":")
    if where in ("console", "api") and role in ROLE_NAMES:
        return f"{ROLE_NAMES[role]}（{'工作台' if where == 'console' else '接口'}）"
    return "导入（pufa import）" if changed_by == "pufa import" else changed_by


@router.get("/console/items/{item_id}", response_class=HTMLResponse)
def detail(request: Request, item_id: str, svc: ServiceDep, user: EditorUser,
           done: Annotated[str, Query(max_length=16)] = "") -> Response:
    """The full text, the status in words, what supersedes it, tags by source, versions."""
    item = _stored(svc, user, item_id)
    store = svc.store.items
    tags = store.editor_tag_info(item_id)
    predicted = store.predictions([item_id]).get(item_id, [])
    in_use = "editor" if tags else ("author" if item.topics else "predicted")
    linked = store.get_many([i for i in (item.superseded_by, item.supersedes, item.parent_id) if i])
    newer_url = ""
    if item.status != "current" and not item.superseded_by and item.law_title:
        newer_url = page_url("/console/items", {"law": item.law_title, "article": item.article_no or "",
                                                "status": "current"})
    versions = store.versions(item_id)
    for v in versions:  # who, and the fields besides title, status and retired, in Chinese
        v["who"] = _who(v["changed_by"])
        v["others"] = [FIELD_NAMES.get(f, f) for f in v["changed"] if f not in ("title", "status", "retired")]
    return render(
        request, user, "items_detail.html", "items", title=item.title, item=item, tags=tags, predicted=predicted,
        in_use=in_use, linked=linked, newer_url=newer_url, versions=versions,
        editable=item.type in EDITABLE_TYPES, field_names=FIELD_NAMES, message=_DONE.get(done, ""),
        status_choices=STATUS_CHOICES, links=svc.content.link_rows(item_id),
    )
