"""Serves the published JSON Schemas under /schemas/ (the contract any client can check against)."""

from __future__ import annotations

import functools
import json
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .catalog import schema_dir
from .errors import NotFound

_SAFE = re.compile(r"^(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+\.json$")


@functools.cache
def _load(rel: str) -> bytes | None:
    if not _SAFE.match(rel) or ".." in rel:
        return None
    path = schema_dir() / rel
    if not path.is_file():
        return None
    return path.read_bytes()


def schema_names() -> list[str]:
    root = schema_dir()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.json"))


async def schema(request: Request) -> Response:
    rel = request.path_params["path"]
    body = _load(rel)
    if body is None:
        raise NotFound(f"Schema not found: {rel}", error=f"No schema '{rel}'; GET /schemas/ lists them")
    return Response(body, media_type="application/schema+json" if not rel.endswith("index.json") else "application/json")


async def schema_index(request: Request) -> Response:
    names = schema_names()
    body = {"schemas": [{"name": n, "url": f"/schemas/{n}"} for n in names]}
    return Response(json.dumps(body), media_type="application/json")


def routes() -> list[Route]:
    return [
        Route("/schemas/", schema_index, methods=["GET"]),
        Route("/schemas/{path:path}", schema, methods=["GET"]),
    ]
