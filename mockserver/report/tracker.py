"""The conformance tracker: grades each journaled request as it is recorded.

``Journal.record`` hands every entry to ``ConformanceTracker.observe``, which keeps small
state per task (counters, the last poll, what the client saw) and per key (an open
Retry-After window), a bounded table of recent distinct requests (to recognise retries),
and the findings so far, each with a count and a capped list of evidence ids. The report
is therefore O(tasks + findings) however long the run, and it covers every request since
the last reset even after the journal's ring buffer wrapped. Plain Python, no HTTP.
"""

from __future__ import annotations

import sys
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence

from mockserver.core.catalog import Model
from mockserver.core.journal import Entry
from mockserver.core.limits import SCAN_FLOOR  # the rate windows' policy: scan when keys double
from mockserver.core.tasks import SUCCESS, TERMINAL, Task, state_at
from mockserver.core.words import BALANCE, FILES, STATUS, SUBMIT
from mockserver.dialects import default_dialects
from mockserver.dialects.protocol import Dialect, RouteTable
from mockserver.report.checks import (
    CAP_SHARE,
    CHECKS,
    ENVELOPE_SHARE,
    ERROR,
    EVIDENCE_CAP,
    MAX_FINDINGS,
    MAX_FINDINGS_PER_CODE,
    RECENT_REQUESTS,
    TOLERANCE,
    WALL_SLACK_MS,
    WARNING,
    unknown_outcome,
)
from mockserver.report.messages import Context, message


def _request(method: str, path: str, query: str = "") -> str:
    return f"{method} {path}" + (f"?{query}" if query else "")


# Faults after which the client never read the answer whole: that poll showed it no state (its next
# poll is a retry, not a poll too soon), and that download got no file.
UNREAD_FAULTS = frozenset({"empty_response", "connection_reset", "malformed_json", "truncated_body", "hang"})


class _AllKeys:
    def __repr__(self) -> str:
        return "ALL_KEYS"


ALL_KEYS: object = _AllKeys()  # report(key=ALL_KEYS): every key, and requests without one


# The kinds of API calls, which need a key and a valid request (result files need neither).
_API = frozenset((SUBMIT, STATUS, BALANCE))


# The share of a guided wait a client must keep (the "too soon" checks' tolerance).
_KEPT = 1 - TOLERANCE


def _after(entry: Entry, horizon: int) -> bool:
    """Did ``entry`` arrive after the answer whose horizon this is (not in flight beside it)?"""
    return entry.arrival == 0 or entry.arrival > horizon


# -- state -----------------------------------------------------------------------------


class Finding:
    """One finding as it accumulates: a count, the first evidence ids, and facts for its message."""

    __slots__ = ("code", "key", "task_id", "dialect", "count", "evidence", "times", "facts", "severity")

    def __init__(
        self,
        code: str,
        key: str | None,
        task_id: str | None,
        dialect: Dialect | None,
        severity: str | None = None,
    ) -> None:
        self.code = code
        # None: the check's own; WARNING for a finding that rests on a number the pages disagree on
        self.severity = severity
        self.key = key
        self.task_id = task_id
        self.dialect = dialect  # whose guidance the finding cites (None: its task's, or the first)
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


class Track:
    """What the tracker knows of one task: who made it, how it was polled, what the client saw.

    A task only submitted so far keeps its six facts; the rest read as the class's defaults. The
    first poll, download or callback of it makes it a ``Followed`` track (``_followed``), which
    has room for them: most of a million tasks submitted in a burst are not followed yet."""

    __slots__ = ("task_id", "key", "model", "dialect", "submitted", "submit_id")

    polls = 0  # answered polls
    last_poll: int | None = None  # time of the last answered poll
    last_request: int | None = None  # time of the last poll request, answered or not
    last_request_id: int | None = None
    last_state: str | None = None
    terminal: str | None = None  # the terminal state a poll answered
    terminal_time: int | None = None
    terminal_horizon = 0
    downloads = 0
    first_download: int | None = None  # time of the first download answered 200
    failed_downloads: tuple[tuple[int, int, str, int], ...] = ()  # (id, time, path, status)
    callback_acked = False
    callback_given_up = False

    def __init__(
        self, task_id: str, key: str | None, model: str, dialect: Dialect, submitted: int, submit_id: int
    ) -> None:
        self.task_id = task_id
        self.key = key
        self.model = model
        self.dialect = dialect  # the one the task was submitted through
        self.submitted = submitted
        self.submit_id = submit_id


