"""The admin operations as plain data: what ``/__admin`` answers, without HTTP.

Two callers share these so they cannot drift apart: the thin Starlette handlers in
``http/admin.py``, and ``MockApi`` in-process, which calls them directly (a fuzz loop makes a
few admin calls per example; going through HTTP costs more than the operation). Each function
takes what the handler has parsed (a JSON object, query filters) and returns the JSON-ready
answer, or raises the ApiError the handler would have answered with.

The clock moves through the callback dispatcher that ``create_app`` attached to the service
(``mock.callbacks``): an advance stops at each due delivery and awaits it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Protocol, cast

from mockserver._version import __version__
from mockserver.core.errors import BadRequest, Gone, NotFound
from mockserver.core.redact import mask_key
from mockserver.core.service import MockService
from mockserver.core.tasks import Task
from mockserver.report import ALL_KEYS
from mockserver.scenarios.loading import Scenario, ScenarioError, find, parse, parse_text


class ClockDriver(Protocol):
    """What the admin clock needs of the callback dispatcher (callbacks.dispatcher)."""

    def next_due(self) -> int | None: ...

    async def advance_to(self, target: int) -> None: ...

    async def run_until_idle(self) -> None: ...


def _driver(mock: MockService) -> ClockDriver:
    return cast(ClockDriver, mock.callbacks)


def health(mock: MockService) -> dict:
    return {
        "status": "ok",
        "version": __version__,
        "dialect": next(iter(mock.dialects)),
        "dialects": list(mock.dialects),
        "clock": mock.clock.mode,
        "now": mock.now(),
        "tasks": len(mock.store),
        "evicted": mock.store.evicted_total,
        # What a replay bundle needs to serve this run again.
        "seed": mock.seed,
        "start": mock.clock_start_ms,
        "scenario": mock.scenario.name,
    }


def reset(mock: MockService) -> dict:
    mock.reset()
    return {"status": "reset", "now": mock.now()}


def next_event(mock: MockService) -> int | None:
    """The next task event or callback attempt (one due already counts as now)."""
    times = [x for x in (mock.next_event(), _driver(mock).next_due()) if x is not None]
    return max(min(times), mock.now()) if times else None


def clock(mock: MockService) -> dict:
    return {
        "mode": mock.clock.mode,
        "now": mock.now(),
        "scale": getattr(mock.clock, "scale", None) if mock.clock.mode == "real" else None,
        "nextEvent": next_event(mock),
        "unfinished": sum(1 for _ in mock.unfinished()),
    }


async def advance(mock: MockService, body: Mapping[str, object], *, reveal: bool = True) -> dict:
    """``{"ms": N}`` or ``{"to": "next" | "idle" | EPOCH_MS}``: move the clock, attempting each
    callback due on the way; the clock as it is then, and the poll-driven tasks still waiting.

    ``"tasks": true`` adds every task as ``tasks()`` lists them: what a test reads after moving
    the clock, in the same round trip.
    """
    unknown = set(body) - {"ms", "to", "tasks"}
    if unknown:
        raise BadRequest(
            "Invalid request", error=f"Unknown field: {sorted(unknown)[0]} (expected 'ms' or 'to', optionally 'tasks')"
        )
    if ("ms" in body) == ("to" in body):
        raise BadRequest("Invalid request", error='Send exactly one of {"ms": N} or {"to": "next" | "idle"}')
    with_tasks = body.get("tasks", False)
    if not isinstance(with_tasks, bool):
        raise BadRequest(
            "Invalid request", error=f"Invalid value for tasks: expected true or false, got {with_tasks!r}"
        )
    driver = _driver(mock)
    if "ms" in body:
        ms = body["ms"]
        if not isinstance(ms, int) or isinstance(ms, bool) or ms < 0:
            raise BadRequest("Invalid request", error=f"Invalid value for ms: expected an integer >= 0, got {ms!r}")
        # Each advance returns only after the callbacks due by the new time were attempted.
        await driver.advance_to(mock.now() + ms)
    else:
        to = body["to"]
        if to == "next":
            when = next_event(mock)
            await driver.advance_to(mock.now() if when is None else when)
        elif to == "idle":
            await driver.run_until_idle()
        elif isinstance(to, int) and not isinstance(to, bool):
            if to < mock.now():
                raise BadRequest("Invalid request", error=f"Invalid value for to: {to} is in the past")
            await driver.advance_to(to)
        else:
            raise BadRequest(
                "Invalid request",
                error=f"Invalid value for to: expected 'next', 'idle' or an epoch-ms time, got {to!r}",
            )
    info = clock(mock)
    # Poll-driven tasks do not move with time; say which are still waiting for polls.
    info["waitingForPolls"] = [
        task.task_id for task in mock.unfinished() if task.progression == "polls" and task.forced_ms is None
    ]
    if with_tasks:
        info["tasks"] = tasks(mock, {}, reveal=reveal)["tasks"]
    return info


def tasks(mock: MockService, filters: Mapping[str, str], *, reveal: bool = True) -> dict:
    """Every task as the admin API describes it; ``filters``: state=, model=, key= (empty: any).

    ``reveal=False``: API keys masked (core/redact.py), as the HTTP admin API shows them."""
    state, model, key = filters.get("state"), filters.get("model"), filters.get("key")
    out = []
    for task in mock.store:
        if model and task.model != model:
            continue
        if key and task.key != key:
            continue
        info = mock.describe_task(task)
        if state and info["state"] != state:
            continue
        if not reveal:
            info["key"] = mask_key(info["key"])
        out.append(info)
    answer: dict = {"tasks": out}
    if mock.store.evicted_total:
        answer["evicted"] = mock.store.evicted_total  # tasks forgotten since the reset (--evict-after)
    return answer


def find_task(mock: MockService, task_id: str) -> Task:
    """The task, or 410 for one that was evicted (its id still remembered), else 404."""
    found = mock.store.get(task_id)
    if found is not None:
        return found
    if task_id in mock.store.evicted:
        raise Gone(f"Task evicted: {task_id}", error=mock.evicted_message(task_id))
    raise NotFound(f"Task not found: {task_id}", error=f"No task '{task_id}'")


def journal(mock: MockService, since: int = 0, limit: int | None = None, *, reveal: bool = True) -> dict:
    entries = [e.to_dict() for e in mock.journal.entries(since, limit)]
    if not reveal:
        for entry in entries:
            entry["key"] = mask_key(entry["key"])
    return {"size": mock.journal.size, "dropped": mock.journal.dropped, "entries": entries}


def scenario_source(name: str | None, raw: bytes, yaml_body: bool, mock: MockService) -> object:
    """What PUT /__admin/scenario loads: a library entry's path (``name``), else the body parsed
    (JSON, or YAML when ``yaml_body``; empty: the empty scenario). BadRequest/NotFound otherwise."""
    if name is not None:
        entry = find(name)
        if entry is None:
            raise NotFound(f"Scenario not found: {name}", error=f"No scenario named {name!r} in the library")
        return entry.path
    if len(raw) > mock.settings.max_body_bytes:
        raise BadRequest("Invalid scenario", error="Scenario too large")
    try:
        return read_scenario(raw, yaml_body, mock.model_names())
    except ScenarioError as exc:
        raise BadRequest("Invalid scenario", error=str(exc)) from None


def body_text(raw: bytes) -> str:
    """A scenario or rule body as text, or a ScenarioError naming the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError("", f"not UTF-8 text: byte {exc.start} is {raw[exc.start : exc.start + 1]!r}") from None


