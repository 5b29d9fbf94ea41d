"""The wire contract as code: the published JSON Schemas, which one each answer must match,
and the rules JSON Schema cannot say (costTime arithmetic, resultJson's content, code ==
HTTP status, Retry-After on 429).

No server imports: the test suite's response hook, ``contract_tests/``, strict mode and
``mockserver validate`` all check through this module, so they cannot disagree.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mockserver.core.catalog import load_catalog, schema_dir
from mockserver.core.media import CONTENT_TYPES
from mockserver.dialects.apixo import wire as apixo

__all__ = [
    "SCHEMA_BASE",
    "Problem",
    "Schemas",
    "UnknownSchema",
    "check_response",
    "describe",
    "check_result_file",
    "check_httpx_response",
    "endpoint_of",
    "generate_request_schema",
    "load_schemas",
    "response_schema",
    "validate",
    "validate_request",
]

SCHEMA_BASE = "https://mockserver.local/schemas/"

# Which schema each successful provider answer must match.
RESPONSE_SCHEMAS = {
    ("POST", "generateTask"): "generate-response",
    ("GET", "statusTask"): "status-response",
    ("GET", "balance"): "balance-response",
}
# Envelopes that embed a status ``data`` and so get the status rules too.
_STATUS_LIKE = ("status-response", "callback")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JSON = "application/json"


class UnknownSchema(LookupError):
    """No schema by that name; ``str()`` lists the close names."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One way a document breaks the contract: where (JSONPath or header), what, and which rule."""

    path: str
    message: str
    schema: str | None = None  # e.g. status-response.json#/$defs/success/required

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" + (f"  [{self.schema}]" if self.schema else "")


# --------------------------------------------------------------------------- schemas


class Schemas:
    """Every JSON Schema under a directory, by name, sharing one ``$ref`` registry.

    Names are paths without ``.json`` (and without a ``.schema`` suffix):
    ``status-response``, ``models/gpt-image-1``, ``scenario`` for scenario.schema.json.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, Path] = {}
        self._docs: dict[str, dict] = {}
        self._by_id: dict[str, str] = {}
        resources = []
        for path in sorted(root.rglob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or "$schema" not in doc:
                continue  # models/index.json and other data files are not schemas
            rel = path.relative_to(root).as_posix()
            name = rel.removesuffix(".json").removesuffix(".schema")
            self._files[name] = path
            self._docs[name] = doc
            uri = doc.get("$id") or SCHEMA_BASE + rel
            self._by_id[uri] = name
            resources.append((uri, Resource.from_contents(doc, default_specification=DRAFT202012)))
        self.registry: Registry = Registry().with_resources(resources)
        self._validators: dict[str, Draft202012Validator] = {}

    def names(self) -> list[str]:
        return sorted(self._docs)

    def resolve(self, name: str) -> str:
        """The canonical name for ``name``, ``name.json``, ``/schemas/name.json`` or a $id."""
        key = name.strip()
        if key in self._by_id:
            return self._by_id[key]
        key = key.removeprefix(SCHEMA_BASE).removeprefix("/").removeprefix("schemas/")
        key = key.removesuffix(".json").removesuffix(".schema")
        if key in self._docs:
            return key
        close = difflib.get_close_matches(key, self.names(), n=3, cutoff=0.8)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownSchema(f"no schema named {name!r}{hint} (known: {', '.join(self.names())})")

    def get(self, name: str) -> dict:
        return self._docs[self.resolve(name)]

    def file(self, name: str) -> Path:
        return self._files[self.resolve(name)]

    def uri(self, name: str) -> str:
        name = self.resolve(name)
        return self._docs[name].get("$id") or SCHEMA_BASE + self._files[name].relative_to(self.root).as_posix()

    def name_of_uri(self, uri: str) -> str | None:
        return self._by_id.get(uri)

    def validator(self, name: str) -> Draft202012Validator:
        name = self.resolve(name)
        found = self._validators.get(name)
        if found is None:
            found = self._validators[name] = self.validator_for(self._docs[name])
        return found

    def validator_for(self, schema: dict) -> Draft202012Validator:
        return Draft202012Validator(schema, registry=self.registry)


@functools.cache
def load_schemas(root: Path | None = None) -> Schemas:
    """The schemas shipped with mockserver (parsed once; treat as read-only)."""
    return Schemas(root or schema_dir())


# ----------------------------------------------------------------------- validation


def validate(name: str, instance: object, *, model: str | None = None, schemas: Schemas | None = None) -> list[Problem]:
    """Every way ``instance`` breaks schema ``name`` (and the rules beside it); [] if valid.

    ``model`` composes generate-request with that model's input schema.
    Raises UnknownSchema for an unknown name or model.
    """
    schemas = schemas or load_schemas()
    canonical = schemas.resolve(name)
    if model is not None:
        if canonical != "generate-request":
            raise UnknownSchema(f"--model applies to generate-request only, not {canonical!r}")
        return validate_request(model, instance, schemas=schemas)
    problems = _schema_problems(schemas, schemas.validator(canonical), canonical, instance)
    if not problems and canonical in _STATUS_LIKE:
        problems = status_rules(instance, schemas)
    return problems


def validate_request(model: str, body: object, *, schemas: Schemas | None = None) -> list[Problem]:
    """Problems of a generateTask body for ``model``: the top level and the model's input."""
    schemas = schemas or load_schemas()
    return _schema_problems(schemas, _request_validator(schemas, model), "generate-request", body)


