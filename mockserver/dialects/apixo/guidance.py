"""What APIXO's pages tell a client to do: poll intervals, backoff, which errors to retry.

provider-docs/001 is the best-practices page, 002 the gpt-image-1 page, 004 the errors page;
contract-notes.md holds the callback facts.
"""

from __future__ import annotations

from mockserver.dialects.protocol import Guidance

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
    pages={
        "best_practices": "APIXO best practices",  # provider-docs/001
        "errors": "APIXO errors page",  # provider-docs/004
        "callbacks": "APIXO callback docs",  # provider-docs/contract-notes.md, "Webhook"
    },
)
