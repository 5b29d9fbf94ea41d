"""What APIXO's pages tell a client to do: poll intervals, backoff, which errors to retry, and
where the client report cites each of them from.

provider-docs/001 is the best-practices page, 002 the gpt-image-1 page, 004 the errors page;
contract-notes.md holds the callback facts.
"""

from __future__ import annotations

from mockserver.core.words import BALANCE, FILES
from mockserver.dialects.protocol import Disputed, Guidance

BEST_PRACTICES = "APIXO best practices"  # provider-docs/001
ERRORS_PAGE = "APIXO errors page"  # provider-docs/004
CALLBACK_DOCS = "APIXO callback docs"  # provider-docs/contract-notes.md, "Webhook"

GUIDANCE = Guidance(
    # 001 "Recommended Intervals": (initial wait, poll interval, max wait) per model type.
    intervals={
        "image-fast": (5_000, 3_000, 120_000),
        "image-quality": (10_000, 5_000, 180_000),
        "video": (60_000, 15_000, 600_000),
        "audio": (30_000, 10_000, 300_000),
    },
    # 004 "Best practices for handling errors", 3: retry only these; never retry the others.
    retryable=frozenset({429, 500, 502, 503}),
    non_retryable=frozenset({400, 401, 402, 404}),
    # 001 "Exponential Backoff": interval = min(interval * 1.5, 30 s).
    backoff_factor=1.5,
    backoff_cap_ms=30_000,
    # 002: "wait 20 seconds, then poll", "poll every 3 seconds" (max wait: 001's quality image).
    model_intervals={"gpt-image-1": (20_000, 3_000, 180_000)},
    pages={
        "best_practices": BEST_PRACTICES,
        "intervals": f'{BEST_PRACTICES}, "Recommended Intervals"',
        "backoff": f'{BEST_PRACTICES}, "Exponential Backoff"',
        "poll_loop": f"{BEST_PRACTICES}, pollWithBackoff",
        "downloads": f'{BEST_PRACTICES}, "Download Results Promptly"',
        "errors": ERRORS_PAGE,
        "error_cases": f'{ERRORS_PAGE}, "Common error cases"',
        "retries": f"{ERRORS_PAGE}, best practices 3",
        "idempotency": f"{ERRORS_PAGE}, best practices 4",
        "callbacks": CALLBACK_DOCS,
    },
    # The source column of the report's table of checks (docs/report.md).
    citations={
        "MISSING_AUTH": '004 "Common error cases": 401, check Authorization: Bearer sk_...',
        "INVALID_REQUEST": '004 "HTTP status codes": 400 = invalid body, missing required field, '
        "or malformed parameters",
        "POLL_TOO_FAST": '001 "Recommended Intervals"; gpt-image-1 page (002) "poll every 3 seconds"',
        "POLL_BEFORE_INITIAL_WAIT": '001 "Recommended Intervals"; gpt-image-1 page (002) "wait 20 seconds, then poll"',
        "IGNORED_RETRY_AFTER": '004 "Common error cases": 429, back off; use retryAfter if present',
        "RETRIED_NON_RETRYABLE": "004 best practices 3: do not retry 400, 401, 402, 404 without fixing the request "
        "or account",
        "NO_BACKOFF": '004 best practices 3 and "Server error": retry with exponential backoff; '
        '001 "Exponential Backoff": x1.5 up to 30 s',
        "POLLED_AFTER_TERMINAL": "001 pollWithBackoff: return on success, throw on failed",
        "RESULTS_NOT_DOWNLOADED": '001 "Download Results Promptly"; gpt-image-1 page (002): URLs valid 15 days, '
        "download promptly",
        "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY": "004 best practices 4: use idempotency keys to avoid duplicate "
        "charges on retry",
        "ABANDONED_TASK": '001 "Recommended Intervals" (max wait: fast image 2 min, quality image 3 min, '
        "video 10 min, audio 5 min)",
        "CALLBACK_NOT_ACKNOWLEDGED": "APIXO callback docs (contract-notes): callback_url must answer 200 within "
        "30 s, else retried up to 3 times",
    },
    # How the pages name what the report mentions (submit and status go by their route names).
    words={
        BALANCE: "current-balance",
        FILES: "/files/{taskId}/...",
        "task_id": "taskId",
        "result": "resultJson",
        "result_url": "resultUrl",
        "fail_code": "failCode",
        "retry_after": "retryAfter",
        "complete_time": "completeTime",
        "callback_url": "callback_url",
    },
    # 001 "Download Results Promptly" says 24 h; the gpt-image-1 page (002) says 15 days.
    result_lifetime="after 24 h or 15 days",
    # Where the pages disagree, the report warns (citing both) between the two numbers and errs
    # only beyond the lenient one.
    disputed={
        # 001's table says 5 s for quality images; 001's own pollWithBackoff polls every 3 s from
        # the start whatever the model (the catalog keeps the table's 5 s).
        "poll_interval/image-quality": Disputed(
            strict=5_000,
            lenient=3_000,
            strict_source=f'{BEST_PRACTICES}, "Recommended Intervals" (Image (quality): every 5 s)',
            lenient_source=f"{BEST_PRACTICES}, pollWithBackoff (starts at 3 s)",
        ),
        # 001's download example: "Result URLs expire after 24 hours"; 002: "valid for 15 days".
        "result_lifetime": Disputed(
            strict=86_400_000,
            lenient=15 * 86_400_000,
            strict_source=f'{BEST_PRACTICES}, "Download Results Promptly" (URLs expire after 24 hours)',
            lenient_source="gpt-image-1 page (002) (result URLs are valid for 15 days)",
        ),
    },
)
