"""The JSON API: list models, a model's layer table, predict."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from app import i18n, jsonio, lessons
from app.errors import AppError, bad_input
from app.serving.options import PredictOptions, form_schema
from app.serving.preprocess import decode_base64
from app.serving.service import PredictInput, Service
from app.web.limits import BodyTooLarge
from app.web.routes.deps import ServiceDep
from app.web.schemas import ErrorResponse, ModelDetail, ModelSummary, PredictJSON, PredictResponse

router = APIRouter(tags=["models"])
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 404, 413, 415, 422, 503, 504)}

# the form fields (and query parameters), their schema and the JSON body: all from app.serving.options
_FORM_FIELDS = {"model", "image", *PredictOptions.model_fields}
PREDICT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "image": {"type": "string", "format": "binary"}, "model": {"type": "string"}, **form_schema()},
            "required": ["image"]}},
        "application/json": {"schema": PredictJSON.model_json_schema(ref_template="#/components/schemas/{model}")},
    },
}


@router.get("/api/models", response_model=list[ModelSummary], summary="Every servable model")
def list_models(service: ServiceDep) -> list[dict[str, Any]]:
    return service.models()


@router.get("/api/models/{name}", response_model=ModelDetail, responses=ERRORS, summary="A model's layer table",
            description="With `?lang=zh` or `?lang=en` (default en; unknown values fall back to English, "
            "Content-Language says which was used) each built-in layer's `explain` is in that language.")
def model_detail(name: str, service: ServiceDep,
                 lang: str | None = Query(None, description="zh or en (the language of `explain`)")) -> dict[str, Any]:
    return {**lessons.attach(service.detail(name), i18n.current.get()), "provider": service.provider(name)}


def single_query(request: Request) -> dict[str, str]:
    """The query parameters, each given once: a parameter given twice is a 422 (taking the last would hide the
    mistake). Also a dependency for the GET routes, which FastAPI would let take the last."""
    params: dict[str, str] = {}
    for k, v in request.query_params.multi_items():
        if k in params:
            raise bad_input(f"the query parameter {k[:100]!r} is given twice; give each option once")
        params[k] = v
    return params


async def parse_predict(request: Request, service: Service, model: str | None,
                        extra: dict[str, Any] | None = None) -> PredictInput:
    """Multipart, JSON or query parameters -> one validated PredictInput (4xx with a message otherwise).
    With ``extra``, the fields named by its keys (e.g. a unit's layer) are taken out into it."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    known = _FORM_FIELDS | set(extra or ())
    fields: dict[str, Any] = {k: v for k, v in single_query(request).items() if k in known}
    query = set(fields)
    image: bytes | None = None
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=len(known) + 4, max_part_size=1024 * 1024)
        except (AppError, BodyTooLarge, ClientDisconnect):  # BodyTooLarge: a 413 in app.web.limits.BodyLimit
            raise
        except Exception as exc:
            raise bad_input(f"the multipart body could not be read: {exc}", 400, "bad_multipart") from exc
        seen: set[str] = set()
        for key, value in form.multi_items():
            if key in seen or key in query:
                raise bad_input(f"the form field {key!r} is given twice; give each field once")
            seen.add(key)
            if isinstance(value, UploadFile):
                if key != "image":
                    raise bad_input(f"unexpected file field {key!r}; send the picture as 'image'")
                image = await value.read()
            elif key in known:
                fields[key] = value
            else:
                raise bad_input(f"unexpected form field {key!r}; accepted: {', '.join(sorted(known))}")
    elif ctype == "application/json":
        data = await json_fields(await request.body(), service)
        for k in data:
            if k in query:
                raise bad_input(f"{k!r} is given both in the query and in the body; give it once")
        fields.update(data)
    else:
        raise AppError(415, "unsupported_media_type", "send multipart/form-data (field 'image') or application/json")
    return await predict_input(fields, image, service, model, extra)


