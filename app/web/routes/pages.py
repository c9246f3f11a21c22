"""The HTML pages: gallery, drawing pad, layer explorer, comparison."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from app import i18n, lessons
from app.config import TEMPLATES_DIR
from app.errors import AppError, bad_input
from app.i18n import N_
from app.lessons import history
from app.lessons.lrn import lrn_stages
from app.nets import vgg
from app.serving import providers
from app.serving.service import Service
from app.web.routes.deps import ServiceDep

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def _fmt(n: int | float | None) -> str:
    """Three significant digits with an SI suffix (1.5G, 138M, 11.7M, 61.7k), "?" when unknown:
    lib.js's si(), so the server's tables and the scripts' print a number alike -- ties included:
    JavaScript's toPrecision rounds the exact value half away from zero (1125 -> 1.13k), where
    Python's format rounds half to even (1.12k)."""
    if n is None:
        return "?"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            v = Decimal(n / div)  # the float's exact value, as toPrecision reads it
            q = Decimal(1).scaleb(v.adjusted() - 2)
            return f"{float(v.quantize(q, ROUND_HALF_UP)):g}{unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def _ops(ops: list[str]) -> str:
    """Conv, BatchNormalization, Relu, Conv, ... -> 'Conv→BN→Relu ×2 → Conv→BN → Add→Relu' for people."""
    short = [{"BatchNormalization": "BN", "GlobalAveragePool": "GAP"}.get(o, o) for o in ops]
    parts: list[str] = []
    i = 0
    while i < len(short):
        if short[i:i + 3] == ["Conv", "BN", "Relu"]:
            n = 1
            while short[i + 3 * n:i + 3 * n + 3] == ["Conv", "BN", "Relu"]:
                n += 1
            parts.append("Conv→BN→Relu" + (f" ×{n}" if n > 1 else ""))
            i += 3 * n
        else:
            parts.append(short[i])
            i += 1
    return " → ".join(parts)


templates.env.add_extension("jinja2.ext.i18n")
templates.env.policies["ext.i18n.trimmed"] = True  # {% trans %} blocks: whitespace collapsed, as extracted
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=lambda m: i18n._(m), ngettext=lambda s, p, n: i18n._(s if n == 1 else p), newstyle=True)
BRANCHES = {"main": N_("main"), "shortcut": N_("shortcut"), "post": N_("after the add")}  # a block's parts
WEIGHTS = {"trained": N_("trained"), "imported": N_("imported"), "file": N_("file"), "untrained": N_("untrained")}
templates.env.globals.update(current_lang=lambda: i18n.current.get(),
                             js_messages=lambda: i18n.js_messages(i18n.current.get()),
                             weights_word=lambda w: i18n._(WEIGHTS[w]) if w in WEIGHTS else w,
                             provider=providers.for_page,
                             branch_word=lambda b: i18n._(BRANCHES[b]) if b in BRANCHES else "")
@pass_context
def _url_for(context: Any, name: str, /, **path_params: Any) -> str:
    """A route's path, with the app's root path: not the absolute URL Starlette's url_for builds,
    which writes the request's Host header into the page (a shared cache could keep a forged one)."""
    return str(context["request"].url_for(name, **path_params).path)


templates.env.globals["url_for"] = _url_for
templates.env.filters["lean"] = lessons.lean  # the page's JSON without what it already shows as HTML
templates.env.filters["si"] = _fmt
templates.env.filters["ops"] = _ops
templates.env.filters["commas"] = lambda n: "?" if n is None else f"{n:,}"


def weights_commands(name: str) -> list[str]:
    """The commands that give a built-in model trained weights, from what the CLI can do for it."""
    from app.weights.importer import TORCHVISION_FILES

    cmds = [f"convscope download {name}"] if name in TORCHVISION_FILES else []
    if name in ("lenet5", "lenet5-1998"):  # the models trained here (`convscope train`)
        cmds.append(f"convscope train {name}")
    return [*cmds, f"convscope import {name} CHECKPOINT"]


@router.get("/", response_class=HTMLResponse)
def gallery(request: Request, service: ServiceDep) -> Any:
    return templates.TemplateResponse(request, "index.html", {"models": service.models(), "page": "index"})


