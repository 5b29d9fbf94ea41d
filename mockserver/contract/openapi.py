"""OpenAPI 3.1 documents from the published schemas: the bundler every dialect's document uses.

A document is self-contained: every schema it uses is bundled under ``components/schemas``
(``$defs`` hoisted, ``$ref`` rewritten), so a saved copy works offline in Schemathesis, Prism or a
code generator. Each dialect builds its own document (paths, operations, callbacks) with a
``Bundler``; ``build_openapi`` asks one for it.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from mockserver.contract.schemas import SCHEMA_BASE, Schemas
from mockserver.dialects import builtin

if TYPE_CHECKING:  # pragma: no cover
    from mockserver.core.catalog import Catalog
    from mockserver.dialects.protocol import Dialect

__all__ = ["ANYWHERE", "COMPONENT_REF", "INFO", "Bundler", "build_openapi", "component_name", "rule_ranges"]

COMPONENT_REF = "#/components/schemas/"  # + a component name: a $ref inside the document

# Every document's contact and license (Spectral's spectral:oas asks for both): the project's.
INFO = {
    "contact": {"name": "the mockserver authors"},
    "license": {"name": "MIT", "identifier": "MIT"},
}

# A scenario rule's ``respond`` may answer any status 200-599 (but 204, 205, 304) on every HTTP
# endpoint (scenarios/rules.py ACTION_ENDPOINTS): each operation names the ones the scenario
# library serves, and rule_ranges() covers the rest of each class.
ANYWHERE = (403, 429, 500, 502, 503)


def rule_ranges(error: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """The status ranges of an operation's responses: what no named status covers, which only a
    scenario rule answers (``error``: the error schema; ``other``: a 2xx or 3xx rule answer's)."""
    rule = "only a scenario rule answers one (respond)"
    json = "application/json"
    return {
        "2XX": {"description": f"Another success status: {rule}", "content": {json: {"schema": other}}},
        "3XX": {"description": f"A redirection status: {rule}", "content": {json: {"schema": other}}},
        "4XX": {"description": f"Another client error: {rule}", "content": {json: {"schema": error}}},
        "5XX": {"description": "Another server error: retry with backoff", "content": {json: {"schema": error}}},
    }


def component_name(schema_name: str) -> str:
    """``status-response`` -> ``StatusResponse``; ``models/gpt-image-1`` -> ``GptImage1Input``."""
    is_model = schema_name.startswith("models/")
    words = re.split(r"[^A-Za-z0-9]+", schema_name.removeprefix("models/"))
    name = "".join(w[:1].upper() + w[1:] for w in words if w)
    return name + "Input" if is_model else name


class Bundler:
    """Copies schemas into components, turning cross-file and $defs refs into component refs."""

    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas
        self.components: dict[str, Any] = {}
        self._bundled: dict[str, str] = {}  # schema name -> its component

    def add(self, name: str, comp: str | None = None) -> str:
        """Bundle schema ``name`` (and what it refers to); its component name (``comp``, when given:
        a dialect's document names its own schemas, ``123api/error`` as ``Error``)."""
        name = self.schemas.resolve(name)
        if name in self._bundled:
            return self._bundled[name]
        comp = self._bundled[name] = comp or component_name(name)
        if comp in self.components:
            return comp
        self.components[comp] = {}  # claimed first: schemas may refer to each other
        self.components[comp] = self.embed(copy.deepcopy(self.schemas.get(name)), self.schemas.uri(name), comp)
        return comp

    def embed(self, schema: dict, base: str, comp: str) -> dict:
        """A schema rewritten for components: no $id/$schema, $defs hoisted as ``<comp><Def>``."""
        schema.pop("$schema", None)
        schema.pop("$id", None)
        defs = schema.pop("$defs", {})
        for def_name in defs:
            self.components[comp + component_name(def_name)] = {}
        for def_name, sub in defs.items():
            self.components[comp + component_name(def_name)] = self._rewrite(sub, base, comp)
        return self._rewrite(schema, base, comp)

    def _rewrite(self, node: Any, base: str, comp: str) -> Any:
        if isinstance(node, list):
            return [self._rewrite(v, base, comp) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = self._ref(value, base, comp)
            elif key in ("examples", "default", "const", "enum"):
                out[key] = value  # data, not schema: never rewritten
            else:
                out[key] = self._rewrite(value, base, comp)
        return _declare_required(out)

    def _ref(self, ref: str, base: str, comp: str) -> str:
        uri, _, fragment = urljoin(base, ref).partition("#")
        if uri != base:
            target = self.schemas.name_of_uri(uri)
            if target is None:
                raise ValueError(f"$ref {ref!r} from {base} names no schema under {SCHEMA_BASE}")
            comp = self.add(target)
        if fragment in ("", "/"):
            return COMPONENT_REF + comp
        match = re.fullmatch(r"/\$defs/([^/]+)", fragment)
        if not match:
            raise ValueError(f"$ref {ref!r}: only whole schemas and #/$defs/NAME can be bundled")
        return COMPONENT_REF + comp + component_name(match[1])


def document(
    *, title: str, description: str, account: str, paths: dict, bundler: Bundler, bearer: str
) -> dict[str, Any]:
    """The OpenAPI 3.1 document around a dialect's ``paths`` and bundled schemas: info (with
    contact and license), the three tags, bearer security and the components."""
    from mockserver._version import __version__

    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": title, "version": __version__, "description": description, **INFO},
        "tags": [
            {"name": "tasks", "description": "Create tasks and read their status"},
            {"name": "account", "description": account},
            {"name": "files", "description": "Result files (no key needed)"},
        ],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "description": bearer}},
            "schemas": dict(sorted(bundler.components.items())),
        },
    }


