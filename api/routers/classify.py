from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import Reader, ServiceDep
from ..schemas import ClassifyIn, ClassifyOut

router = APIRouter(prefix="/v1", tags=["classify"])


@router.post("/classify", response_model=ClassifyOut)
def classify(body: ClassifyIn, svc: ServiceDep, _: Reader) -> dict[str, Any]:
    """Topics with calibrated scores, and the terms that drove the decision."""
    return svc.classify(body.text, body.title)
