"""A bot's definition: checked against the catalogs, stored as JSON, turned into a BotConfig.

Cross-field rules live here (which credentials a channel needs, which DM policy
it accepts, whether a provider needs a key or a base URL), so the API, the CLI
and the dashboard all refuse the same things with the same field names.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from botmaker.definition import (
    BotDefinition,
    BudgetSpec,
    ChannelSpec,
    EgressSpec,
    LimitsSpec,
    Persona,
)
from botmaker.egress.rules import parse_pattern
from botmaker.errors import InvalidInput
from botmaker.keyring.netpolicy import check_base_url
from botmaker.openclaw.catalog import CHANNEL_HOSTS, CHANNELS, PROVIDERS, Channel
from botmaker.openclaw.render import (
    API_KEY_FILE,
    BotConfig,
    ChannelConfig,
    GatewayAccess,
    primary_credential,
    secret_file_for,
)
from botmaker.openclaw.render import Persona as RenderPersona
from botmaker.openclaw.templates import TEMPLATES
from botmaker.services.schemas import BotCreate, BotSecretsUpdate, BotUpdate, EgressIn, LimitsIn
from botmaker.store import BotRecord

DEFAULT_TEMPLATE = "assistant"


@dataclass(frozen=True)
class ChannelRequest:
    """One channel of a create request, whichever form it came in."""

    type: str
    secrets: dict[str, bool]  # credential name -> given
    settings: dict[str, str]
    dm_policy: str | None
    allow_from: list[str]
    secret_field: Callable[[str], str]  # credential name -> API field
    field: Callable[[str], str]  # "dm_policy" etc. -> API field


def channel_requests(request: BotCreate) -> list[ChannelRequest]:
    if request.channels is not None:
        if request.channel is not None:
            raise InvalidInput("give channel or channels, not both", field="channel")
        if request.secrets.channel_token or request.secrets.channel_credentials:
            raise InvalidInput(
                "with channels, give each channel's credentials in channels[].credentials",
                field="secrets.channel_token",
            )
        if not request.channels:
            raise InvalidInput("at least one channel is needed", field="channels")
        seen: set[str] = set()
        result = []
        for i, item in enumerate(request.channels):
            if item.type in seen:
                raise InvalidInput(f"channel {item.type} is listed twice", field=f"channels.{i}")
            seen.add(item.type)
            result.append(
                ChannelRequest(
                    type=item.type,
                    secrets=dict.fromkeys(item.credentials, True),
                    settings=dict(item.settings),
                    dm_policy=item.dm_policy,
                    allow_from=list(item.allow_from),
                    secret_field=_prefixed(f"channels.{i}.credentials."),
                    field=_prefixed(f"channels.{i}."),
                )
            )
        return result
    if request.channel is None:
        raise InvalidInput("choose a channel (or give channels)", field="channel")
    return [
        _single_channel(
            CHANNELS[request.channel],
            list(request.secrets.channel_credentials),
            token=request.secrets.channel_token is not None,
            settings=dict(request.channel_settings),
            dm_policy=request.dm_policy,
            allow_from=list(request.allow_from),
        )
    ]


def _single_channel(
    channel: Channel,
    credentials: list[str],
    *,
    token: bool,
    settings: dict[str, str],
    dm_policy: str | None,
    allow_from: list[str],
) -> ChannelRequest:
    """The one channel of a bot given in the flat form (``channel``, ``secrets.channel_token``,
    ``secrets.channel_credentials``, ``channel_settings``): ``credentials`` are the names
    given besides the token."""
    primary = primary_credential(channel)
    given = dict.fromkeys(credentials, True)
    for name in given:
        if name == primary:
            raise InvalidInput(
                f"send {name} as secrets.channel_token",
                field=f"secrets.channel_credentials.{name}",
            )
    if primary is not None and token:
        given[primary] = True

    def secret_field(name: str) -> str:
        return "secrets.channel_token" if name == primary else f"secrets.channel_credentials.{name}"

    return ChannelRequest(
        type=channel.id,
        secrets=given,
        settings=settings,
        dm_policy=dm_policy,
        allow_from=allow_from,
        secret_field=secret_field,
        field=lambda f: "channel_settings" if f == "settings" else f,
    )


def _prefixed(prefix: str) -> Callable[[str], str]:
    def field(name: str) -> str:
        return prefix + name

    return field


def check_channel(item: ChannelRequest) -> ChannelSpec:
    channel = CHANNELS[item.type]
    known = {c.name for c in channel.credentials if c.secret}
    for name in item.secrets:
        if name not in known:
            raise InvalidInput(
                f"channel {channel.id} has no credential {name!r}", field=item.secret_field(name)
            )
    allowed_settings = {c.name for c in channel.credentials if not c.secret}
    if channel.id == "telegram":
        allowed_settings.add("api_root")
    choices = {c.name: c.choices for c in channel.credentials if c.choices}
    settings_field = item.field("settings")
    for name, value in item.settings.items():
        if name not in allowed_settings:
            raise InvalidInput(
                f"channel {channel.id} has no setting {name!r}", field=f"{settings_field}.{name}"
            )
        if name in choices and value not in choices[name]:
            raise InvalidInput(
                f"{name} must be one of: {', '.join(choices[name])}",
                field=f"{settings_field}.{name}",
            )
    for credential in channel.credentials:
        if not credential.required:
            continue
        if credential.secret and credential.name not in item.secrets:
            label = (
                channel.token_label
                if credential.name == primary_credential(channel)
                else credential.label
            )
            raise InvalidInput(
                f"channel {channel.id} needs its {label}",
                field=item.secret_field(credential.name),
            )
        if not credential.secret and not item.settings.get(credential.name):
            raise InvalidInput(
                f"channel {channel.id} needs {credential.label}",
                field=f"{settings_field}.{credential.name}",
            )
    dm_policy = item.dm_policy or _default_policy(channel)
    if channel.dm_policies and dm_policy not in channel.dm_policies:
        raise InvalidInput(
            f"dm_policy must be one of: {', '.join(channel.dm_policies)}",
            field=item.field("dm_policy"),
        )
    if dm_policy == "allowlist" and not item.allow_from:
        raise InvalidInput(
            "an allowlist policy needs allow_from entries", field=item.field("allow_from")
        )
    return ChannelSpec(
        type=channel.id,
        dm_policy=dm_policy,
        allow_from=tuple(item.allow_from),
        settings=item.settings,
    )


def build_definition(request: BotCreate, *, keyring: bool, image: str) -> BotDefinition:
    """Validate what pydantic cannot see alone; return the definition of the bot to create.

    ``keyring``: provider keys live in the keyring proxy, so a provider that needs a
    key may do without ``secrets.api_key`` (a shared keyring key is used).
    """
    _check_provider(
        request.provider,
        api_key=request.secrets.api_key is not None,
        base_url=request.base_url,
        base_url_private=request.base_url_private,
        keyring=keyring,
    )
    if not keyring and (request.budget is not None or request.key_tags):
        field = "budget" if request.budget is not None else "key_tags"
        raise InvalidInput("budgets and key tags need the keyring proxy", field=field)
    channels = [check_channel(item) for item in channel_requests(request)]
    return BotDefinition(
        provider=request.provider,
        model=request.model,
        image=image,
        persona=Persona(**_persona(request)),
        channels=tuple(channels),
        template=request.template,
        fallbacks=tuple(request.fallbacks),
        base_url=request.base_url,
        base_url_private=request.base_url_private,
        heartbeat=request.heartbeat,
        keyring=keyring,
        budget=BudgetSpec(**request.budget.model_dump())
        if keyring and request.budget
        else BudgetSpec(),
        key_tags=tuple(request.key_tags) if keyring else (),
        egress=_egress(request, channels, keyring=keyring),
    )


def default_hosts(
    channels: Sequence[ChannelSpec], provider: str, base_url: str | None, *, keyring: bool
) -> list[str]:
    """The hosts a bot needs: its channels' (catalog, and any URL in their settings) and,
    when it calls its provider itself (no keyring), the provider's API host."""
    hosts: list[str] = []
    for channel in channels:
        hosts += CHANNEL_HOSTS.get(channel.type, ())
        hosts += [h for v in channel.settings.values() if (h := _url_host(v)) is not None]
    if not keyring:
        url = base_url or PROVIDERS[provider].base_url
        if (host := _url_host(url)) is not None:
            hosts.append(host)
    patterns: dict[str, None] = {}
    for host in hosts:
        try:  # a URL whose host is no host name: its own field's check says so
            patterns[str(parse_pattern(host))] = None
        except ValueError:
            continue
    return list(patterns)


