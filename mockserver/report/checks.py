"""What the conformance report checks: the provider's guidance, our margins, the checks.

Every threshold cites the provider page it comes from (shared/provider-docs/: 001 is the
APIXO best-practices page, 002 the gpt-image-1 page, 004 the errors and status codes page).
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"

# -- the provider's guidance ---------------------------------------------------------

BEST_PRACTICES = "APIXO best practices"  # provider-docs/001
ERRORS_PAGE = "APIXO errors page"  # provider-docs/004
CALLBACK_DOCS = "APIXO callback docs"  # provider-docs/contract-notes.md, "Webhook"

# 001 "Recommended Intervals": (initial wait, poll interval, max wait) per model type.
KIND_GUIDANCE: dict[str, tuple[int, int, int]] = {
    "image-fast": (5_000, 3_000, 120_000),
    "image-quality": (10_000, 5_000, 180_000),
    "video": (60_000, 15_000, 600_000),
    "audio": (30_000, 10_000, 300_000),
}
KIND_LABEL = {
    "image-fast": "Image (fast)",
    "image-quality": "Image (quality)",
    "video": "Video",
    "audio": "Audio",
}
# 001 "Exponential Backoff": interval = min(interval * 1.5, 30 s).
BACKOFF_FACTOR = 1.5
BACKOFF_CAP_MS = 30_000
# 004 "Best practices for handling errors", 3: retry only these; never retry the others.
RETRYABLE = frozenset({429, 500, 502, 503})
NON_RETRYABLE = frozenset({400, 401, 402, 404})
# A submit answered like this may or may not have created a task (or certainly did not,
# for 429): a resubmit is a retry, which 004 item 4 says to make idempotent.
UNKNOWN_OUTCOME = RETRYABLE | {0, 504}

# Our own margins, not the provider's:
# "Too soon" comparisons accept 5 % less than the documented wait: on a real clock with
# --time-scale, a millisecond of scheduling jitter is many virtual milliseconds.
TOLERANCE = 0.05
# A retry gap "grows" when it is at least 1.2x the previous one: clearly above a
# constant delay plus jitter, below the provider's own x1.5.
MIN_GROWTH = 1.2

# Bounds (see the README, "What is kept").
EVIDENCE_CAP = 10  # evidence ids (and times) kept per finding; `count` has them all
MAX_FINDINGS_PER_CODE = 20  # per key; further occurrences go to summary.suppressed
RECENT_REQUESTS = 4096  # distinct (key, request) pairs remembered to recognise retries


@dataclass(frozen=True, slots=True)
class Check:
    """One rule of the report: its code, severity, threshold and the page it comes from."""

    code: str
    severity: str
    flags: str
    threshold: str
    source: str


CHECKS: dict[str, Check] = {
    c.code: c
    for c in (
        Check(
            "MISSING_AUTH",
            ERROR,
            "an API call without a usable `Authorization: Bearer KEY` (missing, empty or unknown key: 401)",
            "any 401 on generateTask, statusTask or current-balance",
            '004 "Common error cases": 401, check Authorization: Bearer sk_...',
        ),
        Check(
            "INVALID_REQUEST",
            ERROR,
            "a request the mock refused as invalid: a body the model's schema refuses, bad JSON, "
            "a missing taskId, a body over 1 MiB (400, 413)",
            "any 400 or 413 on generateTask, statusTask or current-balance; one finding per distinct error",
            '004 "HTTP status codes": 400 = invalid body, missing required field, or malformed parameters',
        ),
        Check(
            "POLL_TOO_FAST",
            ERROR,
            "status polls of one task closer together than the model's poll interval (virtual time)",
            "gap between a poll and the previous answered poll < 95 % of the model's "
            "`poll_interval_ms` "
            "(fast image 3 s, quality image 5 s, video 15 s, audio 10 s; gpt-image-1 3 s)",
            '001 "Recommended Intervals"; gpt-image-1 page (002) "poll every 3 seconds"',
        ),
        Check(
            "POLL_BEFORE_INITIAL_WAIT",
            WARNING,
            "a status poll sooner after the submit than the model's initial wait",
            "poll earlier than submit + 95 % of the model's `initial_wait_ms` "
            "(fast image 5 s, quality image 10 s, video 60 s, audio 30 s; gpt-image-1 20 s)",
            '001 "Recommended Intervals"; gpt-image-1 page (002) "wait 20 seconds, then poll"',
        ),
        Check(
            "IGNORED_RETRY_AFTER",
            ERROR,
            "a request from the key before the Retry-After of a 429 had elapsed",
            "a request sent after the 429 answer and earlier than its time + 95 % of retryAfter",
            '004 "Common error cases": 429, back off; use retryAfter if present',
        ),
        Check(
            "RETRIED_NON_RETRYABLE",
            ERROR,
            "the same request (key, method, path, query, body) sent again after a 400, 401, 402 or 404",
            "any identical repeat that is not answered 2xx (a 2xx shows the account was fixed in "
            "between, "
            "e.g. a topped-up balance)",
            "004 best practices 3: do not retry 400, 401, 402, 404 without fixing the request or account",
        ),
        Check(
            "NO_BACKOFF",
            ERROR,
            "retries of the same request after 429/500/502/503 whose gaps do not grow",
            "in a run of consecutive 429/5xx answers to one request, a gap < 1.2x the previous "
            "gap, unless it is >= 95 % of 30 s (the backoff cap); a gap that waits out the "
            "answer's Retry-After is fine and is not the baseline for the next one",
            '004 best practices 3 and "Server error": retry with exponential backoff; '
            '001 "Exponential Backoff": x1.5 up to 30 s',
        ),
        Check(
            "POLLED_AFTER_TERMINAL",
            ERROR,
            "a status poll of a task after a poll already answered success or failed",
            "any poll sent after the terminal answer went out",
            "001 pollWithBackoff: return on success, throw on failed",
        ),
        Check(
            "RESULTS_NOT_DOWNLOADED",
            ERROR,
            "a task the client saw succeed (poll or callback) with none of its result files fetched",
            "no GET /files/{taskId}/... answered 200 before the report, or before the files "
            "expired "
            "(completeTime + results TTL, default 15 days)",
            '001 "Download Results Promptly"; gpt-image-1 page (002): URLs valid 15 days, download promptly',
        ),
        Check(
            "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY",
            WARNING,
            "a submit resent with the same body after 429, 5xx or no answer, without the first "
            "attempt's "
            "Idempotency-Key",
            "the resubmit has no Idempotency-Key, or a different one",
            "004 best practices 4: use idempotency keys to avoid duplicate charges on retry "
            "(the mock honours Idempotency-Key)",
        ),
        Check(
            "ABANDONED_TASK",
            WARNING,
            "a task never polled to a terminal state nor delivered by callback: the client gave up "
            "before the model's max wait",
            "async: the last poll (or the submit) is before submit + `max_wait_ms`, no poll for 30 "
            "s (the "
            "backoff cap) or one poll interval if longer, and the task has ended or max wait has "
            "passed; "
            "callback: every delivery attempt failed and no poll saw the end",
            '001 "Recommended Intervals" (max wait: fast image 2 min, quality image 3 min, video 10 min, audio 5 min)',
        ),
        Check(
            "CALLBACK_NOT_ACKNOWLEDGED",
            ERROR,
            "the client's callback receiver answered a delivery with a non-200 status, or not at all",
            "any delivery attempt without a 200 answer (within 30 s)",
            "APIXO callback docs (contract-notes): callback_url must answer 200 within 30 s, else "
            "retried "
            "up to 3 times",
        ),
    )
}
