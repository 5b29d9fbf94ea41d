"""The model catalog: each model's kind, timings, price, result media and input schema.

Plain Python, no HTTP. The numbers live in ``models.yaml`` next to this module (each one
commented with where it comes from); the input schemas are the published contract in
``schemas/models/<name>.json``, which the server also serves.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import math
import operator
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockserver._data import data_dir
from mockserver.core.json_types import json_type
from mockserver.core.media import MediaSpec, ratio_size
from mockserver.core.schema_errors import known_fields, missing_fields, size_bound, unexpected_fields
from mockserver.core.suggest import close_names

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

__all__ = ["Catalog", "InputInvalid", "Model", "load_catalog", "read_catalog", "schema_dir"]

KINDS: dict[str, str] = {
    "image-fast": "image",
    "image-quality": "image",
    "video": "video",
    "audio": "audio",
}
# Result files stay small: images and video at most this many pixels on the long side.
LONG_SIDE = 256
# Result length when the input has no duration and models.yaml gives no `seconds`.
DEFAULT_SECONDS = {"video": 5.0, "audio": 30.0}
# Named aspect ratios some models use instead of "a:b".
MAX_ERRORS = 50  # validation errors collected per input before the most useful is chosen
MAX_FIELDS = 200  # an input with more fields is refused unread (every model takes a dozen or so)
# Valid inputs remembered per model (validate()), each at most VERDICT_KEY_CHARS of JSON text:
# at most ~128 KiB a model.
MAX_VERDICTS = 128
VERDICT_KEY_CHARS = 1024
NAMED_RATIOS = {"landscape": (16, 9), "portrait": (9, 16), "square": (1, 1)}
# When the input asks for "auto" (or nothing) and the schema has no ratio default.
FALLBACK_RATIO = {"image": (1, 1), "video": (16, 9)}


class InputInvalid(ValueError):
    """A submit body's input broke the model schema.

    ``str(exc)`` is the client-facing message and always names the JSON path from the
    body root (``input.prompt``, ``input.image_urls[2]``); ``path`` is that path alone.
    ``hint`` is an optional suggestion (the field a misspelt name probably meant).
    """

    def __init__(self, message: str, path: str = "input", hint: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.hint = hint


@dataclass(slots=True)
class Model:
    """One model: timings, price, result media and input schema (see models.yaml)."""

    name: str
    kind: str
    pending_ms: int
    processing_ms: tuple[int, int]
    initial_wait_ms: int
    poll_interval_ms: int
    max_wait_ms: int
    price: float
    media: str  # "image" | "video" | "audio"
    official_only: bool
    schema: dict
    progression: str = "time"
    pending_polls: int = 1
    processing_polls: int = 1
    # Result files per task: a count, or a map by input.mode with "*" for the rest.
    outputs_rule: int | Mapping[str, int] = 1
    # Modes that act on an earlier task of this model (taskId, and imageIndex if given).
    follow_up_modes: tuple[str, ...] = ()
    # Result length when the input has no duration field.
    seconds: float | None = None
    # What error messages put before a field's name: "input" (input.prompt) where the model's
    # fields sit in an object of the body, "" (prompt) where they are the body's own.
    root: str = "input"
    # Made once by the loader (compiled at its first use); dataclasses.replace() and clone() copy
    # it along with the schema, so every copy of a model shares one compiled validator.
    _validator: _LazyValidator | None = field(default=None, repr=False, compare=False)
    # Inputs the validator found valid, by their canonical JSON text (see validate()); shared,
    # like the validator, by the copies dataclasses.replace() makes.
    _valid: dict[str, None] = field(default_factory=dict, repr=False, compare=False)

    def clone(self) -> Model:
        """A copy (each mock's own, as dataclasses.replace makes it, at a sixth of the cost: a
        reset makes one of every model): every field read at once, passed to __init__."""
        return Model(*_MODEL_FIELDS(self))

    def validate(self, input: object) -> None:
        """Raise InputInvalid, naming the single most useful problem, unless ``input`` fits."""
        if not isinstance(input, dict):
            raise InputInvalid(f"{self.root or 'the body'} must be an object", self.root)
        if self._validator is None:
            self._validator = _LazyValidator(self.schema)
        if len(input) > MAX_FIELDS:
            where = self.root or "the body"
            raise InputInvalid(f"{where} has {len(input)} fields; at most {MAX_FIELDS} are read", self.root)
        # Validity is a function of the value alone: a client that sends the same input again (a
        # load test, a retry, a test suite) is answered from jsonschema's earlier verdict. The
        # canonical JSON text tells apart what Python's == would not (1, 1.0 and true).
        key = _verdict_key(input)
        if key is not None and key in self._valid:
            return
        # Bounded work whatever the input: an array or string far past its schema's limit is
        # validated cut to limit + 1 (the same errors, found in the same order), and errors come
        # lazily, so 300,000 bad items cost what 50 do.
        errors = list(itertools.islice(self._validator.iter_errors(_cut(input, self.schema)), MAX_ERRORS))
        if errors:
            raise _explain(min(errors, key=_priority), self.schema, input, self.root)
        if key is not None:
            if len(self._valid) >= MAX_VERDICTS:
                # The oldest goes. Models are shared by every mock in the process, some on other
                # threads (a ServerThread): another may have changed the dict meanwhile.
                with contextlib.suppress(RuntimeError, KeyError, StopIteration):
                    del self._valid[next(iter(self._valid))]
            self._valid[key] = None

    def outputs(self, input: dict) -> int:
        """How many result files a valid ``input`` produces."""
        for count in ("num_images", "n"):
            if count in self._properties():
                return int(self._value(input, count, 1))
        rule = self.outputs_rule
        if isinstance(rule, Mapping):
            return int(rule.get(str(input.get("mode")), rule.get("*", 1)))
        return int(rule)

    def output_spec(self, input: dict) -> MediaSpec:
        """What each result file of a valid ``input`` is: format, pixel size, length."""
        if self.media == "image":
            width, height = self._frame(input)
            return MediaSpec("png", width, height)
        if self.media == "video":
            width, height = self._frame(input)
            return MediaSpec("mp4", width, height, self._seconds(input))
        return MediaSpec("wav", seconds=self._seconds(input))

    def follow_up(self, input: dict) -> tuple[str, int | None] | None:
        """(taskId, imageIndex or None) when ``input`` acts on an earlier task, else None."""
        if input.get("mode") not in self.follow_up_modes:
            return None
        task_id = input.get("taskId")
        if not isinstance(task_id, str):
            return None  # validate() refuses this input before anyone asks
        index = input.get("imageIndex")
        return task_id, (index if isinstance(index, int) and not isinstance(index, bool) else None)

    def cost(self, input: dict) -> float:
        """Credits a valid ``input`` costs: price per output times outputs."""
        return float(self.price) * self.outputs(input)

    def _properties(self) -> dict[str, Any]:
        return self.schema.get("properties", {})

    def _value(self, input: dict, key: str, fallback: Any = None) -> Any:
        """The input's value for ``key``, else the schema default, else ``fallback``."""
        value = input.get(key)
        if value is None:
            value = self._properties().get(key, {}).get("default")
        return fallback if value is None else value

    def _frame(self, input: dict) -> tuple[int, int]:
        """Pixel size with exactly the requested aspect ratio, long side <= LONG_SIDE."""
        ratio = None
        for key in ("size", "aspect_ratio"):
            if key in self._properties():
                ratio = _ratio(input.get(key)) or _ratio(self._properties()[key].get("default"))
                if ratio:
                    break
        a, b = ratio or FALLBACK_RATIO[self.media]
        return ratio_size(f"{a}:{b}", LONG_SIDE)

    def _seconds(self, input: dict) -> float:
        if "duration" in self._properties():
            try:
                return float(self._value(input, "duration"))
            except (TypeError, ValueError):
                pass  # no usable duration: fall through to the model's own length
        return float(self.seconds or DEFAULT_SECONDS[self.media])


