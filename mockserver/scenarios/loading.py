"""Scenario files: load (YAML or JSON), validate against schemas/scenario.schema.json, compile.

The schema is the single definition of the format; the checks here add only what a
schema cannot say (a regex compiles, a model exists, an action can act on the
endpoint named). Every refusal names the JSON path: ``rules/0: unknown key 'explode'``.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockserver._data import data_dir
from mockserver.callbacks.config import CallbackConfig
from mockserver.core.catalog import schema_dir
from mockserver.core.json_types import json_type
from mockserver.core.memo import remember
from mockserver.core.schema_errors import known_fields, missing_fields, unexpected_fields
from mockserver.core.suggest import close_names
from mockserver.dialects import builtin, endpoint_aliases
from mockserver.scenarios import rules as r
from mockserver.scenarios.patterns import BoundedPattern, PatternError, compile_pattern

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

# yaml and jsonschema are imported where a document is parsed or validated: the server, and
# every command, imports this module at start, and most starts load no scenario (~0.15 s of CPU).

__all__ = [
    "LibraryEntry",
    "Scenario",
    "ScenarioError",
    "library",
    "library_dir",
    "load",
    "parse",
    "parse_rule",
    "problems",
    "read_file",
    "refusal",
    "source_problems",
    "with_overrides",
]

SUFFIXES = (".yaml", ".yml", ".json")
MAX_NODES = 100_000  # values in one document
MAX_DEPTH = 64
MAX_RULES = 1000  # the schema's rules.maxItems; rules added at run time count too


class ScenarioError(ValueError):
    """An unusable scenario: ``path`` is the JSON path ("" for the document), ``reason`` why."""

    def __init__(self, path: str, reason: str, source: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.source = source
        super().__init__(f"{path or '(root)'}: {reason}")


_GLOB = frozenset("*?[")  # the characters that make an fnmatch pattern more than a name


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario. Fields left None keep the server's settings."""

    document: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    description: str | None = None
    seed: int | None = None
    clock_mode: str | None = None
    clock_scale: float | None = None
    start_ms: int | None = None
    accounts: dict[str, float | None] | None = None
    # (glob, overrides) in document order; later entries win.
    models: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    requests_per_minute: int | None = None
    concurrent_tasks: int | None = None
    ttl_ms: int | None = None
    base_url: str | None = None
    errors_as_200: bool = False
    retry_hint: str = "both"  # where a retry hint goes: both, header, body, none
    insufficient_credits: str = "http_402"  # how an unpaid submit is refused: http_402, code_400, failed_task
    rules: tuple[r.Rule, ...] = ()

    def model_overrides(self, model: str) -> dict[str, Any]:
        """Every override that applies to ``model``, later globs winning."""
        out: dict[str, Any] = {}
        for pattern, values in self.models:
            # A pattern without wildcards matches its own name alone (most overrides name one model).
            if model == pattern if _GLOB.isdisjoint(pattern) else fnmatchcase(model, pattern):
                out.update(values)
        return out


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    name: str
    description: str
    path: Path


# ------------------------------------------------------------------------ loading


def load(source: object = None, models: Iterable[str] | None = None) -> Scenario:
    """A Scenario from a library name, a file path, a mapping, a Scenario, or None (empty)."""
    if source is None:
        return parse({}, models)
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return parse(source, models)
    if isinstance(source, os.PathLike | str):
        return parse(read_source(source), models, source=str(source))
    raise TypeError(f"a scenario is a name, a path or a mapping, not {type(source).__name__}")


def read_source(source: str | os.PathLike) -> object:
    """The document named by ``source``: a file if it is one, else a library scenario."""
    text = os.fspath(source)
    path = Path(text)
    looks_like_path = isinstance(source, os.PathLike) or "/" in text or os.sep in text or path.suffix in SUFFIXES
    if path.is_file():
        return read_file(path)
    if looks_like_path:
        raise ScenarioError("", f"no such file: {text}", text)
    entry = find(text)
    if entry is None:
        names = ", ".join(e.name for e in library())
        raise ScenarioError("", f"no scenario named {text!r}: not a file, and the library has {names}", text)
    return read_file(entry.path)


