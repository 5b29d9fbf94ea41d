"""Hypothesis strategies for fuzzing a client against the mock.

Every strategy takes keyword-only options and checks them at once, raising
``hypothesis.errors.InvalidArgument`` with a clear message (a ``ValueError`` too, for an
unknown dialect or a model its dialect does not serve). Every value a strategy draws
validates against its schema (or, for ``valid=False``, is refused by it).

``dialect=`` (a name or a Dialect; default APIXO, SPEC 2) says whose bodies and models: with
``dialect="123api"`` submit bodies are 123API's whole bodies, status envelopes its task
answers, and the models those of ``schemas/123api/models``. Scenario rules name neutral
endpoint kinds, so they apply to whichever dialect a client speaks.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from jsonschema import Draft202012Validator

from mockserver.core.catalog import Model
from mockserver.core.words import CALLBACK, FAIL_MESSAGES, STATES, STATUS, SUBMIT
from mockserver.dialects import builtin, default_dialects, endpoint_aliases, resolve
from mockserver.scenarios import loading as _scenario
from mockserver.scenarios import rules as _rules

if TYPE_CHECKING:  # pragma: no cover
    from mockserver.dialects.protocol import Dialect

__all__ = [
    "ENDPOINTS",
    "FAULTS",
    "RETRY_HINTS",
    "SURVIVABLE_FAULTS",
    "TRANSIENT_STATUSES",
    "fail_codes",
    "generate_requests",
    "model_inputs",
    "rules",
    "scenarios",
    "status_envelopes",
    "submit_bodies",
]

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


class DialectOptionError(InvalidArgument, ValueError):
    """An unknown dialect, or a model its dialect does not serve: also a ValueError."""


def _check_model(model: str | None, *, allow_none: bool = True, dialect: Dialect | None = None) -> list[Model]:
    """The models ``model`` names in ``dialect``'s catalog (default APIXO); None: all of them."""
    wire = dialect if dialect is not None else default_dialects()[0]
    if not callable(getattr(wire, "catalog", None)):
        raise InvalidArgument(f"dialect {wire!r} has no catalog(): its models are unknown")
    catalog = wire.catalog()
    if model is None:
        if not allow_none:
            raise InvalidArgument("model is required")
        return list(catalog)
    found = catalog.get(model) if isinstance(model, str) else None
    if found is None:
        others = [d for d in builtin().values() if d.name != wire.name and isinstance(model, str)]
        elsewhere = [d.name for d in others if model in d.catalog()]
        hint = f" (a model of dialect={elsewhere[0]!r})" if elsewhere else ""
        raise DialectOptionError(
            f"model={model!r} is not a known model of {wire.title}{hint}; known: {', '.join(catalog.names())}"
        )
    return [found]


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


class _InputParts:
    """What drawing a model's inputs needs, built once per model.

    Each property's values (``_values``) keep to that property's own schema, so a change can
    break only the schema's cross-field rules (``allOf``: if mode is X, image_urls is required).
    A change to a property no such rule names is kept without a check; a change to one that a
    rule names is checked against those rules alone, a small schema, not the whole model.
    """

    def __init__(self, model: Model) -> None:
        schema = model.schema
        props = schema.get("properties", {})
        self.required = frozenset(schema.get("required", ()))
        self.names = sorted(p for p in props if p not in ("mode", "taskId", "imageIndex"))
        self.pick = st.lists(st.sampled_from(self.names), max_size=4, unique=True) if self.names else None
        self.values = {name: _values(props[name]) for name in self.names}
        self.booleans = st.booleans()
        cross = schema.get("allOf", [])
        self.constrained = frozenset(_named(cross))
        self._cross = Draft202012Validator({"allOf": cross}) if cross else None
        examples = schema.get("examples", [])
        self.examples = {
            True: st.sampled_from(examples),
            False: st.sampled_from([e for e in examples if model.follow_up(e) is None]),
        }

    def keeps_rules(self, name: str, candidate: dict) -> bool:
        return name not in self.constrained or self._cross is None or self._cross.is_valid(candidate)


def _named(node: object) -> set[str]:
    """Every property a piece of schema names (under properties, or in required)."""
    found: set[str] = set()
    if isinstance(node, dict):
        found.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else ())
        found.update(r for r in node.get("required", ()) if isinstance(r, str))
        for value in node.values():
            found |= _named(value)
    elif isinstance(node, list):
        for value in node:
            found |= _named(value)
    return found


_INPUT_PARTS: dict[tuple[str, int], _InputParts] = {}


def _input_parts(model: Model) -> _InputParts:
    key = (model.name, id(model.schema))
    parts = _INPUT_PARTS.get(key)
    if parts is None:
        parts = _INPUT_PARTS[key] = _InputParts(model)
    return parts


@st.composite
def _valid_input(draw: st.DrawFn, model: Model, follow_ups: bool) -> dict:
    parts = _input_parts(model)
    current = copy.deepcopy(draw(parts.examples[follow_ups]))
    for name in draw(parts.pick) if parts.pick is not None else []:
        candidate = dict(current)
        if name in candidate and draw(parts.booleans) and name not in parts.required:
            del candidate[name]
        else:
            candidate[name] = draw(parts.values[name])
        # Keep a change only while the input keeps the cross-field rules (if/then): they are
        # honoured without rejection sampling.
        if parts.keeps_rules(name, candidate):
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


