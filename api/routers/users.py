"""People: their profile and tags, tag removal and erasure (PIPL art. 24, 47)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from ..deps import Platform, ServiceDep
from ..schemas import UserOut, UserPut

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.put("/{user_id}", response_model=UserOut)
def put_user(user_id: str, body: UserPut, svc: ServiceDep, _: Platform) -> dict[str, Any]:
    return svc.people.put(user_id, body.model_dump(exclude_unset=True))


@router.get("/{user_id}", response_model=UserOut)
def get_user(user_id: str, svc: ServiceDep, _: Platform) -> dict[str, Any]:
    """The profile, with the tags the engine believes in and where each came from."""
    return svc.people.view(user_id)


@router.delete("/{user_id}/tags/{topic}", response_model=UserOut)
def remove_tag(user_id: str, topic: str, svc: ServiceDep, _: Platform) -> dict[str, Any]:
    """The person removes a tag; it stays removed (算法推荐管理规定 art. 17)."""
    return svc.people.remove_tag(user_id, topic)


@router.delete("/{user_id}", status_code=204)
def erase_user(user_id: str, svc: ServiceDep, _: Platform) -> Response:
    """Erase the person: profile, every event and every exposure record (PIPL art. 47)."""
    svc.people.erase(user_id)
    return Response(status_code=204)
