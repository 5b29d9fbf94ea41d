"""Which requests went through a given ASGI layer (the fast-path tests' witness)."""

from __future__ import annotations

import pytest


def paths_through(monkeypatch: pytest.MonkeyPatch, layer: type) -> list[str]:
    """The paths of the HTTP requests that ``layer`` (an ASGI class: a middleware, the router)
    is called with from now on, in order."""
    seen: list[str] = []
    original = layer.__call__

    async def spy(self, scope, receive, send):
        if scope["type"] == "http":
            seen.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(layer, "__call__", spy)
    return seen
