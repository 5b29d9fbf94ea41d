"""The APIXO wire format: paths, envelopes, field names, fail codes and their messages.

Every detail a client can see on the wire lives here, so a second provider is a new
module rather than edits across the code base.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from urllib.parse import urlsplit

from mockserver.core.errors import ApiError, BadRequest
from mockserver.core.tasks import FAILED, SUCCESS, Task

NAME = "apixo"

GENERATE_PATH = "/api/v1/generateTask/{model}"
STATUS_PATH = "/api/v1/statusTask/{model}"
BALANCE_PATH = "/api/v1/apikeys/current-balance"
FILES_PATH = "/files/{task_id}/{filename}"

# (method, path template, what it is): used to route and to suggest the closest
# real endpoint when a client asks for one that does not exist.
ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("POST", GENERATE_PATH),
    ("GET", STATUS_PATH),
    ("GET", BALANCE_PATH),
    ("GET", FILES_PATH),
)

REQUEST_TYPES = ("async", "callback")
PROVIDERS = ("auto", "value", "official")
SUBMIT_FIELDS = ("request_type", "callback_url", "provider", "input")

# Fail codes with their default failMsg. The first block is the provider's older
# table; the second the newer provider-style codes.
FAIL_MESSAGES: dict[str, str] = {
    "CONTENT_VIOLATION": "Content does not meet safety guidelines",
    "NSFW_DETECTED": "NSFW content detected in the request or the output",
    "PROMPT_TOO_LONG": "The prompt exceeds the model's maximum length",
    "INVALID_PROMPT": "The prompt is empty or invalid",
    "INVALID_IMAGE_URL": "Cannot access the provided image URL",
    "IMAGE_TOO_LARGE": "The input image exceeds the 10 MB limit",
    "UNSUPPORTED_FORMAT": "The input file format is not supported",
    "IMAGE_DOWNLOAD_FAILED": "Failed to download the input image",
    "PROCESSING_TIMEOUT": "Processing timed out, please retry",
    "MODEL_UNAVAILABLE": "The model is temporarily unavailable",
    "GENERATION_FAILED": "Generation failed, please retry",
    "INSUFFICIENT_CREDITS": "Insufficient credits to complete the task",
    "SensitiveContent": "The content was flagged as sensitive",
    "SensitiveContentDetected": "Sensitive content detected",
    "InputImageSensitiveContentDetected": "Sensitive content detected in the input image",
    "InputOutputSensitiveContentDetected": "Sensitive content detected in the input or output",
    "NSFW": "NSFW content detected",
    "ProhibitedContentDetected": "Prohibited content detected",
    "PromptLengthExceeded": "The prompt length exceeds the limit",
}

# Envelopes are trees built here, never cyclic: skip the encoder's cycle bookkeeping.
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


def dumps(obj: object) -> bytes:
    """Compact JSON bytes, as the provider sends them."""
    return _DUMPS(obj).encode("utf-8")


@dataclass(slots=True)
class SubmitRequest:
    request_type: str
    callback_url: str | None
    provider: str | None
    input: object


def _bad(error: str) -> BadRequest:
    return BadRequest("Invalid request", error=error)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def check_callback_url(url: object) -> str:
    """A callback URL must be an absolute http(s) URL with a host."""
    if not isinstance(url, str):
        raise _bad(f"Invalid type for callback_url: expected string, got {_type_name(url)}")
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


def parse_submit(body: object) -> SubmitRequest:
    """Check the submit body's top level; the model checks ``input`` itself."""
    if not isinstance(body, dict):
        raise _bad(f"Request body must be a JSON object, got {_type_name(body)}")
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
    return SubmitRequest(request_type, callback_url, provider, body["input"])


def new_task_id(rng: random.Random) -> str:
    return f"task_{rng.getrandbits(64):016x}"


def envelope(data: object) -> dict:
    return {"code": 200, "message": "success", "data": data}


def submit_data(task_id: str) -> dict:
    return {"taskId": task_id}


def result_json(urls: list[str]) -> str:
    """resultJson is a JSON *string* holding {"resultUrls": [...]}."""
    return _DUMPS({"resultUrls": urls})


def parse_result_filename(name: str) -> tuple[int, str] | None:
    stem, dot, ext = name.partition(".")
    if not dot or not stem.isdigit() or not ext.isalnum():
        return None
    return int(stem), ext


def status_data(task: Task, state: str, complete_ms: int | None, urls: list[str] | None) -> dict:
    """The status ``data`` for a state: fields not listed for that state are absent."""
    data: dict = {"taskId": task.task_id, "state": state, "createTime": task.created_ms}
    if state == SUCCESS:
        data["resultJson"] = result_json(urls or [])
        data["completeTime"] = complete_ms
        data["costTime"] = complete_ms - task.created_ms  # type: ignore[operator]
    elif state == FAILED:
        data["failCode"] = task.fail_code
        data["failMsg"] = task.fail_msg or FAIL_MESSAGES.get(task.fail_code or "", "Generation failed")
        data["completeTime"] = complete_ms
    return data


def balance_data(balance: float) -> dict:
    return {"balance": balance}


def retry_after_seconds(err: ApiError) -> int | None:
    if err.retry_after is None:
        return None
    return max(0, math.ceil(err.retry_after))


def error_body(err: ApiError) -> dict:
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


def error_headers(err: ApiError) -> dict[str, str]:
    headers = dict(err.headers)
    seconds = retry_after_seconds(err)
    if seconds is not None:
        headers.setdefault("Retry-After", str(seconds))
    return headers


def bearer_key(authorization: str | None) -> str | None:
    """The key from ``Authorization: Bearer KEY`` (None when absent or empty)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None


# Callbacks. The body is the status envelope at the moment of the callback. Suno sends
# up to three per task (apixo.ai/en/docs/models/suno: "text - lyrics/text prepared,
# first - first track finished, complete - all tracks finished"); the page we could read
# does not show the field that names the stage, so it is `callbackType` inside `data`,
# as on kie.ai's Suno callbacks (the upstream API of the same stages).
CALLBACK_STAGES: dict[str, tuple[str, ...]] = {"suno": ("text", "first", "complete")}
CALLBACK_STAGE_FIELD = "callbackType"


def callback_stages(model: str) -> tuple[str, ...]:
    """The stages of a model's callbacks, the last being the task's end; () = one plain callback."""
    return CALLBACK_STAGES.get(model, ())


def callback_envelope(data: dict, stage: str | None) -> dict:
    if stage is not None:
        data = {**data, CALLBACK_STAGE_FIELD: stage}
    return envelope(data)