def read_file(path: Path) -> object:
    """Parse a YAML or JSON file (JSON is read strictly when the name ends in .json)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError("", f"cannot read {path}: {exc}", str(path)) from None
    return parse_text(text, json_only=path.suffix == ".json", source=str(path))


def parse_text(text: str, json_only: bool = False, source: str | None = None) -> object:
    """A document from YAML or JSON text."""
    if json_only:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ScenarioError("", f"invalid JSON: {exc}", source) from None
        except RecursionError:
            raise ScenarioError("", "invalid JSON: nested too deeply", source) from None
    if _flow_depth(text) > MAX_DEPTH:
        # Checked first: PyYAML's scanner is quadratic in the nesting of [ and {.
        raise ScenarioError("", "invalid YAML: nested too deeply", source)
    import yaml

    try:
        # Not libyaml's CSafeLoader, though faster: on a deeply nested flow collection ("[[[[...")
        # it overflows the C stack and kills the process; the Python loader raises RecursionError.
        return yaml.load(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ScenarioError("", "invalid YAML: nested too deeply", source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError("", f"invalid YAML{where}: {problem}", source) from None
    except (ValueError, OverflowError) as exc:
        # A scalar PyYAML's constructors refuse: an integer of more than 4,300 digits, a bad date.
        raise ScenarioError("", f"invalid YAML: {str(exc).split(';')[0]}", source) from None


_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def _flow_depth(text: str) -> int:
    """The deepest nesting of [ and { (brackets inside strings count too: an upper bound)."""
    depth = deepest = 0
    for ch in _NOT_BRACKETS.sub("", text):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest


# ------------------------------------------------------------------------ library


def library_dir() -> Path:
    """Where the named scenarios live: inside the installed package, else the repo's scenarios/."""
    return data_dir("scenarios")


def library() -> list[LibraryEntry]:
    """The named scenarios, sorted by name, with the description each file gives."""
    return [_entry(path) for path in _library_files()]


def find(name: str) -> LibraryEntry | None:
    """The library scenario called ``name``.

    Only that file is read: a load by name (PUT /__admin/scenario?name=, ``--scenario NAME``)
    parsed every file of the library for its description, in the pure-Python YAML loader.
    """
    return next((_entry(path) for path in _library_files() if path.stem == name), None)


def _library_files() -> list[Path]:
    root = library_dir()
    if not root.is_dir():
        return []
    return [path for path in sorted(root.iterdir()) if path.suffix in SUFFIXES and path.is_file()]


def _entry(path: Path) -> LibraryEntry:
    try:
        stat = path.stat()
    except OSError:  # gone since the folder was listed: no description, as an unreadable file
        return LibraryEntry(path.stem, "", path)
    return LibraryEntry(path.stem, _description(str(path), stat.st_mtime_ns, stat.st_size), path)


@functools.lru_cache(maxsize=256)
def _description(path: str, mtime_ns: int, size: int) -> str:
    """A library file's description, read once per version of the file (its time and size)."""
    try:
        doc = read_file(Path(path))
    except ScenarioError:
        doc = None
    description = doc.get("description", "") if isinstance(doc, dict) else ""
    return " ".join(str(description).split())


# ------------------------------------------------------------------------ validation


@functools.cache
def _schema() -> dict:
    return json.loads((schema_dir() / "scenario.schema.json").read_text(encoding="utf-8"))


def fault_kinds() -> tuple[str, ...]:
    """The network faults a rule may ask for, as the scenario schema lists them."""
    return tuple(_schema()["$defs"]["faultName"]["enum"])


def top_level_choices(name: str) -> tuple[str, ...]:
    """The values a top-level enum key (``retry_hint``, ``insufficient_credits``) may take, as the
    scenario schema lists them."""
    return tuple(_schema()["properties"][name]["enum"])


@functools.cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_inlined(_schema()))


@functools.cache
def _rule_validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = _schema()
    return Draft202012Validator(_inlined({"$defs": schema["$defs"], "$ref": "#/$defs/rule"}))


# JSON texts of scenario parts seen to validate, by where they sit: a top-level value by its key,
# a rule's value by its key, and the key sets of the document and of rules. A fuzz loop loads a
# new scenario per example, but mostly made of values it loaded before (Hypothesis draws the same
# `when`, `respond` or `seed` again in new combinations): a value seen valid is not checked again.
_VALID_PARTS: dict[tuple[str, str], None] = {}
# The same, one level down: key sets and fields of the objects a rule's values are (see _ByFields),
# by definition name ("when", "when.nth"). Bounded alike.
_VALID_FIELDS: dict[tuple[str, str], None] = {}
_VALID_PARTS_SIZE = 4096
_VALID_PART_BYTES = 4096

# Keywords of an object schema that look at its keys only (or annotate): with ``properties`` and
# ``additionalProperties: false``, such a schema holds an object iff the object's key set passes
# and each value passes its property's schema, so the two can be checked (and remembered) apart.
_KEY_ONLY = frozenset(
    {"type", "required", "minProperties", "maxProperties", "dependentRequired", "anyOf", "oneOf", "allOf", "not"}
)
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "errorMessage", "examples"})


