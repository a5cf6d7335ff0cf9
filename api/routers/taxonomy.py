"""The topics and groups of the plan (GET /v1/topics, /v1/groups)."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import Reader, ServiceDep
from ..schemas import GroupOut, TopicOut

router = APIRouter(prefix="/v1", tags=["taxonomy"])


@router.get("/topics", response_model=list[TopicOut])
def topics(svc: ServiceDep, _: Reader) -> list[TopicOut]:
    return [TopicOut(id=t.id, name=t.name, en=t.en, description=t.description, parent=t.parent,
                     keywords=list(t.keywords), key_laws=list(t.key_laws)) for t in svc.taxonomy.topics.values()]


@router.get("/groups", response_model=list[GroupOut])
def groups(svc: ServiceDep, _: Reader) -> list[GroupOut]:
    return [GroupOut(id=g.id, name=g.name, short_name=g.label, en=g.en, description=g.description,
                     plan_section=g.plan_section, topics=g.topics) for g in svc.taxonomy.groups.values()]
