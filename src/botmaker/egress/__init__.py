"""The egress proxy: the one way out for bots on the internal network.

A separate process (``botmaker egress serve``), like the keyring, that BotMaker
starts and feeds over a token-guarded admin API on 127.0.0.1. Bots reach its data
plane on the bots' network gateway; OpenClaw finds it through the standard proxy
variables (``HTTP(S)_PROXY``, ``NODE_USE_ENV_PROXY``). It knows a bot by the source
address of the connection (a bot has no capability to forge one) and lets through
only ``CONNECT`` tunnels and plain ``http://`` requests to the hosts and ports that
bot's policy allows. It resolves names itself, refuses loopback, private, link-local
and cloud-metadata addresses after resolution, and connects to exactly the address it
checked, so a second DNS answer (rebinding) cannot swap it. Every refusal is kept
(rate-limited per bot, host and port) for BotMaker to turn into ``egress_denied``
events. It holds no secret: a compromise of it yields no key.
"""
