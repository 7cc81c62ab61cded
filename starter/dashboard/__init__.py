"""The server-rendered dashboard (GET / and below), mounted by starter.api.create_app."""

from starter.dashboard.routes import dashboard_router

__all__ = ["dashboard_router"]