class Followed(Track):
    """A track the client has polled, downloaded from or been called back about."""

    __slots__ = (
        "polls",
        "last_poll",
        "last_request",
        "last_request_id",
        "last_state",
        "terminal",
        "terminal_time",
        "terminal_horizon",
        "downloads",
        "first_download",
        "failed_downloads",
        "callback_acked",
        "callback_given_up",
    )

    def __init__(self, track: Track) -> None:
        super().__init__(track.task_id, track.key, track.model, track.dialect, track.submitted, track.submit_id)
        for name in Followed.__slots__:
            setattr(self, name, getattr(track, name))


class Chain:
    """A run of consecutive 429/5xx answers to one request, the gaps between its retries, and the
    client's own backoff so far: its longest wait (the envelope) and the time its waits add up to."""

    __slots__ = ("first_id", "first_time", "statuses", "gaps", "retries", "envelope", "elapsed")

    def __init__(self, first_id: int, first_time: int, status: int) -> None:
        self.first_id = first_id
        self.first_time = first_time
        self.statuses = [status]
        self.gaps: list[int] = []
        self.retries = 0
        self.envelope = 0  # the longest of the client's own waits (Retry-After waits aside)
        self.elapsed = 0  # the client's own waits added up


class _Attempt:
    """The latest sending of one distinct request, for recognising the next one as a retry."""

    __slots__ = ("id", "time", "status", "retry_after", "idem", "horizon", "error", "chain")

    def __init__(self, entry: Entry, horizon: int, chain: Chain | None) -> None:
        self.id = entry.id
        self.time = entry.time
        self.status = entry.status
        self.retry_after = entry.retry_after
        self.idem = entry.idempotency_key
        self.horizon = horizon
        self.error = entry.error
        self.chain = chain


class _Window:
    """An open Retry-After window of one key."""

    __slots__ = ("id", "time", "until", "horizon", "seconds", "request", "dialect")

    def __init__(self, entry: Entry, horizon: int, dialect: Dialect, slack: float) -> None:
        assert entry.retry_after is not None
        self.dialect = dialect
        self.id = entry.id
        self.time = entry.time
        self.seconds = entry.retry_after
        self.until = entry.time + entry.retry_after * 1000 * (1 - TOLERANCE) - slack
        self.horizon = horizon
        self.request = _request(entry.method, entry.path, entry.query)


# -- the tracker -----------------------------------------------------------------------


