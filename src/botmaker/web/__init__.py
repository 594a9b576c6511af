"""The web dashboard: server-rendered page shells whose scripts call the JSON API."""

from botmaker.web.routes import install

__all__ = ["install"]