def model_inputs(
    *, model: str, valid: bool = True, follow_ups: bool = False, dialect: Dialect | str | None = None
) -> st.SearchStrategy[object]:
    """``input`` objects for a model: valid ones (varied around the schema's examples) or invalid ones.

    ``dialect``: whose model (a name or a Dialect; default APIXO). A 123API model's schema is
    the whole submit body, so its "inputs" are bodies, ``model`` included.
    """
    wire = _check_dialect(dialect)
    (m,) = _check_model(model, allow_none=False, dialect=wire)
    _check_flags(valid=valid, follow_ups=follow_ups)
    return _valid_input(m, follow_ups) if valid else _invalid_input(m, follow_ups)


def _invalid_input(m: Model, follow_ups: bool) -> st.SearchStrategy[object]:
    # Every mutation breaks the schema by construction (an unknown field where none is allowed,
    # not an object, a required field gone, a wrong type, a value off its enum, one past a
    # maxLength or maxItems), so nothing is validated per draw; the tests check each is refused.
    return _valid_input(m, follow_ups).flatmap(lambda base: _mutations(m, base))


def generate_requests(
    *, model: str | None = None, valid: bool = True, follow_ups: bool = False, dialect: Dialect | str | None = None
) -> st.SearchStrategy[tuple[str, dict]]:
    """(model, submit body) pairs. ``valid=False`` draws bodies the mock must refuse with 400.

    Midjourney follow-up modes (vary, upscale...) need an earlier task of the same key, so
    they are left out unless ``follow_ups=True``. ``dialect``: whose body shape and models (a
    name or a Dialect; default APIXO); ``model``: one of that dialect's (default: any).
    """
    wire = _check_dialect(dialect)
    models = _check_model(model, dialect=wire)
    _check_flags(valid=valid, follow_ups=follow_ups)

    def pairs(m: Model) -> st.SearchStrategy[tuple[str, dict]]:
        invalid = None if valid else _invalid_input(m, follow_ups)
        bodies = wire.submit_bodies(m, _valid_input(m, follow_ups), valid=valid, invalid_inputs=invalid)
        return st.tuples(st.just(m.name), bodies)

    return st.one_of(*(pairs(m) for m in models))


def submit_bodies(
    *, model: str, valid: bool = True, follow_ups: bool = False, dialect: Dialect | str | None = None
) -> st.SearchStrategy[dict]:
    """Submit bodies for one model, as ``generate_requests`` draws them (the body alone).

    ``submit_bodies(model="gpt-4o-image", dialect="123api")``: whole 123API bodies for
    ``POST /v1/images/generations``; ``valid=False``: bodies the mock refuses with 400 there.
    """
    wire = _check_dialect(dialect)
    (m,) = _check_model(model, allow_none=False, dialect=wire)
    _check_flags(valid=valid, follow_ups=follow_ups)
    invalid = None if valid else _invalid_input(m, follow_ups)
    return wire.submit_bodies(m, _valid_input(m, follow_ups), valid=valid, invalid_inputs=invalid)


def fail_codes() -> st.SearchStrategy[str]:
    """Every fail code the provider documents (older upper-case table and newer ones)."""
    return st.sampled_from(sorted(FAIL_MESSAGES))


def status_envelopes(
    *, state: str | None = None, dialect: Dialect | str | None = None, model: str | None = None
) -> st.SearchStrategy[dict]:
    """Status responses as the provider sends them, for testing a client's parser.

    ``state``: only this one (pending, processing, success, failed: the core's names, whatever
    the dialect calls them); ``dialect``: whose envelopes (a name or a Dialect; default APIXO);
    ``model``: the model the task is of (one of the dialect's; default: any, where the envelope
    names one).
    """
    wire = _check_dialect(dialect)
    if state is not None and state not in STATES:
        raise InvalidArgument(f"state={state!r} is not one of {', '.join(STATES)}")
    if model is not None:
        _check_model(model, allow_none=False, dialect=wire)
        return wire.status_envelopes(model, state=state)
    return wire.status_envelopes(state=state)


def _check_dialect(dialect: object) -> Dialect:
    """The Dialect named or given; None: the first built-in one, APIXO (SPEC 2's default)."""
    if dialect is None:
        return default_dialects()[0]
    if isinstance(dialect, str):
        try:
            return resolve([dialect])[0]
        except ValueError as exc:
            raise DialectOptionError(f"dialect={dialect!r}: {exc}") from None
    # What the strategies call: a dialect of one's own need not be complete to draw its envelopes.
    missing = [name for name in ("status_envelopes", "submit_bodies") if not callable(getattr(dialect, name, None))]
    if missing:
        raise DialectOptionError(
            f"dialect must be a dialect name or a Dialect, got {dialect!r} (no {', '.join(missing)})"
        )
    return cast("Dialect", dialect)


def _check_flags(**flags: object) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidArgument(f"{name} must be True or False, got {value!r}")


# -- scenarios and rules ----------------------------------------------------------------

