"""The published JSON Schemas by name, and every way a document breaks one.

Provider-neutral: which schema an answer must match, and the rules beside a schema that JSON
Schema cannot say, belong to each dialect (``mockserver/dialects/*/contract.py``); ``validate``
asks every built-in dialect for the rules of the schema it checks. No server imports: the test
suite's response hook, ``contract_tests/``, strict mode and ``mockserver validate`` all check
through here, so they cannot disagree.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mockserver.core.catalog import schema_dir
from mockserver.core.schema_errors import known_fields, missing_fields, size_bound, unexpected_fields
from mockserver.core.suggest import close_names
from mockserver.dialects import builtin

__all__ = [
    "Problem",
    "SCHEMA_BASE",
    "Schemas",
    "UnknownSchema",
    "json_path",
    "load_schemas",
    "schema_problems",
    "validate",
]

SCHEMA_BASE = "https://mockserver.local/schemas/"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
        # The same file name in another folder first (models/gpt-4o-image is 123api/models/gpt-4o-image).
        base = key.rsplit("/", 1)[-1]
        same = [n for n in self.names() if n.rsplit("/", 1)[-1] == base]
        close = list(dict.fromkeys([*same, *close_names(key, self.names(), n=3, cutoff=0.8)]))[:3]
        # A near miss names its candidates; anything else lists every name (GET /schemas/ does too).
        hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(self.names())})"
        raise UnknownSchema(f"no schema named {name!r}{hint}")

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

    ``model`` binds a dialect's submit-request schema to that model's input schema.
    Raises UnknownSchema for an unknown name or model.
    """
    schemas = schemas or load_schemas()
    canonical = schemas.resolve(name)
    dialects = list(builtin().values())
    if model is not None:
        owner = next((d for d in dialects if d.request_schema == canonical), None)
        if owner is None:
            requests = " or ".join(dict.fromkeys(d.request_schema for d in dialects if d.request_schema))
            # A dialect with no request schema publishes each model's whole body as its own schema.
            whole = [f"{d.title}'s: --schema {d.name}/models/MODEL" for d in dialects if d.request_schema is None]
            also = f" (a submit body of a model's own schema needs no --model; {'; '.join(whole)})" if whole else ""
            raise UnknownSchema(f"--model applies to {requests} only, not {canonical!r}{also}")
        return owner.request_problems(model, instance, schemas)
    problems = schema_problems(schemas, schemas.validator(canonical), canonical, instance)
    if not problems:
        # The rules JSON Schema cannot say; each dialect answers [] for schemas not its own.
        for dialect in dialects:
            problems += dialect.document_problems(canonical, instance, schemas)
    return problems


def schema_problems(schemas: Schemas, validator: Draft202012Validator, root: str, instance: object) -> list[Problem]:
    """Every way ``instance`` breaks ``validator``'s schema, one Problem per field; ``root`` names it."""
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
        missing = [n for n in missing_fields(error) if repr(n) in error.message]
        return [Problem(json_path([*parts, n]), "missing required field", where) for n in missing[:1] or ["?"]]
    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
        known = known_fields(error)
        allowed = f" (allowed: {', '.join(known)})" if known else ""
        return [
            Problem(json_path([*parts, k]), "unexpected field" + allowed, where)
            for k in unexpected_fields(error) or ["?"]
        ]
    bound = size_bound(error) if kind in ("maxLength", "minLength") else None  # item counts: jsonschema's words
    if bound is not None:
        message = bound
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