class _LazyValidator:
    """A Draft 2020-12 validator of one schema, compiled when it first judges an input.

    Importing jsonschema (with referencing and attrs) costs ~0.1 s of CPU, a fifth of a
    `mockserver serve` start, and a catalog is loaded at every start: a server, a `mockserver`
    command or a test run that never validates a model's input does not import it.
    """

    __slots__ = ("schema", "_compiled")

    def __init__(self, schema: dict) -> None:
        self.schema = schema
        self._compiled: Draft202012Validator | None = None

    def iter_errors(self, instance: object) -> Iterator[ValidationError]:
        compiled = self._compiled
        if compiled is None:
            from jsonschema import Draft202012Validator

            # Two threads may both compile it at first; either result is the same validator.
            compiled = self._compiled = Draft202012Validator(self.schema)
        return compiled.iter_errors(instance)


# Every field's value, in __init__'s order (the validator and verdicts included: copies share them).
_MODEL_FIELDS = operator.attrgetter(*(f.name for f in fields(Model)))


class Catalog:
    """The models by name."""

    __slots__ = ("_models",)

    def __init__(self, models: Mapping[str, Model]) -> None:
        self._models = dict(sorted(models.items()))  # by name: iterating needs no sort

    def get(self, name: str) -> Model | None:
        return self._models.get(name)

    def names(self) -> list[str]:
        return list(self._models)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __iter__(self) -> Iterator[Model]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)


