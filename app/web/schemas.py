"""The JSON shapes of the API, for validation and for the OpenAPI document."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from app.analysis import LayerInfo
from app.serving.options import PredictOptions


class ReceptiveField(BaseModel):
    size: float
    jump: float
    start: float


class LayerExplain(BaseModel):
    title: str
    text: str
    formulas: list[str] = Field(description="evaluated equations; the last number of each is this layer's "
                                "params, output_shape, macs or receptive_field.size")


class ModelExplain(BaseModel):
    text: str
    params_by_kind: dict[str, int] = Field(description="conv, fc, other")
    macs_by_kind: dict[str, int] = Field(description="conv, fc, other")
    activation_bytes: int = Field(description="every layer's output for one image, float32")


def _fields(dc: type, refine: dict[str, Any], after: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A dataclass's fields as pydantic field definitions, in its order: its types and defaults, except where
    ``refine`` says more (a tighter type, a description); ``after[f]`` adds fields the JSON has after ``f``."""
    hints, out = get_type_hints(dc), {}
    for f in dataclasses.fields(dc):
        default = (f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
                   if f.default_factory is not dataclasses.MISSING else ...)
        out[f.name] = refine.get(f.name, (hints[f.name], default))
        out.update(after.get(f.name, {}))
    return out


# GET /api/models/{name}'s layers: app.analysis.LayerInfo (LayerInfo.as_dict()) with the types made exact
Layer = create_model("Layer", __module__=__name__, **_fields(LayerInfo, refine={
    "input_shape": (list[int | None] | None, ...),  # a foreign graph's input may have unknown dimensions
    "receptive_field": (ReceptiveField | None, ...),
    "branch": (Literal["main", "shortcut", "post"] | None, Field(
        None, description="for a block's part: on the main branch, on the projection shortcut, or after the add")),
    "children": (list["Layer"] | None, Field(  # "Layer": resolved by model_rebuild below
        None, description="a residual block's parts in graph order, each with these same fields: the main "
        "branch's convolutions, batch norms and ReLUs, the 1x1 projection shortcut (conv + BN) when the block "
        "has one, the add and the final ReLU; their params and macs add up to the block's. Absent (null) for "
        "other layers")),
}, after={"arithmetic": {"activation_size": (int | None, ...)},  # LayerInfo's property
          "children": {"explain": (LayerExplain | None, None)}}))  # app.lessons.attach adds it
Layer.model_rebuild()


class ModelSummary(BaseModel):
    """GET /api/models: the keys ModelInfo.summary() gives. A view, mostly computed (totals, the registry's
    status, the card's sha256) and narrower than ModelInfo's strings, so declared here; tests/unit/test_schemas.py
    holds the two to the same keys."""

    name: str
    title: str
    family: str
    year: int | None
    source: Literal["builtin", "file"]
    input_kind: Literal["digit", "photo"]
    input_shape: list[int | None]
    params: int | None
    macs: int | None
    depth: int | None
    weights: Literal["trained", "imported", "file", "untrained"]
    status: Literal["available", "loaded", "error"]
    error: str | None
    description: str
    labels: str
    assumed: list[str]
    sha256: str | None
    layer_cap: dict[str, int] | None = Field(None, description="for a foreign graph with more layers than "
                                             "convscope exposes: {shown, total}; only the first `shown` layers "
                                             "have summaries and maps")


class Totals(BaseModel):
    params: int | None
    macs: int | None
    activations: int | None
    depth: int | None


class ModelDetail(ModelSummary):
    layers: list[Layer]
    totals: Totals
    card: dict
    explain: ModelExplain | None = None
    provider: str | None = Field(None, description="the onnxruntime execution provider its session runs on "
                                 "(or, not loaded yet, will run on): CUDAExecutionProvider or CPUExecutionProvider")


class PredictSource(BaseModel):
    """What to run on: the model and one input (an image, or for digit models pixels)."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(None, description="model name, e.g. lenet5 or vgg16-3 (or in the path)")
    image: str | None = Field(None, description="a data URL ('data:image/png;base64,...') or plain base64")
    # checked by app.serving.preprocess.pixels, vectorised (per-item validation here cost 0.7 ms);
    # the schema still tells clients exactly what is accepted
    pixels: Annotated[list[Any], WithJsonSchema({
        "type": "array", "minItems": 28, "maxItems": 28, "description": "28x28 numbers in [0,1], white ink on black",
        "items": {"type": "array", "minItems": 28, "maxItems": 28,
                  "items": {"type": "number", "minimum": 0, "maximum": 1}}})] | None = None


class PredictJSON(PredictOptions, PredictSource):
    """JSON body of POST /predict (and one WS /ws/predict message): the input, then the options
    (app.serving.options). Give ``image`` (data URL or base64) or, for digit models, ``pixels``."""


class TopK(BaseModel):
    index: int
    label: str
    probability: float


class Maps(BaseModel):
    offset: int
    channels: int
    total_channels: int
    height: int
    width: int
    downsample: int
    min: list[float]
    max: list[float]
    data: str = Field(description="base64 of channels*height*width bytes; value v of channel c is "
                      "min[c] + v/255*(max[c]-min[c])")


class LayerActivation(BaseModel):
    name: str
    shape: list[int]
    min: float | None = Field(description="over the finite values (null when none is finite)")
    max: float | None
    mean: float | None
    zero_fraction: float
    nonfinite: int = Field(0, description="how many values are NaN or infinite")
    maps: Maps | None = None


class MapsNext(BaseModel):
    layer: str = Field(description="the first layer whose maps were not (all) sent")
    map_offset: int = Field(description="ask for `layer` again from this channel")
    layers: list[str] = Field(description="that layer and the following ones still to ask for")


class MapsPage(BaseModel):
    complete: bool
    limit_bytes: int
    next: MapsNext
    message: str


class SeenInput(BaseModel):
    shape: list[int]
    image: str = Field(description="data URL (PNG for digits, JPEG for photos) of what the network received")
    size: list[int] | None = None


class PredictResponse(BaseModel):
    model: str
    weights: str
    input: SeenInput
    top_k: list[TopK]
    layers: list[LayerActivation]
    timing_ms: dict[str, float]
    nonfinite_outputs: int | None = Field(None, description="NaN/infinite class scores (counted as 0)")
    maps_page: MapsPage | None = Field(None, description="present when the maps asked for exceed the answer's "
                                       "size ceiling: what was left out and how to ask for it")


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class WeightsJob(BaseModel):
    model: str
    file: str
    total: int = Field(description="bytes expected")
    state: Literal["downloading", "importing", "done", "error"]
    done: int = Field(description="bytes received")
    error: str | None
    started: float = Field(description="Unix time")


class WeightsOffer(BaseModel):
    file: str = Field(description="torchvision's file name")
    size: int = Field(description="bytes")


class WeightsStatus(BaseModel):
    model: str
    weights: Literal["trained", "imported", "file", "untrained"]
    offer: WeightsOffer | None = Field(description="the published checkpoint this server can fetch (pinned "
                                       "sha256), or null")
    allowed: bool = Field(description="whether this server may download (on by default only on loopback)")
    enable: str | None = Field(description="when not allowed: how to enable downloads")
    job: WeightsJob | None = Field(description="the latest fetch for this model, or null")