def read_scenario(raw: bytes, yaml_body: bool, models: list[str]) -> Scenario:
    """A scenario from a request body: JSON, or YAML when ``yaml_body``; empty: the empty scenario.

    The same bytes give the same Scenario (immutable; a load makes fresh rule counts), so the
    last few parsed are kept: a fuzz loop loads a scenario again on every repeated example.
    """
    if len(raw) > _CACHED_BYTES:
        return _read_scenario(raw, yaml_body, tuple(models))
    return _read_scenario_cached(raw, yaml_body, tuple(models))


# What a scenario's parse cache holds: 64 scenarios of at most 16 KB each.
_CACHED_BYTES = 16 * 1024


def _read_scenario(raw: bytes, yaml_body: bool, models: tuple[str, ...]) -> Scenario:
    doc = parse_text(body_text(raw), json_only=not yaml_body) if raw.strip() else {}
    return parse({} if doc is None else doc, models, owned=True)  # parsed just now: nobody else holds it


_read_scenario_cached = functools.lru_cache(maxsize=64)(_read_scenario)


def load_scenario(mock: MockService, source: object) -> dict:
    """Load ``source`` (from ``scenario_source``) and reset; the running scenario's document
    (shared with the mock: serialize it or copy it, never change it)."""
    try:
        mock.load_scenario(source)
    except ScenarioError as exc:
        raise BadRequest("Invalid scenario", error=str(exc)) from None
    return mock.scenario_document(copied=False)


