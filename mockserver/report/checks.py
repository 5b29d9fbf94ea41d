"""What the conformance report checks: our margins and bounds, and the checks themselves.

The provider's guidance (which statuses to retry, the backoff, the poll intervals, the pages
that say so and its names for endpoints and fields) belongs to each dialect (``Dialect.guidance``;
APIXO's is in ``dialects/apixo/guidance.py``). ``check_table(dialect)`` describes every check in
that dialect's words; ``CHECKS`` is the table of the first built-in dialect (docs/report.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mockserver.core.config import DEFAULT_TTL_MS
from mockserver.core.words import BALANCE, FAILED, FILES, STATUS, SUBMIT, SUCCESS
from mockserver.dialects import default_dialects
from mockserver.dialects.protocol import Dialect, Guidance, route_name

ERROR = "error"
WARNING = "warning"

# How the report names the catalog's model kinds (in messages, and in the table of checks).
KIND_LABEL = {
    "image-fast": "Image (fast)",
    "image-quality": "Image (quality)",
    "video": "Video",
    "audio": "Audio",
}
KIND_SHORT = {
    "image-fast": "fast image",
    "image-quality": "quality image",
    "video": "video",
    "audio": "audio",
}

# -- reading a dialect's guidance ------------------------------------------------------

# A submit answered with one of the provider's retryable statuses, or like this, may or may not
# have created a task (or certainly did not, for 429): a resubmit is a retry, which the
# guidance says to make idempotent (APIXO: 004 item 4). 0: no answer at all.
NO_ANSWER = frozenset({0, 504})


def unknown_outcome(guidance: Guidance) -> frozenset[int]:
    """Answers to a submit after which the client cannot know whether a task was made."""
    return guidance.retryable | NO_ANSWER


def word(dialect: Dialect, name: str) -> str:
    """The provider's name for an endpoint kind or a field (``task_id``, ``result``...) in prose."""
    return dialect.guidance.words.get(name) or route_name(dialect, name)


def cite(dialect: Dialect, topic: str) -> str:
    """The page (and section) a finding cites for ``topic`` (``errors``, ``backoff``...)."""
    return dialect.guidance.pages.get(topic) or f"{dialect.title} documentation"


# -- ours ------------------------------------------------------------------------------

# Our own margins, not the provider's:
# "Too soon" comparisons accept 5 % less than the documented wait.
TOLERANCE = 0.05
# On a real clock sped up by --time-scale S, the server reads its clock when it answers, so a
# request delayed on a busy machine (the scheduler, the GIL) moves its time by that delay x S:
# 20 ms of wall time is 2 s of virtual time at x100. "Too soon" comparisons allow this much
# wall time on top of TOLERANCE (none on a manual clock: its times are exact).
WALL_SLACK_MS = 20
# Backoff is judged by its envelope, not gap by gap (full, equal and decorrelated jitter draw
# waits below the envelope, so a gap may well be shorter than the one before). A backoff growing
# by a factor g makes each wait (g - 1) / g of the time since the first failed attempt; we ask
# the longest wait so far for that share with g = 1.2: clearly above a constant or linear delay
# (whose share falls as 1/n and 2/n), below the provider's own x1.5 (a third).
MIN_GROWTH = 1.2
ENVELOPE_SHARE = (MIN_GROWTH - 1) / MIN_GROWTH
# Once the longest wait reaches this share of the provider's backoff cap, the client has backed
# off: full jitter then draws waits anywhere below the cap (half of it on average), and equal
# jitter never waits less than half of it.
CAP_SHARE = 0.5

# Bounds (see docs/report.md, "What is kept").
EVIDENCE_CAP = 10  # evidence ids (and times) kept per finding; `count` has them all
MAX_FINDINGS_PER_CODE = 20  # per key; further occurrences go to summary.suppressed
RECENT_REQUESTS = 4096  # distinct (key, request) pairs remembered to recognise retries
# Findings kept across all keys (a client trying random keys makes one MISSING_AUTH each); further
# occurrences are counted per code in summary.suppressed, under no key.
MAX_FINDINGS = 10_000


# -- the checks ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One rule of the report: its code, severity, threshold and the page it comes from."""

    code: str
    severity: str
    flags: str
    threshold: str
    source: str


def duration(ms: float) -> str:
    """A duration as the report writes it: ``3 s``, ``1.5 s``, ``2 min``, ``15 days``."""
    for unit, size in (("days", 86_400_000), ("h", 3_600_000), ("min", 60_000)):
        if ms >= size and ms % size == 0:
            n = int(ms // size)
            return f"{n} {'day' if unit == 'days' and n == 1 else unit}"
    text = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text} s"


def or_list(items: Iterable[object]) -> str:
    """``a, b or c``."""
    words = [str(i) for i in items]
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def statuses(codes: Iterable[int], sep: str = ", ") -> str:
    """Statuses in short: every one below 500, then ``5xx`` for the rest (``429/5xx``)."""
    codes = sorted(codes)
    out = [str(c) for c in codes if c < 500]
    return sep.join(out + (["5xx"] if any(c >= 500 for c in codes) else []))


