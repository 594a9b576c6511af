"""The provider, channel and template catalogs: shape and the facts they must keep.

Pure data, so these run without Docker. The allowed values are copied from OpenClaw
2026.9.6 (the installed package is not available in CI); each set names the file it
was verified in.
"""

from __future__ import annotations

import re

import pytest

from botmaker.openclaw.catalog import (
    CHANNELS,
    DM_POLICIES,
    MODEL_APIS,
    PROVIDERS,
    Channel,
    Credential,
    Provider,
)
from botmaker.openclaw.render import primary_credential
from botmaker.openclaw.templates import TEMPLATES

# The enum of models.providers.*.api: MODEL_DATA_APIS in dist/model-data-C50f9nhB.mjs,
# used as ModelApiSchema in dist/zod-schema.core-DyJd-bbI.mjs (openclaw 2026.9.6).
OPENCLAW_MODEL_APIS = frozenset(
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

# DmPolicySchema in dist/zod-schema.core-DyJd-bbI.mjs (openclaw 2026.9.6).
OPENCLAW_DM_POLICIES = ("pairing", "allowlist", "open", "disabled")

# The channels.* entries of docs/reference/secretref-credential-surface.md
# (openclaw 2026.9.6) for the top-level keys this catalog uses.
SECRETREF_CAPABLE = frozenset(
    {
        "channels.discord.token",
        "channels.feishu.appSecret",
        "channels.googlechat.serviceAccount",
        "channels.irc.password",
        "channels.matrix.accessToken",
        "channels.matrix.password",
        "channels.mattermost.botToken",
        "channels.msteams.appPassword",
        "channels.nextcloud-talk.apiPassword",
        "channels.nextcloud-talk.botSecret",
        "channels.nostr.privateKey",
        "channels.slack.appToken",
        "channels.slack.botToken",
        "channels.slack.signingSecret",
        "channels.slack.userToken",
        "channels.sms.authToken",
        "channels.telegram.botToken",
        "channels.telegram.webhookSecret",
        "channels.zalo.botToken",
        "channels.zalo.webhookSecret",
        "channels.clickclack.token",
    }
)

# Keys that take a path to a file OpenClaw reads itself (schemas in
# dist/bundled-channel-config-metadata.generated-BMhosYMN.mjs; docs/channels/*.md).
FILE_KEYS = frozenset(
    {
        "channels.telegram.tokenFile",
        "channels.zalo.tokenFile",
        "channels.line.tokenFile",
        "channels.line.secretFile",
        "channels.googlechat.serviceAccountFile",
        "channels.irc.passwordFile",
        "channels.nextcloud-talk.botSecretFile",
        "channels.clickclack.tokenFile",
    }
)

REQUIRED_PROVIDERS = {
    "openai",
    "anthropic",
    "google",
    "mistral",
    "groq",
    "deepseek",
    "openrouter",
    "xai",
    "together",
    "fireworks",
    "cerebras",
    "perplexity",
    "deepinfra",
    "nvidia",
    "moonshot",
    "minimax",
    "huggingface",
    "venice",
    "ollama",
    "custom",
}
REQUIRED_CHANNELS = {
    "telegram",
    "discord",
    "slack",
    "mattermost",
    "matrix",
    "signal",
    "googlechat",
    "msteams",
    "irc",
    "whatsapp",
}

PROVIDER_LIST = list(PROVIDERS.values())
CHANNEL_LIST = list(CHANNELS.values())
ID = re.compile(r"^[a-z][a-z0-9-]*$")


def test_the_catalog_matches_the_schema_copies_here() -> None:
    assert MODEL_APIS == OPENCLAW_MODEL_APIS
    assert DM_POLICIES == OPENCLAW_DM_POLICIES


# -- providers ---------------------------------------------------------------------------


def test_every_required_provider_is_present() -> None:
    assert REQUIRED_PROVIDERS - PROVIDERS.keys() == set()


@pytest.mark.parametrize("provider", PROVIDER_LIST, ids=lambda p: p.id)
def test_provider_shape(provider: Provider) -> None:
    assert PROVIDERS[provider.id] is provider
    assert ID.fullmatch(provider.id)
    assert provider.label.strip()
    assert provider.api in OPENCLAW_MODEL_APIS
    assert provider.category in {"hosted", "aggregator", "local", "custom"}
    assert provider.key_auth in {"authorization-bearer", "x-api-key", "x-goog-api-key", "none"}
    assert provider.docs.startswith("/")
    assert len(set(provider.models)) == len(provider.models)
    for model in provider.models:
        assert model.strip() == model
        assert " " not in model
    if provider.key_auth == "none":
        assert not provider.key_required


@pytest.mark.parametrize("provider", PROVIDER_LIST, ids=lambda p: p.id)
def test_default_model_is_the_first_model(provider: Provider) -> None:
    if provider.id == "custom":
        return  # the user names both the server and the model
    assert provider.models, "a provider lists the models OpenClaw documents"
    assert provider.default_model == provider.models[0]
    assert provider.default_model in provider.models


@pytest.mark.parametrize("provider", PROVIDER_LIST, ids=lambda p: p.id)
def test_base_url_is_given_unless_the_user_supplies_it(provider: Provider) -> None:
    if provider.base_url_required:
        assert provider.id == "custom"
        assert provider.base_url == ""
    else:
        assert re.fullmatch(r"https?://[^\s/]+(/\S*)?", provider.base_url)
        assert not provider.base_url.endswith("/")
        if provider.category != "local":
            assert provider.base_url.startswith("https://")


def test_custom_provider_is_openai_compatible_with_a_user_base_url() -> None:
    custom = PROVIDERS["custom"]
    assert custom.api == "openai-completions"
    assert custom.base_url_required
    assert custom.category == "custom"
    assert [p.id for p in PROVIDER_LIST if p.base_url_required] == ["custom"]


def test_known_provider_facts() -> None:
    assert PROVIDERS["anthropic"].api == "anthropic-messages"
    assert PROVIDERS["anthropic"].key_auth == "x-api-key"
    assert PROVIDERS["google"].api == "google-generative-ai"
    assert PROVIDERS["google"].key_auth == "x-goog-api-key"
    assert PROVIDERS["ollama"].api == "ollama"
    assert not PROVIDERS["ollama"].key_required
    assert not PROVIDERS["ollama"].base_url.endswith("/v1"), "Ollama's native API, not /v1"
    assert PROVIDERS["openrouter"].category == "aggregator"


def test_provider_to_dict_is_json_data() -> None:
    body = PROVIDERS["openai"].to_dict()
    assert body["id"] == "openai"
    assert body["default_model"] == body["models"][0]  # type: ignore[index]
    for key in ("api", "base_url", "base_url_required", "key_required", "key_auth", "category"):
        assert key in body


# -- channels ----------------------------------------------------------------------------


def test_every_required_channel_is_present() -> None:
    assert REQUIRED_CHANNELS - CHANNELS.keys() == set()


@pytest.mark.parametrize("channel", CHANNEL_LIST, ids=lambda c: c.id)
def test_channel_shape(channel: Channel) -> None:
    assert CHANNELS[channel.id] is channel
    assert ID.fullmatch(channel.id)
    assert channel.label.strip()
    assert channel.docs == f"/channels/{channel.id}"
    assert channel.config_required is False
    if channel.id == "telegram":
        assert channel.plugin is None  # the only channel plugin inside openclaw
    else:
        assert channel.plugin is not None
        assert re.fullmatch(r"@[a-z0-9-]+/[a-z0-9-]+", channel.plugin)
    assert set(channel.dm_policies) <= set(OPENCLAW_DM_POLICIES)
    assert len(set(channel.dm_policies)) == len(channel.dm_policies)


@pytest.mark.parametrize("channel", CHANNEL_LIST, ids=lambda c: c.id)
def test_channel_credentials(channel: Channel) -> None:
    names = [c.name for c in channel.credentials]
    keys = [c.config_key for c in channel.credentials]
    assert len(set(names)) == len(names)
    assert len(set(keys)) == len(keys)
    for credential in channel.credentials:
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,39}", credential.name)
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", credential.config_key)
        assert credential.label.strip()
        assert credential.ref in {"secretref", "file", "plain"}
        assert (credential.ref == "plain") == (not credential.secret)
        if credential.choices:
            assert not credential.secret
            assert len(set(credential.choices)) == len(credential.choices)
    if channel.interactive_login:
        assert channel.login_hint.strip()
    else:
        assert channel.login_hint == ""
        assert any(c.required for c in channel.credentials), "nothing to configure it with"
        assert any(c.secret and c.required for c in channel.credentials) or channel.id == "irc"