# -- read-only views for the dashboard and the HTML report ----------------------------------


def _bands(info: dict, now: int) -> list[dict]:
    """The task's states over virtual time: pending, processing, then its end state (until now)."""
    created, end = info["createTime"], info.get("completeTime")
    if info.get("progression") != "time":
        # Moved on by polls, not time: only the end (when known) is placed.
        until = end if end is not None else now
        bands = [{"state": "waiting", "from": created, "to": until}]
    else:
        started = created + (info.get("pendingMs") or 0)
        bands = [{"state": "pending", "from": created, "to": min(started, end if end is not None else now)}]
        if (end is None and now > started) or (end is not None and end > started):
            bands.append({"state": "processing", "from": started, "to": end if end is not None else now})
    if end is not None:
        bands.append({"state": info["state"], "from": end, "to": max(end, now)})
    return bands


def timeline(mock: MockService, task_id: str, *, reveal: bool = True, report: dict | None = None) -> dict:
    """One task on the virtual clock: its state bands, every request about it (submit, polls,
    downloads), its callback attempts, the model's guidance (initial wait, poll interval, give-up
    time) and the report's findings about it, whose evidence ids are journal entry ids."""
    task = find_task(mock, task_id)
    now = mock.now()
    info = mock.describe_task(task)
    if not reveal:
        info["key"] = mask_key(info["key"])
    requests = [e.to_dict() for e in mock.journal.entries() if e.task_id == task_id]
    if not reveal:
        for entry in requests:
            entry["key"] = mask_key(entry["key"])
    log = getattr(mock.callbacks, "log", None)
    attempts = [a.to_dict() for a in log.entries(task_id=task_id)] if log is not None else []
    model = mock.model_of(task)
    guidance = mock.dialects[task.dialect].guidance if task.dialect in mock.dialects else None
    if report is None:
        report = mock.conformance_report(ALL_KEYS)
    findings = [f for f in report["findings"] if f.get("taskId") == task_id]
    if not reveal:
        findings = [{**f, "key": mask_key(f["key"])} for f in findings]
    return {
        "now": now,
        "task": info,
        "bands": _bands(info, now),
        "requests": requests,
        "callbacks": attempts,
        "guidance": {
            "initialWaitMs": model.initial_wait_ms if model else None,
            "pollIntervalMs": model.poll_interval_ms if model else None,
            "maxWaitMs": model.max_wait_ms if model else None,
            "backoffFactor": guidance.backoff_factor if guidance else None,
            "backoffCapMs": guidance.backoff_cap_ms if guidance else None,
            "source": guidance.pages.get("intervals") if guidance else None,
        },
        "findings": findings,
    }


def timelines(mock: MockService, *, reveal: bool = True) -> dict:
    """Every task's timeline, the whole report and the server (what ``report --html`` draws)."""
    report = mock.conformance_report(ALL_KEYS)
    tasks = [timeline(mock, task.task_id, reveal=reveal, report=report) for task in mock.store]
    if not reveal:
        for finding in report["findings"]:
            finding["key"] = mask_key(finding["key"])
        report["summary"]["key"] = mask_key(report["summary"]["key"])
        for row in report["summary"].get("keys", ()):
            row["key"] = mask_key(row["key"])
    return {"server": health(mock), "now": mock.now(), "report": report, "tasks": tasks}
