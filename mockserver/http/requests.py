"""Reading a request, the same way for the provider API and the admin API: the bearer key, a
bounded body, JSON, and the base URL the client reached the server on."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.types import Scope

from mockserver.core.config import server_url
from mockserver.core.errors import BadRequest, PayloadTooLarge

__all__ = ["base_url", "base_url_of", "bearer_key", "parse_json", "read_body", "server_url"]


def bearer_key(authorization: str | None) -> str | None:
    """The key from ``Authorization: Bearer KEY`` (None when absent, empty or another scheme)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None


def base_url(request: Request) -> str:
    """Where this server is reachable: the address it listens on, else the Host header."""
    return base_url_of(request.scope)


def base_url_of(scope: Scope) -> str:
    server = scope.get("server")
    scheme = scope.get("scheme", "http")
    if server and server[0] not in ("0.0.0.0", "::", "", None) and server[1] is not None:
        return server_url(server[0], server[1], scheme)
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return f"{scheme}://{value.decode('latin-1')}"
    return f"{scheme}://localhost"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("Invalid request", error="Invalid Content-Length header") from None
        if size > limit:
            raise PayloadTooLarge(error=f"Request body is {size} bytes; the limit is {limit} bytes")
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(error=f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes, what: str = "Request body") -> object:
    """The JSON of a body, or a 400 saying why not."""
    if not raw.strip():
        raise BadRequest("Invalid request", error=f"{what} is empty: expected a JSON object")
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadRequest("Invalid request", error="Malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise BadRequest("Invalid request", error=f"Malformed JSON: {exc}") from None