@dataclass(frozen=True)
class _Split:
    """An object schema split in two: ``shape`` (every property accepts anything) and one
    validator per property."""

    shape: Draft202012Validator
    values: dict[str, Draft202012Validator | _ByFields]


def _key_only(schema: object) -> bool:
    """Whether ``schema`` (a subschema of anyOf/oneOf/allOf/not) constrains keys alone."""
    if not isinstance(schema, dict):
        return False
    for keyword, value in schema.items():
        if keyword in ("anyOf", "oneOf", "allOf"):
            if not (isinstance(value, list) and all(_key_only(sub) for sub in value)):
                return False
        elif keyword == "not":
            if not _key_only(value):
                return False
        elif keyword not in _KEY_ONLY and keyword not in _ANNOTATIONS:
            return False
    return True


def _split(schema: dict, defs: dict, within: frozenset[str] = frozenset()) -> _Split | None:
    """``schema`` split into shape and values, or None when some keyword of it looks at values
    beyond ``properties`` (it is then validated whole). A value whose schema is a definition that
    splits in turn is checked by its fields (``_ByFields``; ``within``: the definitions above)."""
    if not _splits(schema):
        return None
    from jsonschema import Draft202012Validator

    props = schema["properties"]
    shape = {**schema, "properties": dict.fromkeys(props, True)}
    values: dict[str, Draft202012Validator | _ByFields] = {}
    for name, sub in props.items():
        target = sub["$ref"][8:] if _local_ref(sub, defs) else None
        if target is not None and target not in within and _splits(defs[target]):
            values[name] = _ByFields(target, sub, defs, within | {target})
        else:
            values[name] = Draft202012Validator(_inlined({"$defs": defs, **sub}))
    return _Split(Draft202012Validator(shape), values)


def _splits(schema: dict) -> bool:
    """Whether ``_split`` splits ``schema`` (without building its validators)."""
    rest = {k: v for k, v in schema.items() if k not in ("properties", "additionalProperties")}
    closed = schema.get("additionalProperties") is False
    return isinstance(schema.get("properties"), dict) and closed and _key_only(rest)


def _local_ref(schema: dict, defs: dict) -> bool:
    """Whether ``schema`` is a ``$ref`` to one of ``defs`` (annotations aside)."""
    ref = schema.get("$ref")
    return (
        isinstance(ref, str)
        and ref.startswith("#/$defs/")
        and ref[8:] in defs
        and all(k == "$ref" or k in _ANNOTATIONS for k in schema)
    )


class _ByFields:
    """The validator of a property whose schema is a definition that splits (a rule's ``when``,
    ``respond``...): an object is checked by its key set and each field apart, each remembered in
    ``_VALID_FIELDS`` under the definition's name (a `when` is often new, its conditions seldom:
    Hypothesis draws them again in new combinations); anything else by the whole schema. The
    same verdict as ``whole``, for the reason ``_split`` gives."""

    def __init__(self, name: str, schema: dict, defs: dict, within: frozenset[str]) -> None:
        self.name = name  # the definition's: its fields are the same wherever it is used
        self._schema = schema  # the property's: a $ref to the definition
        self._defs = defs
        self._within = within

    # Built at the first value to check (a server that loads one scenario at its start checks few).
    @functools.cached_property
    def whole(self) -> Draft202012Validator:
        from jsonschema import Draft202012Validator

        return Draft202012Validator(_inlined({"$defs": self._defs, **self._schema}))

    @functools.cached_property
    def split(self) -> _Split:
        split = _split(self._defs[self.name], self._defs, self._within)
        assert split is not None  # _splits said so
        return split

    def is_valid(self, value: object) -> bool:
        # As a rule is checked, one level down, in the fields' own memo (split built for objects only).
        split = self.split if isinstance(value, dict) else None
        return _part_valid(self.name, value, split, lambda: self.whole, _VALID_FIELDS)


@functools.cache
def _doc_split() -> _Split | None:
    schema = _schema()
    return _split(schema, schema["$defs"])


@functools.cache
def _rule_split() -> _Split | None:
    schema = _schema()
    return _split(schema["$defs"]["rule"], schema["$defs"])