def schema_dir() -> Path:
    """Where the JSON schemas live: inside the installed package, else the repo's schemas/."""
    return data_dir("schemas")


@functools.cache
def load_catalog() -> Catalog:
    """The catalog from models.yaml and the model schemas (parsed once; copy before mutating)."""
    return read_catalog(Path(__file__).with_name("models.yaml"), schema_dir() / "models")


# ---------------------------------------------------------------------------- loading

_REQUIRED_KEYS = {
    "kind",
    "media",
    "official_only",
    "pending_ms",
    "processing_ms",
    "initial_wait_ms",
    "poll_interval_ms",
    "max_wait_ms",
    "price",
}
_OPTIONAL_KEYS = {
    "outputs",
    "follow_up_modes",
    "seconds",
    "progression",
    "pending_polls",
    "processing_polls",
}


# SHA-256 digests of the bundled model schemas' texts, each checked against Draft 2020-12's
# meta-schema when recorded (scripts/record_checked_schemas.py) and again by every test run
# (tests/core/test_catalog.py). Checking 25 schemas costs ~0.15 s of CPU, most of a catalog's
# loading and a quarter of `mockserver serve`'s start-up: a schema whose text is one of these
# skips it. Any other text (a user's own model file, a bundled one edited since) is checked.
CHECKED_SCHEMAS = Path(__file__).with_name("checked_schemas.txt")


def schema_digest(text: str) -> str:
    """The digest CHECKED_SCHEMAS records for a schema file's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.cache
def _checked_digests() -> frozenset[str]:
    try:
        lines = CHECKED_SCHEMAS.read_text(encoding="utf-8").splitlines()
    except OSError:
        return frozenset()
    return frozenset(line.split()[0] for line in lines if line.strip() and not line.startswith("#"))


def _checked_before(text: str) -> bool:
    return schema_digest(text) in _checked_digests()


def read_catalog(data_file: Path, schemas: Path, root: str = "input") -> Catalog:
    """Parse and check a data file (models.yaml) and every model schema it names (``schemas``/NAME.json).

    ``root``: where the model's fields sit in a submit body, for error messages (``Model.root``)."""
    import yaml

    # libyaml's loader where PyYAML has it: the same document as the Python one (a test checks it
    # on every bundled data file) in an eighth of the time, ~20 ms of each start of the server.
    # The scenario loader keeps the Python one for files from anyone (a deep nesting of "[" can
    # overflow libyaml's C stack); a data file is the package's own, or its user's.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(data_file.read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ValueError(f"{data_file.name}: expected a top-level 'models' mapping")
    models = {}
    for name, entry in data["models"].items():
        where = f"{data_file.name}: {name}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping")
        if unknown := sorted(set(entry) - _REQUIRED_KEYS - _OPTIONAL_KEYS):
            raise ValueError(f"{where}: unknown key {unknown[0]!r}")
        if missing := sorted(_REQUIRED_KEYS - set(entry)):
            raise ValueError(f"{where}: missing key {missing[0]!r}")
        models[name] = _model(name, entry, schemas / f"{name}.json", where, root)
    return Catalog(models)


