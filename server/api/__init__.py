"""The hub's JSON API (FastAPI)."""

from loneguard.server.api.factory import create_app

__all__ = ["create_app"]
