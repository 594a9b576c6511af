"""BotMaker: a control plane for OpenClaw bots in hardened containers."""

__version__ = "0.1.0"
