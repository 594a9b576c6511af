"""Every error leaves the API in one shape: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from botmaker.errors import BotMakerError, TooManyRequests
from botmaker.services.fieldnames import in_words, validation_message

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return {"error": body}


def field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BotMakerError)
    async def botmaker_error(_: Request, exc: BotMakerError) -> JSONResponse:
        headers = {}
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after)
        if exc.status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        body = exc.to_dict()
        if exc.field:  # "base_url must start…" -> "Base URL must start…"
            body["error"]["message"] = in_words(exc.field, exc.message, prefix=False)
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        first = errors[0] if errors else {}
        loc = tuple(first.get("loc", ()))
        if first.get("type") == "json_invalid" or loc == ("body",):
            body = error_body("bad_request", validation_message(first), "body")
            return JSONResponse(body, status_code=400)
        field = field_of(loc)
        # The first problem only, in the one error shape (never input values: secrets),
        # the field named in words ("Bot name: must be…"), its key in ``field``.
        message = in_words(field, validation_message(first))
        return JSONResponse(error_body("invalid", message, field), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        # FastAPI's own 400 is "There was an error parsing the body" (e.g. not UTF-8).
        field = "body" if exc.status_code in (400, 413) else None
        return JSONResponse(
            error_body(code, str(exc.detail), field),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        return JSONResponse(error_body("internal", "internal error"), status_code=500)
