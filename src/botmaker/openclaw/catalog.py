"""Providers and channels BotMaker can configure: data in one place, no I/O.

The API validates against these, the CLI lists them and the dashboard renders
them; nothing else keeps its own copy. Every value here was read from OpenClaw
2026.9.6 itself (its ``docs/`` and ``dist/``), not guessed:

* ``Provider.api`` is one of :data:`MODEL_APIS`, the adapter ids the config schema
  accepts for ``models.providers.<id>.api`` (``MODEL_DATA_APIS`` in
  ``dist/model-data-*.mjs``, used as ``ModelApiSchema`` by
  ``dist/zod-schema.core-*.mjs``).
* Provider ids, base URLs and model ids come from ``docs/providers/<id>.md`` and,
  for the provider plugins bundled in ``openclaw``, the model catalogs in their
  ``dist/extensions/<id>/openclaw.plugin.json``. Model ids are written as they
  appear after ``<provider>/`` in an OpenClaw model ref (``groq/openai/gpt-oss-120b``
  is provider ``groq``, model ``openai/gpt-oss-120b``); the first one is the default.
* Channel ids and ``Credential.config_key`` values are keys of ``channels.<id>`` in
  the channel config schemas OpenClaw ships
  (``dist/bundled-channel-config-metadata.generated-*.mjs``) and in
  ``docs/channels/``. A credential is ``secretref`` only when
  ``docs/reference/secretref-credential-surface.md`` lists ``channels.<id>.<key>``
  as SecretRef-capable, ``file`` when the key itself takes a file path that
  OpenClaw reads (``tokenFile``, ``serviceAccountFile``...), and ``plain`` for
  non-secret values. Where the shipped schema still types a listed key as a plain
  string (``channels.irc.password``), the file form is used (``passwordFile``).
  Channels whose secret is accepted only as an inline plain string (Twitch,
  Synology Chat, Tlon) are left out: BotMaker never writes a secret value into
  ``openclaw.json``. So are channels whose config schema OpenClaw does not ship
  (third-party plugins such as QQ Bot or WeChat, which ``openclaw config validate``
  rejects as unknown until installed) and channels that need a Mac (iMessage).
* Every provider and channel below was rendered by ``botmaker.openclaw.render`` and
  accepted by ``openclaw config validate`` in the OpenClaw 2026.9.6 image.
* ``Channel.plugin`` is the npm package to install when the channel is not in the
  core ``openclaw`` package (``docs/plugins/plugin-inventory.md``; only Telegram's
  plugin ships in ``dist/extensions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProviderCategory = Literal["hosted", "aggregator", "local", "custom"]
KeyAuth = Literal["authorization-bearer", "x-api-key", "x-goog-api-key", "none"]
CredentialRef = Literal["secretref", "file", "plain"]

#: Request adapters OpenClaw 2026.9.6 accepts for ``models.providers.<id>.api``.
MODEL_APIS: frozenset[str] = frozenset(
    {
        "openai-completions",
        "openai-responses",
        "openai-chatgpt-responses",
        "anthropic-messages",
        "google-generative-ai",
        "google-vertex",
        "github-copilot",
        "bedrock-converse-stream",
        "ollama",
        "pi-messages",
        "azure-openai-responses",
    }
)

#: Values of ``channels.<id>.dmPolicy`` (``DmPolicySchema`` in ``dist/zod-schema.core-*.mjs``).
DM_POLICIES: tuple[str, ...] = ("pairing", "allowlist", "open", "disabled")

DOCS_SITE = "https://docs.openclaw.ai"


# -- providers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    id: str  # OpenClaw's provider id: models.providers.<id>, model refs "<id>/<model>"
    label: str
    api: str  # the request adapter, one of MODEL_APIS
    base_url: str  # as OpenClaw documents it ("" when the user must supply one)
    default_model: str  # models[0] ("" for custom: the user names the model)
    key_required: bool = True
    category: ProviderCategory = "hosted"
    key_auth: KeyAuth = "authorization-bearer"  # how the API key travels
    models: tuple[str, ...] = ()
    base_url_required: bool = False  # True only for custom
    docs: str = ""  # path on docs.openclaw.ai

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "category": self.category,
            "api": self.api,
            "base_url": self.base_url,
            "base_url_required": self.base_url_required,
            "key_required": self.key_required,
            "key_auth": self.key_auth,
            "default_model": self.default_model,
            "models": list(self.models),
            "docs": self.docs,
        }


def _provider(
    id: str,
    label: str,
    api: str,
    base_url: str,
    models: tuple[str, ...],
    *,
    category: ProviderCategory = "hosted",
    key_required: bool = True,
    key_auth: KeyAuth = "authorization-bearer",
) -> Provider:
    """A provider documented at /providers/<id>, defaulting to its first model."""
    return Provider(
        id=id,
        label=label,
        api=api,
        base_url=base_url,
        default_model=models[0],
        key_required=key_required,
        category=category,
        key_auth=key_auth,
        models=models,
        docs=f"/providers/{id}",
    )


PROVIDERS: dict[str, Provider] = {
    p.id: p
    for p in (
        # api and base URL: the bundled openai plugin's modelCatalog. Fresh API-key
        # setup defaults to gpt-6-astra (docs/providers/openai/models.md).
        _provider(
            "openai",
            "OpenAI",
            "openai-responses",
            "https://api.openai.com/v1",
            ("gpt-6-astra", "gpt-6-sol", "gpt-6-luna", "gpt-5.6", "gpt-5.5"),
        ),
        _provider(
            "anthropic",
            "Anthropic",
            "anthropic-messages",
            "https://api.anthropic.com",
            (
                "claude-opus-5",
                "claude-sonnet-5",
                "claude-opus-5-5",
                "claude-fable-5-1",
                "claude-haiku-4-5",
            ),
            key_auth="x-api-key",
        ),
        _provider(
            "google",
            "Google Gemini",
            "google-generative-ai",
            "https://generativelanguage.googleapis.com/v1beta",
            (
                "gemini-3.1-pro-preview",
                "gemini-3.6-flash",
                "gemini-3.5-flash",
                "gemini-3.1-flash-lite",
                "gemini-2.5-pro",
            ),
            key_auth="x-goog-api-key",
        ),
        _provider(
            "mistral",
            "Mistral",
            "openai-completions",
            "https://api.mistral.ai/v1",
            (
                "mistral-large-latest",
                "mistral-medium-3-5",
                "mistral-small-latest",
                "codestral-latest",
            ),
        ),
        _provider(
            "groq",
            "Groq",
            "openai-completions",
            "https://api.groq.com/openai/v1",
            ("openai/gpt-oss-120b", "openai/gpt-oss-20b", "qwen/qwen3.6-27b"),
        ),
        _provider(
            "deepseek",
            "DeepSeek",
            "openai-completions",
            "https://api.deepseek.com",
            ("deepseek-v4-pro", "deepseek-flash", "deepseek-v4-flash"),
        ),
        # "auto" is OpenRouter's automatic routing; OpenClaw prefixes bare ids with
        # "openrouter/" before sending them (modelIdNormalization.prefixWhenBare).
        _provider(
            "openrouter",
            "OpenRouter",
            "openai-completions",
            "https://openrouter.ai/api/v1",
            ("auto", "moonshotai/kimi-k2.6", "moonshotai/kimi-k2.5"),
            category="aggregator",
        ),
        # xAI's native API is the Responses API (bundled xai plugin's modelCatalog).
        _provider(
            "xai",
            "xAI (Grok)",
            "openai-responses",
            "https://api.x.ai/v1",
            ("grok-4.7", "grok-4.6", "grok-4.5", "grok-4.3"),
        ),
        _provider(
            "together",
            "Together AI",
            "openai-completions",
            "https://api.together.xyz/v1",
            (
                "moonshotai/Kimi-K2.6",
                "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                "deepseek-ai/DeepSeek-V4-Pro",
                "zai-org/GLM-5.2",
            ),
        ),
        _provider(
            "fireworks",
            "Fireworks",
            "openai-completions",
            "https://api.fireworks.ai/inference/v1",
            (
                "accounts/fireworks/routers/glm-5p2-fast",
                "accounts/fireworks/models/kimi-k2p6",
                "accounts/fireworks/routers/kimi-k2p6-turbo",
            ),
        ),
        _provider(
            "cerebras",
            "Cerebras",
            "openai-completions",
            "https://api.cerebras.ai/v1",
            ("gemma-4-31b", "gpt-oss-120b"),
        ),
        # OpenClaw 2026.9.6 documents Perplexity as a web-search provider, not a model
        # provider. Its Sonar chat-completions transport is OpenAI-compatible and its
        # API host is https://api.perplexity.ai (docs/providers/perplexity-provider.md,
        # docs/tools/perplexity-search.md, which also names the sonar-pro model), so it
        # is configured here as an explicit openai-completions provider.
        Provider(
            id="perplexity",
            label="Perplexity (Sonar)",
            api="openai-completions",
            base_url="https://api.perplexity.ai",
            default_model="sonar-pro",
            models=("sonar-pro",),
            docs="/providers/perplexity-provider",
        ),
        _provider(
            "deepinfra",
            "DeepInfra",
            "openai-completions",
            "https://api.deepinfra.com/v1/openai",
            (
                "deepseek-ai/DeepSeek-V4-Flash",
                "deepseek-ai/DeepSeek-V4-Pro",
                "zai-org/GLM-5.2",
                "moonshotai/Kimi-K2.6",
            ),
        ),
        _provider(
            "nvidia",
            "NVIDIA",
            "openai-completions",
            "https://integrate.api.nvidia.com/v1",
            (
                "nvidia/nemotron-3-ultra-550b-a55b",
                "nvidia/nemotron-3-super-120b-a12b",
                "nvidia/nemotron-3.5-lightning-30b-a3b",
                "moonshotai/kimi-k2.6",
                "deepseek-ai/deepseek-v4-pro",
            ),
        ),
        # International endpoint; https://api.moonshot.cn/v1 is the China one.
        _provider(
            "moonshot",
            "Moonshot AI (Kimi)",
            "openai-completions",
            "https://api.moonshot.ai/v1",
            ("kimi-k3", "kimi-k2.7-code", "kimi-k2.7-code-highspeed"),
        ),
        # OpenClaw prefers MiniMax's Anthropic-compatible endpoint and sends the key
        # in the Authorization header there (authHeader: true in the minimax plugin).
        _provider(
            "minimax",
            "MiniMax",
            "anthropic-messages",
            "https://api.minimax.io/anthropic",
            ("MiniMax-M3", "MiniMax-M2.7", "MiniMax-M2.7-highspeed"),
        ),
        _provider(
            "huggingface",
            "Hugging Face Inference",
            "openai-completions",
            "https://router.huggingface.co/v1",
            ("deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-V3.1", "openai/gpt-oss-120b"),
            category="aggregator",
        ),
        _provider(
            "venice",
            "Venice AI",
            "openai-completions",
            "https://api.venice.ai/api/v1",
            (
                "zai-org-glm-4.7",
                "claude-opus-5",
                "venice-uncensored-1-2",
                "qwen3-coder-480b-a35b-instruct-turbo",
                "qwen3-vl-235b-a22b",
            ),
        ),
        # Native Ollama API (no /v1). The documented default host is loopback, which
        # inside a bot's container is the container itself: pass base_url to reach
        # an Ollama on the host or the LAN. Local hosts need no key.
        _provider(
            "ollama",
            "Ollama",
            "ollama",
            "http://127.0.0.1:11434",
            ("gemma4", "qwen3.5:9b", "gpt-oss:20b", "llama3.3", "qwen2.5-coder:32b"),
            category="local",
            key_required=False,
            key_auth="none",
        ),
        # Any OpenAI-compatible /v1/chat/completions server (vLLM, LM Studio, SGLang,
        # LiteLLM, llama.cpp...): base URL and model come from the user, the key is
        # optional (docs/gateway/config-tools/custom-providers.md).
        Provider(
            id="custom",
            label="Custom (OpenAI-compatible)",
            api="openai-completions",
            base_url="",
            default_model="",
            models=(),
            key_required=False,
            category="custom",
            base_url_required=True,
            docs="/gateway/config-tools/custom-providers",
        ),
    )
}


# -- provider key formats ----------------------------------------------------------------

#: The shortest provider key BotMaker accepts (every documented format is far longer).
MIN_KEY_LENGTH = 12

#: How a provider's API keys begin, where the provider documents it (its console shows
#: them so and its docs name the prefix). Providers missing here get the length check only.
KEY_PREFIXES: dict[str, tuple[str, ...]] = {
    "openai": ("sk-",),  # sk-proj-..., sk-svcacct-..., older sk-...
    "anthropic": ("sk-ant-",),
    "openrouter": ("sk-or-",),
    "groq": ("gsk_",),
    "xai": ("xai-",),
    "deepseek": ("sk-",),
    "huggingface": ("hf_",),
    "nvidia": ("nvapi-",),
    "perplexity": ("pplx-",),
    "cerebras": ("csk-",),
}


def key_format_problem(provider: str, key: str) -> str | None:
    """Why ``key`` cannot be a ``provider`` API key (in words, never quoting it), or None."""
    known = PROVIDERS.get(provider)
    label = known.label if known else provider
    prefixes = KEY_PREFIXES.get(provider, ())
    if prefixes and not key.startswith(prefixes):
        starts = " or ".join(f'"{p}"' for p in prefixes)
        return f"this is not {_article(label)} {label} API key: those start with {starts}"
    if len(key) < MIN_KEY_LENGTH:
        return f"too short for an API key (at least {MIN_KEY_LENGTH} characters)"
    return None


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


# -- channels ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """One value a channel needs, and where it goes under ``channels.<id>``."""

    name: str  # BotMaker's name (snake_case), e.g. "bot_token"
    label: str
    config_key: str  # the exact key under channels.<id>, e.g. "botToken"
    secret: bool = True  # False for non-secret settings (a homeserver URL, a host)
    required: bool = True
    ref: CredentialRef = "secretref"  # how the value is written into openclaw.json
    choices: tuple[str, ...] = ()  # the only values OpenClaw's schema accepts, if an enum

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "name": self.name,
            "label": self.label,
            "secret": self.secret,
            "required": self.required,
        }
        if self.choices:
            body["choices"] = list(self.choices)
        return body


def _setting(
    name: str,
    label: str,
    config_key: str,
    *,
    required: bool = True,
    choices: tuple[str, ...] = (),
) -> Credential:
    """A non-secret value written as-is (a URL, a host name, an id)."""
    return Credential(
        name, label, config_key, secret=False, required=required, ref="plain", choices=choices
    )


@dataclass(frozen=True)
class Channel:
    id: str  # OpenClaw's channels.<id> key
    label: str
    plugin: str | None  # npm package to install when not bundled in openclaw
    credentials: tuple[Credential, ...] = ()
    dm_policies: tuple[str, ...] = DM_POLICIES  # () when channels.<id> has no dmPolicy
    supports_groups: bool = True
    interactive_login: bool = False  # QR scan / device linking instead of credentials
    login_hint: str = ""  # the command that completes an interactive login
    #: The plugin links its account through the gateway's ``web.login.start``/``wait``
    #: (a QR code BotMaker shows), not only through a CLI in the container.
    web_login: bool = False
    #: BotMaker links the account by running the channel's own CLI in the bot's
    #: container and showing its code as a QR code (Signal: ``signal-cli link``,
    #: services/gateway/signal_link.py), through the same login routes and page.
    cli_login: bool = False
    needs_public_url: bool = False  # the platform delivers messages to an HTTPS webhook
    docs: str = ""  # path on docs.openclaw.ai

    @property
    def token_label(self) -> str:
        """Label of the first secret credential (sent as ``secrets.channel_token``)."""
        for credential in self.credentials:
            if credential.secret:
                return credential.label
        return ""

    @property
    def config_required(self) -> bool:
        """Kept for older callers: every credential is now a named field."""
        return False

    def to_dict(self) -> dict[str, object]:
        primary = next((c.name for c in self.credentials if c.secret), None)
        credentials = []
        for credential in self.credentials:
            body = credential.to_dict()
            if not credential.secret:
                body["field"] = f"channel_settings.{credential.name}"
            elif credential.name == primary:
                body["field"] = "secrets.channel_token"
            else:
                body["field"] = f"secrets.channel_credentials.{credential.name}"
            credentials.append(body)
        return {
            "id": self.id,
            "label": self.label,
            "plugin": self.plugin,
            "token_label": self.token_label,
            "config_required": self.config_required,
            "credentials": credentials,
            "dm_policies": list(self.dm_policies),
            "supports_groups": self.supports_groups,
            "interactive_login": self.interactive_login,
            "login_hint": self.login_hint,
            "web_login": self.web_login,
            "cli_login": self.cli_login,
            "needs_public_url": self.needs_public_url,
            "docs": self.docs,
        }


#: The hosts each channel's own service needs, for a new bot's egress allowlist (a host
#: the user names in the channel's settings, such as a Matrix homeserver, is added to
#: these at create). ``*.`` covers subdomains; no port means 443 and 80.
CHANNEL_HOSTS: dict[str, tuple[str, ...]] = {
    "telegram": ("api.telegram.org",),
    "discord": (
        "discord.com",
        "gateway.discord.gg",
        "*.discord.gg",
        "cdn.discordapp.com",
        "media.discordapp.net",
    ),
    "slack": ("slack.com", "*.slack.com", "*.slack-edge.com"),
    "googlechat": ("chat.googleapis.com", "oauth2.googleapis.com", "www.googleapis.com"),
    "msteams": (
        "login.microsoftonline.com",
        "login.botframework.com",
        "api.botframework.com",
        "*.botframework.com",
        "smba.trafficmanager.net",
        "graph.microsoft.com",
    ),
    "whatsapp": ("web.whatsapp.com", "*.whatsapp.net", "*.whatsapp.com"),
    "signal": ("*.signal.org",),
    "feishu": ("open.feishu.cn", "open.larksuite.com"),
    "line": ("api.line.me", "api-data.line.me"),
    "zalo": ("*.zalo.me", "*.zaloapp.com"),
    "zalouser": ("*.zalo.me", "*.zaloapp.com", "*.zadn.vn"),
    "sms": ("api.twilio.com",),
}

CHANNELS: dict[str, Channel] = {
    c.id: c
    for c in (
        # Long polling by default; the only channel plugin inside the openclaw package.
        Channel(
            "telegram",
            "Telegram",
            None,
            (Credential("bot_token", "Bot token from @BotFather", "botToken"),),
            docs="/channels/telegram",
        ),
        Channel(
            "discord",
            "Discord",
            "@openclaw/discord",
            (Credential("bot_token", "Bot token", "token"),),
            docs="/channels/discord",
        ),
        # Socket Mode (the default mode) needs the bot token and the app-level token.
        Channel(
            "slack",
            "Slack",
            "@openclaw/slack",
            (
                Credential("bot_token", "Bot token (xoxb-…)", "botToken"),
                Credential("app_token", "App-level token for Socket Mode (xapp-…)", "appToken"),
            ),
            docs="/channels/slack",
        ),
        Channel(
            "mattermost",
            "Mattermost",
            "@openclaw/mattermost",
            (
                Credential("bot_token", "Bot access token", "botToken"),
                _setting("base_url", "Server URL (https://chat.example.com)", "baseUrl"),
            ),
            docs="/channels/mattermost",
        ),
        # Matrix keeps its DM policy at channels.matrix.dm.policy, not dmPolicy.
        Channel(
            "matrix",
            "Matrix",
            "@openclaw/matrix",
            (
                Credential("access_token", "Access token", "accessToken"),
                _setting("homeserver", "Homeserver URL (https://matrix.example.org)", "homeserver"),
                _setting("user_id", "User ID (@bot:example.org)", "userId", required=False),
            ),
            dm_policies=(),
            docs="/channels/matrix",
        ),
        # Talks to a signal-cli daemon OpenClaw starts in the bot; the account is linked
        # with signal-cli itself (BotMaker runs it from the bot's page), its data kept
        # in the state folder (render.SIGNAL_CLI_DATA).
        Channel(
            "signal",
            "Signal",
            "@openclaw/signal",
            (_setting("account", "Bot phone number (E.164, +15551234567)", "account"),),
            interactive_login=True,
            login_hint='signal-cli --config /state/signal-cli link -n "OpenClaw"',
            cli_login=True,
            docs="/channels/signal",
        ),
        Channel(
            "googlechat",
            "Google Chat",
            "@openclaw/googlechat",
            (
                Credential(
                    "service_account",
                    "Service account JSON key",
                    "serviceAccountFile",
                    ref="file",
                ),
                _setting(
                    "audience_type",
                    "Audience type (app-url or project-number)",
                    "audienceType",
                    choices=("app-url", "project-number"),
                ),
                _setting("audience", "Audience (webhook URL or project number)", "audience"),
            ),
            needs_public_url=True,
            docs="/channels/googlechat",
        ),
        Channel(
            "msteams",
            "Microsoft Teams",
            "@openclaw/msteams",
            (
                Credential("app_password", "App password (client secret)", "appPassword"),
                _setting("app_id", "App ID (client ID)", "appId"),
                _setting("tenant_id", "Directory (tenant) ID", "tenantId"),
            ),
            needs_public_url=True,
            docs="/channels/msteams",
        ),
        Channel(
            "irc",
            "IRC",
            "@openclaw/irc",
            (
                Credential(
                    "password", "Server password", "passwordFile", required=False, ref="file"
                ),
                _setting("host", "Server host (irc.example.com)", "host"),
                _setting("nick", "Nickname", "nick"),
                _setting("username", "Username", "username", required=False),
            ),
            docs="/channels/irc",
        ),
        Channel(
            "whatsapp",
            "WhatsApp",
            "@openclaw/whatsapp",
            (),
            interactive_login=True,
            login_hint="openclaw channels login --channel whatsapp",
            web_login=True,
            docs="/channels/whatsapp",
        ),
        Channel(
            "nextcloud-talk",
            "Nextcloud Talk",
            "@openclaw/nextcloud-talk",
            (
                Credential("bot_secret", "Bot shared secret", "botSecret"),
                _setting("base_url", "Nextcloud URL (https://cloud.example.com)", "baseUrl"),
            ),
            needs_public_url=True,
            docs="/channels/nextcloud-talk",
        ),
        # WebSocket event delivery by default (no public URL).
        Channel(
            "feishu",
            "Feishu / Lark",
            "@openclaw/feishu",
            (
                Credential("app_secret", "App secret", "appSecret"),
                _setting("app_id", "App ID", "appId"),
                _setting("domain", "API domain (feishu or lark)", "domain", required=False),
            ),
            docs="/channels/feishu",
        ),
        # LINE's token and secret are not SecretRef-capable: OpenClaw reads them from files.
        Channel(
            "line",
            "LINE",
            "@openclaw/line",
            (
                Credential("channel_access_token", "Channel access token", "tokenFile", ref="file"),
                Credential("channel_secret", "Channel secret", "secretFile", ref="file"),
            ),
            needs_public_url=True,
            docs="/channels/line",
        ),
        # Long polling by default.
        Channel(
            "zalo",
            "Zalo Bot",
            "@openclaw/zalo",
            (Credential("bot_token", "Bot token", "botToken"),),
            docs="/channels/zalo",
        ),
        Channel(
            "zalouser",
            "Zalo Personal",
            "@openclaw/zalouser",
            (),
            interactive_login=True,
            login_hint="openclaw channels login --channel zalouser",
            web_login=True,
            docs="/channels/zalouser",
        ),
        # Encrypted DMs only; relays default to OpenClaw's built-in list.
        Channel(
            "nostr",
            "Nostr",
            "@openclaw/nostr",
            (Credential("private_key", "Private key (nsec… or hex)", "privateKey"),),
            supports_groups=False,
            docs="/channels/nostr",
        ),
        # Twilio posts inbound messages to publicWebhookUrl.
        Channel(
            "sms",
            "SMS (Twilio)",
            "@openclaw/sms",
            (
                Credential("auth_token", "Twilio auth token", "authToken"),
                _setting("account_sid", "Twilio account SID", "accountSid"),
                _setting("from_number", "Sender phone number (E.164)", "fromNumber"),
                _setting(
                    "public_webhook_url",
                    "Public webhook URL (https://…/webhooks/sms)",
                    "publicWebhookUrl",
                    required=False,
                ),
            ),
            supports_groups=False,
            needs_public_url=True,
            docs="/channels/sms",
        ),
        Channel(
            "clickclack",
            "ClickClack",
            "@openclaw/clickclack",
            (
                Credential("bot_token", "Bot token", "token"),
                _setting("base_url", "Server URL (https://clickclack.example.com)", "baseUrl"),
                _setting("workspace", "Workspace id, slug or name", "workspace", required=False),
            ),
            dm_policies=(),
            docs="/channels/clickclack",
        ),
    )
}