def _seen_valid(doc: object) -> bool:
    """Whether ``doc`` (JSON values only) validates, checked part by part, each part once.

    The schema is an object whose ``rules`` is an array of at most MAX_RULES rules, each
    checked by the rule schema alone, and nothing else in it looks at the rules: so the
    document without its rules, the array's shape and each rule decide it together; each of
    those is an object decided by its key set and its values one by one (``_split``). False
    when some part is invalid: the caller validates the whole for the error to report.
    """
    if not isinstance(doc, dict):
        return False
    rules = doc.get("rules", [])
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        return False
    top = {k: v for k, v in doc.items() if k != "rules"}
    if not _part_valid("doc", top, _doc_split(), _validator):
        return False
    return all(_part_valid("rule", rule, _rule_split(), _rule_validator) for rule in rules)


def _part_valid(
    kind: str,
    part: object,
    split: _Split | None,
    whole: Callable[[], Draft202012Validator],
    memo: dict[tuple[str, str], None] = _VALID_PARTS,
) -> bool:
    if split is None or not isinstance(part, dict):
        return _remembered((kind, json.dumps(part)), whole(), part, memo)
    if not _remembered((kind, json.dumps(sorted(part))), split.shape, part, memo):
        return False
    return all(
        _remembered((f"{kind}.{name}", json.dumps(value)), split.values[name], value, memo)
        for name, value in part.items()
    )


def _remembered(
    key: tuple[str, str],
    validator: Draft202012Validator | _ByFields,
    value: object,
    memo: dict[tuple[str, str], None] = _VALID_PARTS,
) -> bool:
    """Whether ``validator`` holds ``value``, unless ``key`` was seen valid before (in ``memo``);
    a valid verdict is remembered."""
    if key in memo:
        return True
    if not validator.is_valid(value):
        return False
    if len(key[1]) <= _VALID_PART_BYTES:  # the memo stays small: 4096 parts of 4 KB at most
        remember(memo, key, None, _VALID_PARTS_SIZE)
    return True


