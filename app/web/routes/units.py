"""Inside one unit: receptive-field boxes, one activation's arithmetic, kernels, dataset examples."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from app.errors import AppError, bad_input
from app.serving.options import Count
from app.units import runner
from app.units.examples import Examples
from app.units.rf import rf_box
from app.units.unit import first_non_finite
from app.web.routes.api import ERRORS, PREDICT_BODY, parse_predict, single_query
from app.web.routes.deps import ServiceDep

router = APIRouter(tags=["units"])
_ONCE = [Depends(single_query)]  # a query parameter given twice is a 422, as on the POST routes


class RfResponse(BaseModel):
    layer: str
    y: int
    x: int
    size: float
    jump: float
    start: float
    box: list[int] = Field(description="[top, left, bottom, right], inclusive input pixel indices, unclipped: "
                           "an index below 0 or at/after the input size is padding")
    input_shape: list[int | None]


class UnitFields(BaseModel):
    layer: str = Field(description="a conv or max-pool layer, e.g. C1")
    channel: Count = Field(ge=0)
    y: Count = Field(ge=0)
    x: Count = Field(ge=0)


class Kernels(BaseModel):
    layer: str
    shape: list[int] = Field(description="[Cout, Cin/groups, kh, kw] (Cout = 1 with `filter`)")
    dtype: str = "float32"
    data: str | None = Field(None, description="base64 of the little-endian float32 values in C order")
    full_shape: list[int]
    groups: int
    norms: list[float] = Field(description="L2 norm of each filter")
    weights: str
    initializer: str
    batch_norm_follows: bool
    filter: int | None = None


class Example(BaseModel):
    mnist_index: int | None = Field(None, description="digit models: the MNIST test image")
    label: int | None = Field(None, description="digit models: its digit")
    sample: str | None = Field(None, description="photo models: the bundled sample photo (static/samples/)")
    y: int
    x: int
    value: float
    box: list[int]
    crop: str = Field(description="PNG data URL of the receptive-field crop of the input the network saw")


_UNIT_DOC = ("The arithmetic of one activation on the input /predict takes, plus `layer`, `channel`, `y`, `x`. "
             "A convolution: `patch` [Cin/groups][k][k] (padding as zeros), `kernel`, `products`, `sum`, `bias`, "
             "`pre_activation` = sum + bias, `value` (after the ReLU) and the exposed `output`; batch norm is folded "
             "into kernel and bias as onnxruntime runs it. A max pool: `window` (padding as null), `argmax`, `value`.")
_UNIT_BODY = {"required": True, "content": {  # /predict's fields and the unit's in one object (it allows no others)
    ctype: {"schema": {**spec["schema"], "properties": {**spec["schema"]["properties"],
                                                        **UnitFields.model_json_schema()["properties"]},
                       "required": [*spec["schema"].get("required", []), "layer", "channel", "y", "x"]}}
    for ctype, spec in PREDICT_BODY["content"].items()}}


@router.get("/api/models/{name}/rf", response_model=RfResponse, responses=ERRORS, dependencies=_ONCE,
            summary="The receptive field of one unit on the input")
def receptive_field(name: str, service: ServiceDep, layer: str = Query(...), y: int = Query(...),
                    x: int = Query(...)) -> dict[str, Any]:
    return rf_box(service.info(name), layer, y, x)


@router.post("/api/models/{name}/unit", responses=ERRORS, summary="The arithmetic of one activation",
             description=_UNIT_DOC, openapi_extra={"requestBody": _UNIT_BODY})
async def unit(name: str, request: Request, service: ServiceDep) -> JSONResponse:
    extra: dict[str, Any] = {"layer": None, "channel": None, "y": None, "x": None}
    req = await parse_predict(request, service, name, extra)
    try:
        f = UnitFields.model_validate({k: v for k, v in extra.items() if v is not None})
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        raise bad_input(f"{where}: {e['msg']} (a unit needs layer, channel, y, x)") from None
    body = await runner.unit(service, req, f.layer, f.channel, f.y, f.x)
    bad = first_non_finite(body)
    if bad is not None:
        raise AppError(422, "non_finite", f"the arithmetic of {f.layer} channel {f.channel} (y {f.y}, x {f.x}) holds "
                       f"numbers that are not finite (the first: {bad}); the model's weights or activations "
                       "overflow, so there is nothing to show")
    return JSONResponse(body)


@router.get("/api/models/{name}/kernels", response_model=Kernels, responses=ERRORS, dependencies=_ONCE,
            response_model_exclude_none=True,
            summary="A convolution layer's weights, exactly the ONNX initializer")
async def kernels(name: str, service: ServiceDep, layer: str = Query(...),
                  filter: int | None = Query(None, description="only this filter's slices"),
                  norms_only: bool = Query(False, description="per-filter norms without the data")) -> dict[str, Any]:
    return await runner.kernels(service, name, layer, filter, norms_only)


def _examples(request: Request) -> Examples:
    ex = getattr(request.app.state, "unit_examples", None)
    if ex is None:
        ex = request.app.state.unit_examples = Examples()
    return ex


@router.get("/api/models/{name}/examples", response_model=list[Example], responses=ERRORS, dependencies=_ONCE,
            response_model_exclude_none=True,
            summary="The nine inputs that drive a channel highest: MNIST test images (digit models) or places in "
                    "the bundled sample photos (photo models with trained or imported weights)")
async def examples(name: str, request: Request, service: ServiceDep, layer: str = Query(...),
                   channel: int = Query(...)) -> list[dict[str, Any]]:
    return await _examples(request).get(service, name, layer, channel)


@router.get("/api/models/{name}/examples/progress", responses=ERRORS,
            summary="Whether the dataset examples are computed, being computed (done of total) or missing")
async def examples_progress(name: str, request: Request, service: ServiceDep) -> dict[str, Any]:
    return await service.blocking(_examples(request).status, service, name)
