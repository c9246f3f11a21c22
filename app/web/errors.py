"""The app's exception handlers: every error leaves as the one JSON shape (app.errors.error_body), or for a
browser asking for a missing page, the HTML 404 page."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app.errors import AppError, error_body
from app.i18n import error_message

API_PREFIXES = ("/api/", "/predict", "/metrics", "/healthz", "/readyz", "/openapi.json", "/static/")


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not an API path, and HTML accepted before JSON)."""
    path = request.url.path
    if path.startswith(API_PREFIXES) or request.method not in ("GET", "HEAD"):
        return False
    return "text/html" in request.headers.get("accept", "")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{loc}: {e.get('msg', 'invalid')}" if loc else str(e.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.code, error_message(exc.code, exc.message)), exc.status,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(422, "invalid_input", error_message("invalid_input", _validation_message(exc))),
                            422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and wants_html(request):  # a person's browser gets a page, API clients JSON
            from app.web.routes.pages import not_found_page

            return not_found_page(request, request.app.state.service)
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        msg = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and msg == "Not Found":
            msg = "no such page or endpoint; the API is described at /docs"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette names the first route's methods; a path may have several routes
            headers["Allow"] = ", ".join(allowed_methods(request, headers.get("Allow", "")))
        return JSONResponse(error_body(exc.status_code, code, error_message(code, msg)), exc.status_code,
                            headers=headers or None)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> Response:
        # the client closed the connection before its body arrived: nobody to answer, nothing to debug
        logging.getLogger("convscope").warning("client disconnected mid-request: %s %s", request.method,
                                               request.url.path[:200])
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("convscope").exception("unexpected error")
        return JSONResponse(error_body(500, "internal", error_message(
            "internal", "internal error; the server logged the details")), 500)


def allowed_methods(request: Request, said: str = "") -> list[str]:
    """Every method the app documents at this request's path, with those Starlette named (the first route
    matching the path only: GET and POST /api/models/{name}/explain are two routes)."""
    methods = {m.strip().upper() for m in said.split(",") if m.strip()}
    paths = (request.app.openapi().get("paths") or {}) if hasattr(request.app, "openapi") else {}
    for template, ops in paths.items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), request.url.path):
            methods |= {m.upper() for m in ops if m in _HTTP_METHODS}
    return sorted(methods)


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