def _inlined(schema: dict) -> dict:
    """``schema`` with each local ``$ref`` replaced by what it names: the same meaning, validated
    about twice as fast (a scenario is checked on every load, and fuzzing loads one per example).
    A recursive ``$ref`` stays a ``$ref`` (``$defs`` is kept for it)."""
    defs = schema.get("$defs", {})

    def walk(node: object, expanding: frozenset[str]) -> object:
        if isinstance(node, list):
            return [walk(item, expanding) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs and ref[8:] not in expanding:
            target = walk(defs[ref[8:]], expanding | {ref[8:]})
            rest = {k: walk(v, expanding) for k, v in node.items() if k != "$ref"}
            return {"allOf": [target, rest]} if rest else target
        return {k: (v if k == "$defs" else walk(v, expanding)) for k, v in node.items()}

    out = walk(schema, frozenset())
    assert isinstance(out, dict)
    return out


def parse(
    doc: object, models: Iterable[str] | None = None, source: str | None = None, *, owned: bool = False
) -> Scenario:
    """Validate a scenario document and compile it; ScenarioError names what is wrong.

    The Scenario keeps a copy of ``doc``, unless ``owned``: the caller hands the document over
    (it parsed it from text just now) and nothing else holds it."""
    try:
        return _parse(doc, models, owned)
    except ScenarioError as exc:
        exc.source = exc.source or source
        raise


def _parse(doc: object, models: Iterable[str] | None, owned: bool = False) -> Scenario:
    if doc is None:
        doc = {}  # an empty file is the empty scenario
    _check_json(doc, [])
    # The empty scenario, every mock's without one, is valid (a test asks the schema): it needs
    # no validator, and a start of the server without a scenario no jsonschema.
    if doc != {} and not _seen_valid(doc):
        _validate(_validator(), doc, [])
    assert isinstance(doc, dict)
    known = _known_models(models)
    if not owned:
        doc = copy.deepcopy(doc)
    clock = doc.get("clock", {})
    accounts = None
    if "accounts" in doc:
        accounts = {}
        for i, entry in enumerate(doc["accounts"]):
            if entry["key"] in accounts:
                raise ScenarioError(f"accounts/{i}/key", f"duplicate key {entry['key']!r}")
            accounts[entry["key"]] = entry.get("balance")
    overrides = []
    for pattern, values in doc.get("models", {}).items():
        where = f"models/{pattern}"
        if not any(fnmatchcase(m, pattern) for m in known):
            raise ScenarioError(where, f"no model matches {pattern!r}{_suggest(pattern, known)}")
        _check_range(values.get("processing_ms"), f"{where}/processing_ms")
        values = dict(values)
        if "processing_ms" in values:
            values["processing_ms"] = _as_range(values["processing_ms"])
        if "price" in values:
            values["price"] = float(values["price"])
        overrides.append((pattern, values))
    if "callbacks" in doc:
        _check_callbacks(doc["callbacks"])
    limits = doc.get("limits", {})
    results = doc.get("results", {})
    known_key = tuple(known)
    compiled = tuple(_remembered_rule(rule, i, known, known_key) for i, rule in enumerate(doc.get("rules", [])))
    return Scenario(
        document=doc,
        name=doc.get("name"),
        description=doc.get("description"),
        seed=doc.get("seed"),
        clock_mode=clock.get("mode"),
        clock_scale=clock.get("scale"),
        start_ms=clock.get("start_ms"),
        accounts=accounts,
        models=tuple(overrides),
        requests_per_minute=limits.get("requests_per_minute"),
        concurrent_tasks=limits.get("concurrent_tasks"),
        ttl_ms=results.get("ttl_ms"),
        base_url=(results.get("base_url") or "").rstrip("/") or None,
        errors_as_200=bool(doc.get("errors_as_200", False)),
        retry_hint=doc.get("retry_hint", "both"),
        insufficient_credits=doc.get("insufficient_credits", "http_402"),
        rules=compiled,
    )


def parse_rule(doc: object, index: int, models: Iterable[str] | None = None) -> r.Rule:
    """One rule (POST /__admin/rules), validated by the same schema, as rule number ``index``."""
    _check_json(doc, ["rules", index])
    _validate(_rule_validator(), doc, ["rules", index])
    assert isinstance(doc, dict)
    return _compile_rule(copy.deepcopy(doc), index, _known_models(models))


def problems(doc: object, models: Iterable[str] | None = None) -> list[ScenarioError]:
    """Every problem of a scenario document in document order; [] when ``parse`` accepts it.

    ``parse`` stops at the first problem; people fixing a file want them all at once. The
    schema's errors come first-hand; the checks beyond the schema run on each part (a rule, a
    model override, the rest) the schema found nothing wrong in, as ``parse`` would run them.
    """
    if doc is None:
        doc = {}
    try:
        _check_json(doc, [])
    except ScenarioError as exc:
        return [exc]  # not a JSON document, or too big to walk any further
    # One problem per place, the one parse would name there (an unknown key, rather than the
    # missing action it was probably meant to be).
    by_place: dict[tuple, list[ValidationError]] = {}
    for error in _validator().iter_errors(doc):
        by_place.setdefault(tuple(error.absolute_path), []).append(error)
    found = [_schema_error(errors) for errors in by_place.values()]
    if not isinstance(doc, dict):
        return found
    known = _known_models(models)

    def clean(where: str) -> bool:
        return not any(e.path == where or e.path.startswith(f"{where}/") for e in found)

    beyond: list[ScenarioError] = []

    def check(where: str, compile_part: Callable[[], object]) -> None:
        if clean(where):
            try:
                compile_part()
            except ScenarioError as exc:
                beyond.append(exc)

    rules, overrides = doc.get("rules"), doc.get("models")
    if isinstance(rules, list):
        for i, rule in enumerate(rules):
            check(f"rules/{i}", functools.partial(_compile_rule, copy.deepcopy(rule), i, known))
    if isinstance(overrides, dict):
        for pattern, values in overrides.items():
            check(f"models/{pattern}", functools.partial(_parse, {"models": {pattern: values}}, known))
    rest = {k: v for k, v in doc.items() if k not in ("rules", "models")}
    if all(e.path.split("/", 1)[0] in ("rules", "models") for e in found):
        check("", functools.partial(_parse, rest, known))
    return sorted([*found, *beyond], key=lambda e: _document_order(doc, e.path))


def source_problems(source: object, models: Iterable[str] | None = None) -> list[ScenarioError]:
    """``problems`` of a library name, file path or mapping; a file that cannot be read is one problem."""
    if isinstance(source, os.PathLike | str):
        try:
            return problems(read_source(source), models)
        except ScenarioError as exc:
            return [exc]
    return problems(source, models)


def refusal(label: str, found: list[ScenarioError]) -> str:
    """The one wording every command refuses a scenario in: one line per problem, all of them."""
    if len(found) == 1 and not found[0].path and found[0].source:
        # The file itself (no such file, not YAML): the reason, naming the file once.
        reason = found[0].reason
        return reason if label in reason else f"{label}: {reason}"
    if len(found) == 1:
        return f"{label}: invalid scenario: {found[0]}"
    return "\n  ".join([f"{label}: invalid scenario, {len(found)} problems:", *map(str, found)])


def _schema_error(errors: list[ValidationError]) -> ScenarioError:
    from jsonschema.exceptions import best_match

    error = _deepest(best_match(errors) or errors[0])
    return ScenarioError(_path(error.absolute_path), _reason(error))


def _document_order(doc: object, path: str) -> list[int]:
    """Where ``path`` sits in ``doc``: positions of its keys and indexes, to sort problems by."""
    order = []
    for part in path.split("/") if path else []:
        if isinstance(doc, dict):
            keys = list(doc)
            order.append(keys.index(part) if part in doc else len(keys))
            doc = doc.get(part)
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            order.append(int(part))
            doc = doc[int(part)]
        else:
            break
    return order


def _check_callbacks(doc: dict) -> None:
    """What the schema cannot say about ``callbacks`` (the secret decodes), by the same code that runs it."""
    try:
        CallbackConfig.from_dict(doc)
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        where = (
            "callbacks/secret" if field == "webhook secret" else field.replace(".", "/").replace("[", "/").rstrip("]")
        )
        raise ScenarioError(where, reason or str(exc)) from None


def _known_models(models: Iterable[str] | None) -> list[str]:
    """``models``, or (None) every model some built-in dialect serves."""
    if models is None:
        from mockserver.dialects import builtin

        models = {name for dialect in builtin().values() for name in dialect.catalog().names()}
    return sorted(models)


def _check_json(value: object, path: list, budget: list[int] | None = None) -> None:
    """YAML can hold what JSON cannot (dates, non-string keys, NaN): refuse it by path.

    Also refuses documents too big to be a scenario: YAML aliases can make a small file
    describe an enormous tree (a "billion laughs"), which nothing should walk.
    """
    budget = [MAX_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise ScenarioError(_path(path), f"the document is too large (more than {MAX_NODES} values)")
    if len(path) > MAX_DEPTH:
        raise ScenarioError(_path(path), f"nested too deeply (more than {MAX_DEPTH} levels)")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ScenarioError(_path(path), f"keys must be strings, got {k!r}")
            _check_json(v, [*path, k], budget)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(v, [*path, i], budget)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ScenarioError(_path(path), f"{value} is not a JSON number")
    elif value is not None and not isinstance(value, str | int | bool):
        raise ScenarioError(_path(path), f"expected a JSON value, got {type(value).__name__} {value!s}")


def _validate(validator: Draft202012Validator, doc: object, prefix: list) -> None:
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(doc))
    if error is None:
        return
    error = _deepest(error)
    raise ScenarioError(_path([*prefix, *error.absolute_path]), _reason(error))


def _deepest(error: ValidationError) -> ValidationError:
    """In an anyOf, the error of the branch the value was meant for: one whose type it has."""
    from jsonschema.exceptions import best_match

    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return error
    if all(e.validator == "required" for e in error.context):
        return error  # "needs one of these keys": the parent says it best
    by_branch: dict[object, list[ValidationError]] = {}
    for e in error.context:
        by_branch.setdefault(e.relative_schema_path[0], []).append(e)
    fitting = [e for errors in by_branch.values() if not any(_wrong_type(e) for e in errors) for e in errors]
    best = best_match(fitting) if fitting else None
    return _deepest(best) if best is not None else error


def _wrong_type(error: ValidationError) -> bool:
    """The branch failed only because the value is not of its type (say an object vs an enum)."""
    if error.validator == "type":
        return True
    return error.validator in ("enum", "const") and isinstance(error.instance, dict | list)


def _reason(error: ValidationError) -> str:
    kind = error.validator
    value = error.instance
    limit = error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "additionalProperties" and isinstance(value, dict):
        extra = unexpected_fields(error)
        name = extra[0] if extra else "?"
        return f"unknown key {name!r}{_suggest(name, known_fields(error))}"
    if kind == "required":
        missing = missing_fields(error)
        return f"missing key {missing[0]!r}" if missing else error.message
    if kind == "type":
        expected = " or ".join(limit) if isinstance(limit, list) else limit
        return f"expected {expected}, got {json_type(value)} {_show(value)}"
    if kind == "enum":
        return f"{_show(value)} is not one of {', '.join(map(str, limit))}"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        return f"must be {op} {limit}, got {_show(value)}"
    if kind in ("minItems", "maxItems"):
        bound = "at least" if kind == "minItems" else "at most"
        return f"expected {bound} {limit} items, got {len(value)}"
    if kind == "minLength":
        return "must not be empty" if limit == 1 else f"must be at least {limit} characters"
    if kind == "maxLength":
        return f"must be at most {limit} characters"
    if kind == "uniqueItems":
        return "items must be unique"
    if "errorMessage" in schema:
        if "propertyNames" in error.absolute_schema_path and isinstance(value, str):
            return f"invalid key {value!r}: {schema['errorMessage']}"
        return str(schema["errorMessage"])
    if kind == "pattern":
        return f"{_show(value)} does not match {limit}"
    if kind == "propertyNames":
        return f"invalid key {_show(value)}"
    return error.message


def _show(value: object) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _path(parts: Iterable) -> str:
    return "/".join(str(p) for p in parts)


def _suggest(name: str, known: Iterable[str]) -> str:
    close = close_names(name, known)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_range(value: object, where: str) -> None:
    if isinstance(value, list) and value[0] > value[1]:
        raise ScenarioError(where, f"[lo, hi] needs lo <= hi, got {value}")


def _as_range(value: int | list[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


# ------------------------------------------------------------------------ rules

# Rules compiled before, by their JSON text, their place and the models known. A fuzz loop loads a
# new scenario per example, mostly made of rules it loaded before (Hypothesis draws the same rules
# again in new combinations). A Rule never changes (its counts live in the RuleSet), so the
# scenarios that hold the same rule at the same place share one. Bounded like _VALID_PARTS.
_RULES: dict[tuple[str, int, tuple[str, ...]], r.Rule] = {}
_RULES_SIZE = 1024


def _remembered_rule(doc: dict, index: int, models: list[str], models_key: tuple[str, ...]) -> r.Rule:
    """``_compile_rule(doc, index, models)`` (``models_key``: ``tuple(models)``), remembered."""
    key = (json.dumps(doc), index, models_key)
    rule = _RULES.get(key)
    if rule is None:
        rule = _compile_rule(doc, index, models)
        if len(key[0]) <= _VALID_PART_BYTES:
            remember(_RULES, key, rule, _RULES_SIZE)
    return rule


def _compile_rule(doc: dict, index: int, models: list[str]) -> r.Rule:
    where = f"rules/{index}"
    when = doc.get("when", {})
    actions = [a for a in r.ACTION_ENDPOINTS if a in doc]
    declared = when.get("endpoint")
    endpoints: frozenset[str]
    if declared is not None:
        aliases = endpoint_aliases()
        endpoints = frozenset(aliases[e] for e in ([declared] if isinstance(declared, str) else declared))
        for action in actions:
            wrong = sorted(endpoints - r.ACTION_ENDPOINTS[action], key=r.ENDPOINTS.index)
            if wrong:
                can = ", ".join(e for e in r.ENDPOINTS if e in r.ACTION_ENDPOINTS[action])
                raise ScenarioError(f"{where}/{action}", f"{action} cannot act on {wrong[0]} (only on {can})")
    else:
        endpoints = frozenset(r.HTTP_ENDPOINTS | {r.CALLBACK})
        for action in actions:
            endpoints &= r.ACTION_DEFAULT_ENDPOINTS[action]
        if not endpoints:
            raise ScenarioError(where, f"no endpoint can take all of {', '.join(actions)}: split the rule")
    for condition, allowed in r.CONDITION_ENDPOINTS.items():
        if condition in when:
            if not endpoints & allowed:
                raise ScenarioError(
                    f"{where}/when/{condition}",
                    f"{condition} never holds on {_names(endpoints)} requests",
                )
            endpoints &= allowed
    globs = when.get("model")
    if globs is not None:
        globs = (globs,) if isinstance(globs, str) else tuple(globs)
        for i, glob in enumerate(globs):
            if not any(fnmatchcase(m, glob) for m in models):
                at = f"{where}/when/model" + ("" if isinstance(when["model"], str) else f"/{i}")
                raise ScenarioError(at, f"no model matches {glob!r}{_suggest(glob, models)}")
    headers = []
    for name, pattern in when.get("header", {}).items():
        headers.append((name.lower(), _regex(pattern, f"{where}/when/header/{name}")))
    states = when.get("task_state")
    dialects = when.get("dialect")
    if dialects is not None:
        dialects = [dialects] if isinstance(dialects, str) else dialects
        known = builtin()
        for i, name in enumerate(dialects):
            if name not in known:
                at = f"{where}/when/dialect" + (
                    "" if len(dialects) == 1 and isinstance(when["dialect"], str) else f"/{i}"
                )
                raise ScenarioError(at, f"no dialect named {name!r} (known: {', '.join(known)})")
    return r.Rule(
        index=index,
        doc=doc,
        endpoints=endpoints,
        models=globs,
        key=when.get("key"),
        prompt=_regex(when["prompt"], f"{where}/when/prompt") if "prompt" in when else None,
        image_url=_regex(when["image_url"], f"{where}/when/image_url") if "image_url" in when else None,
        provider=when.get("provider"),
        request_type=when.get("request_type"),
        headers=tuple(headers),
        task_states=frozenset([states] if isinstance(states, str) else states) if states is not None else None,
        attempt=when.get("attempt"),
        dialects=frozenset(dialects) if dialects is not None else None,
        nth=when.get("nth"),
        after=when.get("after"),
        probability=when.get("probability"),
        times=doc.get("times"),
        respond=_respond(doc["respond"]) if "respond" in doc else None,
        fail=r.Fail(doc["fail"]["code"], doc["fail"].get("message"), doc["fail"].get("at", "processing"))
        if "fail" in doc
        else None,
        timing=_timing(doc["timing"], f"{where}/timing") if "timing" in doc else None,
        delay=_delay(doc["delay"], f"{where}/delay") if "delay" in doc else None,
        fault=_fault(doc["fault"]) if "fault" in doc else None,
        callback=_callback(doc["callback"]) if "callback" in doc else None,
    )


def _names(endpoints: frozenset[str]) -> str:
    return "/".join(e for e in r.ENDPOINTS if e in endpoints)


def _regex(pattern: str, where: str) -> BoundedPattern:
    try:
        return compile_pattern(pattern)
    except PatternError as exc:
        raise ScenarioError(where, str(exc)) from None


def _respond(doc: dict) -> r.Respond:
    status = doc["status"]
    retry_after = doc.get("retry_after")
    if status == 429 and retry_after is None:
        retry_after = 1  # the wire contract: a 429 always says when to come back
    return r.Respond(
        status=status,
        message=doc.get("message"),
        retry_after=retry_after,
        headers=tuple(doc.get("headers", {}).items()),
        has_body="body" in doc,
        body=doc.get("body"),
        as_200=bool(doc.get("as_200", False)),
    )


def _timing(doc: dict, where: str) -> r.Timing:
    processing = doc.get("processing_ms")
    _check_range(processing, f"{where}/processing_ms")
    return r.Timing(
        pending_ms=doc.get("pending_ms"),
        processing_ms=_as_range(processing) if processing is not None else None,
        progression=doc.get("progression"),
        pending_polls=doc.get("pending_polls"),
        processing_polls=doc.get("processing_polls"),
    )


def _delay(doc: dict, where: str) -> r.Delay:
    if "ms" in doc:
        return r.Delay("ms", doc["ms"])
    if "uniform" in doc:
        _check_range(doc["uniform"], f"{where}/uniform")
        lo, hi = doc["uniform"]
        return r.Delay("uniform", lo, hi)
    spec = doc["lognormal"]
    return r.Delay("lognormal", spec["median_ms"], spec["sigma"])


def _fault(doc: str | dict) -> r.Fault:
    if isinstance(doc, str):
        return r.Fault(doc)
    ((kind, params),) = doc.items()
    return r.Fault(kind, **params)


def _callback(doc: str | dict) -> r.CallbackAction:
    if isinstance(doc, str):
        return r.CallbackAction(doc, r.DEFAULT_CALLBACK_MS[doc])
    ((action, params),) = doc.items()
    return r.CallbackAction(action, params.get("ms", r.DEFAULT_CALLBACK_MS[action]))


# ------------------------------------------------------------------------ overrides


def with_overrides(
    doc: Mapping[str, Any],
    *,
    seed: int | None = None,
    clock: str | None = None,
    scale: float | None = None,
    accounts: dict[str, float | None] | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """The document with explicit command-line settings on top (they win over the file)."""
    out = copy.deepcopy(dict(doc or {}))
    if seed is not None:
        out["seed"] = seed
    if clock is not None or scale is not None:
        c = dict(out.get("clock", {}))
        if clock is not None:
            c["mode"] = clock
        if scale is not None:
            c["scale"] = scale
        out["clock"] = c
    if accounts is not None:
        out["accounts"] = [{"key": k, "balance": v} for k, v in accounts.items()]
    if base_url is not None:
        out["results"] = {**out.get("results", {}), "base_url": base_url}
    return out