# The single definitions: endpoints in rules.py, fault kinds in the scenario schema.
ENDPOINTS: tuple[str, ...] = _rules.ENDPOINTS
_HTTP = tuple(e for e in ENDPOINTS if e in _rules.HTTP_ENDPOINTS)
FAULTS: tuple[str, ...] = _scenario.fault_kinds()
SURVIVABLE_FAULTS: tuple[str, ...] = (
    "empty_response",
    "connection_reset",
    "malformed_json",
    "truncated_body",
    "slow_body",
)
# The provider's "retry these" (errors page): what a robust client waits out.
TRANSIENT_STATUSES: tuple[int, ...] = (429, 500, 502, 503)
_ACTIONS = {
    # action -> the endpoints it can act on (scenario.schema.json and rules.py)
    "respond": _HTTP,
    "fault": _HTTP,
    "delay": _HTTP,
    "fail": (SUBMIT, STATUS),
    "timing": (SUBMIT,),
    "callback": (CALLBACK,),
}
_INTERRUPTING = ("respond", "fault")  # actions that take the place of the mock's answer

# Hypothesis draws an index into at most this many outcomes uniformly (its integers are flat
# over 0..256, then tail off: the last of 512 would come half as often as the first). Up to it,
# several of a rule's parts are one choice over their product; past it, one choice each.
_ONE_CHOICE = 256
_QUIET_TIMES: tuple[int | None, ...] = (None,) * 5 + (1, 2, 3, 4, 5)  # `times` on half the quiet rules
_DELAY_TIMES = (1, 2, 3)  # wall time: a few delayed answers, not every one
# A gate: nth (1..4), after (0..3) or probability (five values), each value as likely, three
# in sixteen rules without one: sixteen outcomes, so that with a task-state condition (one in
# four, sixteen outcomes) the conditions of a rule are one choice of 256.
_GATES: tuple[tuple[str, object] | None, ...] = (
    (None,) * 3
    + tuple(("nth", n) for n in range(1, 5))
    + tuple(("after", n) for n in range(4))
    + tuple(("probability", p) for p in (0.1, 0.25, 0.5, 0.75, 0.9))
)
_POLLS: tuple[int | None, ...] = (None,) * 4 + (0, 1, 2, 3)  # a timing's poll count, absent half the time


