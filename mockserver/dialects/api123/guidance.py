"""What 123API's pages tell a client to do, and where the client report cites each rule from.

provider-docs/000 is 123API's development guide (its polling loop and its errors table), 004 the
errors page (its body, and which statuses to retry); 123api-notes.md adds the task-status page's
"poll at a fixed interval of 2 to 5 seconds".
"""

from __future__ import annotations

from mockserver.core.words import FAILED, FILES, PENDING, PROCESSING, SUCCESS
from mockserver.dialects.protocol import Guidance

DEV_GUIDE = "123API development guide (page 000)"
ERRORS_PAGE = "errors page (page 004)"
STATUS_PAGE = "123API task-status page (123api-notes.md)"

# Page 000's loop: polls at once, sleeps 2 s between polls, gives up after 300 s; the task-status
# page allows up to 5 s. The report takes the 2 s as the fastest a client should poll. The same
# for every kind of model; 123API serves quality images and videos (models.yaml).
_LOOP = (0, 2_000, 300_000)

GUIDANCE = Guidance(
    intervals={"image-quality": _LOOP, "video": _LOOP},
    # 004 "Best practices for handling errors", 3: retry only 429, 500, 502, 503; never 400, 401,
    # 402, 404 without fixing the request or account.
    retryable=frozenset({429, 500, 502, 503}),
    non_retryable=frozenset({400, 401, 402, 404}),
    # 000 "Implement retries with exponential backoff on transient errors" names no factor or cap:
    # the report asks for waits that grow (x1.5, as for APIXO) up to 30 s.
    backoff_factor=1.5,
    backoff_cap_ms=30_000,
    pages={
        "best_practices": DEV_GUIDE,
        # Present: polls keep one steady interval (000 "Asynchronous Processing" 2), no backoff
        # between polls as APIXO's pollWithBackoff has.
        "steady_polling": f'{DEV_GUIDE}, "Asynchronous Processing": poll status at a steady interval',
        "intervals": f'{DEV_GUIDE}, "Polling example"; {STATUS_PAGE}',
        "backoff": f'{DEV_GUIDE}, "Best Practices" 2',
        "poll_loop": f"{DEV_GUIDE}, wait_for_completion",
        "downloads": f'{DEV_GUIDE}, "Best Practices" 1',
        "errors": ERRORS_PAGE,
        "error_cases": f'{ERRORS_PAGE}, "Common error cases"',
        "retries": f"{ERRORS_PAGE}, best practices 3",
        "idempotency": f"{ERRORS_PAGE}, best practices 4",
        "callbacks": f"{DEV_GUIDE} (no callbacks documented: poll)",  # never cited: no callback tasks
    },
    citations={
        "MISSING_AUTH": '004 "Common error cases": 401, check Authorization: Bearer sk_...; 000: 401 authentication '
        "failed",
        "INVALID_REQUEST": '004 "HTTP status codes": 400 = invalid body, missing required field, or malformed '
        "parameters; 000: 400 invalid request parameters",
        "POLL_TOO_FAST": '000 "Polling example": time.sleep(2) between polls; task-status page: every 2 to 5 s',
        "POLL_BEFORE_INITIAL_WAIT": '000 "Polling example" polls at once: no initial wait',
        "IGNORED_RETRY_AFTER": '004 "Common error cases": 429, back off; use retryAfter if present',
        "RETRIED_NON_RETRYABLE": "004 best practices 3: retry only 429, 500, 502, 503; do not retry 400, 401, 402, "
        "404 without fixing the request or account",
        "NO_BACKOFF": '000 "Best Practices" 2 and "Common errors" 500: retry with exponential backoff; 004 best '
        "practices 3",
        "POLLED_AFTER_TERMINAL": '000 "Polling example": return on completed, raise on failed',
        "RESULTS_NOT_DOWNLOADED": '000 "Best Practices" 1: cache generated links on your own storage',
        "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY": "004 best practices 4: use idempotency keys, if the API supports "
        "them, to avoid duplicate charges on retry",
        "ABANDONED_TASK": '000 "Polling example": max_wait=300 s',
        "CALLBACK_NOT_ACKNOWLEDGED": "123API documents no callbacks",
    },
    # No BALANCE (no such route) and no callback_url (a body naming one is refused): the report
    # then mentions neither a balance endpoint nor callback mode.
    words={
        FILES: "/v1/files/{task_id}/...",
        "task_id": "task_id",
        "result": "result.urls",
        "result_url": "URL of result.urls",
        "fail_code": "error",
        "retry_after": "retryAfter",
        "complete_time": "the time the task completed",
        "state": "status",
        PENDING: "queued",
        PROCESSING: "processing",
        SUCCESS: "completed",
        FAILED: "failed",
        "model_schema": "/schemas/123api/models/{model}.json",
        "catalog": "mockserver/dialects/api123/models.yaml",
    },
    # Not documented; page 000 advises caching results on your own storage.
    result_lifetime=None,
)
