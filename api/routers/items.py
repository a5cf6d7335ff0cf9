"""Items: add (one or in bulk), read, change, retire, editor tags and the review queue."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from corpus.schema import first_problem
from recommender.service import ServiceError
from recommender.service.content import ReviewFilters
from recommender.vocab import K_DEFAULT, RELATED_K_MAX

from ..deps import Editor, ItemReader, ServiceDep
from ..schemas import BulkResult, BulkRow, ItemIn, ItemOut, ItemPatch, ReviewRow, TopicsPut

router = APIRouter(prefix="/v1", tags=["items"])


def _clean(model: ItemIn | ItemPatch) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True, exclude_unset=True)


@router.post("/items", response_model=ItemOut, status_code=201)
def create_item(body: ItemIn, svc: ServiceDep, role: Editor) -> dict[str, Any]:
    """Store an item; it is indexed and classified with the active model at once."""
    item = svc.content.validate(_clean(body))
    for why in svc.content.orphans([item]).values():
        raise ServiceError(422, why, "supersedes")
    svc.content.add([item], editor=f"api:{role}")
    return svc.content.view(item.id)


@router.post("/items:bulk", response_model=BulkResult)
async def bulk_items(request: Request, svc: ServiceDep, role: Editor) -> BulkResult:
    """A JSON array or JSON Lines of items. Each bad row is reported; the good ones are kept."""
    raw = (await request.body()).strip()
    rows: list[Any]
    if not raw:
        raise ServiceError(422, "empty body: send a JSON array or JSON Lines of items", "body")
    results: list[BulkRow] = []
    if raw.startswith(b"["):
        try:
            rows = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ServiceError(422, f"not valid UTF-8 at byte {exc.start}", "body") from exc
        except json.JSONDecodeError as exc:
            raise ServiceError(422, f"invalid JSON array: {exc.msg} at line {exc.lineno}", "body") from exc
    else:
        rows = []
        for n, line in enumerate(raw.split(b"\n")):
            if not line.strip():
                rows.append(None)
                continue
            try:
                rows.append(json.loads(line.decode("utf-8")))
            except UnicodeDecodeError as exc:
                rows.append(ValueError(f"line {n + 1}: not valid UTF-8 at byte {exc.start}"))
            except json.JSONDecodeError as exc:
                rows.append(ValueError(f"line {n + 1}: invalid JSON ({exc.msg})"))
    if len(rows) > 20_000:
        raise ServiceError(413, "at most 20000 items per request", "body")
    good = []
    first_row: dict[str, int] = {}
    for n, row in enumerate(rows):
        if row is None:
            continue
        if isinstance(row, ValueError):
            results.append(BulkRow(index=n, ok=False, error=str(row), field="body"))
            continue
        if not isinstance(row, dict):
            results.append(BulkRow(index=n, ok=False, error="each item must be a JSON object", field="body"))
            continue
        try:
            parsed = ItemIn.model_validate(row)
            item = svc.content.validate(_clean(parsed))
        except ServiceError as exc:
            results.append(BulkRow(index=n, id=row.get("id"), ok=False, error=exc.message, field=exc.field))
            continue
        except ValidationError as exc:
            field, message = first_problem(exc)
            rid = row.get("id") if isinstance(row.get("id"), str) else None
            results.append(BulkRow(index=n, id=rid, ok=False, error=message, field=field))
            continue
        if item.id in first_row:
            results.append(BulkRow(index=n, id=item.id, ok=False, field="id",
                                   error=f"id '{item.id}' is also in row {first_row[item.id]}: one row per item"))
            continue
        first_row[item.id] = n
        good.append((n, item))
    orphans = svc.content.orphans([it for _, it in good])
    results += [BulkRow(index=n, id=it.id, ok=False, error=orphans[it.id], field="supersedes")
                for n, it in good if it.id in orphans]
    good = [(n, it) for n, it in good if it.id not in orphans]
    if good:
        svc.content.add([it for _, it in good], editor=f"api:{role}")
    results += [BulkRow(index=n, id=it.id, ok=True) for n, it in good]
    results.sort(key=lambda r: r.index)
    return BulkResult(accepted=len(good), rejected=len(results) - len(good), results=results)


@router.get("/items/{item_id}", response_model=ItemOut)
def get_item(item_id: str, svc: ServiceDep, _: ItemReader) -> dict[str, Any]:
    return svc.content.view(item_id)


@router.get("/items/{item_id}/related")
def related_items(
    item_id: str, svc: ServiceDep, _: ItemReader,
    k: Annotated[int, Query(ge=1, le=RELATED_K_MAX, description="how many related items")] = K_DEFAULT,
    user_id: Annotated[str | None, Query(max_length=128, description="a minor gets no adults-only item")] = None,
) -> dict[str, Any]:
    """Related content of an item, each with its reason: for a law article, the explainers
    (本条的解读) and cases (本条的以案释法) citing it and the neighbouring articles of its
    chapter (同章相关条文); for an explainer or a case, the articles it cites (所涉法条) and the
    items citing the same (相关案例 / 相关解读). Current texts only; no adults-only item for a
    minor. Not personalised (``personalized`` is always false): no events or profile are read,
    ``user_id`` only tells whether the person is a minor. 404 for an unknown item."""
    return svc.content.related(item_id, k, user_id=user_id)


@router.patch("/items/{item_id}", response_model=ItemOut)
def patch_item(item_id: str, body: ItemPatch, svc: ServiceDep, role: Editor) -> dict[str, Any]:
    return svc.content.patch(item_id, _clean(body), editor=f"api:{role}")


@router.delete("/items/{item_id}", response_model=ItemOut)
def retire_item(item_id: str, svc: ServiceDep, role: Editor) -> dict[str, Any]:
    """Retire: the item is no longer recommended but kept for the record."""
    return svc.content.retire(item_id, editor=f"api:{role}")


@router.put("/items/{item_id}/topics", response_model=ItemOut)
def put_topics(item_id: str, body: TopicsPut, svc: ServiceDep, _: Editor) -> dict[str, Any]:
    """Editor-confirmed tags: they win over predictions and feed the next training."""
    return svc.content.set_topics(item_id, body.topics, body.editor)


@router.get("/review-queue", response_model=list[ReviewRow])
def review_queue(
    svc: ServiceDep, _: Editor, response: Response, limit: int = Query(20, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
    type: str | None = Query(None, max_length=32, description="item type"),
    topic: str | None = Query(None, max_length=64, description="a topic id"),
    group: str | None = Query(None, max_length=64, description="a group id: named by the item or suggested"),
    law: str | None = Query(None, max_length=200, description="part of a law title"),
    status: str | None = Query("current", max_length=16),
    source: str | None = Query(None, max_length=200),
    since: dt.datetime | None = Query(None, description="'new' means changed after this; default: "
                                                         "after the active model was built"),
    only_new: bool = False, scope: Literal["due", "all"] = "due",
) -> list[dict[str, Any]]:
    """New and editor-added items first, then the least certain predictions; items an editor
    tagged are not in it. ``X-Total-Count`` says how many rows are left under the filters."""
    page = svc.content.review_queue(limit, offset=offset, filters=ReviewFilters(
        type=type, topic=topic, group=group, law=law, status=status or None, source=source, since=since,
        only_new=only_new, scope=scope))
    response.headers["X-Total-Count"] = str(page.total)
    return [row.to_dict() for row in page.items]
