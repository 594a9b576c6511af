"""SQLite store: the source of truth for configuration (never for secrets)."""

from botmaker.store.database import Database
from botmaker.store.records import BotRecord, SessionRecord
from botmaker.store.repository import Store

__all__ = ["BotRecord", "Database", "SessionRecord", "Store"]
