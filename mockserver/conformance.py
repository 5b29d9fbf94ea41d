"""The client conformance report: what a client did against the provider's guidance, with evidence.

``ConformanceTracker`` watches the journal: ``Journal.record`` hands it each entry as it
is written, and it keeps small state per task (counters, the last poll, what the client
saw) and per key (an open Retry-After window), a bounded table of recent distinct
requests (to recognise retries), and the findings so far, each with a capped list of
evidence ids. The report is therefore O(tasks + findings) however long the run, and it
covers every request since the last reset even after the journal's ring buffer wrapped.

Every threshold below cites the provider page it comes from (shared/provider-docs/:
001 is the APIXO best-practices page, 004 the errors and status codes page).
Plain Python, no HTTP.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .catalog import Model
from .dialects import apixo
from .journal import Entry
from .tasks import SUCCESS, TERMINAL, Task, state_at

__all__ = [
    "ALL_KEYS",
    "CHECKS",
    "Check",
    "ConformanceTracker",
    "assert_conforming",
    "format_report",
]

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
            "an API call without a usable `Authorization: Bearer KEY` (missing, empty or unknown "
            "key: 401)",
            "any 401 on generateTask, statusTask or current-balance",
            '004 "Common error cases": 401, check Authorization: Bearer sk_...',
        ),
        Check(
            "INVALID_REQUEST",
            ERROR,
            "a request the mock refused as invalid: a body the model's schema refuses, bad JSON, "
            "a missing taskId, a body over 1 MiB (400, 413)",
            "any 400 or 413 on generateTask, statusTask or current-balance; one finding per "
            "distinct error",
            '004 "HTTP status codes": 400 = invalid body, missing required field, or malformed '
            "parameters",
        ),
        Check(
            "POLL_TOO_FAST",
            ERROR,
            "status polls of one task closer together than the model's poll interval (virtual "
            "time)",
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
            "the same request (key, method, path, query, body) sent again after a 400, 401, 402 or "
            "404",
            "any identical repeat that is not answered 2xx (a 2xx shows the account was fixed in "
            "between, "
            "e.g. a topped-up balance)",
            "004 best practices 3: do not retry 400, 401, 402, 404 without fixing the request or "
            "account",
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
            "a task the client saw succeed (poll or callback) with none of its result files "
            "fetched",
            "no GET /files/{taskId}/... answered 200 before the report, or before the files "
            "expired "
            "(completeTime + results TTL, default 15 days)",
            '001 "Download Results Promptly"; gpt-image-1 page (002): URLs valid 15 days, download '
            "promptly",
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
            '001 "Recommended Intervals" (max wait: fast image 2 min, quality image 3 min, video '
            "10 "
            "min, "
            "audio 5 min)",
        ),
        Check(
            "CALLBACK_NOT_ACKNOWLEDGED",
            ERROR,
            "the client's callback receiver answered a delivery with a non-200 status, or not at "
            "all",
            "any delivery attempt without a 200 answer (within 30 s)",
            "APIXO callback docs (contract-notes): callback_url must answer 200 within 30 s, else "
            "retried "
            "up to 3 times",
        ),
    )
}


# -- helpers ---------------------------------------------------------------------------


class _AllKeys:
    def __repr__(self) -> str:
        return "ALL_KEYS"


ALL_KEYS: object = _AllKeys()  # report(key=ALL_KEYS): every key, and requests without one


def _endpoint_table(dialect=apixo) -> list[tuple[str, re.Pattern[str]]]:
    names = {
        dialect.STATUS_PATH: "statusTask",  # the hot path first
        dialect.GENERATE_PATH: "generateTask",
        dialect.FILES_PATH: "files",
        dialect.BALANCE_PATH: "balance",
    }
    table = []
    for template, name in names.items():
        parts = re.split(r"\{[^}]+\}", template)
        table.append((name, re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "$")))
    return table


_API = ("generateTask", "statusTask", "balance")


def _after(entry: Entry, horizon: int) -> bool:
    """Did ``entry`` arrive after the answer whose horizon this is (not in flight beside it)?"""
    return entry.arrival == 0 or entry.arrival > horizon


def _clock(ms: int) -> str:
    """A virtual time as it appears in messages: UTC time of day, to the millisecond."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


def _dur(ms: float) -> str:
    for unit, size in (("days", 86_400_000), ("h", 3_600_000), ("min", 60_000)):
        if ms >= size and ms % size == 0:
            n = int(ms // size)
            return f"{n} {'day' if unit == 'days' and n == 1 else unit}"
    text = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text} s"


def _plus(ms: float) -> str:
    return "+" + _dur(ms)


def _listing(items: list[str], total: int) -> str:
    text = ", ".join(items)
    return text + (f" (and {total - len(items)} more)" if total > len(items) else "")