def _model(name: str, entry: dict, schema_file: Path, where: str, root: str = "input") -> Model:
    kind = entry["kind"]
    if KINDS.get(kind) is None:
        raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if entry["media"] != KINDS[kind]:
        raise ValueError(f"{where}: a {kind} model has {KINDS[kind]} media, not {entry['media']!r}")
    ints = {k: entry[k] for k in ("pending_ms", "initial_wait_ms", "poll_interval_ms", "max_wait_ms")}
    for key, value in ints.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{where}: {key} must be a non-negative integer, got {value!r}")
    lo_hi = entry["processing_ms"]
    if not (isinstance(lo_hi, list) and len(lo_hi) == 2 and all(isinstance(v, int) for v in lo_hi)):
        raise ValueError(f"{where}: processing_ms must be [lo, hi] in ms, got {lo_hi!r}")
    lo, hi = lo_hi
    if not 0 <= lo <= hi:
        raise ValueError(f"{where}: processing_ms needs 0 <= lo <= hi, got {lo_hi!r}")
    # A client that follows the provider's guidance must not give up on a healthy task.
    if entry["pending_ms"] + hi >= entry["max_wait_ms"]:
        raise ValueError(f"{where}: pending_ms + processing_ms[1] must stay below max_wait_ms")
    outputs = entry.get("outputs", 1)
    if isinstance(outputs, dict):
        if "*" not in outputs or not all(isinstance(v, int) and v > 0 for v in outputs.values()):
            raise ValueError(f"{where}: outputs by mode needs positive counts and a '*' entry")
    elif not isinstance(outputs, int) or outputs < 1:
        raise ValueError(f"{where}: outputs must be a positive integer, got {outputs!r}")
    progression = entry.get("progression", "time")
    if progression not in ("time", "polls"):
        raise ValueError(f"{where}: progression must be 'time' or 'polls', got {progression!r}")
    polls = {k: entry.get(k, 1) for k in ("pending_polls", "processing_polls")}
    for key, value in polls.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{where}: {key} must be a non-negative integer, got {value!r}")
    if not schema_file.is_file():
        raise ValueError(f"{where}: no input schema at {schema_file}")
    text = schema_file.read_text(encoding="utf-8")
    schema = json.loads(text)
    if not _checked_before(text):
        from jsonschema import Draft202012Validator, SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"{where}: invalid input schema {schema_file.name}: {exc.message}") from None
    return Model(
        name=name,
        kind=kind,
        pending_ms=entry["pending_ms"],
        processing_ms=(lo, hi),
        initial_wait_ms=entry["initial_wait_ms"],
        poll_interval_ms=entry["poll_interval_ms"],
        max_wait_ms=entry["max_wait_ms"],
        price=float(entry["price"]),
        media=entry["media"],
        official_only=bool(entry["official_only"]),
        schema=schema,
        outputs_rule=outputs,
        follow_up_modes=tuple(entry.get("follow_up_modes", ())),
        seconds=float(entry["seconds"]) if "seconds" in entry else None,
        progression=progression,
        pending_polls=polls["pending_polls"],
        processing_polls=polls["processing_polls"],
        root=root,
        _validator=_LazyValidator(schema),
    )