@functools.cache
def _request_validator(schemas: Schemas, model: str) -> Draft202012Validator:
    return schemas.validator_for(generate_request_schema(model, schemas=schemas))


def generate_request_schema(model: str, *, schemas: Schemas | None = None) -> dict:
    """generate-request with ``input`` bound to the model's schema (and its provider rule)."""
    schemas = schemas or load_schemas()
    try:
        input_uri = schemas.uri(f"models/{model}")
    except UnknownSchema:
        raise UnknownSchema(f"no model named {model!r} (known: {', '.join(load_catalog().names())})") from None
    schema = copy.deepcopy(schemas.get("generate-request"))
    schema.pop("$id", None)
    schema.pop("examples", None)
    schema["title"] = f"generateTask request for {model}"
    schema["description"] = (
        f"The JSON body of POST /api/v1/generateTask/{model}: generate-request.json with input "
        f"checked by models/{model}.json."
    )
    schema["properties"]["input"] = {"$ref": input_uri}
    found = load_catalog().get(model)
    if found is not None and found.official_only:
        schema["properties"]["provider"] = {
            "type": "string",
            "const": "official",
            "description": f"{model} accepts only provider 'official' (the default when absent).",
        }
    examples = found.schema.get("examples", []) if found is not None else []
    if examples:
        schema["examples"] = [{"request_type": "async", "input": ex} for ex in examples]
    return schema


def _schema_problems(schemas: Schemas, validator: Draft202012Validator, root: str, instance: object) -> list[Problem]:
    problems: list[Problem] = []
    for error in validator.iter_errors(instance):
        for leaf in _leaves(error):
            problems += _problems_of(leaf, schemas, validator.schema, root)
    # Deterministic, and a document's own order of fields reads best.
    return sorted(set(problems), key=lambda p: (p.path, p.message))


