"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.routes.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the eager models are loaded", response_model=None)
def readyz(service: ServiceDep) -> Any:
    loaded = set(service.registry.loaded())
    missing = [n for n in service.settings.eager if n not in loaded]
    body = {"status": "ready" if not missing else "starting", "loaded": sorted(loaded), "waiting_for": missing}
    return JSONResponse(body, 200 if not missing else 503)
