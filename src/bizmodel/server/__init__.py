"""HTTP serving: the FastAPI app factory and how to run it."""

from bizmodel.server.app import create_app

__all__ = ["create_app"]
