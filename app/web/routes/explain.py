"""POST /api/explain (and /api/models/{name}/explain): why a model said what it said, with trust
checks; GET /api/models/{name}/explain: the options a model offers and what each costs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import AppError, bad_input, error_body
from app.explain import serve
from app.i18n import error_message
from app.serving.options import MaybeCount
from app.serving.service import Service
from app.web.routes.api import ERRORS, PREDICT_BODY, parse_predict
from app.web.routes.deps import ServiceDep
from app.web.schemas import PredictJSON

router = APIRouter(tags=["explain"])
_OPTIONS = frozenset({"method", "target", "layer", "patch", "stride"})


class ExplainOptionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["gradcam", "occlusion", "rise"] = Field(
        "gradcam", description="gradcam (exact, one run), occlusion (a patch slid over the input) or rise "
        "(random masks, Petsiuk et al. 2018)")
    target: MaybeCount = Field(None, ge=0, description="class index to explain (default: the top-1)")
    layer: str | None = Field(None, description="Grad-CAM's layer (default: the last convolutional stage's output; "
                              "GET /api/models/{name}/explain lists the valid ones)")
    patch: MaybeCount = Field(None, ge=1, description="occlusion: the patch's side in input pixels "
                              "(default: a quarter of the input's side)")
    stride: MaybeCount = Field(None, ge=1, description="occlusion: the step between patches (default: patch / 2)")


class ExplainJSON(PredictJSON, ExplainOptionsIn):
    """JSON body of POST /api/explain: /predict's input plus the explanation's options."""


class Target(BaseModel):
    index: int
    label: str
    probability: float


class ExplainMap(BaseModel):
    height: int
    width: int
    values: list[list[float]] = Field(description="row-major, at the layer's (Grad-CAM), the patch grid's "
                                      "(occlusion: values[i][j] is the probability drop for the patch at "
                                      "(i*stride, j*stride)) or the mask's (RISE) resolution; not normalised")


class Curves(BaseModel):
    fractions: list[float]
    deletion: list[float]
    insertion: list[float]
    random: list[float]
    runs: int = Field(description="images run for the whole explanation, checks included")


class ExplainResponse(BaseModel):
    model: str
    method: str
    target: Target
    layer: str | None
    map: ExplainMap
    overlay: str = Field(description="PNG data URL at the input's size: the map upsampled (bilinear) and colour-mapped "
                         "(inferno) over [min(0, lowest), highest]")
    deletion_auc: float
    insertion_auc: float
    random_auc: float = Field(description="area under the deletion curve with pixels removed in a random order")
    sanity_rank_correlation: float | None = Field(
        description="Spearman correlation between this map and the same method's map with the head's weights "
        "re-drawn (null: a map is constant)")
    curves: Curves
    patch: int | None = None
    stride: int | None = None
    timing_ms: dict[str, float]


_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {**PREDICT_BODY["content"]["multipart/form-data"]["schema"], "properties": {
            **PREDICT_BODY["content"]["multipart/form-data"]["schema"]["properties"],
            **ExplainOptionsIn.model_json_schema()["properties"]}}},
        "application/json": {"schema": ExplainJSON.model_json_schema(ref_template="#/components/schemas/{model}")},
    },
}
_DOC = ("Explain one prediction: the input forms /predict accepts (multipart `image`, JSON `image` or `pixels`) "
        "plus `method` (`gradcam`, `occlusion`, `rise`), `target` (class index, default the top-1), `layer` "
        "(Grad-CAM), `patch` and `stride` (occlusion). Grad-CAM is exact: the gradient through the head is "
        "computed from the run's own activations and the file's weights. Every answer carries its checks: "
        "deletion and insertion AUCs (against deletion in a random order) and the Spearman correlation with "
        "the same method on a copy whose head weights are re-drawn. With `Accept: application/x-ndjson` the "
        "answer streams: `{\"progress\": {\"done\", \"total\"}}` lines, then `{\"result\": ...}` or "
        "`{\"error\": ...}`.")


async def _options(request: Request, service: Service, name: str | None) -> tuple[Any, serve.ExplainOptions]:
    found: dict[str, Any] = dict.fromkeys(_OPTIONS)
    req = await parse_predict(request, service, name, found)  # /predict's parser, taking these options out too
    try:
        o = ExplainOptionsIn.model_validate({k: v for k, v in found.items() if v not in (None, "")})
    except ValidationError as exc:
        e = exc.errors()[0]
        raise bad_input(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}") from None
    return req, serve.ExplainOptions(o.method, o.target, o.layer, o.patch, o.stride)


async def _answer(request: Request, service: Service, name: str | None) -> Any:
    req, o = await _options(request, service, name)
    if "application/x-ndjson" not in request.headers.get("accept", ""):
        return JSONResponse(await serve.explain(service, req, o))
    jobs: list[Any] = []
    task = asyncio.ensure_future(serve.explain(service, req, o, jobs.append))

    async def lines() -> AsyncIterator[bytes]:
        try:
            while not task.done():
                if jobs:
                    yield (json.dumps({"progress": {"done": jobs[0].done, "total": jobs[0].total}}) + "\n").encode()
                await asyncio.wait({task}, timeout=0.25)
            try:
                yield (json.dumps({"result": task.result()}) + "\n").encode()
            except AppError as exc:
                body = error_body(exc.status, exc.code, error_message(exc.code, exc.message))
                yield (json.dumps(body) + "\n").encode()
        finally:
            if not task.done():  # the client went away
                task.cancel()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.post("/api/explain", response_model=ExplainResponse, responses=ERRORS, summary="Explain a prediction",
             description=_DOC + " The model is `model` in the body or query.", openapi_extra={"requestBody": _BODY})
async def explain(request: Request, service: ServiceDep) -> Any:
    return await _answer(request, service, None)


@router.post("/api/models/{name}/explain", response_model=ExplainResponse, responses=ERRORS,
             summary="Explain a prediction of a named model", description=_DOC, openapi_extra={"requestBody": _BODY})
async def explain_named(name: str, request: Request, service: ServiceDep) -> Any:
    return await _answer(request, service, name)


@router.get("/api/models/{name}/explain", responses=ERRORS, summary="A model's explanation options",
            description="Methods, the layers Grad-CAM can use (the last is the default), occlusion's patch and "
            "stride defaults and limits, the runs each method costs (checks included), the colour map.")
async def explain_options(name: str, service: ServiceDep) -> dict[str, Any]:
    return await serve.options(service, name)
