"""Trained weights from the page: what can be fetched for a model, start the fetch, follow its progress."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.web.routes.deps import ServiceDep
from app.web.schemas import ErrorResponse, WeightsStatus
from app.weights.pretrained import Pretrained

router = APIRouter(tags=["models"])
ERRORS: dict[int | str, dict[str, Any]] = {  # each in the one error shape
    403: {"model": ErrorResponse,
          "description": "downloads are off on this server; the message says how to enable them"},
    404: {"model": ErrorResponse, "description": "no such model, or no pinned checkpoint for it"},
    409: {"model": ErrorResponse, "description": "another model's weights are being fetched"},
}


def _pretrained(request: Request) -> Pretrained:
    return request.app.state.pretrained


@router.get("/api/models/{name}/weights", response_model=WeightsStatus, responses={404: ERRORS[404]},
            summary="Trained weights for a built-in model: the published checkpoint, whether this server may "
            "fetch it, and the progress of a fetch")
def weights_status(name: str, request: Request, service: ServiceDep) -> dict[str, Any]:
    info = service.info(name)  # 404 for unknown names
    return {"model": info.name, "weights": info.weights, **_pretrained(request).status(info.name)}


@router.post("/api/models/{name}/weights", status_code=202, response_model=WeightsStatus, responses=ERRORS,
             summary="Fetch torchvision's published checkpoint on the server, check its pinned sha256 and "
             "import it; poll GET for progress. The model serves the trained weights when the job is done.")
def weights_fetch(name: str, request: Request, service: ServiceDep) -> Any:
    info = service.info(name)
    pre = _pretrained(request)
    pre.start(info.name)
    return JSONResponse({"model": info.name, "weights": info.weights, **pre.status(info.name)}, 202)
