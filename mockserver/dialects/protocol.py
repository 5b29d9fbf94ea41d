"""What a dialect is: one provider's wire format over the core (SPEC 8).

A dialect owns everything a client of its provider can see: the routes, how a submit body and a
status request are read, every answer body (submit, status per state, balance, errors, rule
answers, callbacks), the task id format, the result URL shape, its published schemas and OpenAPI
document, its names for the endpoints in scenario files and reports, the polling and retry
guidance its provider documents, and Hypothesis strategies for its envelopes. The core and the
HTTP layer speak only through this protocol, so nothing outside ``dialects/`` branches on which
provider it is.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from mockserver.core.errors import ApiError
from mockserver.core.words import TaskView

if TYPE_CHECKING:  # pragma: no cover
    from hypothesis.strategies import SearchStrategy

    from mockserver.contract import Problem, Schemas
    from mockserver.core.catalog import Catalog, Model


class Route(NamedTuple):
    """One endpoint a dialect serves: its kind, method, path template and its own name."""

    kind: str  # a core endpoint kind (words.SUBMIT...)
    method: str
    path: str  # a Starlette path template: /api/v1/statusTask/{model}
    name: str  # the dialect's name for it, in scenario files and reports (statusTask)


@dataclass(frozen=True, slots=True)
class Disputed:
    """A number the provider's own pages disagree on: the strict value, the lenient one, and where
    each is said. The report calls what breaks only the strict value a warning citing both pages,
    and keeps errors for what breaks the lenient one too."""

    strict: int  # ms: the demanding reading (the longer poll interval, the shorter result lifetime)
    lenient: int  # ms: the forgiving one
    strict_source: str  # the page (and section) that says ``strict``
    lenient_source: str  # the page (and section) that says ``lenient``


@dataclass(frozen=True, slots=True)
class Guidance:
    """The polling and retry guidance a provider documents, for the client report.

    ``pages`` and ``citations`` say where each rule comes from, so a finding can cite it;
    ``words`` are the provider's names for what the report mentions (its endpoints and fields).
    """

    # model kind (image-fast, image-quality, video, audio) -> (initial wait, poll interval, max wait) ms
    intervals: Mapping[str, tuple[int, int, int]]
    retryable: frozenset[int]  # statuses a client should retry (with backoff)
    non_retryable: frozenset[int]  # statuses a client must not retry unchanged
    backoff_factor: float = 1.5
    backoff_cap_ms: int = 30_000
    # model -> (initial wait, poll interval, max wait) ms, where a model's own page says otherwise
    model_intervals: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)
    pages: Mapping[str, str] = field(default_factory=dict)  # topic -> the page (and section) a finding cites
    citations: Mapping[str, str] = field(default_factory=dict)  # report check code -> its source
    # a core word (an endpoint kind, task_id, result, fail_code...) -> the provider's name for it
    words: Mapping[str, str] = field(default_factory=dict)
    result_lifetime: str | None = None  # how long the pages say result URLs live
    # Numbers the pages disagree on, by topic: ``poll_interval/<model kind>`` (a poll interval the
    # catalog takes from the strict page) and ``result_lifetime`` (how long results can be fetched).
    disputed: Mapping[str, Disputed] = field(default_factory=dict)


@runtime_checkable
class Dialect(Protocol):
    """One provider's wire format. ``mockserver.dialects.apixo.APIXO`` is the reference."""

    name: str  # apixo
    title: str  # human name, for documents and the report
    routes: tuple[Route, ...]
    status_query: frozenset[str]  # query parameters a status poll may carry (strict mode)
    # The forms its pages give to refusing a submit the balance cannot pay (a scenario's
    # insufficient_credits): http_402, code_400 (HTTP 400 "Insufficient credits"), failed_task.
    credit_refusals: frozenset[str]

    @property
    def guidance(self) -> Guidance:
        """What the provider's pages tell a client to do (for the client report)."""
        ...

    def catalog(self) -> Catalog:
        """The models this dialect serves: timings, prices, media and input schemas."""
        ...

    # -- reading requests --------------------------------------------------------------------
    def path_model(self, params: Mapping[str, str]) -> str | None:
        """The model a submit path names (None: the body names it)."""
        ...

    def parse_submit(self, body: object, model: str | None, route: str | None = None) -> Any:
        """The neutral SubmitRequest of a submit body, or BadRequest naming the field.

        ``route``: the path template of the submit route taken (a dialect with several, say one for
        images and one for videos, checks the model against it); None when not known."""
        ...

    def submit_facts(self, body: object, model: str | None) -> dict[str, Any]:
        """What scenario rules see of a submit, read leniently before validation:
        model, prompt, provider, request_type (None when absent or of the wrong type)."""
        ...

    def task_ref(self, params: Mapping[str, str], query: Callable[[str], str | None]) -> tuple[str | None, str | None]:
        """(model or None, task id or None) of a status request."""
        ...

    def require_task_id(self, task_id: str | None) -> str:
        """The task id of a status request, or BadRequest saying where it goes."""
        ...

    def status_hint(self, model: str, task_id: str) -> str:
        """Where to poll a task (for a 404 that names the right path)."""
        ...

    def file_ref(self, params: Mapping[str, str]) -> tuple[str, str]:
        """(task id, file name) of a result-file request."""
        ...

    def parse_result_filename(self, name: str) -> tuple[int, str] | None:
        """(index, extension) of a result file name, or None."""
        ...

    # -- answers --------------------------------------------------------------------------------
    def dumps(self, obj: object) -> bytes: ...

    def new_task_id(self, rng: random.Random) -> str: ...

    def result_path(self, task_id: str, index: int, ext: str) -> str:
        """The path of a result file (result URLs are the base URL plus this)."""
        ...

    def submit_body(self, task_id: str, model: str) -> dict: ...

    def status_body(self, view: TaskView) -> dict: ...

    def balance_body(self, balance: float) -> dict: ...

    def models_body(self, names: list[str]) -> dict:
        """The answer of a models route (a dialect with no such route never gets asked)."""
        ...

    def error_body(self, err: ApiError) -> dict: ...

    def error_headers(self, err: ApiError) -> dict[str, str]: ...

    def rule_answer(
        self, status: int, message: str, retry_after: float | None, body: object = ...
    ) -> tuple[dict, dict[str, str]]:
        """A scenario rule's ``respond`` as (body, headers); ``body`` (when given) replaces the payload."""
        ...

    def callback_stages(self, model: str) -> tuple[str, ...]:
        """The stages of a model's callbacks, the last being the task's end; () = one plain callback."""
        ...

    def callback_body(self, view: TaskView, stage: str | None) -> dict: ...

    # -- the published contract -------------------------------------------------------------
    # ``mockserver.contract`` asks these; each answers [] (or None) for what is not its own.
    @property
    def request_schema(self) -> str | None:
        """The name of its published submit-request schema (generate-request); None: it publishes none."""
        ...

    def response_schema(
        self, kind: str | None, status: int, doc: object = None, errors_as_200: bool = False
    ) -> str | None:
        """The schema an answer to endpoint ``kind`` (None: a path of no route of its own) with this
        status must match; None: not JSON, or unchecked. ``doc`` is the parsed body, when known, and
        ``errors_as_200`` accepts an error envelope on a 200."""
        ...

    def document_problems(self, schema: str, doc: object, schemas: Schemas | None = None) -> list[Problem]:
        """What a document that keeps ``schema`` must also satisfy (the rules JSON Schema cannot say)."""
        ...

    def answer_problems(
        self, schema: str, doc: object, status: int, headers: Mapping[str, str], *, retry_hint: str = "both"
    ) -> list[Problem]:
        """What an HTTP answer whose body is ``doc`` (checked against ``schema``) must satisfy in its
        status and headers. ``retry_hint``: where the scenario puts a 429's retry hint (both, header,
        body, none); only those places are required."""
        ...

    def request_problems(self, model: str | None, body: object, schemas: Schemas | None = None) -> list[Problem]:
        """A submit body checked against the published request schema with ``model``'s input (strict
        mode, ``validate --model``); UnknownSchema for a model with no published input schema."""
        ...

    def openapi(self, catalog: Catalog, schemas: Schemas) -> dict:
        """This dialect's OpenAPI 3.1 document."""
        ...

    # -- testing --------------------------------------------------------------------------------
    def status_envelopes(self, model: str | None = None, *, state: str | None = None) -> SearchStrategy[dict]:
        """Hypothesis: valid status envelopes of this dialect, in ``state`` (a core state; None: any)."""
        ...

    def submit_bodies(
        self,
        model: Model,
        inputs: SearchStrategy[object],
        *,
        valid: bool = True,
        invalid_inputs: SearchStrategy[object] | None = None,
    ) -> SearchStrategy[dict]:
        """Hypothesis: submit bodies for ``model`` carrying one of ``inputs`` (valid ``input`` objects).

        ``valid=False``: bodies the dialect refuses with 400: a broken envelope around one of
        ``inputs``, no input, or one of ``invalid_inputs`` (when given) in a good envelope.
        """
        ...

    def submit_example(self) -> tuple[dict[str, str], dict]:
        """(path parameters, body) of a small valid submit on this dialect's first submit route
        (the curl line ``mockserver serve`` prints)."""
        ...


