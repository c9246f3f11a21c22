"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.serving import providers
from app.web.routes.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up, and the onnxruntime provider models run on")
def healthz(service: ServiceDep) -> dict[str, Any]:
    return {"status": "ok", "provider": providers.chosen(service.settings.provider)[0],
            "available_providers": list(providers.available())}


@router.get("/readyz", summary="Readiness: the eager models are loaded", response_model=None,
            responses={503: {"description": "still loading the eager models"}})
def readyz(service: ServiceDep) -> Any:
    ready, body = service.readiness()
    return JSONResponse(body, 200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(service: ServiceDep) -> Response:
    service.observe()
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
