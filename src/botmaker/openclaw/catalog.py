"""Providers and channels BotMaker can configure: data in one place.

The API validates against these, the CLI lists them and the dashboard renders
them; nothing else keeps its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Provider:
    id: str
    label: str
    api: str  # the OpenClaw model API type
    base_url: str
    default_model: str
    key_required: bool = True

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "api": self.api,
            "base_url": self.base_url,
            "default_model": self.default_model,
            "key_required": self.key_required,
        }


@dataclass(frozen=True)
class Channel:
    id: str
    label: str
    token_label: str
    config_required: bool = False
    extra_fields: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "token_label": self.token_label,
            "config_required": self.config_required,
        }


PROVIDERS: dict[str, Provider] = {
    p.id: p
    for p in (
        Provider("openai", "OpenAI", "openai-responses", "https://api.openai.com/v1", "gpt-5.1"),
        Provider(
            "anthropic",
            "Anthropic",
            "anthropic-messages",
            "https://api.anthropic.com",
            "claude-sonnet-4-5",
        ),
        Provider(
            "google",
            "Google Gemini",
            "google-generative-ai",
            "https://generativelanguage.googleapis.com/v1beta",
            "gemini-2.5-pro",
        ),
        Provider(
            "mistral",
            "Mistral",
            "openai-completions",
            "https://api.mistral.ai/v1",
            "mistral-large-latest",
        ),
        Provider(
            "groq",
            "Groq",
            "openai-completions",
            "https://api.groq.com/openai/v1",
            "llama-3.3-70b-versatile",
        ),
        Provider(
            "deepseek",
            "DeepSeek",
            "openai-completions",
            "https://api.deepseek.com/v1",
            "deepseek-chat",
        ),
        Provider(
            "openrouter",
            "OpenRouter",
            "openai-completions",
            "https://openrouter.ai/api/v1",
            "openrouter/auto",
        ),
        Provider("xai", "xAI", "openai-completions", "https://api.x.ai/v1", "grok-4"),
        Provider(
            "ollama",
            "Ollama",
            "ollama",
            "http://127.0.0.1:11434",
            "llama3.3",
            key_required=False,
        ),
    )
}

CHANNELS: dict[str, Channel] = {
    c.id: c
    for c in (
        Channel("telegram", "Telegram", "Bot token from @BotFather"),
        Channel("discord", "Discord", "Bot token"),
        Channel("slack", "Slack", "Bot token (xoxb-…)", config_required=True),
        Channel("mattermost", "Mattermost", "Bot token", config_required=True),
        Channel("matrix", "Matrix", "Access token", config_required=True),
    )
}
