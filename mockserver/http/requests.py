"""Reading a request, the same way for the provider API and the admin API: the bearer key, a
bounded body, JSON, and the base URL the client reached the server on."""

from __future__ import annotations

import asyncio
import json
import math
import re
from urllib.parse import urlsplit

from starlette.requests import ClientDisconnect, Request
from starlette.types import Scope

from mockserver.core.config import server_url
from mockserver.core.errors import BadRequest, PayloadTooLarge, RequestTimeout

__all__ = [
    "BODY_IN_HAND",
    "MAX_JSON_DEPTH",
    "MAX_JSON_ITEMS",
    "base_url",
    "base_url_of",
    "bearer_key",
    "json_too_deep",
    "json_within_bounds",
    "own_addresses",
    "parse_json",
    "read_body",
    "server_url",
]

# Deeper than any body the mock takes (a submit is 3 levels, a rule's body a few more); deeper
# ones are refused before anything walks them recursively (fingerprints, schemas, the journal).
MAX_JSON_DEPTH = 64
# Arrays, objects and the values in them, counted in the raw text before it is parsed: 300,000 of
# them (900 KB of "[],") held the event loop ~400 ms, parsed and then walked by the garbage
# collector. No body the mock takes comes near (a submit has a few dozen values).
MAX_JSON_ITEMS = 10_000
# Scope key set by the in-process transport (``mockserver.testing.inprocess``): the whole body is
# in hand, so reading it never waits and needs no timeout, whose timer (cancelled, but left on the
# loop until its next pass) cost each in-process submit a pass of the private loop.
BODY_IN_HAND = "mockserver.body_in_hand"


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


def own_addresses(scope: Scope) -> list[tuple[str, int]]:
    """(host, port) pairs this server was reached at: its socket and the Host header."""
    scheme = scope.get("scheme", "http")
    default = 443 if scheme == "https" else 80
    out: list[tuple[str, int]] = []
    server = scope.get("server")
    if server and server[0] and server[1] is not None:
        out.append((str(server[0]), int(server[1])))
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host, port = _split_host(value.decode("latin-1"), default)
            if host:
                out.append((host, port))
    return out


def _split_host(value: str, default: int) -> tuple[str, int]:
    try:
        parts = urlsplit(f"//{value.strip()}")
        return (parts.hostname or "", parts.port or default)
    except ValueError:
        return "", default


async def read_body(request: Request, limit: int, timeout_s: float | None = None) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading it all (413), and a
    body that has not all arrived ``timeout_s`` seconds after the handler asked for it (408)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.strip().isdigit()) or len(declared) > 20:
            raise BadRequest("Invalid request", error="Invalid Content-Length header")
        size = int(declared)
        if size > limit:
            raise PayloadTooLarge(error=f"Request body is {size} bytes; the limit is {limit} bytes")
    chunks = []
    total = 0
    try:
        async with asyncio.timeout(None if request.scope.get(BODY_IN_HAND) else timeout_s):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise PayloadTooLarge(error=f"Request body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            error=f"The request body did not arrive within {timeout_s:g} s ({total} bytes came)"
        ) from None
    except ClientDisconnect:
        # Nobody is left to answer; the error only ends the handler (and names why in the journal).
        raise BadRequest("Invalid request", error="The client disconnected before sending the whole body") from None
    return b"".join(chunks)


def parse_json(raw: bytes, what: str = "Request body") -> object:
    """The JSON of a body, or a 400 saying why not (NaN, Infinity and nesting past
    MAX_JSON_DEPTH are refused: they are not JSON, or not a body anyone sends)."""
    if not raw.strip():
        raise BadRequest("Invalid request", error=f"{what} is empty: expected a JSON object")
    if json_too_deep(raw):
        raise BadRequest("Invalid request", error=f"Malformed JSON: nested more than {MAX_JSON_DEPTH} levels deep")
    many = _separators(raw) > MAX_JSON_ITEMS  # an upper bound: strings may hold some of them
    too_many = BadRequest("Invalid request", error=f"Request body has more than {MAX_JSON_ITEMS} JSON values")
    if many and b'"' not in raw:
        raise too_many  # no strings: the count is exact, and nothing is parsed
    try:
        value = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except RecursionError:
        raise BadRequest("Invalid request", error="Malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise BadRequest("Invalid request", error=f"Malformed JSON: {exc}") from None
    if many and _count_items(value) > MAX_JSON_ITEMS:
        raise too_many
    return value


def json_within_bounds(raw: bytes) -> bool:
    """Whether JSON text is cheap to parse: not too deep, and not too many values outside strings."""
    return not json_too_deep(raw) and (_separators(raw) <= MAX_JSON_ITEMS or b'"' in raw)


def _separators(raw: bytes) -> int:
    return raw.count(b"[") + raw.count(b"{") + raw.count(b",")


def _count_items(value: object) -> int:
    """Values in a parsed document, counted container by container; stops past MAX_JSON_ITEMS."""
    count = 0
    if not isinstance(value, list | dict):
        return 1
    stack = [value]
    while stack and count <= MAX_JSON_ITEMS:
        node = stack.pop()
        items = node.values() if isinstance(node, dict) else node
        count += len(items) + 1
        if count <= MAX_JSON_ITEMS:
            stack.extend(v for v in items if isinstance(v, list | dict))
    return count


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large for a JSON number")
    return value


# What json.loads(raw, parse_constant=..., parse_float=...) does for bytes, minus building a
# decoder for every body.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects more than ``limit`` deep, in C-speed passes.

    Strings are cut out, then every pass deletes the innermost empty pairs: what is left after
    ``limit`` passes was deeper. (On invalid JSON the answer is an estimate; the parser refuses it.)
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    text = _JSON_STRING.sub(b"", raw) if b'"' in raw else raw
    text = text.translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        shorter = text.replace(b"[]", b"").replace(b"{}", b"")
        if not shorter or shorter == text:
            return False
        text = shorter
    return True
