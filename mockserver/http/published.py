"""Serves the published contract: JSON Schemas under /schemas/ and the OpenAPI documents.

``/openapi/{dialect}.json`` is each enabled dialect's document; ``/openapi.json`` is the first
enabled dialect's (APIXO's unless ``--dialect`` says otherwise), as it always was.
"""

from __future__ import annotations

import functools
import json
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver.core.catalog import schema_dir
from mockserver.core.errors import NotFound
from mockserver.dialects import builtin
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
    from mockserver.contract import load_schemas  # jsonschema with it: when the listing is asked for

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


def _listing_for(request: Request) -> dict:
    """The listing, with the OpenAPI document of each dialect this server speaks."""
    names = list(mock_of(request).dialects)
    return {**_listing(), "openapi_by_dialect": {name: f"/openapi/{name}.json" for name in names}}


async def schema_index(request: Request) -> Response:
    return Response(json.dumps(_listing_for(request)), media_type="application/json")


def _serve(request: Request, name: str) -> Response:
    """Dialect ``name``'s document, with this server's URL; built once per app and dialect (the
    catalog and schemas do not change while it runs)."""
    state = request.app.state
    docs = getattr(state, "openapi_docs", None)
    if docs is None:
        docs = state.openapi_docs = {}
    doc = docs.get(name)
    if doc is None:
        from mockserver.contract import load_schemas

        mock = mock_of(request)
        dialect = mock.dialects[name]
        doc = docs[name] = dialect.openapi(mock.catalogs[name], load_schemas())
    served = {**doc, "servers": [{"url": base_url(request), "description": "this mock"}]}
    return Response(json.dumps(served), media_type="application/json")


async def openapi(request: Request) -> Response:
    """The first enabled dialect's document."""
    return _serve(request, next(iter(mock_of(request).dialects)))


async def openapi_of(request: Request) -> Response:
    """``/openapi/{dialect}.json``: one enabled dialect's document."""
    name = request.path_params["dialect"]
    enabled = list(mock_of(request).dialects)
    if name not in enabled:
        urls = ", ".join(f"/openapi/{n}.json" for n in enabled)
        known = builtin()
        why = "is not enabled on this server" if name in known else "is not a dialect"
        raise NotFound(
            f"No OpenAPI document for dialect {name!r}",
            error=f"{name!r} {why}; this server's documents: {urls} (enabled: {', '.join(enabled)})",
        )
    return _serve(request, name)


def routes() -> list[Route]:
    return [
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/openapi/{dialect}.json", openapi_of, methods=["GET"]),
        Route("/schemas/", schema_index, methods=["GET"]),
        Route("/schemas/{path:path}", schema, methods=["GET"]),
    ]
