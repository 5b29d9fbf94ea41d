"""The APIXO wire format: paths, envelopes, field names, ids and result URLs (SPEC 2).

Every detail an APIXO client can see lives in this package, so the core never spells it.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mockserver.core.errors import ApiError, BadRequest
from mockserver.core.images import image_urls
from mockserver.core.json_types import json_type
from mockserver.core.words import (
    BALANCE,
    FAILED,
    FILES,
    REQUEST_TYPES,
    STATUS,
    SUBMIT,
    SUCCESS,
    SubmitRequest,
    TaskView,
    fail_message,
)
from mockserver.dialects.protocol import (
    Guidance,
    PublishedParts,
    Route,
    compact_json,
    compact_json_text,
    numbered_file,
    retry_after_headers,
    retry_after_seconds,
)

if TYPE_CHECKING:  # pragma: no cover
    from mockserver.core.catalog import Catalog

GENERATE_PATH = "/api/v1/generateTask/{model}"
STATUS_PATH = "/api/v1/statusTask/{model}"
BALANCE_PATH = "/api/v1/apikeys/current-balance"
FILES_PATH = "/files/{task_id}/{filename}"

PROVIDERS = ("auto", "value", "official")
SUBMIT_FIELDS = ("request_type", "callback_url", "provider", "input")
TASK_ID_PARAM = "taskId"

# Callbacks. The body is the status envelope at the moment of the callback. Suno sends
# up to three per task (apixo.ai/en/docs/models/suno: "text - lyrics/text prepared,
# first - first track finished, complete - all tracks finished"); the page we could read
# does not show the field that names the stage, so it is `callbackType` inside `data`,
# as on kie.ai's Suno callbacks (the upstream API of the same stages).
CALLBACK_STAGES: dict[str, tuple[str, ...]] = {"suno": ("text", "first", "complete")}
CALLBACK_STAGE_FIELD = "callbackType"

_NO_BODY = object()


def _bad(error: str) -> BadRequest:
    return BadRequest("Invalid request", error=error)


def check_callback_url(url: object) -> str:
    """A callback URL must be an absolute http(s) URL with a host."""
    if not isinstance(url, str):
        raise _bad(f"Invalid type for callback_url: expected string, got {json_type(url)}")
    if len(url) > 2048:
        raise _bad("callback_url is too long: at most 2048 characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise _bad(f"Invalid callback_url: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise _bad(f"Invalid callback_url: must be an absolute http(s) URL, got {url!r}")
    return url


def envelope(data: object) -> dict:
    return {"code": 200, "message": "success", "data": data}


class Apixo(PublishedParts):
    """The APIXO dialect (provider-docs 001-004)."""

    name = "apixo"
    package = "mockserver.dialects.apixo"
    title = "APIXO"
    routes: tuple[Route, ...] = (
        Route(SUBMIT, "POST", GENERATE_PATH, "generateTask"),
        Route(STATUS, "GET", STATUS_PATH, "statusTask"),
        Route(BALANCE, "GET", BALANCE_PATH, "balance"),
        Route(FILES, "GET", FILES_PATH, "files"),
    )
    status_query: frozenset[str] = frozenset({TASK_ID_PARAM})
    # 402 (page 004), page 002's example {"code": 400, "message": "Insufficient credits"}, and a
    # task failed INSUFFICIENT_CREDITS (page 001's error handling).
    credit_refusals: frozenset[str] = frozenset({"http_402", "code_400", "failed_task"})
    request_schema: str = "generate-request"

    @functools.cached_property
    def guidance(self) -> Guidance:
        from mockserver.dialects.apixo.guidance import GUIDANCE

        return GUIDANCE

    def catalog(self) -> Catalog:
        from mockserver.core.catalog import load_catalog

        return load_catalog()

    # -- reading requests ---------------------------------------------------------------------

    def path_model(self, params: Mapping[str, str]) -> str | None:
        return params.get("model")

    def parse_submit(self, body: object, model: str | None, route: str | None = None) -> SubmitRequest:
        """Check the submit body's top level; the model checks ``input`` itself."""
        assert model is not None  # APIXO names the model in the path
        if not isinstance(body, dict):
            raise _bad(f"Request body must be a JSON object, got {json_type(body)}")
        for field in body:
            if field not in SUBMIT_FIELDS:
                raise _bad(f"Unknown field: {field} (expected one of {', '.join(SUBMIT_FIELDS)})")
        request_type = body.get("request_type", "async")
        if request_type not in REQUEST_TYPES or not isinstance(request_type, str):
            raise _bad(f"Invalid value for request_type: {request_type!r} is not one of 'async', 'callback'")
        # Absent means the model's default (auto for most, official for sora-2*).
        provider = body.get("provider")
        if provider is not None and (not isinstance(provider, str) or provider not in PROVIDERS):
            raise _bad(f"Invalid value for provider: {provider!r} is not one of 'auto', 'value', 'official'")
        callback_url = body.get("callback_url")
        if request_type == "callback":
            if callback_url is None or callback_url == "":
                raise _bad("Missing required field: callback_url (required when request_type is callback)")
            check_callback_url(callback_url)
        elif callback_url is not None:
            check_callback_url(callback_url)
        if "input" not in body:
            raise _bad("Missing required field: input")
        return SubmitRequest(model, body["input"], request_type, callback_url, provider)

    def submit_facts(self, body: object, model: str | None) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        input = body.get("input") if isinstance(body.get("input"), dict) else {}
        provider = body.get("provider")
        request_type = body.get("request_type", "async")
        prompt = input.get("prompt")  # type: ignore[union-attr]
        return {
            "model": model,
            "prompt": prompt if isinstance(prompt, str) else None,
            "provider": provider if isinstance(provider, str) else None,
            "request_type": request_type if isinstance(request_type, str) else None,
            "image_urls": image_urls(input),
        }

    def task_ref(self, params: Mapping[str, str], query: Callable[[str], str | None]) -> tuple[str | None, str | None]:
        return params.get("model"), query(TASK_ID_PARAM)

    def require_task_id(self, task_id: str | None) -> str:
        if not task_id:
            raise _bad(f"Missing required query parameter: {TASK_ID_PARAM}")
        return task_id

    def status_hint(self, model: str, task_id: str) -> str:
        return f"poll {STATUS_PATH.replace('{model}', model)}?{TASK_ID_PARAM}={task_id}"

    def file_ref(self, params: Mapping[str, str]) -> tuple[str, str]:
        return params["task_id"], params["filename"]

    parse_result_filename = staticmethod(numbered_file)

    # -- answers --------------------------------------------------------------------------------

    dumps = staticmethod(compact_json)

    def new_task_id(self, rng: random.Random) -> str:
        return f"task_{rng.getrandbits(64):016x}"

    def result_path(self, task_id: str, index: int, ext: str) -> str:
        return f"/files/{task_id}/{index}.{ext}"

    def submit_body(self, task_id: str, model: str) -> dict:
        return envelope({"taskId": task_id})

    def status_body(self, view: TaskView) -> dict:
        return envelope(self._status_data(view))

    def _status_data(self, view: TaskView) -> dict:
        """The status ``data`` for a state: fields not listed for that state are absent."""
        state = view.state
        data: dict = {"taskId": view.task_id, "state": state, "createTime": view.created_ms}
        if state == SUCCESS:
            # resultJson is a JSON *string* holding {"resultUrls": [...]}.
            data["resultJson"] = compact_json_text({"resultUrls": list(view.result_urls)})
            data["completeTime"] = view.complete_ms
            data["costTime"] = view.complete_ms - view.created_ms  # type: ignore[operator]
        elif state == FAILED:
            data["failCode"] = view.fail_code
            data["failMsg"] = fail_message(view.fail_code, view.fail_msg)
            data["completeTime"] = view.complete_ms
        return data

    def balance_body(self, balance: float) -> dict:
        return envelope({"balance": balance})

    def models_body(self, names: list[str]) -> dict:
        return envelope({"models": names})  # APIXO has no models route: never served

    def error_body(self, err: ApiError) -> dict:
        """``{"code": N, "message": ..., "data": null | {"error": ...}}`` (+ retryAfter on 429)."""
        body: dict = {
            "code": err.status,
            "message": err.message,
            "data": {"error": err.error} if err.error is not None else None,
        }
        seconds = retry_after_seconds(err)
        if seconds is not None:
            body["retryAfter"] = seconds
        return body

    error_headers = staticmethod(retry_after_headers)

    def rule_answer(
        self, status: int, message: str, retry_after: float | None, body: object = _NO_BODY
    ) -> tuple[dict, dict[str, str]]:
        """An error envelope with code = status (429: Retry-After), or a success-shaped one."""
        from mockserver.core.errors import error_for_status

        if status >= 400:
            err = error_for_status(status, message, retry_after=retry_after)
            out, headers = self.error_body(err), self.error_headers(err)
        else:
            out = {**envelope(None), "code": status, "message": message}
            headers = {}
            if retry_after is not None:
                headers["Retry-After"] = str(math.ceil(retry_after))
        if body is not _NO_BODY:
            out["data"] = body
        return out, headers

    def callback_stages(self, model: str) -> tuple[str, ...]:
        return CALLBACK_STAGES.get(model, ())

    def callback_body(self, view: TaskView, stage: str | None) -> dict:
        data = self._status_data(view)
        if stage is not None:
            data[CALLBACK_STAGE_FIELD] = stage
        return envelope(data)

    def submit_example(self) -> tuple[dict[str, str], dict]:
        return {"model": "nano-banana"}, {"input": {"mode": "text-to-image", "prompt": "a red fox in the snow"}}


APIXO = Apixo()
