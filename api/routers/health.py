from __future__ import annotations

from fastapi import APIRouter

from ..deps import ServiceDep
from ..schemas import About, Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(svc: ServiceDep) -> Health:
    """Liveness, the active model version and the number of stored items (no key needed)."""
    version = svc.engine.version if svc.has_model() else None
    return Health(status="ok", model_version=version, items=svc.store.count_items())


@router.get("/ping")
def ping() -> dict[str, bool]:
    """A bare endpoint (no database, no model): for load balancers and as the benchmark baseline."""
    return {"ok": True}


@router.get("/v1/about/algorithm", response_model=About)
def about(svc: ServiceDep) -> About:
    """算法推荐服务的基本原理、目的意图和主要运行机制 (算法推荐管理规定 art. 16)."""
    return About(**svc.algorithm_disclosure())