def _leaves(error: ValidationError) -> Iterable[ValidationError]:
    """The errors a person acts on; for a oneOf on a tag (``state``) only the matching branch's."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        yield error
        return
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    tag_misses: dict[int, list[ValidationError]] = {}
    for index, subs in branches.items():
        misses = [s for s in subs if len(s.relative_path) == 1 and s.validator in ("const", "enum")]
        if misses:
            tag_misses[index] = misses
    matching = [i for i in branches if i not in tag_misses]
    if len(matching) == 1:
        for sub in branches[matching[0]]:
            yield from _leaves(sub)
        return
    if not matching and tag_misses:
        # No branch has this tag value: say which values there are.
        first = next(iter(tag_misses.values()))[0]
        field = first.relative_path[0]
        allowed: list[Any] = []
        for misses in tag_misses.values():
            for miss in misses:
                if miss.relative_path[0] != field:
                    continue
                values = [miss.validator_value] if miss.validator == "const" else list(miss.validator_value)
                allowed += [v for v in values if v not in allowed]
        value = first.instance
        error.message = f"{_short(value)} is not one of {', '.join(_short(v) for v in allowed)}"
        error.path.append(field)
        yield error
        return
    yield error


def _problems_of(error: ValidationError, schemas: Schemas, root_schema: dict, root: str) -> list[Problem]:
    """One Problem per field: a missing field or an unexpected one is named in the path."""
    parts = list(error.absolute_path)
    where = _schema_location(schemas, root_schema, root, error)
    kind = error.validator
    if kind == "required" and isinstance(error.instance, dict):
        # jsonschema reports each missing field as its own error, named only in the message.
        missing = [n for n in error.validator_value if n not in error.instance and repr(n) in error.message]
        return [Problem(json_path([*parts, n]), "missing required field", where) for n in missing[:1] or ["?"]]
    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        allowed = f" (allowed: {', '.join(known)})" if known else ""
        extra = sorted(k for k in error.instance if k not in known) or ["?"]
        return [Problem(json_path([*parts, k]), "unexpected field" + allowed, where) for k in extra]
    if kind in ("maxLength", "minLength") and isinstance(error.instance, str):
        bound = "at most" if kind == "maxLength" else "at least"
        message = f"{len(error.instance)} characters, {bound} {error.validator_value}"
    else:
        message = error.message
        shown = repr(error.instance)
        if len(shown) > 80 and message.startswith(shown):
            message = shown[:60] + "..." + message[len(shown) :]
    return [Problem(json_path(parts), _shorten(message), where)]


def json_path(parts: Iterable[object]) -> str:
    """``$.data.resultUrls[0]`` from path parts; odd keys in brackets (``$['a b']``)."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _schema_location(schemas: Schemas, root_schema: dict, root: str, error: ValidationError) -> str | None:
    """``file.json#/pointer`` of the rule that failed, following $refs across files."""
    node: Any = root_schema
    base = schemas.uri(root) if root in schemas.names() else SCHEMA_BASE
    file = root
    pointer: list[str] = []

    def follow(ref: str) -> None:
        nonlocal node, base, file, pointer
        target = urljoin(base, ref)
        uri, _, fragment = target.partition("#")
        name = schemas.name_of_uri(uri) if uri else None
        if name is not None:
            file, base, node = name, uri, schemas.get(name)
        pointer = [p for p in fragment.split("/") if p]
        for p in pointer:
            node = node[p]

    try:
        for key in error.absolute_schema_path:
            # jsonschema leaves $ref out of the path: follow refs until the key is there.
            while isinstance(node, dict) and key not in node and "$ref" in node:
                follow(node["$ref"])
            node = node[key]
            pointer.append(str(key))
    except (KeyError, IndexError, TypeError):
        return None
    rel = schemas.file(file).relative_to(schemas.root).as_posix()
    return f"{rel}#/{'/'.join(pointer)}"


def _short(value: object, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


def _shorten(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[:limit] + "..."


# ------------------------------------------------------------ rules beside the schema


def status_rules(envelope: object, schemas: Schemas | None = None) -> list[Problem]:
    """What a status (or callback) envelope must satisfy that JSON Schema cannot say.

    Call on a document that already validates against status-response.
    """
    schemas = schemas or load_schemas()
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        return []
    problems: list[Problem] = []
    created, completed = data.get("createTime"), data.get("completeTime")
    if isinstance(created, int) and isinstance(completed, int) and completed < created:
        problems.append(Problem("$.data.completeTime", f"{completed} is before createTime {created}"))
    if data.get("state") == "success":
        cost = data.get("costTime")
        if isinstance(created, int) and isinstance(completed, int) and cost != completed - created:
            problems.append(
                Problem(
                    "$.data.costTime",
                    f"{cost} != completeTime - createTime ({completed - created})",
                )
            )
        raw = data.get("resultJson")
        try:
            result = json.loads(raw) if isinstance(raw, str) else None
        except ValueError as exc:
            problems.append(Problem("$.data.resultJson", f"not valid JSON: {exc}"))
        else:
            result_schema = {"$ref": schemas.uri("status-response") + "#/$defs/result"}
            for p in _schema_problems(schemas, schemas.validator_for(result_schema), "status-response", result):
                problems.append(Problem("$.data.resultJson", f"parsed: {p.path}: {p.message}", p.schema))
    return problems


# ------------------------------------------------------------------------- responses


def _template(path: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^}]+\}", path)
    return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "$")


_ENDPOINTS = (
    ("generateTask", _template(apixo.GENERATE_PATH)),
    ("statusTask", _template(apixo.STATUS_PATH)),
    ("balance", _template(apixo.BALANCE_PATH)),
    ("files", _template(apixo.FILES_PATH)),
)


def endpoint_of(path: str) -> str | None:
    """generateTask | statusTask | balance | files for a provider path, else None."""
    for name, pattern in _ENDPOINTS:
        if pattern.match(path):
            return name
    return None