def check_table(dialect: Dialect) -> dict[str, Check]:
    """Every check (by code, in the report's order) described in ``dialect``'s words and numbers."""
    g = dialect.guidance
    served = {route.kind for route in dialect.routes}
    api = or_list(word(dialect, kind) for kind in (SUBMIT, STATUS, BALANCE) if kind in served)
    within = f"{round((1 - TOLERANCE) * 100, 6):g} %"  # of a documented wait
    cap = duration(g.backoff_cap_ms)
    share = f"1/{round(1 / ENVELOPE_SHARE):g}" if abs(1 / ENVELOPE_SHARE - round(1 / ENVELOPE_SHARE)) < 1e-9 else ""
    share = share or f"{ENVELOPE_SHARE:.2f}"
    cap_share = f"{CAP_SHARE * 100:g} %"

    def per_kind(which: int) -> str:
        """The initial wait (0) or poll interval (1) of every model kind, then the exceptions, in s."""
        kinds = ", ".join(f"{KIND_SHORT.get(k, k)} {v[which] / 1000:g} s" for k, v in g.intervals.items())
        models = ", ".join(f"{m} {v[which] / 1000:g} s" for m, v in g.model_intervals.items())
        return kinds + (f"; {models}" if models else "")

    def disputed_intervals() -> str:
        """Poll intervals the pages disagree on, and what the report makes of them."""
        found = [
            (KIND_SHORT.get(topic.split("/", 1)[1], topic), d)
            for topic, d in g.disputed.items()
            if topic.startswith("poll_interval/")
        ]
        return "".join(
            f"; {kind}: a gap of {d.lenient / 1000:g} to {d.strict / 1000:g} s is a warning citing both pages "
            f"({d.strict_source}; {d.lenient_source})"
            for kind, d in found
        )

    def disputed_lifetime() -> str:
        d = g.disputed.get("result_lifetime")
        if d is None:
            return ""
        return (
            f"; fetched only later than {duration(d.strict)} after completion: a warning citing both pages "
            f"({d.strict_source}; {d.lenient_source})"
        )

    def check(code: str, severity: str, flags: str, threshold: str, source: str = "") -> Check:
        return Check(code, severity, flags, threshold, g.citations.get(code, "") + source)

    checks = (
        check(
            "MISSING_AUTH",
            ERROR,
            "an API call without a usable `Authorization: Bearer KEY` (missing, empty or unknown key: 401)",
            f"any 401 on {api}",
        ),
        check(
            "INVALID_REQUEST",
            ERROR,
            "a request the mock refused as invalid: a body the model's schema refuses, bad JSON, "
            f"a missing {word(dialect, 'task_id')}, a body over 1 MiB (400, 413)",
            f"any 400 or 413 on {api}; one finding per distinct error",
        ),
        check(
            "POLL_TOO_FAST",
            ERROR,
            "status polls of one task closer together than the model's poll interval (virtual time)",
            f"gap between a poll and the previous answered poll < {within} of the model's "
            f"`poll_interval_ms` ({per_kind(1)}){disputed_intervals()}",
        ),
        check(
            "POLL_BEFORE_INITIAL_WAIT",
            WARNING,
            "a status poll sooner after the submit than the model's initial wait",
            f"poll earlier than submit + {within} of the model's `initial_wait_ms` ({per_kind(0)})",
        ),
        check(
            "IGNORED_RETRY_AFTER",
            ERROR,
            "a request from the key before the Retry-After of a 429 had elapsed",
            f"a request sent after the 429 answer and earlier than its time + {within} of "
            f"{word(dialect, 'retry_after')}",
        ),
        check(
            "RETRIED_NON_RETRYABLE",
            ERROR,
            f"the same request (key, method, path, query, body) sent again after a {or_list(sorted(g.non_retryable))}",
            "any identical repeat that is not answered 2xx (a 2xx shows the account was fixed in between, "
            "e.g. a topped-up balance)",
        ),
        check(
            "NO_BACKOFF",
            ERROR,
            f"retries of the same request after {'/'.join(str(s) for s in sorted(g.retryable))} whose waits do "
            "not back off",
            f"in a run of consecutive {statuses(g.retryable, '/')} answers to one request, a retry when the "
            f"longest wait so far is under {share} of the time since the first failed attempt (a backoff "
            f"growing x{MIN_GROWTH:g}), unless that wait has reached {cap_share} of {cap} (the backoff cap); "
            "a wait that waits out the answer's Retry-After is fine and counts in neither",
        ),
        check(
            "POLLED_AFTER_TERMINAL",
            ERROR,
            f"a status poll of a task after a poll already answered {word(dialect, SUCCESS)} or "
            f"{word(dialect, FAILED)}",
            "any poll sent after the terminal answer went out",
        ),
        check(
            "RESULTS_NOT_DOWNLOADED",
            ERROR,
            "a task the client saw succeed (poll or callback) with none of its result files fetched",
            f"no GET {word(dialect, FILES)} answered 200 before the report, or before the files expired "
            f"({word(dialect, 'complete_time')} + results TTL, default {duration(DEFAULT_TTL_MS)})"
            f"{disputed_lifetime()}",
        ),
        check(
            "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY",
            WARNING,
            f"a submit resent with the same body after {statuses(unknown_outcome(g) - {0})} or no answer, "
            "without the first attempt's Idempotency-Key",
            "the resubmit has no Idempotency-Key, or a different one",
            " (the mock honours Idempotency-Key)",
        ),
        check(
            "ABANDONED_TASK",
            WARNING,
            "a task never polled to a terminal state nor delivered by callback: the client gave up "
            "before the model's max wait",
            f"async: the last poll (or the submit) is before submit + `max_wait_ms`, no poll for {cap} (the "
            "backoff cap) or one poll interval if longer, and the task has ended or max wait has passed; "
            "callback: every delivery attempt failed and no poll saw the end",
        ),
        check(
            "CALLBACK_NOT_ACKNOWLEDGED",
            ERROR,
            "the client's callback receiver answered a delivery with a non-200 status, or not at all",
            "any delivery attempt without a 200 answer (within 30 s)",
        ),
    )
    return {c.code: c for c in checks}


# The checks as the first built-in dialect describes them (docs/report.md's table); codes and
# severities are the same for every dialect.
CHECKS: dict[str, Check] = check_table(default_dialects()[0])
