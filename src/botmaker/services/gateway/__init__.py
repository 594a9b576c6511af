"""Reaching a bot's OpenClaw gateway through BotMaker: identity headers (``access``),
admin RPC, device and DM pairing, chat (``client``)."""