async def json_fields(body: bytes | str, service: Service) -> dict[str, Any]:
    """A JSON predict body -> its fields (400/422 with a message when it is not a JSON object)."""
    try:  # a big body is parsed on a worker thread, not on the event loop
        data = await service.blocking(_loads, body) if len(body) > 65536 else _loads(body)
    except RecursionError:
        raise bad_input("the JSON body is nested too deeply", 400, "bad_json") from None
    except ValueError as exc:
        raise bad_input(f"the body is not valid JSON ({exc})", 400, "bad_json") from exc
    if not isinstance(data, dict):
        raise bad_input("the JSON body must be an object like {\"model\": \"lenet5\", \"image\": \"data:...\"}")
    return data


async def predict_input(fields: dict[str, Any], image: bytes | None, service: Service, model: str | None,
                  extra: dict[str, Any] | None = None) -> PredictInput:
    """Validated fields (and an uploaded file's bytes) -> one PredictInput: the one contract of POST /predict,
    also used by WS /ws/predict. With ``extra``, the fields named by its keys are taken out into it."""
    for k in extra or ():
        extra[k] = fields.pop(k, None)  # type: ignore[index]
    if isinstance(fields.get("layers"), str):
        fields["layers"] = [x for x in fields["layers"].split(",") if x]
    try:
        p = PredictJSON.model_validate(fields)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e["loc"][:3])
        raise bad_input(f"{loc}: {e['msg']}") from None
    if model and p.model and p.model != model and not _same_model(service, service.info(model).name, p.model):
        raise bad_input(f"the path names model {model[:100]!r} but the request says {p.model[:100]!r}; "
                        "name it once (or the same)")
    name = model or p.model
    if not name:
        raise bad_input("say which model to run: 'model' (GET /api/models lists them)")
    if p.image is not None:
        if image is not None:
            raise bad_input("send the image once: as a file or as base64, not both")
        image = (await service.blocking(decode_base64, p.image, service.settings.max_body_bytes)
                 if len(p.image) > 65536 else decode_base64(p.image, service.settings.max_body_bytes))
    if image is not None and p.pixels is not None:
        raise bad_input("send either an image or pixels, not both")
    return PredictInput(name, image, p.pixels, p.top_k, p.activations, p.maps())


def _same_model(service: Service, name: str, other: str) -> bool:
    """Whether ``other`` names model ``name`` too (case, aliases: 'LeNet5' is lenet5)."""
    try:
        return service.info(other).name == name
    except AppError:
        return False


def _loads(body: bytes | str) -> Any:
    """The body's JSON, a key given twice refused (app.jsonio)."""
    return jsonio.loads(body)


_DOC = ("Run a model on one input. Send a multipart upload (field `image`), or JSON with `image` "
        "(data URL or base64) or, for digit models, `pixels` (28x28 numbers in [0,1], white on black). "
        "Options (JSON keys, form fields or query parameters): "
        + ", ".join(f"`{n}`" + (" (" + ", ".join(f"`{v}`" for v in p["enum"]) + ")" if "enum" in p else "")
                    for n, p in form_schema().items()) + ".")


@router.post("/predict", response_model=PredictResponse, responses=ERRORS, response_model_exclude_none=True,
             summary="Predict", description=_DOC + " The model is `model` in the body or query.",
             openapi_extra={"requestBody": PREDICT_BODY})
async def predict(request: Request, service: ServiceDep) -> Response:
    # returned as a response: FastAPI then skips re-validating megabytes of maps (the model is for the docs)
    return await service.respond(await service.predict(await parse_predict(request, service, None)))


@router.post("/api/models/{name}/predict", response_model=PredictResponse, responses=ERRORS,
             response_model_exclude_none=True,
             summary="Predict with a named model", description=_DOC, openapi_extra={"requestBody": PREDICT_BODY})
async def predict_named(name: str, request: Request, service: ServiceDep) -> Response:
    return await service.respond(await service.predict(await parse_predict(request, service, name)))
