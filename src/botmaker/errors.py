"""One error hierarchy for BotMaker.

Every error a caller may see is a :class:`BotMakerError` carrying its HTTP status
and a stable machine-readable ``code``. The API renders them in one handler as
``{"error": {"code", "message", "field"?}}``. Other libraries' exceptions are
converted where they enter (runtime, store), so callers only catch these.
"""

from __future__ import annotations


class BotMakerError(Exception):
    status: int = 500
    code: str = "internal"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, dict[str, str]]:
        body = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return {"error": body}


class BadRequest(BotMakerError):
    status = 400
    code = "bad_request"


class InvalidInput(BotMakerError):
    """A request field failed validation."""

    status = 422
    code = "invalid"


class Unauthorized(BotMakerError):
    status = 401
    code = "unauthorized"


class Forbidden(BotMakerError):
    status = 403
    code = "forbidden"


class NotFound(BotMakerError):
    status = 404
    code = "not_found"


class Conflict(BotMakerError):
    status = 409
    code = "conflict"


class PayloadTooLarge(BotMakerError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(BotMakerError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RuntimeFailure(BotMakerError):
    """The container engine answered, but refused or failed the operation."""

    status = 502
    code = "runtime_error"


class ImageUnavailable(BotMakerError):
    """The bot image is missing locally and could not be pulled."""

    status = 502
    code = "image_unavailable"


class EngineUnavailable(BotMakerError):
    """The container engine does not answer (down, unreachable or too slow)."""

    status = 503
    code = "engine_unavailable"


class StorageFull(BotMakerError):
    """The disk holding BotMaker's data or secrets has no space left: nothing was kept."""

    status = 507
    code = "storage_full"


class StoreUnavailable(BotMakerError):
    status = 503
    code = "store_unavailable"
