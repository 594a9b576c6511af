from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from botmaker.api.deps import services

router = APIRouter(tags=["health"])


@router.get("/health", summary="Whether the store and the Docker engine answer (no auth)")
async def health(request: Request) -> JSONResponse:
    checks: dict[str, Any] = await anyio.to_thread.run_sync(services(request).health)
    ok = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503
    )