def _url_host(value: str) -> str | None:
    """``host`` or ``host:port`` (a port other than the scheme's) of a URL, else None."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    default = 443 if parts.scheme in ("https", "wss") else 80
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host if port in (None, default) else f"{host}:{port}"


def _egress(request: BotCreate, channels: Sequence[ChannelSpec], *, keyring: bool) -> EgressSpec:
    wanted = request.egress or EgressIn()
    allow = wanted.allow
    if allow is None:
        allow = default_hosts(channels, request.provider, request.base_url, keyring=keyring)
    return EgressSpec(mode=wanted.mode, allow=tuple(allow))


def _check_provider(
    provider_id: str, *, api_key: bool, base_url: str | None, base_url_private: bool, keyring: bool
) -> None:
    provider = PROVIDERS[provider_id]
    if provider.key_required and not api_key and not keyring:
        raise InvalidInput(f"provider {provider.id} needs an API key", field="secrets.api_key")
    if provider.base_url_required and not base_url:
        raise InvalidInput(f"provider {provider.id} needs a base URL", field="base_url")
    if base_url and keyring:  # the keyring connects there: no private ranges unasked
        check_base_url(base_url, allow_private=base_url_private)


def apply_update(
    record: BotRecord, patch: BotUpdate, present: frozenset[str] | set[str]
) -> BotDefinition:
    """The bot's definition with an edit applied, checked as a create is.

    Only the fields the patch sets change (``exclude_unset``; a null keeps the stored
    value, as it always did). Secrets are judged by ``present`` (the bot's secret
    files) and the ones the patch gives: no secret value is needed to check an edit.
    """
    old = record.definition
    given = {name for name in patch.model_fields_set if getattr(patch, name) is not None}
    secrets = patch.secrets or BotSecretsUpdate()
    provider = patch.provider or old.provider
    switching = provider != old.provider
    if switching and patch.model is None:
        raise InvalidInput(
            f"a change of provider needs a model of {provider}: give model too", field="model"
        )
    # The stored key, base URL and fallbacks belong to the old provider: a change of
    # provider keeps none of them (the old key file goes once the edit succeeded).
    base_url = patch.base_url if "base_url" in given else None if switching else old.base_url
    private = (
        patch.base_url_private
        if patch.base_url_private is not None
        else False
        if switching
        else old.base_url_private
    )
    _check_provider(
        provider,
        api_key=secrets.api_key is not None or (API_KEY_FILE in present and not switching),
        base_url=base_url,
        base_url_private=private,
        keyring=old.keyring,
    )
    if "budget" in given and not old.keyring:
        raise InvalidInput("budgets and key tags need the keyring proxy", field="budget")
    persona, template = old.persona, None  # an edit forgets the template, as it always did
    if patch.persona is not None:
        persona = Persona(**patch.persona.model_dump())
    elif patch.template is not None:
        template = patch.template
        persona = Persona(**_template_persona(patch.template, record.name))
    budget = old.budget
    if patch.budget is not None:
        budget = BudgetSpec(**patch.budget.model_dump())
    fallbacks = () if switching else old.fallbacks
    channels = tuple(check_channel(item) for item in _edited_channels(old, patch, present))
    changes = {
        "provider": provider,
        "model": patch.model or old.model,
        "persona": persona,
        "template": template,
        "fallbacks": tuple(patch.fallbacks) if patch.fallbacks is not None else fallbacks,
        "base_url": base_url,
        "base_url_private": private,
        "heartbeat": patch.heartbeat if patch.heartbeat is not None else old.heartbeat,
        "budget": budget,
        "channels": channels,
    }
    if patch.limits is not None:
        changes["limits"] = _limits(old.limits, patch.limits)
    if patch.egress is not None:
        allow = patch.egress.allow
        changes["egress"] = EgressSpec(
            mode=patch.egress.mode, allow=tuple(allow if allow is not None else old.egress.allow)
        )
    if switching and old.keyring:
        changes["key_id"] = None  # the bot's own key was for the old provider
    # A new provider (called by the bot itself, without the keyring) or a new channel:
    # an allowlist gains the hosts it needs, unless the edit gives the list itself.
    new_channel = channels[0].type != old.channels[0].type
    hosts = default_hosts(
        channels if new_channel else (), provider, base_url, keyring=old.keyring or not switching
    )
    if hosts and (patch.egress is None or patch.egress.allow is None):
        egress = changes.get("egress", old.egress)
        assert isinstance(egress, EgressSpec)
        changes["egress"] = _with_hosts(egress, hosts)
    return old.model_copy(update=changes)


def _with_hosts(egress: EgressSpec, hosts: list[str]) -> EgressSpec:
    """An allowlist with ``hosts`` added; no host is taken away."""
    if egress.mode != "allowlist":
        return egress
    added = [h for h in hosts if h not in egress.allow]
    return EgressSpec(mode=egress.mode, allow=(*egress.allow, *added))


def stale_secret_files(
    old: BotDefinition, new: BotDefinition, replaced: Collection[str], present: Collection[str]
) -> list[str]:
    """The secret files an edit leaves without a use: the key of the provider the bot
    left, the credentials of the channel it left (``replaced``: the files the edit
    writes anew)."""
    stale: set[str] = set()
    if new.provider != old.provider:
        stale.add(API_KEY_FILE)
    if len(old.channels) == 1 and new.channels[0].type != old.channels[0].type:
        channel = CHANNELS[old.channels[0].type]
        stale |= {"channel_token", "channel_config"}
        stale |= {secret_file_for(channel, c.name) for c in channel.credentials if c.secret}
    return sorted(name for name in stale if name in present and name not in replaced)


def _limits(old: LimitsSpec, patch: LimitsIn) -> LimitsSpec:
    """The bot's limits with the fields the edit gives (null: the server's again)."""
    given = patch.model_fields_set
    return LimitsSpec(
        memory_bytes=patch.memory_bytes() if "memory" in given else old.memory_bytes,
        cpus=patch.cpus if "cpus" in given else old.cpus,
        pids=patch.pids if "pids" in given else old.pids,
    )


def _edited_channels(
    old: BotDefinition, patch: BotUpdate, present: frozenset[str] | set[str]
) -> list[ChannelRequest]:
    """The bot's channels with the edit applied; several channels cannot be edited."""
    secrets = patch.secrets or BotSecretsUpdate()
    if len(old.channels) > 1:
        fields = ("channel", "dm_policy", "allow_from", "channel_settings")
        touched = [f for f in fields if getattr(patch, f) is not None]
        if secrets.channel_token or secrets.channel_credentials:
            touched.append("secrets.channel_token")
        if touched:
            raise InvalidInput(
                "this bot has several channels; change them by creating the bot anew",
                field=touched[0],
            )
        return [_stored_channel(entry, index, present) for index, entry in enumerate(old.channels)]
    (entry,) = old.channels
    if patch.channel is not None and patch.channel != entry.type:
        # Another channel: nothing of the old one's (credentials, settings, senders) holds.
        return [
            _single_channel(
                CHANNELS[patch.channel],
                sorted(secrets.channel_credentials),
                token=secrets.channel_token is not None,
                settings=dict(patch.channel_settings or {}),
                dm_policy=patch.dm_policy,
                allow_from=list(patch.allow_from or []),
            )
        ]
    stored = {
        name.removeprefix("channel_")
        for name in present
        if name.startswith("channel_") and name not in ("channel_token", "channel_config")
    }
    return [
        _single_channel(
            CHANNELS[entry.type],
            sorted(stored | set(secrets.channel_credentials)),
            token=secrets.channel_token is not None or "channel_token" in present,
            settings=dict(
                entry.settings if patch.channel_settings is None else patch.channel_settings
            ),
            dm_policy=patch.dm_policy or entry.dm_policy,
            allow_from=list(entry.allow_from if patch.allow_from is None else patch.allow_from),
        )
    ]


