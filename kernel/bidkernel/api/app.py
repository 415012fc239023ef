"""Application factory. The full kernel app (intake, opening, ...) grows here; for now it serves the TSA."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bidkernel.api.tsa_routes import tsa_routes
from bidkernel.timestamp.tsa import TimeStampAuthority


def create_app(*, tsa: TimeStampAuthority | None = None) -> Starlette:
    """A Starlette app; with ``tsa`` it answers RFC 3161 requests at ``POST /tsa``."""
    routes: list[BaseRoute] = []
    if tsa is not None:
        routes += tsa_routes(tsa)
    return Starlette(routes=routes)
