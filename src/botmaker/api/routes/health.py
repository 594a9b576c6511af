from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from botmaker.api.deps import services
from botmaker.api.responses import Health

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Whether the store and the Docker engine answer (no auth)",
    response_model=Health,
    responses={503: {"model": Health, "description": "something does not answer"}},
)
async def health(request: Request) -> JSONResponse:
    checks = await anyio.to_thread.run_sync(services(request).health)
    ok = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503
    )
