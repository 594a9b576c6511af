"""OpenClaw knowledge: catalogs of providers and channels (pure data and functions)."""