class ConformanceTracker:
    """Grades client traffic as it is journaled; ``report()`` lists the findings.

    ``model_of`` finds a model by dialect name and model name (so scenario overrides of the catalog apply), and
    ``results_ttl_ms`` says how long result files live. ``time_scale`` is the real clock's speed-up
    (0 for a manual clock): "too soon" comparisons allow ``WALL_SLACK_MS`` of wall time times it.
    ``dialects`` are the ones the server speaks (None: every built-in one): their routes say what
    each request is, and a request or task is judged by the guidance of its own dialect.
    ``observe`` is the journal's observer; the callback dispatcher reports each delivery through
    ``callback_attempt``.
    """

    def __init__(
        self,
        model_of: Callable[[str, str], Model | None],
        results_ttl_ms: Callable[[], int],
        *,
        max_findings_per_code: int = MAX_FINDINGS_PER_CODE,
        recent_requests: int = RECENT_REQUESTS,
        dialects: Sequence[Dialect] | None = None,
        time_scale: float = 0.0,
        task_of: Callable[[str], Task | None] | None = None,
        has_tasks: Callable[[str], bool] | None = None,
        max_findings: int = MAX_FINDINGS,
    ) -> None:
        self._model_of = model_of
        # Virtual ms a request's time may be off by on a busy machine (0 on a manual clock).
        self._slack = WALL_SLACK_MS * time_scale
        self._ttl = results_ttl_ms
        self._max_findings = max_findings_per_code
        self._recent_cap = recent_requests
        self._dialects = list(dialects) if dialects is not None else default_dialects()
        # A request on no dialect's route (a 404 path...) is judged by the first one's guidance.
        self._fallback = self._dialects[0]
        self._by_name = {d.name: d for d in self._dialects}
        self._classify = RouteTable(self._dialects, first=STATUS).match
        # A task only submitted so far is its submit's journal id when ``task_of`` can tell the
        # rest (key, model, dialect, creation time): a million tasks in a burst cost an int each.
        self._task_of = task_of
        self._tasks: dict[str, Track | int] = {}
        self._findings: dict[tuple[str, str | None, Hashable], Finding] = {}
        self._per_code: Counter[tuple[str | None, str]] = Counter()
        self._suppressed: Counter[tuple[str | None, str]] = Counter()
        self._requests: Counter[str | None] = Counter()
        self._recent: OrderedDict[tuple, _Attempt] = OrderedDict()
        self._windows: dict[str, _Window] = {}
        # Findings about evicted tasks, rendered as they went (their task and track are gone).
        self._settled: list[dict] = []
        # The keys in _findings of each task's findings, to settle them when the task is evicted.
        self._by_task: dict[str, list[tuple[str, str | None, Hashable]]] = {}
        # Requests of keys forgotten once their last task was evicted (keys without findings).
        self._forgotten_requests = 0
        self._forgotten_keys = 0
        self._forgotten_tasks = 0
        # ``has_tasks(key)``: the key has a live task (None: every key is kept, as without eviction).
        self._has_tasks = has_tasks
        self._key_scan_at = SCAN_FLOOR
        self._max_total = max_findings
        # Findings past ``max_findings`` in all, per code (summary.suppressed, under no key).
        self._overflow: Counter[str] = Counter()

    # -- feeding -----------------------------------------------------------------------

    def endpoint(self, path: str) -> str | None:
        """The dialect's name of the endpoint a path reaches (statusTask, files...), or None."""
        found = self._classify(path)
        return found[0].name if found is not None else None

    def observe(self, entry: Entry, horizon: int | None = None) -> None:
        """Take in one journal entry. ``horizon``: requests arrived when it was recorded."""
        # Every client request comes through here, so the common case (an answered poll of a
        # known task) asks for nothing it does not need: each check is called only when it could
        # act, as the checks themselves would decide.
        if horizon is None:
            horizon = entry.arrival
        found = self._classify(entry.path)
        kind, dialect = (found[0].kind, found[1]) if found is not None else (None, self._fallback)
        task_id = entry.task_id
        known = self._tasks.get(task_id) if task_id else None
        track: Track | None = self._track(task_id) if type(known) is int else known  # type: ignore[arg-type,assignment]
        key = entry.key
        status = entry.status
        # Result files need no key: a download belongs to the key that made the task.
        owner = key
        if owner is None and kind == FILES and track is not None:
            owner = track.key
        requests = self._requests
        if owner in requests:
            requests[owner] += 1
        else:
            if owner is not None and len(requests) >= self._key_scan_at:
                self._fold_idle_keys()
            requests[owner] = 1
        if kind in _API:
            if status == 401:
                self._missing_auth(entry, dialect)
            elif status in (400, 413):
                self._invalid(entry, owner, dialect)
        # A Retry-After window opens on a 429 and is judged while one is open for the key.
        if key is not None and (status == 429 or key in self._windows):
            self._retry_after(entry, horizon, dialect)
        # A success that repeats nothing remembered is nothing to judge nor to remember.
        if not 200 <= status < 300 or self._recent:
            self._repeats(entry, owner, kind, dialect, horizon)
        if kind == SUBMIT:
            if entry.status == 200 and entry.task_id and entry.task_id not in self._tasks:
                task = self._task_of(entry.task_id) if self._task_of is not None else None
                if task is not None and task.key == entry.key and task.model == entry.model:
                    self._tasks[entry.task_id] = entry.id
                else:
                    # The same key and model names for every task (one string each, not one per task).
                    key = sys.intern(entry.key) if entry.key is not None else None
                    self._tasks[entry.task_id] = Track(
                        entry.task_id, key, sys.intern(entry.model or ""), dialect, entry.time, entry.id
                    )
        elif kind == STATUS:
            if track is not None and track.key == key:
                self._poll(track, entry, horizon)
        elif kind == FILES and track is not None:
            track = self._followed(track)
            if entry.status == 200 and entry.fault not in UNREAD_FAULTS:
                track.downloads += 1
                if track.first_download is None:
                    track.first_download = entry.time
            elif len(track.failed_downloads) < EVIDENCE_CAP:
                track.failed_downloads = (*track.failed_downloads, (entry.id, entry.time, entry.path, entry.status))

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
        track = self._track(task_id)
        if track is not None:
            track = self._followed(track)
        if status == 200 and error is None:
            if track is not None:
                track.callback_acked = True
            return
        if track is not None and final and not track.callback_acked:
            track.callback_given_up = True
        owner = track.key if track is not None else key
        dialect = track.dialect if track is not None else None
        f = self._finding("CALLBACK_NOT_ACKNOWLEDGED", owner, task_id, task_id, dialect)
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
        self, code: str, key: str | None, group: Hashable, task_id: str | None, dialect: Dialect | None
    ) -> Finding | None:
        """The finding for (code, key, group), made if the per-code cap allows."""
        k = (code, key, group)
        f = self._findings.get(k)
        if f is None:
            if len(self._findings) + len(self._settled) >= self._max_total:
                self._overflow[code] += 1
                return None
            if self._per_code[(key, code)] >= self._max_findings:
                self._suppressed[(key, code)] += 1
                return None
            f = self._findings[k] = Finding(code, key, task_id, dialect)
            self._per_code[(key, code)] += 1
            if task_id is not None:
                self._by_task.setdefault(task_id, []).append(k)
        return f

    def _missing_auth(self, entry: Entry, dialect: Dialect) -> None:
        reason = "missing" if entry.key is None else "unknown"
        f = self._finding("MISSING_AUTH", entry.key, (dialect.name, reason), None, dialect)
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

    def _invalid(self, entry: Entry, owner: str | None, dialect: Dialect) -> None:
        group = (entry.method, entry.path, entry.status, entry.error)
        f = self._finding("INVALID_REQUEST", owner, group, None, dialect)
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

    def _retry_after(self, entry: Entry, horizon: int, dialect: Dialect) -> None:
        window = self._windows.get(entry.key)  # type: ignore[arg-type]
        if window is not None and _after(entry, window.horizon):
            if entry.time < window.until:
                f = self._finding("IGNORED_RETRY_AFTER", entry.key, window.id, None, window.dialect)
                if f is not None:
                    if not f.evidence:
                        f.evidence.append(window.id)
                        f.times.append(window.time)
                        f.facts.update(time=window.time, seconds=window.seconds, request=window.request)
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
        if entry.status == 429 and entry.retry_after is not None and entry.retry_after > 0:
            self._windows[entry.key] = _Window(entry, horizon, dialect, self._slack)  # type: ignore[index]

    def _repeats(self, entry: Entry, owner: str | None, kind: str | None, dialect: Dialect, horizon: int) -> None:
        """Recognise this request as a repeat of an earlier identical one and judge the retry."""
        fp = (owner, entry.method, entry.path, entry.query, entry.body_hash)
        prev = self._recent.get(fp)
        ok = 200 <= entry.status < 300
        if prev is None and ok:
            return  # nothing to judge, and a success is nothing a later repeat is judged by
        g = dialect.guidance  # the same path, so the same dialect as ``prev``
        chain = None
        if prev is not None and _after(entry, prev.horizon):
            if prev.status in g.non_retryable and not 200 <= entry.status < 300:
                self._retried_non_retryable(entry, owner, fp, prev, dialect)
            if prev.status in g.retryable:
                chain = self._backoff(entry, owner, prev, dialect)
            if kind == SUBMIT and prev.status in unknown_outcome(g):
                if entry.idempotency_key is None or entry.idempotency_key != prev.idem:
                    self._unsafe_resubmit(entry, owner, fp, prev, dialect)
        if ok:
            # A repeat after a success is not a retry: forgetting the earlier attempt judges a
            # later repeat exactly as remembering the success would (every check needs an error).
            del self._recent[fp]
            return
        retryable = entry.status in g.retryable
        if retryable and chain is None:
            chain = Chain(entry.id, entry.time, entry.status)
        self._recent[fp] = _Attempt(entry, horizon, chain if retryable else None)
        self._recent.move_to_end(fp)
        if len(self._recent) > self._recent_cap:
            self._recent.popitem(last=False)

    def _retried_non_retryable(
        self, entry: Entry, owner: str | None, fp: tuple, prev: _Attempt, dialect: Dialect
    ) -> None:
        f = self._finding("RETRIED_NON_RETRYABLE", owner, fp, entry.task_id, dialect)
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

    def _backoff(self, entry: Entry, owner: str | None, prev: _Attempt, dialect: Dialect) -> Chain:
        g = dialect.guidance
        chain = prev.chain or Chain(prev.id, prev.time, prev.status)
        gap = entry.time - prev.time
        chain.retries += 1
        if len(chain.gaps) < EVIDENCE_CAP:
            chain.gaps.append(gap)
        if entry.status in g.retryable and len(chain.statuses) < EVIDENCE_CAP:
            chain.statuses.append(entry.status)
        honoured = prev.retry_after is not None and gap >= prev.retry_after * 1000 * (1 - TOLERANCE) - self._slack
        if honoured:
            # The server chose this wait: it is neither a failure nor part of the client's own
            # backoff (max(backoff, Retry-After) is right), so it counts in neither sum.
            return chain
        # The envelope: a jittered backoff draws each wait anywhere below it, so no single gap
        # has to grow; the longest wait so far must keep up with the time the waits add up to.
        chain.envelope = max(chain.envelope, gap)
        chain.elapsed += gap
        capped = chain.envelope >= g.backoff_cap_ms * CAP_SHARE
        if not capped and chain.envelope + self._slack < ENVELOPE_SHARE * chain.elapsed:
            f = self._finding("NO_BACKOFF", owner, chain.first_id, None, dialect)
            if f is not None:
                if not f.evidence:
                    f.evidence.append(chain.first_id)
                    f.times.append(chain.first_time)
                    f.facts.update(request=_request(entry.method, entry.path, entry.query), chain=chain)
                f.add(entry.id, entry.time)
                f.facts.update(envelope=chain.envelope, elapsed=chain.elapsed)
        return chain

    def _unsafe_resubmit(self, entry: Entry, owner: str | None, fp: tuple, prev: _Attempt, dialect: Dialect) -> None:
        f = self._finding("SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY", owner, fp, None, dialect)
        if f is None:
            return
        if not f.evidence:
            f.evidence.append(prev.id)
            f.times.append(prev.time)
            f.facts.update(request=f"{entry.method} {entry.path}", status=prev.status, time=prev.time)
        f.add(entry.id, entry.time)
        f.facts["changed_key"] = f.facts.get("changed_key", False) or (
            entry.idempotency_key is not None and prev.idem is not None
        )
        f.facts["first_idem"] = f.facts.get("first_idem") or prev.idem

    def _poll(self, track: Track, entry: Entry, horizon: int) -> None:
        status = entry.status
        if 400 <= status < 500 and status != 429:
            return  # refused before it reached the task (auth, wrong model path...)
        if track.terminal is not None:
            if _after(entry, track.terminal_horizon):
                f = self._finding("POLLED_AFTER_TERMINAL", track.key, track.task_id, track.task_id, track.dialect)
                if f is not None:
                    f.add(entry.id, entry.time)
            return
        time = entry.time
        model = self._model_of(track.dialect.name, track.model)
        if model is not None:
            slack = self._slack
            if time - track.submitted < model.initial_wait_ms * _KEPT - slack:
                f = self._finding("POLL_BEFORE_INITIAL_WAIT", track.key, track.task_id, track.task_id, track.dialect)
                if f is not None:
                    f.add(entry.id, time)
            last_poll = track.last_poll
            if last_poll is not None:
                gap = time - last_poll
                if gap < model.poll_interval_ms * _KEPT - slack:
                    self._poll_too_fast(track, model, entry, gap)
        if type(track) is not Followed:
            track = self._followed(track)
        track.last_request = time
        track.last_request_id = entry.id
        state = entry.state
        if status == 200 and state is not None and entry.fault not in UNREAD_FAULTS:
            track.polls += 1
            track.last_poll = time
            track.last_state = state
            if state in TERMINAL:
                track.terminal = state
                track.terminal_time = time
                track.terminal_horizon = horizon

    def _poll_too_fast(self, track: Track, model: Model, entry: Entry, gap: int) -> None:
        # Where the pages disagree on this interval (and the catalog took the strict one), a gap
        # that keeps the lenient one is a warning citing both pages, in a finding of its own.
        disputes = track.dialect.guidance.disputed
        dispute = disputes.get(f"poll_interval/{model.kind}") if disputes else None
        disputed = (
            dispute is not None
            and model.poll_interval_ms == dispute.strict
            and gap >= dispute.lenient * _KEPT - self._slack
        )
        group = (track.task_id, "disputed") if disputed else track.task_id
        f = self._finding("POLL_TOO_FAST", track.key, group, track.task_id, track.dialect)
        if f is not None:
            f.severity = WARNING if disputed else None
            f.add(entry.id, entry.time)
            facts = f.facts
            least = facts.get("min_gap")
            if least is None or gap < least:
                facts["min_gap"] = gap
            if disputed:
                facts["dispute"] = dispute

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
        for d in self._settled:
            if wanted(d["key"]):
                per_code[(d["key"], d["code"])] += 1
                out.append({**d, "evidence": list(d["evidence"])})  # callers may mask keys in place
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
        if key is ALL_KEYS:
            suppressed.update(self._overflow)  # past the cap on findings in all: no key kept
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
            "tasks": len(self._tasks) if key is ALL_KEYS else sum(1 for t in self._tracks() if wanted(t.key)),
            "now": now,
        }
        if key is ALL_KEYS and (self._forgotten_tasks or self._forgotten_keys):
            # Evicted tasks count; keys forgotten with their last task count in the totals only.
            summary["requests"] += self._forgotten_requests
            summary["tasks"] += self._forgotten_tasks
            summary["evictedTasks"] = self._forgotten_tasks
            summary["forgottenKeys"] = self._forgotten_keys
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

    def _track(self, task_id: str) -> Track | None:
        """What the tracker knows of a task (a Track made from the task when only its submit id is kept)."""
        known = self._tasks.get(task_id)
        if type(known) is not int:
            return known  # type: ignore[return-value]
        task = self._task_of(task_id) if self._task_of is not None else None
        if task is None:
            return None
        dialect = self._by_name.get(task.dialect, self._fallback)
        return Track(task_id, task.key, task.model, dialect, task.created_ms, known)

    def _tracks(self) -> Iterable[Track]:
        for task_id in list(self._tasks):
            track = self._track(task_id)
            if track is not None:
                yield track

    def _followed(self, track: Track) -> Followed:
        """``track`` with room for what the client did (see Track)."""
        if isinstance(track, Followed):
            return track
        followed = self._tasks[track.task_id] = Followed(track)
        return followed

    # -- eviction ------------------------------------------------------------------------

    def forget_task(self, task: Task, now: int) -> None:
        """The task was evicted: settle what the end of the run would say of it (its results
        were never fetched, it was abandoned) into findings of their own, and drop its state."""
        known = self._tasks.get(task.task_id)
        if known is None:
            return
        if type(known) is int:  # never followed: the task itself says what the store no longer can
            dialect = self._by_name.get(task.dialect, self._fallback)
            track: Track = Track(task.task_id, task.key, task.model, dialect, task.created_ms, known)
        else:
            track = known  # type: ignore[assignment]
        # Findings about the task (a poll after the end...) are rendered now, with its track.
        for k in self._by_task.pop(task.task_id, ()):
            f = self._findings.pop(k, None)
            if f is not None:
                self._settled.append(self._render(f, lambda _id: task, track))
        model = self._model_of(track.dialect.name, track.model)
        if model is not None:
            for f in self._track_end(track, task, model, now):
                if len(self._findings) + len(self._settled) >= self._max_total:
                    self._overflow[f.code] += 1
                    continue
                if self._per_code[(f.key, f.code)] >= self._max_findings:
                    self._suppressed[(f.key, f.code)] += 1
                    continue
                self._per_code[(f.key, f.code)] += 1
                self._settled.append(self._render(f, lambda _id: task, track))
        del self._tasks[task.task_id]
        self._forgotten_tasks += 1

    def forget_key(self, key: str) -> None:
        """The key's last task was evicted: unless the report has something to say about it, its
        request count joins the forgotten keys' total, so that distinct keys do not pile up."""
        if self._has_findings(key):
            return
        self._forgotten_requests += self._requests.pop(key, 0)
        self._forgotten_keys += 1
        self._windows.pop(key, None)

    def _has_findings(self, key: str) -> bool:
        return any((key, code) in self._per_code or (key, code) in self._suppressed for code in CHECKS)

    def _fold_idle_keys(self) -> None:
        """Forget the keys with no live task and nothing to report (as ``forget_key`` does when a
        key's last task is evicted): a client sending from ever new keys does not pile them up.
        Runs when the number of keys has doubled since the last scan: amortised O(1) a new key."""
        has_tasks = self._has_tasks
        if has_tasks is not None:
            for key in [k for k in self._requests if k is not None]:
                if not has_tasks(key) and not self._has_findings(key):
                    self.forget_key(key)
        self._key_scan_at = max(SCAN_FLOOR, 2 * len(self._requests))

    def _end_of_run(self, now: int, task_of: Callable[[str], Task | None], wanted) -> Iterable[Finding]:
        """Findings that depend on what has not happened by ``now``: downloads, abandoned tasks."""
        for track in self._tracks():
            if not wanted(track.key):
                continue
            task = task_of(track.task_id)
            model = self._model_of(track.dialect.name, track.model)
            if task is None or model is None:
                continue
            yield from self._track_end(track, task, model, now)

    def _track_end(self, track: Track, task: Task, model: Model, now: int) -> Iterable[Finding]:
        """The end-of-run findings of one task at ``now``."""
        state, complete = state_at(task, now)
        saw_success = track.terminal == SUCCESS or (track.callback_acked and state == SUCCESS)
        if saw_success and track.downloads == 0:
            f = Finding("RESULTS_NOT_DOWNLOADED", track.key, track.task_id, track.dialect)
            f.add(track.submit_id, track.submitted)
            for entry_id, time, _path, _status in track.failed_downloads:
                f.add(entry_id, time)
            f.count = 1
            f.facts.update(complete=complete, outputs=task.outputs, now=now)
            yield f
        dispute = track.dialect.guidance.disputed.get("result_lifetime")
        if (
            dispute is not None
            and saw_success
            and track.first_download is not None
            and complete is not None
            and track.first_download - complete > dispute.strict
        ):
            # Fetched, but after the lifetime one page gives and within the other's.
            f = Finding("RESULTS_NOT_DOWNLOADED", track.key, track.task_id, track.dialect, WARNING)
            f.add(track.submit_id, track.submitted)
            f.count = 1
            f.facts.update(complete=complete, outputs=task.outputs, now=now, late=track.first_download, dispute=dispute)
            yield f
        if track.terminal is not None or track.callback_acked:
            return
        if task.request_type == "callback":
            if track.callback_given_up:
                f = Finding("ABANDONED_TASK", track.key, track.task_id, track.dialect)
                f.add(track.submit_id, track.submitted)
                f.facts.update(callback=True, state=state)
                yield f
            return
        last = track.last_request if track.last_request is not None else track.submitted
        deadline = track.submitted + model.max_wait_ms
        grace = max(track.dialect.guidance.backoff_cap_ms, model.poll_interval_ms)
        ended = state in TERMINAL
        if now - last >= grace and last < deadline and (ended or now >= deadline):
            f = Finding("ABANDONED_TASK", track.key, track.task_id, track.dialect)
            f.add(track.submit_id, track.submitted)
            if track.last_request_id is not None:
                f.add(track.last_request_id, last)
            f.count = 1
            f.facts.update(state=state, complete=complete, request_type=task.request_type)
            yield f

    def _render(self, f: Finding, task_of: Callable[[str], Task | None], track: Track | None = None) -> dict:
        """The finding as the report shows it; ``track``: its task's, when the tracker no longer
        has it (an evicted task's findings are rendered as it goes)."""
        check = CHECKS[f.code]
        out: dict = {"code": f.code, "severity": f.severity or check.severity, "key": f.key}
        if f.task_id is not None:
            out["taskId"] = f.task_id
        if track is None:
            track = self._track(f.task_id or "")
        model = self._model_of(track.dialect.name, track.model) if track is not None else None
        task = task_of(f.task_id) if f.task_id else None
        dialect = f.dialect or (self._by_name.get(task.dialect) if task is not None else None) or self._fallback
        out["message"] = message(f, Context(track, model, task, self._ttl(), dialect))
        out["count"] = max(f.count, 1)
        out["evidence"] = list(f.evidence)
        return out