# -- helpers every dialect may use ----------------------------------------------------------------


def retry_after_seconds(err: ApiError) -> int | None:
    """Whole seconds a client should wait (None: no hint), as a 429's header and body give it."""
    return None if err.retry_after is None else max(0, math.ceil(err.retry_after))


def retry_after_headers(err: ApiError) -> dict[str, str]:
    """An error's own headers plus its Retry-After, when it has a retry hint."""
    headers = dict(err.headers)
    seconds = retry_after_seconds(err)
    if seconds is not None:
        headers.setdefault("Retry-After", str(seconds))
    return headers


def numbered_file(name: str) -> tuple[int, str] | None:
    """(index, extension) of a result file named ``N.ext`` (``0.png``), else None."""
    stem, dot, ext = name.partition(".")
    # Bounded before int(): a name of thousands of digits is no file (and int() refuses it).
    if not dot or not (stem.isascii() and stem.isdigit()) or len(stem) > 6 or not ext.isalnum():
        return None
    return int(stem), ext


@functools.cache
def _module(name: str) -> Any:
    return importlib.import_module(name)


class PublishedParts:
    """The contract and testing half of the protocol, for a dialect whose package holds modules
    ``contract`` (response_schema, document_problems, answer_problems, validate_request),
    ``openapi`` (build_openapi) and ``strategies`` (status_envelopes, submit_bodies).

    Each module is imported on first use, so serving never loads jsonschema's heavier paths or
    Hypothesis. ``package`` is the dialect's package (``mockserver.dialects.apixo``).
    """

    package: str

    def _part(self, module: str) -> Any:
        return _module(f"{self.package}.{module}")

    def response_schema(
        self, kind: str | None, status: int, doc: object = None, errors_as_200: bool = False
    ) -> str | None:
        return self._part("contract").response_schema(kind, status, doc, errors_as_200)

    def document_problems(self, schema: str, doc: object, schemas: Schemas | None = None) -> list[Problem]:
        return self._part("contract").document_problems(schema, doc, schemas)

    def answer_problems(
        self, schema: str, doc: object, status: int, headers: Mapping[str, str], *, retry_hint: str = "both"
    ) -> list[Problem]:
        return self._part("contract").answer_problems(schema, doc, status, headers, retry_hint=retry_hint)

    def request_problems(self, model: str | None, body: object, schemas: Schemas | None = None) -> list[Problem]:
        return self._part("contract").validate_request(model, body, schemas=schemas)

    def openapi(self, catalog: Catalog, schemas: Schemas) -> dict:
        return self._part("openapi").build_openapi(catalog, schemas)

    def status_envelopes(self, model: str | None = None, *, state: str | None = None) -> SearchStrategy[dict]:
        return self._part("strategies").status_envelopes(model, state=state)

    def submit_bodies(
        self,
        model: Model,
        inputs: SearchStrategy[object],
        *,
        valid: bool = True,
        invalid_inputs: SearchStrategy[object] | None = None,
    ) -> SearchStrategy[dict]:
        return self._part("strategies").submit_bodies(model, inputs, valid=valid, invalid_inputs=invalid_inputs)


