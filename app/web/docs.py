"""The API docs served offline: Swagger UI at /docs, its assets from the fastapi-offline package (which
ships Swagger UI 5, Apache-2.0) and our own init script as a static file, since the Content-Security-Policy
forbids inline script. ReDoc is not offered: its bundle always loads a logo from the vendor's CDN."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs-assets"

router = APIRouter(include_in_schema=False)


def _page(title: str, head: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="{ASSETS_URL}/favicon.png">{head}</head>
<body>{body}</body></html>"""


@router.get("/docs", response_class=HTMLResponse)
def swagger(request: Request) -> HTMLResponse:
    return HTMLResponse(_page(
        "convscope API · Swagger UI",
        f'<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">',
        '<p class="docs-nav"><a href="/">convscope</a></p><div id="swagger-ui"></div>'
        f'<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>'
        '<script src="/static/js/docs-init.js"></script>'))


def install(app: FastAPI) -> None:
    """Mount the assets and /docs (the app is created with docs_url=None, redoc_url=None)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    app.include_router(router)