def idempotency_key_parameter(note: str = "") -> dict[str, Any]:
    """The optional Idempotency-Key header of a submit, with the length the mock enforces."""
    from mockserver.core.service import IDEMPOTENCY_KEY_LENGTH

    low, high = IDEMPOTENCY_KEY_LENGTH
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "A retried submit with the same key and body returns the same task and charges once; "
        f"the same key with another body is a 409, an empty or longer key a 400 naming the header{note}.",
        "schema": {"type": "string", "minLength": low, "maxLength": high},
    }


def result_file_operation(
    *, id_param: str, urls_field: str, lifetime: str, file_types: list[str], errors: dict[str, Any]
) -> dict[str, Any]:
    """The GET of a result file (no key needed): ``id_param`` names the task id in the path,
    ``urls_field`` where the answer lists the files, ``lifetime`` what is said of how long they live,
    ``errors`` the dialect's error responses."""
    return {
        "get": {
            "operationId": "resultFile",
            "tags": ["files"],
            "summary": f"A result file named in {urls_field}",
            "description": f"Needs no API key: result URLs are plain links. {lifetime}",
            "security": [],
            "parameters": [
                {"name": id_param, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}},
                {
                    "name": "filename",
                    "in": "path",
                    "required": True,
                    "description": f"N.EXT: the file's index in {urls_field} and its format",
                    "schema": {"type": "string", "pattern": r"^[0-9]+\.[A-Za-z0-9]+$"},
                    "example": "0.png",
                },
            ],
            "responses": {
                "200": {
                    "description": "The file",
                    "headers": {"Cache-Control": {"schema": {"type": "string"}}},
                    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in file_types},
                },
                **errors,
            },
        }
    }


def _declare_required(schema: dict) -> dict:
    """A (sub)schema whose ``required`` names a field its own ``properties`` does not declare (an
    ``if``/``then`` branch: ``then: {required: [image_urls]}``) declares it with an empty schema.
    The same meaning (the field is declared, with its constraints, where the object is), and linters
    that look for each required field beside it (Redocly's no-required-schema-properties-undefined)
    find it. Not where ``additionalProperties`` stands: there a declaration would change what passes."""
    required = schema.get("required")
    if not isinstance(required, list) or "additionalProperties" in schema:
        return schema
    declared = schema.get("properties")
    if declared is not None and not isinstance(declared, dict):
        return schema
    missing = [name for name in required if isinstance(name, str) and name not in (declared or {})]
    if missing:
        schema["properties"] = {**(declared or {}), **{name: {} for name in missing}}
    return schema


def build_openapi(
    catalog: Catalog, schemas: Schemas, server_url: str | None = None, *, dialect: Dialect | None = None
) -> dict:
    """The OpenAPI 3.1 document of ``dialect`` (default: the first built-in one) for ``catalog``'s
    models (``servers`` set when a URL is given)."""
    dialect = dialect or next(iter(builtin().values()))
    doc = dialect.openapi(catalog, schemas)
    if server_url:
        doc["servers"] = [{"url": server_url, "description": "this mock"}]
    return doc
