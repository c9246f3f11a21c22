"""Lesson routes: LRN's before and after for one input (the layer explanations ride on GET /api/models/{name})."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app import i18n
from app.lessons.lrn import lrn_lesson
from app.web.routes.api import ERRORS, PREDICT_BODY, parse_predict
from app.web.routes.deps import ServiceDep

router = APIRouter(tags=["lessons"])


@router.post("/api/models/{name}/lrn", responses={**ERRORS, 409: ERRORS[400]}, summary="What LRN does, for one input",
             description="For alexnet and vgg11-lrn: the maps each local response normalisation reads and writes "
             "(8-bit maps as in /predict, the same channels side by side) and one position worked through, "
             "b = a / (k + α/n · Σ a²)^β, with onnxruntime's own value beside it. The input is sent as to "
             "/predict. `?lang=zh|en` for the text.",
             openapi_extra={"requestBody": PREDICT_BODY})
async def lrn(name: str, request: Request, service: ServiceDep) -> JSONResponse:
    req = await parse_predict(request, service, name)
    return JSONResponse(await lrn_lesson(service, req, i18n.current.get()))