@pytest.mark.parametrize("channel", CHANNEL_LIST, ids=lambda c: c.id)
def test_secret_refs_only_where_openclaw_accepts_them(channel: Channel) -> None:
    for credential in channel.credentials:
        path = f"channels.{channel.id}.{credential.config_key}"
        if credential.ref == "secretref":
            assert path in SECRETREF_CAPABLE, f"{path} is not SecretRef-capable"
        elif credential.ref == "file":
            assert path in FILE_KEYS, f"{path} does not take a file path"
        else:
            assert path not in SECRETREF_CAPABLE, f"{path} holds a secret"


@pytest.mark.parametrize("channel", CHANNEL_LIST, ids=lambda c: c.id)
def test_token_label_is_the_first_secret_credential(channel: Channel) -> None:
    secrets = [c for c in channel.credentials if c.secret]
    if secrets:
        assert channel.token_label == secrets[0].label
        assert primary_credential(channel) == secrets[0].name
    else:
        assert channel.token_label == ""
        assert primary_credential(channel) is None


def test_known_channel_facts() -> None:
    slack = {c.name: c for c in CHANNELS["slack"].credentials}
    assert slack["bot_token"].config_key == "botToken"
    assert slack["app_token"].config_key == "appToken"
    assert slack["app_token"].required
    matrix = {c.name: c for c in CHANNELS["matrix"].credentials}
    assert matrix["homeserver"] == Credential(
        "homeserver", matrix["homeserver"].label, "homeserver", False, True, "plain"
    )
    assert CHANNELS["matrix"].dm_policies == ()  # Matrix uses dm.policy, not dmPolicy
    assert CHANNELS["telegram"].credentials[0].config_key == "botToken"
    assert CHANNELS["discord"].credentials[0].config_key == "token"
    whatsapp = CHANNELS["whatsapp"]
    assert whatsapp.interactive_login
    assert whatsapp.login_hint == "openclaw channels login --channel whatsapp"
    assert CHANNELS["signal"].interactive_login
    assert "zulip" not in CHANNELS  # OpenClaw 2026.9.6 has no Zulip channel