# Envelopes are trees built by dialects, never cyclic: skip the encoder's cycle bookkeeping.
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


def compact_json(obj: object) -> bytes:
    """Compact JSON bytes, as providers send them."""
    return _DUMPS(obj).encode("utf-8")


def compact_json_text(obj: object) -> str:
    return _DUMPS(obj)


_PARAM = re.compile(r"\{[^}]+\}")


@functools.lru_cache(maxsize=256)
def template_regex(template: str) -> re.Pattern[str]:
    """A path template (``/files/{task_id}/{filename}``) as a regex with a named group per parameter
    (made once per template: a reset builds the tracker's route table again)."""
    parts = _PARAM.split(template)
    names = [m[1:-1].split(":")[0] for m in _PARAM.findall(template)]
    body = "".join(
        re.escape(p) + (f"(?P<{n}>[^/]+)" if i < len(names) else "")
        for i, (p, n) in enumerate(zip(parts, [*names, ""], strict=True))
    )
    return re.compile("^" + body + "$")


def fill_template(template: str, params: Mapping[str, str]) -> str:
    """A path template with its parameters filled in (``/files/{task_id}/{filename}`` -> ``/files/t/0.png``)."""
    return _PARAM.sub(lambda m: params[m[0][1:-1].split(":")[0]], template)


def template_skeleton(template: str) -> str:
    """The template with its parameters removed, for comparing paths by likeness."""
    return _PARAM.sub("", template)


def route_name(dialect: Dialect, kind: str) -> str:
    """The dialect's own name for an endpoint kind (the kind itself if it has no such route)."""
    for route in dialect.routes:
        if route.kind == kind:
            return route.name
    return kind


class RouteTable:
    """Which route of which dialect a request path reaches: one table over the dialects' routes.

    The first route that matches wins; ``first`` kinds are tried before the others (the status
    route is the hot path). Paths are classified once each, in a bounded cache: clients ask for a
    handful of paths again and again, and a fuzzer can send any number of distinct ones.
    """

    __slots__ = ("_table", "_cache", "_cache_size")

    def __init__(self, dialects: Sequence[Dialect], *, first: str | None = None, cache_size: int = 4096) -> None:
        routes = [(route, d) for d in dialects for route in d.routes]
        if first is not None:
            routes.sort(key=lambda rd: rd[0].kind != first)
        self._table = [(template_regex(route.path), route, d) for route, d in routes]
        self._cache: dict[str, tuple[Route, Dialect] | None] = {}
        self._cache_size = cache_size

    def match(self, path: str) -> tuple[Route, Dialect] | None:
        cache = self._cache
        if path in cache:
            return cache[path]
        found = next(((route, d) for pattern, route, d in self._table if pattern.match(path)), None)
        if len(cache) < self._cache_size:
            cache[path] = found
        return found