NOT_DIGITS = N_("{name} does not read digits; the drawing pad drives these models:")


@router.get("/draw", response_class=HTMLResponse)
def draw(request: Request, service: ServiceDep, model: str = "lenet5") -> Any:
    browser = "text/html" in request.headers.get("accept", "")  # a person gets pages; other clients JSON
    try:
        info = service.info(model, refresh=True)
    except AppError as e:
        if e.status != 404 or not browser:
            raise
        return not_found_page(request, service, model, draw=True)  # the HTML 404 page, as /models/nope
    choices = service.digit_models()
    if info.name not in choices:
        if not browser:
            raise bad_input(f"{info.name} does not read digits; the pad drives {', '.join(choices)}")
        return templates.TemplateResponse(request, "404.html", {  # why, and the models the pad can drive
            "page": "404", "heading": i18n._("Draw a digit"), "models": service.names(), "draw": True,
            "refused": i18n._(NOT_DIGITS).format(name=info.name), "choices": choices}, status_code=422)
    return templates.TemplateResponse(request, "draw.html", {"model": service.detail(info.name), "page": "draw",
                                                             "choices": choices,
                                                             "weights_commands": weights_commands(info.name)})


def not_found_page(request: Request, service: Service, name: str | None = None, draw: bool = False) -> HTMLResponse:
    """The HTML 404: what was asked for and, for a model name, the closest names there are; ``draw``: asked
    for by the drawing pad, which the page links back to."""
    closest = service.closest(name) if name else []
    return templates.TemplateResponse(request, "404.html", {
        "page": "404", "name": (name or "")[:100], "path": request.url.path[:200], "closest": closest,
        "models": service.names(), "draw": draw}, status_code=404)


@router.get("/models/{name}", response_class=HTMLResponse)
def explorer(name: str, request: Request, service: ServiceDep) -> Any:
    try:
        info = service.info(name)
    except AppError as e:
        if e.status != 404:
            raise
        return not_found_page(request, service, name)
    if info.name != name:  # another case or an alias: one address per model
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/models/{quote(info.name)}{query}", status_code=301)
    detail = lessons.attach(service.detail(info.name), i18n.current.get())
    return templates.TemplateResponse(request, "model.html", {
        "model": detail, "page": "model", "samples": DIGITS if info.input_kind == "digit" else SAMPLES,
        "weights_commands": weights_commands(info.name),
        "model_description": lessons.describe(detail, i18n.current.get()),
        "lrn_layers": [s for s, _r, _o in lrn_stages(info.name)] if info.source == "builtin" else []})


@router.get("/compare", response_class=HTMLResponse)
def compare(request: Request, service: ServiceDep) -> Any:
    models = service.models(refresh=False)
    params = {m["name"]: m["params"] for m in models}  # Table 1's counts: the models' own (app.analysis)
    return templates.TemplateResponse(request, "compare.html", {
        "models": models, "vgg": vgg.table1(params), "page": "compare",
        "vgg_notes": lessons.vgg_c_vs_d(i18n.current.get()), "lenet": history.history_table()})


SAMPLES: list[dict[str, str]] = [  # static/samples/, licences in static/samples/LICENSE.md
    {"file": "chelsea.jpg", "title": N_("cat"), "subject": N_("Chelsea the cat"), "licence": "CC0",
     "author": "Stefan van der Walt"},
    {"file": "coffee.jpg", "title": N_("coffee"), "subject": N_("coffee"), "licence": "CC0",
     "author": "Rachel Michetti"},
    {"file": "astronaut.jpg", "title": N_("astronaut"), "subject": N_("Eileen Collins"), "licence": N_("public domain"),
     "author": "NASA"},
    {"file": "rocket.jpg", "title": N_("rocket"), "subject": N_("DSCOVR launch"), "licence": N_("public domain"),
     "author": "SpaceX"},
]

# a digit model is offered digits: the first of each class in MNIST's test split (scripts/mnist_samples.py)
DIGITS: list[dict[str, str]] = [
    {"file": f"mnist-{d}.png", "title": str(d), "subject": N_("MNIST test digit"), "licence": "CC BY-SA 3.0",
     "author": "LeCun, Cortes, Burges"} for d in range(10)]