def test_channel_to_dict_lists_credentials_never_values() -> None:
    body = CHANNELS["slack"].to_dict()
    assert body["token_label"] == "Bot token (xoxb-…)"
    assert body["config_required"] is False
    credentials = body["credentials"]
    assert isinstance(credentials, list)
    assert [c["name"] for c in credentials] == ["bot_token", "app_token"]
    assert [c["field"] for c in credentials] == [
        "secrets.channel_token",
        "secrets.channel_credentials.app_token",
    ]
    for credential in credentials:
        assert set(credential) == {"name", "label", "secret", "required", "field"}
    googlechat = CHANNELS["googlechat"].to_dict()["credentials"]
    assert isinstance(googlechat, list)
    # channels.googlechat.audienceType is an enum in the shipped schema
    assert {"name": "audience_type", "choices": ["app-url", "project-number"]}.items() <= (
        googlechat[1].items()
    )
    settings = CHANNELS["matrix"].to_dict()["credentials"]
    assert isinstance(settings, list)
    assert {"name": "homeserver", "field": "channel_settings.homeserver"}.items() <= settings[
        1
    ].items()


# -- templates ---------------------------------------------------------------------------


def test_at_least_twelve_templates() -> None:
    assert len(TEMPLATES) >= 12
    assert "assistant" in TEMPLATES  # the default persona of a new bot


@pytest.mark.parametrize("template", list(TEMPLATES.values()), ids=lambda t: t.id)
def test_template_shape(template: object) -> None:
    from botmaker.openclaw.templates import Template

    assert isinstance(template, Template)
    assert TEMPLATES[template.id] is template
    assert ID.fullmatch(template.id)
    assert template.label.strip()
    assert template.description.strip()
    assert 1 <= len(template.persona_name) <= 64
    assert 1 <= len(template.emoji) <= 16
    soul = template.soul
    assert soul.startswith("# SOUL.md\n")
    assert 400 < len(soul) < 4_000  # a few paragraphs, far below OpenClaw's 20,000 cap
    assert soul.count("\n\n") >= 2
    assert "\x00" not in soul
    assert template.to_dict()["soul"] == soul


def test_the_listener_template_carries_a_safety_note() -> None:
    soul = TEMPLATES["listener"].soul.lower()
    assert "emergency" in soul
    assert "crisis" in soul
    assert "not a therapist" in soul
