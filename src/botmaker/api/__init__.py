"""The ASGI app: the REST API, with the dashboard (botmaker.web) mounted beside it."""

from botmaker.api.app import create_app

__all__ = ["create_app"]