def _product(*digits: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every combination of the digits' values, the first digit the most significant: the first
    combination is the first value of each, so shrinking the one choice moves towards them."""
    return list(itertools.product(*digits))


def _joint(*digits: Sequence[Any]) -> list[st.SearchStrategy[tuple[Any, ...]]]:
    """Strategies that together draw one value of each digit (as tuples to concatenate):
    consecutive digits share a choice while their product has at most ``_ONE_CHOICE`` outcomes."""
    out: list[st.SearchStrategy[tuple[Any, ...]]] = []
    group: list[Sequence[Any]] = []
    for digit in digits:
        if group and math.prod(len(d) for d in group) * len(digit) > _ONE_CHOICE:
            out.append(st.sampled_from(_product(*group)))
            group = []
        group.append(digit)
    if group:
        out.append(st.sampled_from(_product(*group)))
    return out


def _pick(groups: Sequence[Sequence[Any] | st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A value of one of ``groups`` (lists or strategies), each group as likely: one choice
    over the groups' values evened out when they are few enough lists, else one for the group
    and one (or the strategy's) for its value."""
    lists = [g for g in groups if not isinstance(g, st.SearchStrategy)]
    if len(lists) == len(groups) and math.lcm(*(len(g) for g in lists)) * len(lists) <= _ONE_CHOICE:
        return st.sampled_from(_evenly([list(g) for g in lists]))
    return st.one_of(*(g if isinstance(g, st.SearchStrategy) else st.sampled_from(g) for g in groups))


class _When:
    """A rule's conditions, for an action acting on some of ``where``: which endpoints (and a
    model) in one choice, then the conditions those endpoints allow and a gate in another."""

    def __init__(self, where: tuple[str, ...], models: list[Any], dialect: str | None) -> None:
        endpoints = _one_or_two(where)
        self.task = {e: any(x in _rules.TASK_ENDPOINTS for x in _names(e)) for e in endpoints}
        # `when: {model: ...}` half the time: with the endpoints when that makes few enough.
        self.place: st.SearchStrategy[tuple[Any, Any]] | None = None
        self.endpoints: st.SearchStrategy[Any] = st.sampled_from(endpoints)
        self.model = st.sampled_from(models)
        if len(endpoints) * len(models) <= _ONE_CHOICE:
            self.place = st.sampled_from(_product(endpoints, models))
        self.conditions = {e: _joint(_narrowing(_names(e), dialect), _GATES) for e in dict.fromkeys(endpoints)}


def _names(endpoint: str | tuple[str, ...]) -> tuple[str, ...]:
    return (endpoint,) if isinstance(endpoint, str) else endpoint


def _narrowing(chosen: tuple[str, ...], dialect: str | None) -> list[tuple[tuple[str, object], ...]]:
    """The conditions beyond the endpoint, model and gate (each outcome a tuple of items), as
    likely as drawn one after the other: a task_state one in four where one holds, an attempt
    one in two on callbacks, an image_url one in four on a submit left by both, a dialect one in
    two when one was asked for. Repeated just enough to keep those odds; fewest conditions first."""
    outcomes: list[tuple[tuple[str, object], ...]] = [()]
    if any(e in _rules.CONDITION_ENDPOINTS["task_state"] for e in chosen):
        outcomes = [o + s for o in outcomes for s in [()] * (3 * len(STATES)) + [(("task_state", x),) for x in STATES]]
    if CALLBACK in chosen:
        outcomes = [o + a for o in outcomes for a in [()] * 3 + [(("attempt", n),) for n in (1, 2, 3)]]
    if SUBMIT in chosen:  # only where no task_state or attempt leaves the submits out
        urls = [()] * (3 * len(_IMAGE_URL_PATTERNS)) + [(("image_url", p),) for p in _IMAGE_URL_PATTERNS]
        outcomes = [o + u for o in outcomes for u in (urls if not o else [()] * len(urls))]
    if dialect is not None:
        outcomes = [o + d for o in outcomes for d in ((), (("dialect", dialect),))]
    counts: dict[tuple[tuple[str, object], ...], int] = {}
    for o in outcomes:
        counts[o] = counts.get(o, 0) + 1
    step = math.gcd(*counts.values())
    ordered = sorted(counts, key=len)  # stable: in drawing order within a size
    return [o for o in ordered for _ in range(counts[o] // step)]


class _Parts:
    """Every strategy a rule or a scenario draws from, built once per set of options.

    Strategies made inside a draw are new objects, and Hypothesis checks each new strategy
    before its first draw (validation, emptiness): built per draw, that was most of the time a
    drawn scenario took. Built here once, a draw only draws.

    Each Hypothesis choice costs tens of microseconds of its engine, more than building the
    whole rule, so a rule is four choices where it can be (issue 13): its action with its
    ``times``, the action's details, its endpoints with a model, its other conditions with a
    gate. Each is one ``sampled_from`` over the precomputed outcomes, repeated so that each keeps
    its probability, the simplest first (index 0 is no condition, the smallest value); where
    several parts share a choice, the first is the most significant, so shrinking the choice
    moves towards the simplest of each. Drawn values are built afresh (or copied), so a test
    that changes a scenario it got cannot change later draws.
    """

    def __init__(
        self,
        *,
        endpoints: tuple[str, ...],
        models: tuple[str, ...],
        statuses: tuple[int, ...],
        faults: tuple[str, ...],
        clock_control: bool,
        max_delay_ms: int,
        max_retry_after: float,
        as_200: bool,
        all_models: bool = False,
        dialect: str | None = None,
    ) -> None:
        self.dialect = dialect  # rules may say `when: {dialect: ...}` (only when one was asked for)
        self.where = {action: tuple(e for e in _ACTIONS[action] if e in endpoints) for action in _ACTIONS}
        retry_after = _retry_after_values(max_retry_after)
        # A status and its variant: a retry_after always on 429, else half the time; as_200 on
        # half the errors. Statuses as likely, variants as likely within one.
        self.respond = _pick([_responds(status, retry_after, as_200 and status >= 400) for status in statuses])
        self.fault_kind = st.sampled_from(faults) if faults else st.nothing()
        self.chunk_bytes = st.integers(32, 256)
        self.interval_ms = st.integers(0, max_delay_ms // 4)
        self.hang_ms = st.integers(0, max(max_delay_ms, 1) * 5)
        # A fixed delay, a uniform range or a lognormal, a third each.
        ms = range(max_delay_ms + 1)
        medians = range(1, max(1, max_delay_ms // 4) + 1)
        self.delay = _pick(
            [
                [("ms", n) for n in ms] if len(ms) <= _ONE_CHOICE else st.integers(0, max_delay_ms).map(_as_ms),
                [("uniform", (a, b)) for a in ms for b in ms if a <= b]
                if len(ms) * (len(ms) + 1) // 2 <= _ONE_CHOICE
                else st.tuples(st.integers(0, max_delay_ms), st.integers(0, max_delay_ms)).map(_as_uniform),
                [("lognormal", (m, s)) for m in medians for s in (0, 0.25, 0.5)]
                if len(medians) * 3 <= _ONE_CHOICE
                else st.tuples(st.integers(1, medians[-1]), st.sampled_from([0, 0.25, 0.5])).map(_as_lognormal),
            ]
        )
        # A fail code, with an `at` half the time (pending or processing).
        codes = sorted(FAIL_MESSAGES)
        self.fail = st.sampled_from(
            [(c, None) for c in codes for _ in range(2)] + [(c, at) for c in codes for at in _FAIL_AT]
        )
        self.timing = _timing(clock_control)
        self.callback = st.one_of(
            st.sampled_from(["drop", "duplicate", "delay"]),
            st.builds(_callback_delay, st.integers(0, 120_000)),
        )
        # `when: {model: ...}` half the time: one model, or two.
        named = _one_or_two(models)
        self.models: list[Any] = [None] * len(named) + named
        self._when: dict[tuple[str, ...], _When] = {}
        self.overrides = _model_overrides(clock_control, list(models), all_models)

    def when(self, where: tuple[str, ...]) -> _When:
        """The conditions for a rule on some of ``where`` (a few distinct tuples per options)."""
        found = self._when.get(where)
        if found is None:
            found = self._when[where] = _When(where, self.models, self.dialect)
        return found

    def actions(self, groups: Mapping[str, Sequence[int | None]]) -> st.SearchStrategy[tuple[str, int | None]]:
        """An action and its ``times`` (one of ``groups[action]``): actions as likely, times as likely within one."""
        return _pick([[(action, t) for t in times] for action, times in groups.items()])


_FAIL_AT = ("pending", "processing")
RETRY_HINTS: tuple[str, ...] = _scenario.top_level_choices("retry_hint")
_CREDIT_MODES: tuple[str, ...] = _scenario.top_level_choices("insufficient_credits")
# Regexes for `when: {image_url: ...}`: one that any URL matches, a file type, a host (drawn URLs
# and the models' examples), none of which a test needs to know.
_IMAGE_URL_PATTERNS = (r"^https://", r"\.png$", r"(?i)example\.com")


@functools.lru_cache(maxsize=16)
def _top_level(retry_hints: tuple[str, ...]) -> list[tuple[tuple[str, str], ...]]:
    """The top-level keys beside the rules (as items): absent (the defaults) half the time, else
    a retry hint of ``retry_hints`` or a way to refuse an unpaid submit (no drawn account has a
    balance, so that one never acts unless a test sets one)."""
    groups: list[list[tuple[tuple[str, str], ...]]] = [
        [()],
        [()],
        [(("insufficient_credits", c),) for c in _CREDIT_MODES],
    ]
    if retry_hints:
        groups.append([(("retry_hint", h),) for h in retry_hints])
    return _evenly(groups)


def _evenly(groups: list[list[Any]]) -> list[Any]:
    """The groups' values in one list, each group repeated so that all weigh the same."""
    size = math.lcm(*(len(g) for g in groups))
    return [value for group in groups for value in group * (size // len(group))]


def _one_or_two(names: tuple[str, ...]) -> list[Any]:
    """Each name alone (as a string), then each ordered pair (as a tuple), both halves equally likely."""
    pairs = [(a, b) for a in names for b in names if a != b]
    if not pairs:
        return list(names)
    return _evenly([list(names), pairs])


def _responds(status: int, retry_after: list[float], as_200: bool) -> list[tuple[int, float | None, bool]]:
    """A respond action's variants for ``status`` (status, retry_after, as_200), equally likely as drawn one by one."""
    with_hint: list[tuple[int, float | None, bool]] = [(status, r, False) for r in retry_after]
    variants = with_hint if status == 429 else _evenly([[(status, None, False)], with_hint])
    if as_200:
        variants = variants + [(s, r, True) for s, r, _ in variants]
    return variants


@functools.lru_cache(maxsize=64)
def _parts(**options: Any) -> _Parts:
    return _Parts(**options)


def _as_ms(ms: int) -> tuple[str, object]:
    return ("ms", ms)


def _as_uniform(ab: tuple[int, int]) -> tuple[str, object]:
    return ("uniform", ab)


def _as_lognormal(ms_sigma: tuple[int, float]) -> tuple[str, object]:
    return ("lognormal", ms_sigma)


def _callback_delay(ms: int) -> dict:
    return {"delay": {"ms": ms}}


def _draw_rule(draw: st.DrawFn, parts: _Parts, action: str, times: int | None) -> dict:
    """One rule whose action is ``action``, on some of the endpoints it can act on."""
    where = parts.where[action]
    rule: dict[str, Any] = {}
    if action == "respond":
        status, retry_after, as_200 = draw(parts.respond)
        respond: dict[str, Any] = {"status": status}
        if retry_after is not None:
            respond["retry_after"] = retry_after
        if as_200:
            respond["as_200"] = True
        rule["respond"] = respond
    elif action == "fault":
        kind = draw(parts.fault_kind)
        if kind in ("slow_body", "malformed_json"):
            # JSON answers only: a result file cut in half is not malformed JSON (and nothing
            # says it is cut), and a dribbled file costs seconds of wall time.
            where = tuple(e for e in where if e != "files") or where
        if kind == "slow_body":
            rule["fault"] = {
                "slow_body": {"chunk_bytes": draw(parts.chunk_bytes), "interval_ms": draw(parts.interval_ms)}
            }
        elif kind == "hang":
            rule["fault"] = {"hang": {"max_ms": draw(parts.hang_ms)}}
        else:
            rule["fault"] = kind
    elif action == "delay":
        shape, value = draw(parts.delay)
        if shape == "ms":
            rule["delay"] = {"ms": value}
        elif shape == "uniform":
            rule["delay"] = {"uniform": sorted(value)}
        else:
            rule["delay"] = {"lognormal": {"median_ms": value[0], "sigma": value[1]}}
    elif action == "fail":
        code, at = draw(parts.fail)
        rule["fail"] = {"code": code} if at is None else {"code": code, "at": at}
    elif action == "timing":
        rule["timing"] = draw(parts.timing)
    else:
        rule["callback"] = draw(parts.callback)
    when_parts = parts.when(where)
    if when_parts.place is not None:
        chosen, model = draw(when_parts.place)
    else:
        chosen = draw(when_parts.endpoints)
        model = draw(when_parts.model) if when_parts.task[chosen] else None
    when: dict[str, Any] = {"endpoint": chosen if isinstance(chosen, str) else list(chosen)}
    if model is not None and when_parts.task[chosen]:
        when["model"] = model if isinstance(model, str) else list(model)
    conditions: tuple[Any, ...] = ()
    for strategy in when_parts.conditions[chosen]:
        conditions += draw(strategy)
    narrowing, gate = conditions
    when.update(narrowing)
    if gate is not None:
        when[gate[0]] = gate[1]
    rule["when"] = when
    if times is not None:
        rule["times"] = times
    return rule


def _retry_after_values(max_retry_after: float) -> list[float]:
    whole = [n for n in (0, 1, 2, 5) if n <= max_retry_after]
    return [*whole, *([0.5] if max_retry_after >= 0.5 else [])]


@functools.lru_cache(maxsize=2)
def _timing(clock_control: bool) -> st.SearchStrategy[dict]:
    # Each poll count absent half the time, else 0..3: one choice, built afresh by the map.
    polls = st.sampled_from(_product(_POLLS, _POLLS)).map(_polls)
    if not clock_control:
        return polls
    timed = st.fixed_dictionaries(
        {"progression": st.just("time")},
        optional={
            "pending_ms": st.integers(0, 10_000),
            "processing_ms": st.one_of(
                st.integers(0, 60_000), st.tuples(st.integers(0, 30_000), st.integers(30_000, 60_000)).map(list)
            ),
        },
    )
    return st.one_of(polls, timed)


def _polls(counts: tuple[int | None, int | None]) -> dict[str, Any]:
    timing: dict[str, Any] = {"progression": "polls"}
    if counts[0] is not None:
        timing["pending_polls"] = counts[0]
    if counts[1] is not None:
        timing["processing_polls"] = counts[1]
    return timing


_PER_MODEL_POLLS = tuple((p, q) for p in range(4) for q in range(4))  # both counts, (0, 0) first


def _per_model(counts: tuple[int, int]) -> dict[str, Any]:
    return {"progression": "polls", "pending_polls": counts[0], "processing_polls": counts[1]}


def _model_overrides(clock_control: bool, models: list[str], all_models: bool) -> tuple[list[str], list[Any]]:
    """Progression for the models a client uses: by polls, unless the test moves the clock.

    The keys, and per key what to draw: the poll counts (a list, to share a choice with the
    top-level keys) or, with clock control, a strategy of whole overrides."""
    keys = ["*"] if all_models else models
    if not clock_control:
        return keys, [_PER_MODEL_POLLS] * len(keys)
    timed = st.fixed_dictionaries(
        {"progression": st.just("time"), "pending_ms": st.integers(0, 10_000)},
        optional={"processing_ms": st.tuples(st.integers(0, 20_000), st.integers(20_000, 60_000)).map(list)},
    )
    per_model = st.one_of(st.sampled_from(_PER_MODEL_POLLS).map(_per_model), timed)
    return keys, [per_model] * len(keys)


def _check_options(
    *,
    endpoints: object,
    models: object,
    statuses: object,
    faults: object,
    clock_control: object,
    errors_as_200: object,
    max_delay_ms: object,
    max_retry_after: object,
    dialect: object = None,
) -> tuple[tuple[str, ...], list[str], bool, tuple[int, ...], tuple[str, ...], Dialect | None]:
    def names(value: object, what: str, known: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
            raise InvalidArgument(f"{what} must be a list of names, got {value!r}")
        unknown = [v for v in value if v not in known]
        if unknown:
            raise InvalidArgument(f"{what}: {unknown[0]!r} is not one of {', '.join(map(str, known))}")
        return tuple(dict.fromkeys(value))

    wire = None if dialect is None else _check_dialect(dialect)
    aliases = endpoint_aliases()  # the kinds, and a dialect's names for them (generateTask = submit)
    # A dialect's rules act where it has routes (123API has no balance route), and on callbacks.
    kinds = {r.kind for r in getattr(wire, "routes", ())}
    served = tuple(e for e in _HTTP if e in kinds) if kinds else _HTTP
    chosen_endpoints = names(served if endpoints is None else endpoints, "endpoints", list(aliases))
    chosen_endpoints = tuple(dict.fromkeys(aliases[e] for e in chosen_endpoints))
    if not chosen_endpoints:
        raise InvalidArgument("endpoints must name at least one endpoint")
    if wire is not None:
        foreign = [e for e in chosen_endpoints if e not in served and e != CALLBACK]
        if foreign:
            raise InvalidArgument(
                f"endpoints: {foreign[0]!r} is not an endpoint of {wire.title} (its endpoints: {', '.join(served)})"
            )
    catalog = _model_names(wire)
    all_models = models is None
    if models is None:
        chosen_models = list(catalog)
    elif wire is not None and not isinstance(models, str) and isinstance(models, list | tuple | set | frozenset):
        for name in models:
            _check_model(name, allow_none=False, dialect=wire)  # names the dialect, and where else it is
        chosen_models = list(dict.fromkeys(models))
    else:
        chosen_models = list(names(models, "models", catalog))
    if not chosen_models:
        raise InvalidArgument("models must name at least one model (or be None for all)")
    if isinstance(statuses, str) or not isinstance(statuses, list | tuple | set | frozenset) or not statuses:
        raise InvalidArgument(f"statuses must be a non-empty list of HTTP statuses, got {statuses!r}")
    for status in statuses:
        if (
            isinstance(status, bool)
            or not isinstance(status, int)
            or not 200 <= status <= 599
            or status in (204, 205, 304)
        ):
            raise InvalidArgument(
                f"statuses: {status!r} is not an HTTP status a rule can answer (200..599 with a body)"
            )
    chosen_faults = names(faults, "faults", FAULTS)
    _check_flags(clock_control=clock_control, errors_as_200=errors_as_200)
    if isinstance(max_delay_ms, bool) or not isinstance(max_delay_ms, int) or not 0 <= max_delay_ms <= 60_000:
        raise InvalidArgument(f"max_delay_ms must be an integer 0..60000, got {max_delay_ms!r}")
    if (
        isinstance(max_retry_after, bool)
        or not isinstance(max_retry_after, int | float)
        or not 0 <= max_retry_after <= 86400
    ):
        raise InvalidArgument(f"max_retry_after must be a number of seconds 0..86400, got {max_retry_after!r}")
    return chosen_endpoints, chosen_models, all_models, tuple(statuses), chosen_faults, wire


def _model_names(wire: Dialect | None) -> tuple[str, ...]:
    """The models scenario rules may name: the dialect's; None: every built-in dialect's, APIXO's first."""
    return tuple(wire.catalog().names()) if wire is not None else _every_model_name()


@functools.cache
def _every_model_name() -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for d in default_dialects() for name in d.catalog().names()))


def _actions_for(endpoints: tuple[str, ...], faults: tuple[str, ...]) -> list[str]:
    return [a for a, where in _ACTIONS.items() if any(e in endpoints for e in where) and (a != "fault" or faults)]


def rules(
    *,
    endpoints: list[str] | tuple[str, ...] | None = None,
    models: list[str] | tuple[str, ...] | None = None,
    statuses: list[int] | tuple[int, ...] = TRANSIENT_STATUSES,
    faults: list[str] | tuple[str, ...] = SURVIVABLE_FAULTS,
    clock_control: bool = False,
    errors_as_200: bool = False,
    max_times: int = 3,
    max_delay_ms: int = 20,
    max_retry_after: float = 2,
    dialect: Dialect | str | None = None,
) -> st.SearchStrategy[dict]:
    """Scenario rules (one dict each, as in a scenario's ``rules`` list).

    Every action appears: ``respond`` with one of ``statuses`` (429 with a Retry-After of
    at most ``max_retry_after`` s), ``fault`` (one of ``faults``), ``delay`` (at most
    ``max_delay_ms`` of wall time), ``fail`` (a provider fail code), ``timing`` and, when
    ``endpoints`` names it, ``callback``; with conditions on endpoint, model, task state and
    the gates nth, after and probability. A rule that answers in place of the mock
    (respond, fault) or delays it acts at most ``max_times`` times. ``endpoints``: those
    the rules act on (default: the four HTTP endpoints; add "callback" for callback rules).
    ``models``: the models conditions name (default: all). ``clock_control``: the test
    moves the mock's clock, so timings may be time-driven (default: poll-driven only).
    ``errors_as_200``: injected errors may come as HTTP 200 carrying the error envelope.
    ``dialect``: the client speaks this one (a name or a Dialect): the default endpoints are
    those it has routes for, ``models`` are its models, and some rules say ``when: {dialect:}``.
    Without it, rules name neutral endpoint kinds and any built-in dialect's models, so they
    apply to APIXO and 123API clients alike.
    """
    chosen, model_names, _, status_list, fault_list, wire = _check_options(
        endpoints=endpoints,
        models=models,
        statuses=statuses,
        faults=faults,
        clock_control=clock_control,
        errors_as_200=errors_as_200,
        max_delay_ms=max_delay_ms,
        max_retry_after=max_retry_after,
        dialect=dialect,
    )
    if isinstance(max_times, bool) or not isinstance(max_times, int) or max_times < 1:
        raise InvalidArgument(f"max_times must be an integer >= 1, got {max_times!r}")
    parts = _parts(
        endpoints=chosen,
        models=tuple(model_names),
        statuses=status_list,
        faults=fault_list,
        clock_control=clock_control,
        max_delay_ms=max_delay_ms,
        max_retry_after=max_retry_after,
        as_200=errors_as_200,
        dialect=None if wire is None else wire.name,
    )

    counted = (*_INTERRUPTING, "delay")  # rules that act at most max_times times
    times = range(1, max_times + 1)
    actions = parts.actions({a: times if a in counted else _QUIET_TIMES for a in _actions_for(chosen, fault_list)})

    @st.composite
    def one(draw: st.DrawFn) -> dict:
        action, n = draw(actions)
        return _draw_rule(draw, parts, action, n)

    return one()


def scenarios(
    *,
    endpoints: list[str] | tuple[str, ...] | None = None,
    models: list[str] | tuple[str, ...] | None = None,
    statuses: list[int] | tuple[int, ...] = TRANSIENT_STATUSES,
    faults: list[str] | tuple[str, ...] = SURVIVABLE_FAULTS,
    clock_control: bool = False,
    errors_as_200: bool = False,
    max_rules: int = 4,
    max_errors: int = 3,
    max_delay_ms: int = 20,
    max_retry_after: float = 2,
    dialect: Dialect | str | None = None,
    retry_hints: list[str] | tuple[str, ...] = ("both",),
) -> st.SearchStrategy[dict]:
    """Scenario documents that a robust client gets through: load one with ``mock_api.load()``.

    A drawn scenario has a seed, model timings and up to ``max_rules`` rules from
    ``rules()`` (same options), mixing injected errors, network faults, short delays,
    failed tasks and per-task timings. By default (``clock_control=False``) every task
    ends after a few status polls, so a client finishes without anyone moving the clock;
    with ``clock_control=True`` tasks may take virtual time, for tests whose client
    sleeps by advancing the mock's clock. At most ``max_errors`` answers in the whole
    scenario are replaced by an error status or a network fault: a client that retries
    each request (429, 5xx, transport errors, a body it cannot parse) more than
    ``max_errors`` times, and honours Retry-After, always ends with the task's results or
    its fail code. ``errors_as_200=True`` may also switch the scenario to errors as 200.
    ``models`` may name any built-in dialect's models (``["gpt-4o-image"]`` for a 123API
    client); ``dialect`` narrows the options to one dialect, as for ``rules()``.
    Some scenarios set ``insufficient_credits`` (how an unpaid submit is refused), some
    ``retry_hint``, one of ``retry_hints`` (of ``RETRY_HINTS``): by default only ``both``, the
    hint in the Retry-After header and the body as the provider documents it; pass
    ``RETRY_HINTS`` for a client that must also get by with one of them or neither.
    """
    chosen, model_names, all_models, status_list, fault_list, wire = _check_options(
        endpoints=endpoints,
        models=models,
        statuses=statuses,
        faults=faults,
        clock_control=clock_control,
        errors_as_200=errors_as_200,
        max_delay_ms=max_delay_ms,
        max_retry_after=max_retry_after,
        dialect=dialect,
    )
    for name, value in (("max_rules", max_rules), ("max_errors", max_errors)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidArgument(f"{name} must be an integer >= 0, got {value!r}")
    if isinstance(retry_hints, str) or not isinstance(retry_hints, list | tuple | set | frozenset):
        raise InvalidArgument(f"retry_hints must be a list of names, got {retry_hints!r}")
    unknown = [h for h in retry_hints if h not in RETRY_HINTS]
    if unknown:
        raise InvalidArgument(f"retry_hints: {unknown[0]!r} is not one of {', '.join(RETRY_HINTS)}")
    top = _top_level(tuple(dict.fromkeys(retry_hints)))
    actions = _actions_for(chosen, fault_list)
    parts = _parts(
        endpoints=chosen,
        models=tuple(model_names),
        statuses=status_list,
        faults=fault_list,
        clock_control=clock_control,
        max_delay_ms=max_delay_ms,
        max_retry_after=max_retry_after,
        as_200=errors_as_200,
        all_models=all_models,
        dialect=None if wire is None else wire.name,
    )
    rule_count = st.integers(0, max_rules)
    keys, per_key = parts.overrides
    polled = [k for k, p in zip(keys, per_key, strict=True) if not isinstance(p, st.SearchStrategy)]
    timed = [(k, p) for k, p in zip(keys, per_key, strict=True) if isinstance(p, st.SearchStrategy)]
    # errors_as_200, the top-level keys and the models' poll counts: one or two choices.
    head = _joint(
        [False, True] if errors_as_200 else [False], top, *(p for p in per_key if not isinstance(p, st.SearchStrategy))
    )
    quiet = {a: _DELAY_TIMES if a == "delay" else _QUIET_TIMES for a in actions if a not in _INTERRUPTING}
    quiet_action = parts.actions(quiet) if quiet else None
    by_budget: dict[int, st.SearchStrategy[tuple[str, int | None]]] = {}

    def any_action(budget: int) -> st.SearchStrategy[tuple[str, int | None]]:
        """An action and its times while ``budget`` answers may still be replaced."""
        found = by_budget.get(budget)
        if found is None:
            found = by_budget[budget] = parts.actions(
                {a: range(1, budget + 1) if a in _INTERRUPTING else quiet[a] for a in actions}
            )
        return found

    @st.composite
    def one(draw: st.DrawFn) -> dict:
        doc: dict[str, Any] = {"name": "fuzz", "seed": draw(_SEEDS)}
        drawn_head: tuple[Any, ...] = ()
        for part in head:
            drawn_head += draw(part)
        as_200, top_items, *polls = drawn_head
        models = {key: _per_model(c) for key, c in zip(polled, polls, strict=True)}
        for key, override in timed:
            models[key] = draw(override)
        doc["models"] = {key: models[key] for key in keys}
        if as_200:
            doc["errors_as_200"] = True
        doc.update(top_items)  # retry_hint, insufficient_credits
        budget = max_errors
        drawn = []
        for _ in range(draw(rule_count)):
            if budget > 0:
                action, times = draw(any_action(budget))
            elif quiet_action is not None:
                action, times = draw(quiet_action)
            else:
                break
            if action in _INTERRUPTING:
                budget -= cast(int, times)
            drawn.append(_draw_rule(draw, parts, action, times))
        if drawn:
            doc["rules"] = drawn
        return doc

    return one()


# An index into the range rather than st.integers: integers this far apart weigh their bounds,
# which builds a sampler at each draw (2-4 times the cost of the choice), and a seed has no
# boundary worth weighing. Shrinks to 0 the same.
_SEEDS = st.sampled_from(range(2**31))