def _span(first: int, last: int) -> str:
    return _clock(first) + (f" to {_clock(last)}" if last != first else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _request(method: str, path: str, query: str = "") -> str:
    return f"{method} {path}" + (f"?{query}" if query else "")


def _poll_guidance(model: Model) -> str:
    """Where this model's initial wait / interval / max wait come from."""
    label = KIND_LABEL.get(model.kind, model.kind)
    ours = (model.initial_wait_ms, model.poll_interval_ms, model.max_wait_ms)
    if KIND_GUIDANCE.get(model.kind) == ours:
        return f'{BEST_PRACTICES}, "Recommended Intervals", {label}'
    where = "the model catalog (mockserver/models.yaml, from the model's page)"
    return f"the {model.name} guidance in {where}"


# -- state -----------------------------------------------------------------------------


class _Finding:
    """One finding as it accumulates: a count, the first evidence ids, and facts for its message."""

    __slots__ = ("code", "key", "task_id", "count", "evidence", "times", "facts")

    def __init__(self, code: str, key: str | None, task_id: str | None = None) -> None:
        self.code = code
        self.key = key
        self.task_id = task_id
        self.count = 0
        self.evidence: list[int] = []
        self.times: list[int] = []
        self.facts: dict = {}

    def add(self, entry_id: int, time: int) -> bool:
        """Count one occurrence; False when its evidence no longer fits."""
        self.count += 1
        if len(self.evidence) < EVIDENCE_CAP:
            self.evidence.append(entry_id)
            self.times.append(time)
            return True
        return False


class _Track:
    """What the tracker knows of one task: who made it, how it was polled, what the client saw."""

    __slots__ = (
        "task_id",
        "key",
        "model",
        "submitted",
        "submit_id",
        "polls",
        "last_poll",
        "last_request",
        "last_request_id",
        "last_state",
        "terminal",
        "terminal_time",
        "terminal_horizon",
        "downloads",
        "failed_downloads",
        "callback_acked",
        "callback_given_up",
    )

    def __init__(
        self, task_id: str, key: str | None, model: str, submitted: int, submit_id: int
    ) -> None:
        self.task_id = task_id
        self.key = key
        self.model = model
        self.submitted = submitted
        self.submit_id = submit_id
        self.polls = 0  # answered polls
        self.last_poll: int | None = None  # time of the last answered poll
        self.last_request: int | None = None  # time of the last poll request, answered or not
        self.last_request_id: int | None = None
        self.last_state: str | None = None
        self.terminal: str | None = None  # the terminal state a poll answered
        self.terminal_time: int | None = None
        self.terminal_horizon = 0
        self.downloads = 0
        self.failed_downloads: list[tuple[int, int, str, int]] = []  # (id, time, path, status)
        self.callback_acked = False
        self.callback_given_up = False


class _Chain:
    """A run of consecutive 429/5xx answers to one request, and the gaps between its retries."""

    __slots__ = ("first_id", "first_time", "statuses", "gaps", "last_gap", "retries")

    def __init__(self, first_id: int, first_time: int, status: int) -> None:
        self.first_id = first_id
        self.first_time = first_time
        self.statuses = [status]
        self.gaps: list[int] = []
        self.last_gap: int | None = None
        self.retries = 0


class _Attempt:
    """The latest sending of one distinct request, for recognising the next one as a retry."""

    __slots__ = ("id", "time", "status", "retry_after", "idem", "horizon", "error", "chain")

    def __init__(self, entry: Entry, horizon: int, chain: _Chain | None) -> None:
        self.id = entry.id
        self.time = entry.time
        self.status = entry.status
        self.retry_after = entry.retryAfter
        self.idem = entry.idempotencyKey
        self.horizon = horizon
        self.error = entry.error
        self.chain = chain


class _Window:
    """An open Retry-After window of one key."""

    __slots__ = ("id", "time", "until", "horizon", "seconds", "request")

    def __init__(self, entry: Entry, horizon: int) -> None:
        assert entry.retryAfter is not None
        self.id = entry.id
        self.time = entry.time
        self.seconds = entry.retryAfter
        self.until = entry.time + entry.retryAfter * 1000 * (1 - TOLERANCE)
        self.horizon = horizon
        self.request = _request(entry.method, entry.path, entry.query)


# -- the tracker -----------------------------------------------------------------------


class ConformanceTracker:
    """Grades client traffic as it is journaled; ``report()`` lists the findings.

    ``model_of`` finds a model by name (so scenario overrides of the catalog apply), and
    ``results_ttl_ms`` says how long result files live. ``observe`` is the journal's
    observer; the callback dispatcher reports each delivery through ``callback_attempt``.
    """

    def __init__(
        self,
        model_of: Callable[[str], Model | None],
        results_ttl_ms: Callable[[], int],
        *,
        max_findings_per_code: int = MAX_FINDINGS_PER_CODE,
        recent_requests: int = RECENT_REQUESTS,
        dialect=apixo,
    ) -> None:
        self._model_of = model_of
        self._ttl = results_ttl_ms
        self._max_findings = max_findings_per_code
        self._recent_cap = recent_requests
        self._endpoints = _endpoint_table(dialect)
        self._tasks: dict[str, _Track] = {}
        self._findings: dict[tuple[str, str | None, Hashable], _Finding] = {}
        self._per_code: Counter[tuple[str | None, str]] = Counter()
        self._suppressed: Counter[tuple[str | None, str]] = Counter()
        self._requests: Counter[str | None] = Counter()
        self._recent: OrderedDict[tuple, _Attempt] = OrderedDict()
        self._windows: dict[str, _Window] = {}

    # -- feeding -----------------------------------------------------------------------

    def endpoint(self, path: str) -> str | None:
        """generateTask | statusTask | balance | files, or None for anything else."""
        for name, pattern in self._endpoints:
            if pattern.match(path):
                return name
        return None

    def observe(self, entry: Entry, horizon: int | None = None) -> None:
        """Take in one journal entry. ``horizon``: requests arrived when it was recorded."""
        if horizon is None:
            horizon = entry.arrival
        endpoint = self.endpoint(entry.path)
        track = self._tasks.get(entry.taskId) if entry.taskId else None
        # Result files need no key: a download belongs to the key that made the task.
        owner = entry.key
        if owner is None and endpoint == "files" and track is not None:
            owner = track.key
        self._requests[owner] += 1
        if endpoint in _API:
            if entry.status == 401:
                self._missing_auth(entry)
            elif entry.status in (400, 413):
                self._invalid(entry, owner)
        if entry.key is not None:
            self._retry_after(entry, horizon)
        self._repeats(entry, owner, endpoint, horizon)
        if endpoint == "generateTask":
            if entry.status == 200 and entry.taskId and entry.taskId not in self._tasks:
                self._tasks[entry.taskId] = _Track(
                    entry.taskId, entry.key, entry.model or "", entry.time, entry.id
                )
        elif endpoint == "statusTask":
            if track is not None and track.key == entry.key:
                self._poll(track, entry, horizon)
        elif endpoint == "files" and track is not None:
            if entry.status == 200:
                track.downloads += 1
            elif len(track.failed_downloads) < EVIDENCE_CAP:
                track.failed_downloads.append((entry.id, entry.time, entry.path, entry.status))

    def callback_attempt(
        self,
        task_id: str,
        key: str | None,
        attempt: int,
        time: int,
        status: int | None,
        error: str | None = None,
        *,
        final: bool = False,
    ) -> None:
        """One callback delivery: the receiver's HTTP status (None: no answer) or an error.

        ``final`` says the dispatcher will not retry this delivery again.
        """
        track = self._tasks.get(task_id)
        if status == 200 and error is None:
            if track is not None:
                track.callback_acked = True
            return
        if track is not None and final and not track.callback_acked:
            track.callback_given_up = True
        owner = track.key if track is not None else key
        f = self._finding("CALLBACK_NOT_ACKNOWLEDGED", owner, task_id, task_id)
        if f is not None:
            f.count += 1
            if track is not None and not f.evidence:
                f.evidence.append(track.submit_id)
                f.times.append(track.submitted)
            attempts = f.facts.setdefault("attempts", [])
            if len(attempts) < EVIDENCE_CAP:
                attempts.append((attempt, time, status, error))

    # -- checks fed per entry --------------------------------------------------------------

    def _finding(
        self, code: str, key: str | None, group: Hashable, task_id: str | None = None
    ) -> _Finding | None:
        """The finding for (code, key, group), made if the per-code cap allows."""
        k = (code, key, group)
        f = self._findings.get(k)
        if f is None:
            if self._per_code[(key, code)] >= self._max_findings:
                self._suppressed[(key, code)] += 1
                return None
            f = self._findings[k] = _Finding(code, key, task_id)
            self._per_code[(key, code)] += 1
        return f

    def _missing_auth(self, entry: Entry) -> None:
        reason = "missing" if entry.key is None else "unknown"
        f = self._finding("MISSING_AUTH", entry.key, reason)
        if f is None:
            return
        f.add(entry.id, entry.time)
        requests = f.facts.setdefault("requests", [])
        request = f"{entry.method} {entry.path}"
        if request not in requests and len(requests) < 3:
            requests.append(request)
        f.facts["reason"] = reason
        f.facts.setdefault("first", entry.time)
        f.facts["last"] = entry.time

    def _invalid(self, entry: Entry, owner: str | None) -> None:
        f = self._finding(
            "INVALID_REQUEST", owner, (entry.method, entry.path, entry.status, entry.error)
        )
        if f is None:
            return
        f.add(entry.id, entry.time)
        f.facts.update(
            request=f"{entry.method} {entry.path}",
            status=entry.status,
            error=entry.error,
            model=entry.model,
        )
        f.facts.setdefault("first", entry.time)
        f.facts["last"] = entry.time

    def _retry_after(self, entry: Entry, horizon: int) -> None:
        window = self._windows.get(entry.key)  # type: ignore[arg-type]
        if window is not None and _after(entry, window.horizon):
            if entry.time < window.until:
                f = self._finding("IGNORED_RETRY_AFTER", entry.key, window.id)
                if f is not None:
                    if not f.evidence:
                        f.evidence.append(window.id)
                        f.times.append(window.time)
                        f.facts.update(
                            time=window.time, seconds=window.seconds, request=window.request
                        )
                    f.count += 1
                    early = f.facts.setdefault("early", [])
                    if len(early) < EVIDENCE_CAP - 1:
                        early.append(
                            (
                                _request(entry.method, entry.path, entry.query),
                                entry.time - window.time,
                            )
                        )
                        f.evidence.append(entry.id)
                        f.times.append(entry.time)
            else:
                del self._windows[entry.key]  # type: ignore[arg-type]
        if entry.status == 429 and entry.retryAfter is not None and entry.retryAfter > 0:
            self._windows[entry.key] = _Window(entry, horizon)  # type: ignore[index]

    def _repeats(self, entry: Entry, owner: str | None, endpoint: str | None, horizon: int) -> None:
        """Recognise this request as a repeat of an earlier identical one and judge the retry."""
        fp = (owner, entry.method, entry.path, entry.query, entry.bodyHash)
        prev = self._recent.get(fp)
        chain = None
        if prev is not None and _after(entry, prev.horizon):
            if prev.status in NON_RETRYABLE and not 200 <= entry.status < 300:
                self._retried_non_retryable(entry, owner, fp, prev)
            if prev.status in RETRYABLE:
                chain = self._backoff(entry, owner, prev)
            if endpoint == "generateTask" and prev.status in UNKNOWN_OUTCOME:
                if entry.idempotencyKey is None or entry.idempotencyKey != prev.idem:
                    self._unsafe_resubmit(entry, owner, fp, prev)
        if entry.status in RETRYABLE and chain is None:
            chain = _Chain(entry.id, entry.time, entry.status)
        self._recent[fp] = _Attempt(entry, horizon, chain if entry.status in RETRYABLE else None)
        self._recent.move_to_end(fp)
        if len(self._recent) > self._recent_cap:
            self._recent.popitem(last=False)

    def _retried_non_retryable(
        self, entry: Entry, owner: str | None, fp: tuple, prev: _Attempt
    ) -> None:
        f = self._finding("RETRIED_NON_RETRYABLE", owner, fp, entry.taskId)
        if f is None:
            return
        if not f.evidence:
            f.evidence.append(prev.id)
            f.times.append(prev.time)
            f.facts.update(
                request=_request(entry.method, entry.path, entry.query),
                status=prev.status,
                error=prev.error,
                time=prev.time,
            )
        f.add(entry.id, entry.time)
        f.facts["statuses"] = f.facts.get("statuses", set()) | {entry.status}

    def _backoff(self, entry: Entry, owner: str | None, prev: _Attempt) -> _Chain:
        chain = prev.chain or _Chain(prev.id, prev.time, prev.status)
        gap = entry.time - prev.time
        chain.retries += 1
        if len(chain.gaps) < EVIDENCE_CAP:
            chain.gaps.append(gap)
        if entry.status in RETRYABLE and len(chain.statuses) < EVIDENCE_CAP:
            chain.statuses.append(entry.status)
        honoured = prev.retry_after is not None and gap >= prev.retry_after * 1000 * (1 - TOLERANCE)
        if honoured:
            # The server chose this wait: it is neither a failure nor the baseline the
            # client's own backoff must grow from (max(backoff, Retry-After) is right).
            return chain
        grew = chain.last_gap is None or gap >= chain.last_gap * MIN_GROWTH
        capped = gap >= BACKOFF_CAP_MS * (1 - TOLERANCE)
        chain.last_gap = gap
        if not (grew or capped):
            f = self._finding("NO_BACKOFF", owner, chain.first_id)
            if f is not None:
                if not f.evidence:
                    f.evidence.append(chain.first_id)
                    f.times.append(chain.first_time)
                    f.facts.update(
                        request=_request(entry.method, entry.path, entry.query), chain=chain
                    )
                f.add(entry.id, entry.time)
        return chain

    def _unsafe_resubmit(self, entry: Entry, owner: str | None, fp: tuple, prev: _Attempt) -> None:
        f = self._finding("SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY", owner, fp)
        if f is None:
            return
        if not f.evidence:
            f.evidence.append(prev.id)
            f.times.append(prev.time)
            f.facts.update(
                request=f"{entry.method} {entry.path}", status=prev.status, time=prev.time
            )
        f.add(entry.id, entry.time)
        f.facts["changed_key"] = f.facts.get("changed_key", False) or (
            entry.idempotencyKey is not None and prev.idem is not None
        )
        f.facts["first_idem"] = f.facts.get("first_idem") or prev.idem

    def _poll(self, track: _Track, entry: Entry, horizon: int) -> None:
        if 400 <= entry.status < 500 and entry.status != 429:
            return  # refused before it reached the task (auth, wrong model path...)
        if track.terminal is not None:
            if _after(entry, track.terminal_horizon):
                f = self._finding("POLLED_AFTER_TERMINAL", track.key, track.task_id, track.task_id)
                if f is not None:
                    f.add(entry.id, entry.time)
            return
        model = self._model_of(track.model)
        if model is not None:
            since_submit = entry.time - track.submitted
            if since_submit < model.initial_wait_ms * (1 - TOLERANCE):
                f = self._finding(
                    "POLL_BEFORE_INITIAL_WAIT", track.key, track.task_id, track.task_id
                )
                if f is not None:
                    f.add(entry.id, entry.time)
            if track.last_poll is not None:
                gap = entry.time - track.last_poll
                if gap < model.poll_interval_ms * (1 - TOLERANCE):
                    f = self._finding("POLL_TOO_FAST", track.key, track.task_id, track.task_id)
                    if f is not None:
                        f.add(entry.id, entry.time)
                        f.facts["min_gap"] = min(gap, f.facts.get("min_gap", gap))
        track.last_request = entry.time
        track.last_request_id = entry.id
        if entry.status == 200 and entry.state is not None:
            track.polls += 1
            track.last_poll = entry.time
            track.last_state = entry.state
            if entry.state in TERMINAL:
                track.terminal = entry.state
                track.terminal_time = entry.time
                track.terminal_horizon = horizon

    # -- the report ----------------------------------------------------------------------

    def report(
        self,
        now: int,
        task_of: Callable[[str], Task | None] = lambda _id: None,
        key: object = ALL_KEYS,
        journal: dict | None = None,
    ) -> dict:
        """``{"findings": [...], "summary": {...}}`` for one key, or all.

        ``key=None`` selects requests that carried no key.

        Reading only: nothing here changes the tracker, so a report can be asked for any time.
        """
        wanted = (lambda k: True) if key is ALL_KEYS else (lambda k: k == key)
        extra_suppressed: Counter[tuple[str | None, str]] = Counter()
        per_code: Counter[tuple[str | None, str]] = Counter()
        out = []
        for f in self._findings.values():
            if wanted(f.key):
                per_code[(f.key, f.code)] += 1
                out.append(self._render(f, task_of))
        for f in self._end_of_run(now, task_of, wanted):
            if per_code[(f.key, f.code)] >= self._max_findings:
                extra_suppressed[(f.key, f.code)] += 1
                continue
            per_code[(f.key, f.code)] += 1
            out.append(self._render(f, task_of))
        out.sort(key=lambda d: (d["severity"] != ERROR, d["evidence"][0] if d["evidence"] else 0))
        suppressed: Counter[str] = Counter()
        for (k, code), n in (self._suppressed + extra_suppressed).items():
            if wanted(k):
                suppressed[code] += n
        errors = sum(1 for d in out if d["severity"] == ERROR)
        warnings = len(out) - errors
        by_code = Counter(d["code"] for d in out)
        summary: dict = {
            "key": None if key is ALL_KEYS else key,
            "allKeys": key is ALL_KEYS,
            "conforming": errors == 0,
            "errors": errors,
            "warnings": warnings,
            "byCode": {code: by_code[code] for code in CHECKS if by_code[code]},
            "suppressed": {code: suppressed[code] for code in CHECKS if suppressed[code]},
            "requests": sum(n for k, n in self._requests.items() if wanted(k)),
            "tasks": sum(1 for t in self._tasks.values() if wanted(t.key)),
            "now": now,
        }
        if key is ALL_KEYS:
            keys = sorted(self._requests, key=lambda k: (k is None, k or ""))
            summary["keys"] = [
                {
                    "key": k,
                    "requests": self._requests[k],
                    "errors": sum(1 for d in out if d["key"] == k and d["severity"] == ERROR),
                    "warnings": sum(1 for d in out if d["key"] == k and d["severity"] == WARNING),
                }
                for k in keys
            ]
        if journal is not None:
            summary["journal"] = journal
        return {"findings": out, "summary": summary}

    def _end_of_run(
        self, now: int, task_of: Callable[[str], Task | None], wanted
    ) -> Iterable[_Finding]:
        """Findings that depend on what has not happened by ``now``: downloads, abandoned tasks."""
        for track in self._tasks.values():
            if not wanted(track.key):
                continue
            task = task_of(track.task_id)
            model = self._model_of(track.model)
            if task is None or model is None:
                continue
            state, complete = state_at(task, now)
            saw_success = track.terminal == SUCCESS or (track.callback_acked and state == SUCCESS)
            if saw_success and track.downloads == 0:
                f = _Finding("RESULTS_NOT_DOWNLOADED", track.key, track.task_id)
                f.add(track.submit_id, track.submitted)
                for entry_id, time, _path, _status in track.failed_downloads:
                    f.add(entry_id, time)
                f.count = 1
                f.facts.update(complete=complete, outputs=task.outputs, now=now)
                yield f
            if track.terminal is not None or track.callback_acked:
                continue
            if task.request_type == "callback":
                if track.callback_given_up:
                    f = _Finding("ABANDONED_TASK", track.key, track.task_id)
                    f.add(track.submit_id, track.submitted)
                    f.facts.update(callback=True, state=state)
                    yield f
                continue
            last = track.last_request if track.last_request is not None else track.submitted
            deadline = track.submitted + model.max_wait_ms
            grace = max(BACKOFF_CAP_MS, model.poll_interval_ms)
            ended = state in TERMINAL
            if now - last >= grace and last < deadline and (ended or now >= deadline):
                f = _Finding("ABANDONED_TASK", track.key, track.task_id)
                f.add(track.submit_id, track.submitted)
                if track.last_request_id is not None:
                    f.add(track.last_request_id, last)
                f.count = 1
                f.facts.update(state=state, complete=complete, request_type=task.request_type)
                yield f

    # -- messages ------------------------------------------------------------------------

    def _render(self, f: _Finding, task_of: Callable[[str], Task | None]) -> dict:
        check = CHECKS[f.code]
        out: dict = {"code": f.code, "severity": check.severity, "key": f.key}
        if f.task_id is not None:
            out["taskId"] = f.task_id
        out["message"] = getattr(self, "_msg_" + f.code.lower())(f, task_of)
        out["count"] = max(f.count, 1)
        out["evidence"] = list(f.evidence)
        return out

    def _task_words(self, f: _Finding) -> tuple[_Track | None, Model | None, str]:
        track = self._tasks.get(f.task_id or "")
        model = self._model_of(track.model) if track is not None else None
        if track is None:
            return None, None, f"Task {f.task_id}"
        kind = f", {KIND_LABEL.get(model.kind, model.kind).lower()}" if model is not None else ""
        at = _clock(track.submitted)
        return track, model, f"Task {track.task_id} ({track.model}{kind}, submitted at {at})"

    def _msg_missing_auth(self, f: _Finding, task_of) -> str:
        facts = f.facts
        if facts["reason"] == "missing":
            what = "had no usable 'Authorization: Bearer KEY' header"
        else:
            what = f"used the API key {f.key!r}, which this server does not accept"
        was = "was" if f.count == 1 else "were"
        return " ".join(
            (
                f"{_plural(f.count, 'API request')} ({', '.join(facts['requests'])}) {what}",
                f"and {was} answered 401, at {_span(facts['first'], facts['last'])}.",
                "Send the key on every API call.",
                f'{ERRORS_PAGE}, "Common error cases": 401 means a wrong or missing API key;',
                "check 'Authorization: Bearer sk_...'.",
            )
        )

    def _msg_invalid_request(self, f: _Finding, task_of) -> str:
        facts = f.facts
        schema = ""
        if facts.get("model") and facts["request"].startswith("POST"):
            schema = f" against /schemas/models/{facts['model']}.json"
        was = "was" if f.count == 1 else "were"
        return " ".join(
            (
                f"{_plural(f.count, 'request')} {facts['request']} {was} refused with",
                f"{facts['status']}: {facts['error'] or 'invalid request'}",
                f"(at {_span(facts['first'], facts['last'])}).",
                f"Check the request{schema} before sending it.",
                f"{ERRORS_PAGE}: 400 means an invalid body, a missing required field or malformed",
                "parameters, and is not worth retrying until the request is fixed.",
            )
        )

    def _msg_poll_too_fast(self, f: _Finding, task_of) -> str:
        track, model, task = self._task_words(f)
        assert track is not None and model is not None
        at = [_plus(t - track.submitted) for t in f.times]
        interval = _dur(model.poll_interval_ms)
        return " ".join(
            (
                f"{task}: {_plural(f.count, 'status poll')} came less than {interval}",
                f"after the previous answered poll (shortest gap {_dur(f.facts['min_gap'])};",
                f"polls at {_listing(at, f.count)} after the submit).",
                f"{_poll_guidance(model)}: poll every {interval},",
                f"backing off x{BACKOFF_FACTOR:g} up to {_dur(BACKOFF_CAP_MS)}",
                f'({BEST_PRACTICES}, "Exponential Backoff").',
            )
        )

    def _msg_poll_before_initial_wait(self, f: _Finding, task_of) -> str:
        track, model, task = self._task_words(f)
        assert track is not None and model is not None
        at = [_plus(t - track.submitted) for t in f.times]
        wait = _dur(model.initial_wait_ms)
        return " ".join(
            (
                f"{task}: {_plural(f.count, 'status poll')} before the initial wait of {wait}",
                f"(at {_listing(at, f.count)} after the submit).",
                f"{_poll_guidance(model)}: wait {wait} after submitting before the first poll.",
            )
        )

    def _msg_ignored_retry_after(self, f: _Finding, task_of) -> str:
        facts = f.facts
        early = [f"{req} {_dur(delta)} later" for req, delta in facts.get("early", [])]
        seconds = f"{facts['seconds']:g} s"
        return " ".join(
            (
                f"{facts['request']} was answered 429 with Retry-After {seconds}",
                f"at {_clock(facts['time'])}; the key then sent {_plural(f.count, 'request')}",
                f"before it elapsed: {_listing(early, f.count)}.",
                f'{ERRORS_PAGE}, "Common error cases": on 429 back off and use retryAfter;',
                f"wait at least {seconds} before the next request with this key.",
            )
        )

    def _msg_retried_non_retryable(self, f: _Finding, task_of) -> str:
        facts = f.facts
        again = [_plus(t - facts["time"]) for t in f.times[1:]]
        error = f" ({facts['error']})" if facts.get("error") else ""
        answers = ", ".join(str(s) for s in sorted(facts["statuses"]))
        return " ".join(
            (
                f"{facts['request']} was answered {facts['status']}{error}",
                f"at {_clock(facts['time'])}, then sent again unchanged {_plural(f.count, 'time')}",
                f"(at {_listing(again, f.count)}; answered {answers}).",
                f"{ERRORS_PAGE}, best practices 3: do not retry 400, 401, 402, 404 without",
                "fixing the request or account; retry only 429, 500, 502, 503.",
            )
        )

    def _msg_no_backoff(self, f: _Finding, task_of) -> str:
        chain: _Chain = f.facts["chain"]
        statuses = ", ".join(str(s) for s in chain.statuses)
        gaps = _listing([_dur(g) for g in chain.gaps], chain.retries)
        return " ".join(
            (
                f"{f.facts['request']} was answered {statuses} from {_clock(chain.first_time)}",
                f"and retried {_plural(chain.retries, 'time')} with gaps {gaps}:",
                f"{_plural(f.count, 'gap')} did not grow.",
                f"{ERRORS_PAGE}: retry 429, 500, 502, 503 with exponential backoff,",
                f'using retryAfter when present; {BEST_PRACTICES}, "Exponential Backoff":',
                f"multiply the wait by {BACKOFF_FACTOR:g} up to {_dur(BACKOFF_CAP_MS)}.",
            )
        )

    def _msg_polled_after_terminal(self, f: _Finding, task_of) -> str:
        track, _model, task = self._task_words(f)
        assert track is not None and track.terminal_time is not None
        at = [_plus(t - track.submitted) for t in f.times]
        return " ".join(
            (
                f"{task}: a status poll at {_plus(track.terminal_time - track.submitted)}",
                f"after the submit answered state {track.terminal},",
                f"then {_plural(f.count, 'more poll')} followed (at {_listing(at, f.count)}).",
                f"{BEST_PRACTICES}, pollWithBackoff: stop polling once state is success",
                "(read resultJson) or failed (read failCode).",
            )
        )

    def _msg_results_not_downloaded(self, f: _Finding, task_of) -> str:
        track, _model, task = self._task_words(f)
        assert track is not None
        facts = f.facts
        ttl = self._ttl()
        expires = facts["complete"] + ttl if facts["complete"] is not None else None
        if track.terminal == SUCCESS and track.terminal_time is not None:
            how = f"a poll at {_plus(track.terminal_time - track.submitted)} answered success"
        else:
            how = "its success callback was acknowledged"
        if expires is not None and facts["now"] >= expires:
            deadline = f"before they expired at {_clock(expires)} ({_dur(ttl)} after completion)"
        else:
            deadline = f"before this report at {_clock(facts['now'])}"
        failed = ""
        if track.failed_downloads:
            tries = [
                f"{path} -> {status} at {_clock(t)}"
                for _id, t, path, status in track.failed_downloads
            ]
            failed = f" Download attempts that failed: {', '.join(tries)}."
        return " ".join(
            (
                f"{task}: {how} with {_plural(facts['outputs'], 'result file')} in resultJson,",
                f"but none was fetched {deadline}.{failed}",
                f'{BEST_PRACTICES}, "Download Results Promptly": fetch every resultUrl right away',
                "and keep your own copy; result URLs expire (the provider's pages say after 24 h",
                f"or 15 days; this server: {_dur(ttl)}).",
            )
        )

    def _msg_submit_retry_without_idempotency_key(self, f: _Finding, task_of) -> str:
        facts = f.facts
        again = [_plus(t - facts["time"]) for t in f.times[1:]]
        answer = "got no answer" if facts["status"] == 0 else f"was answered {facts['status']}"
        if facts.get("changed_key"):
            which = (
                f"with an Idempotency-Key other than the first attempt's ({facts['first_idem']!r})"
            )
        else:
            which = "without an Idempotency-Key"
        return " ".join(
            (
                f"{facts['request']} {answer} at {_clock(facts['time'])} and the same body",
                f"was submitted again {which} {_plural(f.count, 'time')}",
                f"(at {_listing(again, f.count)}). If the first attempt did create a task,",
                "each retry creates and charges another. Send the same 'Idempotency-Key' header",
                "on every attempt of one submit (this server honours it).",
                f"{ERRORS_PAGE}, best practices 4: use idempotency keys to avoid duplicate",
                "charges on retry.",
            )
        )

    def _msg_abandoned_task(self, f: _Finding, task_of) -> str:
        track, model, task = self._task_words(f)
        assert track is not None and model is not None
        facts = f.facts
        if facts.get("callback"):
            return " ".join(
                (
                    f"{task}: a callback task whose every delivery failed, and the client never",
                    f"polled it to a terminal state either, so its outcome ({facts['state']})",
                    f"never reached the client. {CALLBACK_DOCS}: the callback_url must answer 200;",
                    "poll the status as a fallback when callbacks fail.",
                )
            )
        if track.last_request is None:
            last = "was never polled"
        else:
            seen = f" (answered {track.last_state})" if track.last_state else ""
            at = _plus(track.last_request - track.submitted)
            last = f"was last polled at {at}{seen}, then no more"
        if facts["state"] in TERMINAL and facts["complete"] is not None:
            at = _plus(facts["complete"] - track.submitted)
            end = f"it ended {facts['state']} at {at} and the client never saw it"
        else:
            end = f"it is still {facts['state']}"
        return " ".join(
            (
                f"{task}: {last}; {end}.",
                f"{_poll_guidance(model)}: keep polling every {_dur(model.poll_interval_ms)}",
                f"until success or failed, for up to {_dur(model.max_wait_ms)} (max wait);",
                "or use callback mode.",
            )
        )

    def _msg_callback_not_acknowledged(self, f: _Finding, task_of) -> str:
        task = task_of(f.task_id or "")
        url = f" at {task.callback_url}" if task is not None and task.callback_url else ""
        tries = []
        for attempt, time, status, error in f.facts.get("attempts", []):
            answer = f"answered {status}" if status is not None else "no answer"
            if error:
                answer += f" ({error})"
            tries.append(f"attempt {attempt} at {_clock(time)}: {answer}")
        return " ".join(
            (
                f"Task {f.task_id}: the callback receiver{url} did not acknowledge",
                f"{_plural(f.count, 'delivery attempt')}: {_listing(tries, f.count)}.",
                f"{CALLBACK_DOCS}: the callback_url must answer HTTP 200 within 30 s; otherwise",
                "the delivery is retried up to 3 times and then dropped.",
                "Answer 200 first, then process the body.",
            )
        )


# -- using a report ----------------------------------------------------------------------


def assert_conforming(report: dict, allow: Iterable[str] = (), *, warnings: bool = False) -> None:
    """Raise AssertionError listing every error finding (and warnings if asked) not in ``allow``."""
    allowed = set(allow)
    unknown = sorted(allowed - set(CHECKS))
    if unknown:
        raise ValueError(
            f"unknown finding code(s) in allow: {', '.join(unknown)}; known: {', '.join(CHECKS)}"
        )
    failing = [
        f
        for f in report.get("findings", [])
        if f["code"] not in allowed and (f["severity"] == ERROR or warnings)
    ]
    if not failing:
        return
    lines = [f"the client does not conform: {_plural(len(failing), 'finding')}"]
    for f in failing:
        lines.append(_finding_line(f))
        lines.append(textwrap.indent(f["message"], "    "))
    suppressed = report.get("summary", {}).get("suppressed") or {}
    if suppressed:
        lines.append(
            "not listed (cap per code reached): "
            + ", ".join(f"{c} x{n}" for c, n in suppressed.items())
        )
    if allowed:
        lines.append("allowed: " + ", ".join(sorted(allowed)))
    raise AssertionError("\n".join(lines))


def _finding_line(f: dict) -> str:
    where = f" task {f['taskId']}" if f.get("taskId") else ""
    key = "(no key)" if f.get("key") is None else f["key"]
    evidence = " ".join(f"#{i}" for i in f["evidence"])
    more = f" (x{f['count']})" if f.get("count", 1) > 1 else ""
    return f"{f['severity'].upper():<8} {f['code']}{more}  key {key}{where}  evidence {evidence}"


_UNIT = re.compile(r"(\d) (s|ms|min|h|days?)\b")


def _wrap(message: str, width: int) -> list[str]:
    """Wrap an indented message, never between a number and its unit."""
    glued = _UNIT.sub("\\1\xa0\\2", message)  # textwrap breaks only on ASCII whitespace
    lines = textwrap.wrap(glued, width, initial_indent="    ", subsequent_indent="    ")
    return [line.replace("\xa0", " ") for line in lines]


def format_report(report: dict, width: int = 100) -> str:
    """The report as a readable table: one block per finding, then the totals."""
    summary = report.get("summary", {})
    findings = report.get("findings", [])
    scope = (
        "all keys" if summary.get("allKeys", True) else f"key {summary.get('key') or '(no key)'}"
    )
    journal = summary.get("journal") or {}
    requests = _plural(summary.get("requests", 0), "request")
    tasks = _plural(summary.get("tasks", 0), "task")
    head = f"Client conformance report ({scope}): {requests}, {tasks}"
    if journal:
        kept, dropped = journal.get("kept", 0), journal.get("dropped", 0)
        head += f"; the journal keeps the last {kept} ({dropped} dropped)"
    lines = [head, ""]
    if not findings:
        lines.append("No findings: the client follows the provider's guidance.")
    else:
        lines.append(
            f"{'SEVERITY':<8} {'CODE':<36} {'KEY':<16} {'TASK':<22} EVIDENCE (journal ids)"
        )
        for f in findings:
            key = "(no key)" if f.get("key") is None else f["key"]
            evidence = " ".join(f"#{i}" for i in f["evidence"]) + (
                " ..." if f["count"] > len(f["evidence"]) else ""
            )
            code = f["code"] + (f" x{f['count']}" if f["count"] > 1 else "")
            lines.append(
                f"{f['severity']:<8} {code:<36} {key:<16} {f.get('taskId') or '-':<22} {evidence}"
            )
            lines.extend(_wrap(f["message"], width))
    lines.append("")
    errors = _plural(summary.get("errors", 0), "error")
    counts = f"{errors}, {_plural(summary.get('warnings', 0), 'warning')}"
    by_code = ", ".join(f"{c} {n}" for c, n in (summary.get("byCode") or {}).items())
    lines.append(counts + (f" ({by_code})" if by_code else ""))
    suppressed = summary.get("suppressed") or {}
    if suppressed:
        lines.append(
            "Not listed (cap per code reached): "
            + ", ".join(f"{c} x{n}" for c, n in suppressed.items())
        )
    return "\n".join(lines) + "\n"
