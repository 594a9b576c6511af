"""``GET /metrics``: BotMaker's Prometheus metrics, and the keyring's appended.

Who may scrape is decided by the one policy (action ``metrics.read``): the scrape
token (``BOTMAKER_METRICS_TOKEN[_FILE]``, compared in constant time) stands for
:data:`policy.SCRAPER`, which may do that and nothing else; with no token set, a
loopback client without credentials is that scraper too. Anyone else signs in as a
user (an admin's session, or an API token with the ``metrics:read`` scope).
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from botmaker import policy
from botmaker.api.deps import Allow, authenticate, client_address, request_token, services
from botmaker.errors import BotMakerError, Forbidden
from botmaker.policy import Action, Principal

router = APIRouter(tags=["metrics"])

#: How long a scrape waits for the keyring's metrics before serving BotMaker's alone.
KEYRING_TIMEOUT = 1.0

_KEYRING_UP = (
    "# HELP botmaker_keyring_up 1 if the keyring process answered this scrape's request "
    "for its metrics (appended below), else 0.\n"
    "# TYPE botmaker_keyring_up gauge\n"
    "botmaker_keyring_up {up}\n"
)


class AllowScrape(Allow):
    """:class:`Allow` for ``metrics.read``, with the scrape token and loopback rule."""

    def __init__(self) -> None:
        super().__init__(Action.METRICS_READ)

    def _resolve(self, request: Request) -> tuple[Principal, policy.Owned | None, str]:
        expected = services(request).settings.metrics_token
        token, from_cookie = request_token(request)
        if (
            expected is not None
            and token is not None
            and not from_cookie
            and hmac.compare_digest(token.encode("utf-8"), expected.reveal().encode("utf-8"))
        ):
            return policy.SCRAPER, None, ""
        if token is None and expected is None:
            if _loopback(client_address(request)):
                return policy.SCRAPER, None, ""
            raise Forbidden(
                "only loopback clients may scrape /metrics without a token: set "
                "BOTMAKER_METRICS_TOKEN_FILE and send it as 'Authorization: Bearer …'"
            )
        return authenticate(request), None, ""  # a user's session or token; else 401


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@router.get(
    "/metrics",
    summary="Prometheus metrics: the fleet, the API, the event stream, the keyring",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        }
    },
    dependencies=[Depends(AllowScrape())],
)
def metrics(request: Request) -> Response:
    svc = services(request)
    body = svc.metrics.exposition()
    if svc.keyring.enabled:
        try:
            keyring = svc.keyring.metrics(timeout=KEYRING_TIMEOUT)
        except BotMakerError:
            body += _KEYRING_UP.format(up=0).encode()
        else:
            body += _KEYRING_UP.format(up=1).encode() + keyring
    return Response(
        body, media_type=CONTENT_TYPE_PLAIN_0_0_4, headers={"Cache-Control": "no-store"}
    )
