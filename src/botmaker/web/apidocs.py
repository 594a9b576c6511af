"""The API documentation: for the logged-in admin only, served by BotMaker itself.

FastAPI's own ``/docs`` page answers anyone, has an inline script and loads Swagger UI
from a CDN at a floating version. Instead: the OpenAPI document needs a token or the
session cookie like every other ``/api`` route, ``/api/docs`` is a dashboard page
(login redirect, the pages' CSP), and Swagger UI's script and stylesheet come from the
``fastapi-offline`` package pinned in requirements.lock (the unmodified swagger-ui-dist
5.32.6 files: Swagger UI 5 reads FastAPI's OpenAPI 3.1, the 4.x of swagger-ui-bundle
cannot); only those two files are used, none of its code. Our own
``static/js/pages/api.js`` starts Swagger UI (no inline script).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from botmaker.api.deps import allow
from botmaker.errors import NotFound
from botmaker.policy import Action


def _package_static(package: str) -> Path:
    """The ``static`` folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{package} is not installed (it is in requirements.lock)")
    return Path(spec.origin).parent / "static"


#: Swagger UI's files, from the installed package (never a CDN).
SWAGGER_UI_DIR = _package_static("fastapi_offline")
#: The only files of it we serve (not its Redoc bundle or anything else).
SWAGGER_UI_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


@router.get("/api/openapi.json", dependencies=[allow(Action.SESSION)])
def openapi_document(request: Request) -> JSONResponse:
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document, headers={"Cache-Control": "no-store"})


@router.get("/static/swagger-ui/{name}")
def swagger_ui_asset(name: str) -> Response:
    media_type = SWAGGER_UI_ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no such file: {name}")
    return FileResponse(
        SWAGGER_UI_DIR / name,
        media_type=media_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=3600"},
    )
