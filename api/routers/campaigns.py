"""Campaigns: the plan's built-in ones (taxonomy data) and the editors' own.

Anyone with a key reads them; editors (and admins) add, replace and delete their own; editors
and analysts preview what a group is shown on a day with a campaign and without it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from recommender.vocab import K_DEFAULT, K_MAX

from ..deps import Editor, Reader, ServiceDep, require
from ..schemas import CampaignDeleted, CampaignIn, CampaignOut, CampaignPreview

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])

Previewer = Annotated[str, Depends(require("editor", "analyst"))]
CampaignId = Annotated[str, Path(description="the campaign's id (a built-in one's, e.g. constitution_week)")]


@router.get("", response_model=list[CampaignOut])
def list_campaigns(svc: ServiceDep, _: Reader) -> list[dict[str, Any]]:
    """The plan's recurring campaigns (taxonomy data, ``source: taxonomy``) and the editors'
    (``source: editor``; one with a built-in campaign's id replaces it)."""
    return svc.campaigns.list()


@router.post("", response_model=CampaignOut, status_code=201)
def post_campaign(body: CampaignIn, svc: ServiceDep, _: Editor) -> dict[str, Any]:
    """Add a campaign (the server makes an id when the body has none; a known id is replaced)."""
    stored, _new = svc.campaigns.put(body.model_dump(mode="json", exclude_none=True))
    return stored


@router.get("/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: CampaignId, svc: ServiceDep, _: Reader) -> dict[str, Any]:
    """One campaign as it applies (the editors' over the built-in one of its id)."""
    return svc.campaigns.get(campaign_id)


@router.put("/{campaign_id}", response_model=CampaignOut, status_code=200,
            responses={201: {"model": CampaignOut, "description": "created"}})
def put_campaign(campaign_id: CampaignId, body: CampaignIn, response: Response, svc: ServiceDep,
                 _: Editor) -> dict[str, Any]:
    """Create (201) or replace (200) the editors' campaign of this id; with a built-in
    campaign's id it overrides that one (its window, boost, groups, region, reason)."""
    stored, new = svc.campaigns.put(body.model_dump(mode="json", exclude_none=True), campaign_id)
    if new:
        response.status_code = 201
    return stored


@router.delete("/{campaign_id}", response_model=CampaignDeleted)
def delete_campaign(campaign_id: CampaignId, svc: ServiceDep, _: Editor) -> dict[str, Any]:
    """Delete an editor's campaign; 404 when none has this id, 409 for a built-in campaign
    (override it with PUT instead). Deleting an override brings the built-in one back."""
    return svc.campaigns.delete(campaign_id)


@router.get("/{campaign_id}/preview", response_model=CampaignPreview)
def preview_campaign(
    campaign_id: CampaignId, svc: ServiceDep, _: Previewer,
    group: Annotated[str, Query(description="a group id (GET /v1/groups), e.g. herders")] = "public",
    region: Annotated[str | None, Query(max_length=64, description="e.g. 临河区; none: every region")] = None,
    date: Annotated[dt.date | None, Query(description="YYYY-MM-DD; default today")] = None,
    k: Annotated[int, Query(ge=1, le=K_MAX)] = K_DEFAULT,
) -> dict[str, Any]:
    """The top ``k`` with reasons that ``group`` in ``region`` is shown on ``date``, with the
    campaign and without it, and which items entered and left the list. Nothing is logged as
    pushed."""
    return svc.campaigns.preview(campaign_id, group, region, date, k)
