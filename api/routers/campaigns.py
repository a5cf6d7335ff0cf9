"""Campaigns: the taxonomy's and the editors' (GET for readers, PUT for editors)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import Editor, Reader, ServiceDep
from ..schemas import CampaignIn, CampaignOut

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


@router.get("", response_model=list[CampaignOut])
def list_campaigns(svc: ServiceDep, _: Reader) -> list[dict[str, Any]]:
    """The plan's recurring campaigns (taxonomy data) and the editors' dated ones."""
    return svc.campaigns.list()


@router.post("", response_model=CampaignOut, status_code=201)
def post_campaign(body: CampaignIn, svc: ServiceDep, _: Editor) -> dict[str, Any]:
    return svc.campaigns.put(body.model_dump(mode="json", exclude_none=True))
