"""The core's own words: endpoint kinds, task states, fail codes, the neutral submit request and
the neutral view of a task. Every dialect translates its wire format to and from these.

Plain Python (no Starlette, httpx or asyncio): the core never knows how a request was spelt.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- endpoint kinds: what a request does, whatever its path -----------------------------------

SUBMIT = "submit"  # create a task
STATUS = "status"  # read a task's state (a poll)
BALANCE = "balance"  # the calling key's credits
FILES = "files"  # download a result file
MODELS = "models"  # list the models the provider serves (a dialect may have no such route)
CALLBACK = "callback"  # the mock POSTs a task's end to the client (not a request the client makes)
ENDPOINT_KINDS: tuple[str, ...] = (SUBMIT, STATUS, BALANCE, FILES, MODELS, CALLBACK)
HTTP_KINDS: frozenset[str] = frozenset((SUBMIT, STATUS, BALANCE, FILES, MODELS))
# Kinds whose requests concern one task (so its model, prompt, provider... are known).
TASK_KINDS: frozenset[str] = frozenset((SUBMIT, STATUS, FILES, CALLBACK))

# -- task states --------------------------------------------------------------------------------
# The admin API, the journal and scenario files (``task_state``) use these names for every
# dialect; a dialect maps them to its own wire names.

PENDING = "pending"  # accepted, not started
PROCESSING = "processing"  # being generated
SUCCESS = "success"  # ended with results
FAILED = "failed"  # ended with a fail code
STATES: tuple[str, ...] = (PENDING, PROCESSING, SUCCESS, FAILED)
TERMINAL: tuple[str, ...] = (SUCCESS, FAILED)

# -- fail codes -----------------------------------------------------------------------------------
# Why a task failed, with the default message a dialect sends when a rule gives none. The first
# block is the provider's older table; the second the newer provider-style codes (SPEC 2).

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
DEFAULT_FAIL_CODE = "GENERATION_FAILED"


def fail_message(code: str | None, message: str | None = None) -> str:
    """The message a failed task carries: its own, else its code's default."""
    return message or FAIL_MESSAGES.get(code or "", "Generation failed")


# -- the neutral request and view -------------------------------------------------------------------

REQUEST_TYPES = ("async", "callback")


@dataclass(slots=True)
class SubmitRequest:
    """A submit as the core sees it, parsed from any dialect's body."""

    model: str
    input: object  # the model checks it (a dict once valid)
    request_type: str = "async"  # async (poll) | callback (the end is POSTed to callback_url)
    callback_url: str | None = None
    provider: str | None = None  # None: the model's default


@dataclass(slots=True)
class TaskView:
    """A task as a status answer or a callback shows it, at one moment; a dialect spells it out.

    Made for every status poll, so not frozen (a frozen dataclass's __init__ is several times slower)."""

    task_id: str
    model: str
    state: str
    created_ms: int
    complete_ms: int | None = None
    result_urls: tuple[str, ...] = ()  # when state is SUCCESS
    fail_code: str | None = None  # when state is FAILED
    fail_msg: str | None = None


def camel(name: str) -> str:
    """``task_id`` -> ``taskId``: how the admin API and the journal spell the core's field names."""
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)