def _ratio(value: object) -> tuple[int, int] | None:
    """(a, b) in lowest terms from '3:2', '1280*720', '1280x720' or a named ratio."""
    if not isinstance(value, str):
        return None
    if value in NAMED_RATIOS:
        return NAMED_RATIOS[value]
    match = re.fullmatch(r"(\d+)\s*[:*x]\s*(\d+)", value)
    if not match:
        return None  # "auto" and the like: the caller falls back to a default
    a, b = int(match[1]), int(match[2])
    if a == 0 or b == 0:
        return None
    g = math.gcd(a, b)
    return a // g, b // g


# ------------------------------------------------------------------- error messages

# A client fixes what is missing or misspelt before anything else, so those come first.
_RANK = {"required": 0, "additionalProperties": 1, None: 1, "type": 2, "enum": 3, "const": 3}
# An http(s) URL with no whitespace or control character, spelt so that JSON Schema's regex dialect
# (ECMA-262) and Python's re read it alike: "\\S" differs (Python counts U+001C-U+001F and U+0085
# as whitespace, ECMA-262 does not; ECMA-262 counts U+FEFF, Python does not), and "$(?!\\n)" ends it
# (Python's "$" also matches before a final newline, ECMA-262's does not).
URL_PATTERN = (
    "^https?://[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f"
    "\\u3000\\ufeff]+$(?!\\n)"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _cut(input: dict, schema: dict) -> dict:
    """``input`` with each top-level array or string longer than its schema's maxItems or
    maxLength cut to that limit + 1: still too long, but no longer expensive to validate."""
    out = None
    for name, sub in schema.get("properties", {}).items():
        value = input.get(name)
        if not isinstance(sub, dict) or not isinstance(value, list | str):
            continue
        limit = sub.get("maxItems" if isinstance(value, list) else "maxLength")
        if isinstance(limit, int) and len(value) > limit + 1:
            out = dict(input) if out is None else out
            out[name] = value[: limit + 1]
    return input if out is None else out


def _verdict_key(input: dict) -> str | None:
    """The input's canonical JSON text, or None when it is too long to remember or not plain JSON
    (a tuple or a non-string key, which the text would not tell from a list or a string key)."""
    try:
        text = json.dumps(input, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    if len(text) > VERDICT_KEY_CHARS or json.loads(text) != input:
        return None
    return text


def _is_conditional(error: ValidationError) -> bool:
    return "then" in error.absolute_schema_path


def _priority(error: ValidationError) -> tuple:
    """Sort key: the error to report is the smallest. Deterministic for a given input."""
    rank = _RANK.get(error.validator, 4)
    depth = len(error.absolute_path)
    path = _path(error.absolute_path)
    conditional = _is_conditional(error)
    if rank == 0:
        # Unconditional requirements first, in the schema's order (mode before prompt).
        return (rank, depth, conditional, "", 0)
    # Same field, same rank: the conditional rule is the tighter one (suno's 500 over 5000).
    return (rank, depth, False, path, 0 if conditional else 1)


def _path(parts: Any, root: str = "input") -> str:
    """A JSON path from ``root`` (``input.image_urls[2]``; ``image_urls[2]`` from the body's root "")."""
    out = root
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _fmt(value: Any, limit: int = 60) -> str:
    """A value as it appears in a message: strings quoted, long ones cut short."""
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= limit else f"'{value[:limit]}...'"
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


def _schema_at(schema: dict, error: ValidationError, root: str = "input") -> tuple[Any, list[str]]:
    """The subschema the error's schema path ends at, and the if-conditions on the way."""
    conditions: list[str] = []
    node: Any = schema
    for key in error.absolute_schema_path:
        if key == "then" and isinstance(node, dict):
            conditions.extend(_describe_if(node.get("if", {}), root))
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return node, conditions


def _describe_if(cond: dict, root: str = "input") -> list[str]:
    parts = []
    props = cond.get("properties", {})
    for name, sub in props.items():
        if "const" in sub:
            parts.append(f"{_path([name], root)} is {_fmt(sub['const'])}")
        elif "enum" in sub:
            parts.append(f"{_path([name], root)} is one of {', '.join(_fmt(v) for v in sub['enum'])}")
    parts.extend(f"{_path([name], root)} is given" for name in cond.get("required", []) if name not in props)
    return parts


def _explain(error: ValidationError, schema: dict, input: dict, root: str = "input") -> InputInvalid:
    """Turn one jsonschema error into the client-facing message, naming fields from ``root``."""
    node, conditions = _schema_at(schema, error, root)
    condition = " and ".join(conditions)
    when = f" (when {condition})" if condition else ""
    parts = list(error.absolute_path)
    if error.validator is None and isinstance(node, dict):
        # jsonschema drops the field name of a `false` subschema ("x": false under
        # properties); recover it: the forbidden field present in the object.
        parent: Any = input
        for part in parts:
            parent = parent[part]
        banned = sorted(k for k, sub in node.items() if sub is False and k in parent)
        parts += banned[:1]
    path = _path(parts, root)
    value = error.instance
    kind = error.validator
    if kind in ("maxItems", "maxLength") and len(parts) == 1 and parts[0] in input:
        value = input[parts[0]]  # the length the client sent, not the cut one validated
    limit = error.validator_value
    if kind == "required":
        missing = missing_fields(error)
        field_path = _path([*parts, missing[0]], root) if missing else path
        suffix = f" (required when {condition})" if condition else ""
        return InputInvalid(f"Missing required field: {field_path}{suffix}", field_path)
    if kind == "additionalProperties":
        name = unexpected_fields(error)[0]
        field_path = _path([*error.absolute_path, name], root)
        hint = _suggest(name, known_fields(error))
        return InputInvalid(
            f"Unknown field: {field_path}",
            field_path,
            f"did you mean {_path([*error.absolute_path, hint], root)}?" if hint else None,
        )
    if kind is None or (kind == "not" and limit == {}):  # a `false` subschema
        return InputInvalid(f"{path} is not allowed{when}", path)
    if kind == "type":
        expected = " or ".join(limit) if isinstance(limit, list) else limit
        message = f"Invalid type for {path}: expected {expected}, got {json_type(value)}"
    elif kind == "enum":
        message = f"Invalid value for {path}: {_fmt(value)} is not one of {', '.join(map(_fmt, limit))}"
    elif kind == "const":
        message = f"Invalid value for {path}: {_fmt(value)} must be {_fmt(limit)}"
    elif kind in ("maxLength", "minLength"):
        message = f"{path} is too {'long' if kind == 'maxLength' else 'short'}: {size_bound(error)}"
    elif kind == "maxItems":
        message = f"{path} has too many items: {len(value)}, at most {limit}"
    elif kind == "minItems":
        message = f"{path} has too few items: {len(value)}, at least {limit}"
    elif kind == "maximum":
        message = f"{path} is too large: {_fmt(value)}, at most {limit}"
    elif kind == "minimum":
        message = f"{path} is too small: {_fmt(value)}, at least {limit}"
    elif kind == "pattern" and limit == URL_PATTERN:
        message = f"Invalid value for {path}: {_fmt(value)} is not an http(s) URL"
    elif kind == "pattern":
        message = f"Invalid value for {path}: {_fmt(value)} does not match {limit}"
    elif isinstance(error.schema, dict) and error.schema.get("description"):
        message = f"Invalid {path}: {error.schema['description']}"
    else:
        message = f"Invalid value for {path}: {error.message}"
    return InputInvalid(message + when, path)


def _suggest(name: str, known: Iterable[str]) -> str | None:
    """The known field a misspelt one probably meant (aspectRatio -> aspect_ratio)."""
    close = close_names(name, known, cutoff=0.75)
    return close[0] if close else None