def response_schema(method: str, path: str, status: int) -> str | None:
    """The schema a JSON answer must match (None: no JSON contract, e.g. admin 200s or files)."""
    if status >= 400:
        return "error"
    endpoint = endpoint_of(path)
    if status == 200 and endpoint is not None:
        return RESPONSE_SCHEMAS.get((method.upper(), endpoint))
    return None


def check_response(
    method: str,
    path: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    errors_as_200: bool = False,
    schemas: Schemas | None = None,
) -> list[Problem]:
    """Every way one HTTP answer breaks the contract; [] if it keeps it.

    ``headers`` must look names up case-insensitively (httpx and Starlette headers do).
    ``errors_as_200``: accept an error envelope on HTTP 200 (a scenario's errors-as-200 mode).
    """
    method = method.upper()
    if method == "HEAD":
        return []
    endpoint = endpoint_of(path)
    if endpoint == "files" and status == 200:
        return check_result_file(path, headers, body)
    name = response_schema(method, path, status)
    if name is None:
        return []
    ctype = headers.get("content-type", "")
    problems = []
    if ctype.split(";")[0].strip().lower() != _JSON:
        problems.append(Problem("header Content-Type", f"expected {_JSON}, got {ctype or 'none'!r}"))
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        excerpt = body[:80].decode("utf-8", "replace")
        return [*problems, Problem("$", f"body is not JSON ({exc}): {excerpt!r}")]
    if status == 200 and errors_as_200 and isinstance(doc, dict) and doc.get("code") != 200:
        name = "error"
    schemas = schemas or load_schemas()
    problems += validate(name, doc, schemas=schemas)
    if name == "error" and isinstance(doc, dict):
        code = doc.get("code")
        if status != 200 and code != status:
            problems.append(Problem("$.code", f"{code!r} differs from the HTTP status {status}"))
        if code == 429 or status == 429:
            problems += _retry_after_problems(doc, headers)
    return problems


def _retry_after_problems(doc: dict, headers: Mapping[str, str]) -> list[Problem]:
    raw = headers.get("retry-after")
    if raw is None:
        return [Problem("header Retry-After", "missing on a 429")]
    try:
        seconds = int(raw)
    except ValueError:
        return [Problem("header Retry-After", f"{raw!r} is not a whole number of seconds")]
    body_value = doc.get("retryAfter")
    if isinstance(body_value, int | float) and not isinstance(body_value, bool) and body_value != seconds:
        return [Problem("$.retryAfter", f"{body_value} differs from the Retry-After header ({seconds})")]
    return []


# The first bytes of each result format: a right Content-Type on the wrong bytes is still broken.
_MAGIC = {
    "image/png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "video/mp4": lambda b: b[4:8] == b"ftyp",
    "audio/wav": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE",
    "audio/mpeg": lambda b: b.startswith(b"ID3") or (len(b) > 1 and b[0] == 0xFF and b[1] & 0xE0 == 0xE0),
}


def check_result_file(url: str, headers: Mapping[str, str], body: bytes) -> list[Problem]:
    """A downloaded result file: Content-Type matching its extension (if any) and its bytes."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    expected = CONTENT_TYPES.get(ext)
    if expected is not None and ctype != expected:
        shown = repr(ctype) if ctype else "none"
        return [Problem("header Content-Type", f"expected {expected} for .{ext}, got {shown}")]
    if ctype not in _MAGIC:
        known = ", ".join(sorted(_MAGIC))
        return [Problem("header Content-Type", f"{ctype or 'none'!r} is not a result media type ({known})")]
    if not _MAGIC[ctype](body):
        return [Problem("body", f"the bytes are not {ctype} (starts {body[:12]!r})")]
    return []


def check_httpx_response(response: Any, *, errors_as_200: bool = False) -> list[Problem]:
    """check_response for an httpx.Response (its body must be read)."""
    return check_response(
        response.request.method,
        urlsplit(str(response.request.url)).path,
        response.status_code,
        response.headers,
        response.content,
        errors_as_200=errors_as_200,
    )


def describe(problems: list[Problem], response: Any | None = None) -> str:
    """A failure message: the request, the answer's start, and each problem."""
    lines = []
    if response is not None:
        req = response.request
        lines.append(f"{req.method} {req.url} -> {response.status_code}")
        lines.append(f"body: {response.content[:300].decode('utf-8', 'replace')}")
    lines += [f"  {p}" for p in problems]
    return "\n".join(lines)
