"""A bot's egress policy: where it may connect through the egress proxy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from botmaker.api.deps import allow, services
from botmaker.definition import ChannelSpec
from botmaker.errors import InvalidInput
from botmaker.openclaw.catalog import CHANNELS, PROVIDERS
from botmaker.policy import Action
from botmaker.services.definitions import default_hosts
from botmaker.services.schemas import EgressIn

router = APIRouter(prefix="/api", tags=["egress"])


class Refusal(BaseModel):
    at: float
    detail: str
    host: str | None = Field(description="what one click on 'allow this host' would add")


class EgressOut(BaseModel):
    mode: str
    allow: list[str]
    enforced: bool = Field(description="false when BOTMAKER_EGRESS=off: bots connect directly")
    refusals: list[Refusal] = Field(description="the latest refusals, newest first")


class AllowHost(BaseModel):
    host: str = Field(min_length=1, max_length=260, description="example.com, *.example.com[:port]")


class EgressDefaults(BaseModel):
    hosts: list[str] = Field(description="the allowlist a new bot with these choices gets")
    keyring: bool = Field(
        description="its provider is called through the keyring (always reachable), so the "
        "provider's host is not among them"
    )
    enforced: bool = Field(description="false when BOTMAKER_EGRESS=off: bots connect directly")


def _out(body: dict[str, Any]) -> EgressOut:
    return EgressOut.model_validate(body)


@router.get(
    "/bots/{bot}/egress",
    response_model=EgressOut,
    summary="The bot's egress policy and its latest refusals",
    dependencies=[allow(Action.BOT_READ)],
)
def get_egress(bot: str, request: Request) -> EgressOut:
    return _out(services(request).egress.policy(bot))


@router.put(
    "/bots/{bot}/egress",
    response_model=EgressOut,
    summary="Replace the bot's egress policy (in force within a second; no restart)",
    dependencies=[allow(Action.BOT_EDIT)],
)
def put_egress(bot: str, body: EgressIn, request: Request) -> EgressOut:
    svc = services(request)
    result = svc.egress.set_policy(bot, body.mode, body.allow)
    svc.audit.record("bot.egress", bot, mode=body.mode, hosts=len(result["allow"]))
    return _out(result)


@router.post(
    "/bots/{bot}/egress/allow",
    response_model=EgressOut,
    summary="Add one host to the bot's allowlist (a refused one, say)",
    dependencies=[allow(Action.BOT_EDIT)],
)
def allow_host(bot: str, body: AllowHost, request: Request) -> EgressOut:
    svc = services(request)
    result = svc.egress.allow_host(bot, body.host)
    svc.audit.record("bot.egress_allow", bot, host=body.host)
    return _out(result)


@router.get(
    "/egress/defaults",
    response_model=EgressDefaults,
    summary="The hosts a new bot's allowlist gets when its create omits egress.allow",
    dependencies=[allow(Action.CATALOG_READ)],
)
def egress_defaults(
    request: Request,
    provider: Annotated[str, Query(max_length=64)],
    channel: Annotated[list[str], Query(min_length=1, max_length=20)],
    base_url: Annotated[str | None, Query(max_length=2048)] = None,
    setting: Annotated[
        list[str] | None,
        Query(max_length=50, description="the channels' non-secret settings (URLs name hosts)"),
    ] = None,
    own_key: Annotated[bool, Query(description="the create gives secrets.api_key")] = False,
) -> EgressDefaults:
    """What the wizard pre-fills: the same ``default_hosts`` the create uses."""
    if provider not in PROVIDERS:
        raise InvalidInput(f"unknown provider {provider!r}", field="provider")
    for name in channel:
        if name not in CHANNELS:
            raise InvalidInput(f"unknown channel {name!r}", field="channel")
    svc = services(request)
    keyring = svc.bots.creator.keyed(provider, own_key=own_key)
    settings = {str(i): value for i, value in enumerate(setting or ())}
    channels = [
        ChannelSpec(type=name, settings=settings if i == 0 else {})
        for i, name in enumerate(channel)
    ]
    try:
        hosts = default_hosts(channels, provider, base_url, keyring=keyring)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="setting") from None
    return EgressDefaults(hosts=hosts, keyring=keyring, enforced=svc.egress.enabled)
