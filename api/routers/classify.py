"""POST /v1/classify: the topics the active model reads in a text, with its keywords."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import Reader, ServiceDep
from ..schemas import ClassifyIn, ClassifyOut

router = APIRouter(prefix="/v1", tags=["classify"])


@router.post("/classify", response_model=ClassifyOut)
def classify(body: ClassifyIn, svc: ServiceDep, _: Reader) -> dict[str, Any]:
    """Topics with calibrated scores, and the terms that drove the decision."""
    return svc.content.classify(body.text, body.title)