def _stored_channel(
    entry: ChannelSpec, index: int, present: frozenset[str] | set[str]
) -> ChannelRequest:
    channel = CHANNELS[entry.type]
    return ChannelRequest(
        type=entry.type,
        secrets={
            c.name: True
            for c in channel.credentials
            if c.secret and secret_file_for(channel, c.name, index) in present
        },
        settings=dict(entry.settings),
        dm_policy=entry.dm_policy,
        allow_from=list(entry.allow_from),
        secret_field=_prefixed(f"channels.{index}.credentials."),
        field=_prefixed(f"channels.{index}."),
    )


def secret_files(request: BotCreate) -> dict[str, str]:
    """Every secret file of a create request, by file name."""
    files = request.secrets.files()
    for index, item in enumerate(request.channels or []):
        channel = CHANNELS[item.type]
        for name, value in item.credentials.items():
            files[secret_file_for(channel, name, index)] = value.get_secret_value()
    return files


def patch_secret_files(patch: BotUpdate) -> dict[str, str]:
    """Every secret file an edit replaces, by file name."""
    if patch.secrets is None:
        return {}
    files = {
        name: value.get_secret_value()
        for name, value in (
            ("api_key", patch.secrets.api_key),
            ("channel_token", patch.secrets.channel_token),
        )
        if value is not None
    }
    for name, value in patch.secrets.channel_credentials.items():
        files[f"channel_{name}"] = value.get_secret_value()
    return files


