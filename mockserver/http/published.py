"""Serves the published contract: JSON Schemas under /schemas/ and the OpenAPI document."""

from __future__ import annotations

import functools
import json
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver.contract import load_schemas
from mockserver.core.catalog import schema_dir
from mockserver.core.errors import NotFound
from mockserver.http.provider import base_url, mock_of

_SAFE = re.compile(r"^(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+\.json$")


# Bounded: every distinct path asked for, found or not, would otherwise stay cached for good.
@functools.lru_cache(maxsize=256)
def _load(rel: str) -> bytes | None:
    if not _SAFE.match(rel) or ".." in rel:
        return None
    path = schema_dir() / rel
    if not path.is_file():
        # /schemas/scenario.json also finds scenario.schema.json
        path = schema_dir() / (rel.removesuffix(".json") + ".schema.json")
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
    return Response(
        body,
        media_type="application/schema+json" if not rel.endswith("index.json") else "application/json",
    )


def _listing() -> dict:
    schemas = load_schemas()
    entries = []
    for rel in schema_names():
        entry: dict = {"name": rel, "url": f"/schemas/{rel}"}
        name = rel.removesuffix(".json").removesuffix(".schema")
        if name in schemas.names():
            doc = schemas.get(name)
            entry["id"] = doc.get("$id")
            entry["title"] = doc.get("title")
        entries.append(entry)
    return {"schemas": entries, "openapi": "/openapi.json"}


async def schema_index(request: Request) -> Response:
    return Response(json.dumps(_listing()), media_type="application/json")


async def openapi(request: Request) -> Response:
    state = request.app.state
    doc = getattr(state, "openapi_doc", None)
    if doc is None:
        # Built once per app: the catalog and schemas do not change while it runs.
        mock = mock_of(request)
        first = next(iter(mock.dialects.values()))
        doc = state.openapi_doc = first.openapi(mock.catalogs[first.name], load_schemas())
    served = {**doc, "servers": [{"url": base_url(request), "description": "this mock"}]}
    return Response(json.dumps(served), media_type="application/json")


def routes() -> list[Route]:
    return [
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/schemas/", schema_index, methods=["GET"]),
        Route("/schemas/{path:path}", schema, methods=["GET"]),
    ]
