"""Hypothesis strategies for fuzzing a client against the mock.

Every strategy takes keyword-only options and checks them at once, raising
``hypothesis.errors.InvalidArgument`` with a clear message. Every value a strategy
draws validates against its schema (or, for ``valid=False``, is refused by it).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .catalog import InputInvalid, Model, load_catalog
from .dialects import apixo

__all__ = ["fail_codes", "generate_requests", "model_inputs", "status_envelopes"]

# Drawn strings stay short so a fuzz run spends its time in the client, not in the
# generator; lengths at a schema's limits are drawn on purpose (boundary values).
_MAX_TEXT = 40
_WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=_MAX_TEXT)
_URL = st.builds(
    lambda host, name, ext: f"https://{host}.example.com/{name}.{ext}",
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10),
    st.sampled_from(["png", "jpg", "webp", "mp3", "mp4"]),
)


def _check_model(model: str | None, *, allow_none: bool = True) -> list[Model]:
    catalog = load_catalog()
    if model is None:
        if not allow_none:
            raise InvalidArgument("model is required")
        return [catalog.get(n) for n in catalog.names()]  # type: ignore[misc]
    if not isinstance(model, str) or model not in catalog:
        raise InvalidArgument(f"model={model!r} is not a known model; known: {', '.join(catalog.names())}")
    return [catalog.get(model)]  # type: ignore[list-item]


def _values(schema: dict) -> st.SearchStrategy[Any]:
    """Values for one property schema (the subset of JSON Schema the model schemas use)."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of(*(_values({**schema, "type": k}) for k in kind))
    if kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        if "pattern" in schema and "http" in schema["pattern"]:
            return _URL
        short = st.text(
            alphabet="abcdefghij klmnop", min_size=max(lo, 1 if lo else 0), max_size=min(hi or _MAX_TEXT, _MAX_TEXT)
        )
        if hi is not None and hi > _MAX_TEXT:
            return st.one_of(short, _WORDS.filter(lambda s: len(s) >= lo), st.just("x" * hi))
        return short
    if kind == "integer":
        return st.integers(schema.get("minimum", 0), schema.get("maximum", 10**6))
    if kind == "number":
        return st.floats(schema.get("minimum", 0), schema.get("maximum", 10**6), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = schema.get("items", {})
        lo, hi = schema.get("minItems", 0), schema.get("maxItems", 3)
        return st.lists(_values(items) if items else st.just("x"), min_size=lo, max_size=min(hi, lo + 4))
    return st.none()


def _is_valid(model: Model, value: object) -> bool:
    try:
        model.validate(value)
    except InputInvalid:
        return False
    return True


@st.composite
def _valid_input(draw: st.DrawFn, model: Model, follow_ups: bool) -> dict:
    examples = [e for e in model.schema.get("examples", []) if follow_ups or model.follow_up(e) is None]
    current = copy.deepcopy(draw(st.sampled_from(examples)))
    props = model.schema.get("properties", {})
    names = sorted(p for p in props if p not in ("mode", "taskId", "imageIndex"))
    for name in draw(st.lists(st.sampled_from(names), max_size=4, unique=True)) if names else []:
        candidate = dict(current)
        if name in candidate and draw(st.booleans()) and name not in model.schema.get("required", ()):
            del candidate[name]
        else:
            candidate[name] = draw(_values(props[name]))
        # Keep a change only while the input stays valid: cross-field rules (if/then)
        # are honoured without rejection sampling.
        if _is_valid(model, candidate):
            current = candidate
    return current


def _mutations(model: Model, base: dict) -> st.SearchStrategy[object]:
    props = model.schema.get("properties", {})
    required = [r for r in model.schema.get("required", ()) if r in base]
    options: list[st.SearchStrategy[object]] = [
        st.just({**base, "definitelyNotAField": 1}),
        st.sampled_from([None, "text", 3, [base]]),  # input that is not an object
    ]
    if required:
        options.append(st.sampled_from(required).map(lambda r: {k: v for k, v in base.items() if k != r}))
    for name, schema in props.items():
        wrong = {"string": 12345, "integer": "12", "number": "1.5", "boolean": "yes", "array": "not-a-list"}
        if schema.get("type") in wrong:
            options.append(st.just({**base, name: wrong[schema["type"]]}))
        if "enum" in schema and all(isinstance(v, str) for v in schema["enum"]):
            options.append(st.just({**base, name: "not-" + str(schema["enum"][0])}))
        if schema.get("maxLength"):
            options.append(st.just({**base, name: "x" * (schema["maxLength"] + 1)}))
        if schema.get("maxItems") is not None and schema.get("type") == "array":
            item = base.get(name, ["https://example.com/a.png"])
            item = item[0] if isinstance(item, list) and item else "https://example.com/a.png"
            options.append(st.just({**base, name: [item] * (schema["maxItems"] + 1)}))
    return st.one_of(*options)


def model_inputs(*, model: str, valid: bool = True, follow_ups: bool = False) -> st.SearchStrategy[object]:
    """``input`` objects for a model: valid ones (varied around the schema's examples) or invalid ones."""
    (m,) = _check_model(model, allow_none=False)
    _check_flags(valid=valid, follow_ups=follow_ups)
    good = _valid_input(m, follow_ups)
    if valid:
        return good
    return good.flatmap(lambda base: _mutations(m, base)).filter(lambda x: not _is_valid(m, x))


def generate_requests(
    *, model: str | None = None, valid: bool = True, follow_ups: bool = False
) -> st.SearchStrategy[tuple[str, dict]]:
    """(model, submit body) pairs. ``valid=False`` draws bodies the mock must refuse with 400.

    Midjourney follow-up modes (vary, upscale...) need an earlier task of the same key, so
    they are left out unless ``follow_ups=True``.
    """
    models = _check_model(model)
    _check_flags(valid=valid, follow_ups=follow_ups)

    def body_for(m: Model) -> st.SearchStrategy[tuple[str, dict]]:
        providers = ["official"] if m.official_only else ["auto", "value", "official"]
        top = st.fixed_dictionaries(
            {},
            optional={
                "request_type": st.just("async"),
                "provider": st.sampled_from(providers),
            },
        )
        if valid:
            return st.tuples(
                st.just(m.name), st.builds(lambda t, i: {**t, "input": i}, top, _valid_input(m, follow_ups))
            )
        broken_top = st.sampled_from(
            [
                {"request_type": "sometimes"},
                {"request_type": "callback"},  # no callback_url
                {"request_type": "callback", "callback_url": "ftp://example.com/hook"},
                {"provider": "cheapest"},
                {"unknownField": True},
            ]
        )
        bad_input = st.builds(lambda t, i: {**t, "input": i}, top, model_inputs(model=m.name, valid=False))
        bad_top = st.builds(lambda t, i: {**t, "input": i}, broken_top, _valid_input(m, follow_ups))
        no_input = top
        return st.tuples(st.just(m.name), st.one_of(bad_input, bad_top, no_input))

    return st.one_of(*(body_for(m) for m in models))


def fail_codes() -> st.SearchStrategy[str]:
    """Every fail code the provider documents (older upper-case table and newer ones)."""
    return st.sampled_from(sorted(apixo.FAIL_MESSAGES))


def status_envelopes(*, state: str | None = None) -> st.SearchStrategy[dict]:
    """Status responses as the provider sends them, for testing a client's parser."""
    states = ("pending", "processing", "success", "failed")
    if state is not None and state not in states:
        raise InvalidArgument(f"state={state!r} is not one of {', '.join(states)}")
    chosen = [state] if state else list(states)
    task_ids = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16).map(lambda s: f"task_{s}")
    created = st.integers(1_600_000_000_000, 2_000_000_000_000)

    @st.composite
    def one(draw: st.DrawFn) -> dict:
        s = draw(st.sampled_from(chosen))
        data: dict = {"taskId": draw(task_ids), "state": s, "createTime": draw(created)}
        if s in ("success", "failed"):
            data["completeTime"] = data["createTime"] + draw(st.integers(0, 600_000))
        if s == "success":
            urls = draw(st.lists(_URL, min_size=1, max_size=4))
            data["resultJson"] = json.dumps({"resultUrls": urls}, separators=(",", ":"))
            data["costTime"] = data["completeTime"] - data["createTime"]
        elif s == "failed":
            code = draw(fail_codes())
            data["failCode"] = code
            data["failMsg"] = apixo.FAIL_MESSAGES[code]
        return apixo.envelope(data)

    return one()


def _check_flags(**flags: object) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidArgument(f"{name} must be True or False, got {value!r}")