def dm_policy_of(entry: ChannelSpec) -> str:
    """The DM policy a bot's channel runs with: its own, else its type's default."""
    return entry.dm_policy or _default_policy(CHANNELS[entry.type])


def _default_policy(channel: Channel) -> str:
    if "pairing" in channel.dm_policies:
        return "pairing"
    return channel.dm_policies[0] if channel.dm_policies else ""


def _persona(request: BotCreate) -> dict[str, str]:
    if request.persona is not None:
        return request.persona.model_dump()
    return _template_persona(request.template, request.name)


def _template_persona(template_id: str | None, bot_name: str) -> dict[str, str]:
    """A template's persona; without a template, the default one named after the bot."""
    template = TEMPLATES[template_id or DEFAULT_TEMPLATE]
    name = bot_name if template_id is None else template.persona_name
    return {"name": name, "emoji": template.emoji, "soul": template.soul, "user_notes": ""}


def bot_config(
    record: BotRecord,
    secret_files: frozenset[str],
    *,
    proxy_base: str | None = None,
    access: GatewayAccess | None = None,
) -> BotConfig:
    """The renderer's view of a stored bot (``proxy_base``: its keyring proxy URL;
    ``access``: how BotMaker reaches its gateway)."""
    definition = record.definition
    channels = []
    for index, entry in enumerate(definition.channels):
        settings = dict(entry.settings)
        api_root = settings.pop("api_root", None)
        channels.append(
            ChannelConfig(
                type=entry.type,
                dm_policy=dm_policy_of(entry),
                allow_from=entry.allow_from,
                settings=settings,
                api_root=api_root,
                index=index,
            )
        )
    return BotConfig(
        id=record.id,
        name=record.name,
        provider=definition.provider,
        model=definition.model,
        persona=RenderPersona(**definition.persona.model_dump()),
        fallbacks=definition.fallbacks,
        base_url=definition.base_url,
        heartbeat=definition.heartbeat,
        channels=tuple(channels),
        secret_files=secret_files,
        proxy_base=proxy_base,
        access=access,
        openclaw_version=definition.openclaw_version or image_tag(record.image),
    )


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``ghcr.io/openclaw/openclaw:2026.9.6`` →
    ``2026.9.6``); None without one (a digest, or the implicit ``latest``)."""
    name = image.split("@", 1)[0]
    _, colon, tag = name.rpartition(":")
    return tag if colon and "/" not in tag else None
