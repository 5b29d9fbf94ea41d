"""The 123API wire format: paths, bodies, ids, states and errors (SPEC 9, provider-docs 000 and 004).

123API names the model in the body, not the path; a task is flat JSON (``task_id``, ``status``,
``model``) with states queued, processing, completed and failed; errors are page 004's
``{"error": SHORT_CODE, "message": TEXT}`` with ``retryAfter`` on a 429. Every detail a 123API
client can see lives in this package.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mockserver.core.errors import ApiError, BadRequest, error_for_status
from mockserver.core.images import image_urls
from mockserver.core.json_types import json_type
from mockserver.core.words import (
    FAILED,
    FILES,
    MODELS,
    PENDING,
    PROCESSING,
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
    numbered_file,
    retry_after_headers,
    retry_after_seconds,
)

if TYPE_CHECKING:  # pragma: no cover
    from mockserver.core.catalog import Catalog

IMAGES_PATH = "/v1/images/generations"
VIDEOS_PATH = "/v1/videos/generations"
TASK_PATH = "/v1/tasks/{task_id}"
MODELS_PATH = "/v1/models"
# 123API's pages show result URLs on its own storage ("https://.../final-asset.png") and no route
# for them; the mock serves its files here, apart from APIXO's /files/.
FILES_PATH = "/v1/files/{task_id}/{filename}"
# The scenario-file name of both submit routes (a rule's `model:` tells images from videos).
SUBMIT_NAME = "generations"

# The core's states in 123API's words (123api-notes.md "Statuses").
STATUS_WORDS = {PENDING: "queued", PROCESSING: "processing", SUCCESS: "completed", FAILED: "failed"}
# What each submit route makes: its path -> the media of the models it takes.
ROUTE_MEDIA = {IMAGES_PATH: "image", VIDEOS_PATH: "video"}
# Fields that ask for a callback: 123API documents none, so a body that names one is refused.
CALLBACK_FIELDS = ("callback_url", "callback", "webhook_url", "webhook", "notify_url", "request_type")
# page 004's "short code" per status; the detail (naming the field) goes in `message`.
SHORT_CODES = {
    400: "invalid_request",
    401: "invalid_api_key",
    402: "insufficient_balance",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "idempotency_conflict",
    413: "payload_too_large",
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "bad_gateway",
    503: "service_unavailable",
}

_NO_BODY = object()


def _bad(message: str) -> BadRequest:
    return BadRequest("Invalid request", error=message)


def short_code(status: int) -> str:
    return SHORT_CODES.get(status, "server_error" if status >= 500 else "request_failed")


class Api123(PublishedParts):
    """The 123API dialect (provider-docs 000, 004 and 123api-notes.md)."""

    name = "123api"
    package = "mockserver.dialects.api123"
    title = "123API"
    routes: tuple[Route, ...] = (
        Route(SUBMIT, "POST", IMAGES_PATH, SUBMIT_NAME),
        Route(SUBMIT, "POST", VIDEOS_PATH, SUBMIT_NAME),
        Route(STATUS, "GET", TASK_PATH, "tasks"),
        Route(MODELS, "GET", MODELS_PATH, "models"),
        Route(FILES, "GET", FILES_PATH, "files"),
    )
    # 123api-notes.md: "an optional `language` query parameter, e.g. ?language=en" (ignored).
    status_query: frozenset[str] = frozenset({"language"})
    # 402 (pages 000 and 004) and a failed task; the 400 form is only APIXO's page 002 example.
    credit_refusals: frozenset[str] = frozenset({"http_402", "failed_task"})
    request_schema: str | None = None  # each model's schema is the whole body: 123api/models/NAME

    @functools.cached_property
    def guidance(self) -> Guidance:
        from mockserver.dialects.api123.guidance import GUIDANCE

        return GUIDANCE

    def catalog(self) -> Catalog:
        from mockserver.dialects.api123.models import load_catalog

        return load_catalog()

    # -- reading requests ---------------------------------------------------------------------

    def path_model(self, params: Mapping[str, str]) -> str | None:
        return None  # the body names the model

    def parse_submit(self, body: object, model: str | None, route: str | None = None) -> SubmitRequest:
        """Check what the model's schema cannot: an object, a model named, no callback asked for, and
        (``route``: the submit path taken) a known model sent to its own media's route."""
        if not isinstance(body, dict):
            raise _bad(f"Request body must be a JSON object, got {json_type(body)}")
        for field in CALLBACK_FIELDS:
            if field in body:
                raise _bad(
                    f"Unsupported field: {field} (123API documents no callbacks: poll GET /v1/tasks/{{task_id}})"
                )
        name = body.get("model")
        if name is None:
            raise _bad("Missing required field: model")
        if not isinstance(name, str):
            raise _bad(f"Invalid type for model: expected string, got {json_type(name)}")
        known = self.catalog().get(name)
        if known is not None and route is not None and ROUTE_MEDIA.get(route, known.media) != known.media:
            right = next(path for path, media in ROUTE_MEDIA.items() if media == known.media)
            raise _bad(f"Invalid value for model: {name} is a {known.media} model: POST {right}")
        return SubmitRequest(name, body)

    def submit_facts(self, body: object, model: str | None) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        name, prompt = body.get("model"), body.get("prompt")
        return {
            "model": name if isinstance(name, str) else None,
            "prompt": prompt if isinstance(prompt, str) else None,
            "provider": None,
            "request_type": "async",
            "image_urls": image_urls(body),
        }

    def task_ref(self, params: Mapping[str, str], query: Callable[[str], str | None]) -> tuple[str | None, str | None]:
        return None, params.get("task_id")

    def require_task_id(self, task_id: str | None) -> str:
        if not task_id:
            raise _bad("Missing task id: GET /v1/tasks/{task_id}")
        return task_id

    def status_hint(self, model: str, task_id: str) -> str:
        return f"poll GET /v1/tasks/{task_id}"

    def file_ref(self, params: Mapping[str, str]) -> tuple[str, str]:
        return params["task_id"], params["filename"]

    parse_result_filename = staticmethod(numbered_file)

    # -- answers --------------------------------------------------------------------------------

    dumps = staticmethod(compact_json)

    def new_task_id(self, rng: random.Random) -> str:
        """``task-`` and hyphenated hex (123api-notes.md: "task-unified-123456"; APIXO's use ``_``)."""
        bits = rng.getrandbits(64)
        return f"task-{bits >> 32:08x}-{bits & 0xFFFFFFFF:08x}"

    def result_path(self, task_id: str, index: int, ext: str) -> str:
        return f"/v1/files/{task_id}/{index}.{ext}"

    def submit_body(self, task_id: str, model: str) -> dict:
        return {"task_id": task_id, "status": "queued", "model": model}

    def status_body(self, view: TaskView) -> dict:
        body: dict = {"task_id": view.task_id, "status": STATUS_WORDS[view.state], "model": view.model}
        if view.state == SUCCESS:
            urls = list(view.result_urls)
            body["result"] = {"url": urls[0] if urls else None, "urls": urls}
        elif view.state == FAILED:
            body["error"] = view.fail_code
            body["message"] = fail_message(view.fail_code, view.fail_msg)
        return body

    def models_body(self, names: list[str]) -> dict:
        """GET /v1/models: an OpenAI-style list (SPEC 9)."""
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "123api"} for name in names]}

    def balance_body(self, balance: float) -> dict:
        return {"balance": balance}  # no balance route: never served

    def error_body(self, err: ApiError) -> dict:
        """page 004: ``{"error": SHORT_CODE, "message": DETAIL}`` (+ ``retryAfter`` seconds on 429)."""
        body: dict = {"error": short_code(err.status), "message": err.error or err.message}
        seconds = retry_after_seconds(err)
        if seconds is not None:
            body["retryAfter"] = seconds
        return body

    error_headers = staticmethod(retry_after_headers)

    def rule_answer(
        self, status: int, message: str, retry_after: float | None, body: object = _NO_BODY
    ) -> tuple[dict, dict[str, str]]:
        """An error body of page 004 for a status >= 400; else ``{"message": ...}``; ``body`` replaces either."""
        if status >= 400:
            err = error_for_status(status, message, retry_after=retry_after)
            out: Any = self.error_body(err)
            headers = self.error_headers(err)
        else:
            out = {"message": message}
            headers = {}
            if retry_after is not None:
                headers["Retry-After"] = str(math.ceil(retry_after))
        if body is not _NO_BODY:
            out = body
        return out, headers

    def callback_stages(self, model: str) -> tuple[str, ...]:
        return ()

    def callback_body(self, view: TaskView, stage: str | None) -> dict:
        return self.status_body(view)  # never sent: a 123API submit cannot ask for a callback

    def submit_example(self) -> tuple[dict[str, str], dict]:
        return {}, {"model": "gpt-4o-image", "prompt": "a red fox in the snow", "size": "1:1", "n": 1}


API123 = Api123()
