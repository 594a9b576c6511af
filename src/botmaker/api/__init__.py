"""The ASGI app: REST API (and, later, the dashboard pages)."""

from botmaker.api.app import create_app

__all__ = ["create_app"]
