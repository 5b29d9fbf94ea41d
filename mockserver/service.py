"""The mock's state and rules: submit, status, balance, files, and the admin operations.

Plain Python with no HTTP imports (moto's ``models.py``): the HTTP layer parses a
request, calls one method here, and formats what comes back through the dialect.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Iterable

from . import tasks as t
from .billing import UNLIMITED_BALANCE, Accounts
from .callbacks import CallbackConfig, CallbackDispatcher
from .catalog import Catalog, InputInvalid, Model, load_catalog
from .clock import ManualClock, RealClock, make_clock
from .config import Settings
from .conformance import ALL_KEYS, ConformanceTracker
from .dialects import apixo
from .errors import BadRequest, Conflict, NotFound, PaymentRequired, Unauthorized
from .journal import Journal
from .media import content_type, render
from .tasks import Task, TaskStore, next_event_ms, record_poll, state_at


class MockService:
    """One mock provider: its clock, models, accounts, tasks and journal."""

    def __init__(self, settings: Settings | None = None, catalog: Catalog | None = None) -> None:
        self.settings = settings or Settings()
        self.catalog = catalog or load_catalog()
        self.dialect = apixo
        self._start_ms: int | None = self.settings.start_ms
        self.callbacks = CallbackDispatcher(self)
        self.reset()

    # -- lifecycle -------------------------------------------------------------

    def reset(self) -> None:
        """Back to the starting state: no tasks, fresh accounts, empty journal, clock restarted."""
        s = self.settings
        self.clock: RealClock | ManualClock = make_clock(s.clock, s.time_scale, self._start_ms)
        if self._start_ms is None and s.clock == "manual":
            # Remember where a manual clock started so a reset replays the same times.
            self._start_ms = self.clock.now_ms()
        self.models: dict[str, Model] = {
            name: dataclasses.replace(self.catalog.get(name)) for name in self.catalog.names()
        }
        self.accounts = Accounts(dict(s.api_keys) if s.api_keys is not None else None)
        self.store = TaskStore()
        self.rng = random.Random(s.seed)
        # The conformance tracker grades each request as the journal records it; it looks
        # models and settings up when it needs them, so scenario overrides apply.
        self.conformance = ConformanceTracker(
            lambda name: self.models.get(name), lambda: self.settings.results_ttl_ms
        )
        self.journal = Journal(s.journal_size, observer=self.conformance.observe)
        # Tasks that will end failed and are not refunded yet, per key (refunds are
        # settled lazily: the task's state is a function of time, nothing fires).
        self._unrefunded: dict[str, list[Task]] = {}
        self.callback_config = CallbackConfig.from_dict(s.callbacks, secret=s.webhook_secret)
        self.callbacks.clear()

    def now(self) -> int:
        return self.clock.now_ms()

    # -- auth ------------------------------------------------------------------

    def authenticate(self, key: str | None) -> str:
        """The account key for a bearer key, or 401."""
        if not key:
            raise Unauthorized("Missing API key: send 'Authorization: Bearer YOUR_API_KEY'")
        found = self.accounts.find(key)
        if found is None:
            raise Unauthorized("Invalid API key")
        return found

    # -- models ----------------------------------------------------------------

    def model(self, name: str) -> Model:
        model = self.models.get(name)
        if model is None:
            raise NotFound(
                f"Model not found: {name}",
                error=f"Unknown model '{name}'. Known models: {', '.join(sorted(self.models))}",
            )
        return model

    # -- submit ----------------------------------------------------------------

    def submit(self, key: str, model_name: str, body: object, idempotency_key: str | None = None) -> Task:
        """Create a task (or return the one an Idempotency-Key already made)."""
        model = self.model(model_name)
        fingerprint = None
        if idempotency_key is not None:
            fingerprint = _fingerprint(model_name, body)
            seen = self.store.idempotency.get((key, idempotency_key))
            if seen is not None:
                if seen[0] != fingerprint:
                    raise Conflict(
                        "Idempotency-Key reused with a different request",
                        error=f"Idempotency-Key '{idempotency_key}' was first used with another body or model",
                    )
                task = self.store.get(seen[1])
                if task is not None:
                    return task
        req = self.dialect.parse_submit(body)
        provider = req.provider or ("official" if model.official_only else "auto")
        if model.official_only and provider != "official":
            raise BadRequest(
                "Invalid request",
                error=f"Invalid value for provider: {model.name} supports only 'official', got {provider!r}",
            )
        try:
            model.validate(req.input)
        except InputInvalid as exc:
            raise BadRequest("Invalid request", error=str(exc)) from None
        assert isinstance(req.input, dict)
        self._check_follow_up(key, model, req.input)
        cost = model.cost(req.input)
        now = self.now()
        self._settle(key, now)
        if not self.accounts.charge(key, cost):
            balance = self.accounts.balance(key)
            raise PaymentRequired(
                "Insufficient credits",
                error=f"This task costs {_num(cost)} credits; the key's balance is {_num(balance or 0)}",
            )
        task = self._new_task(key, model, req, cost, now)
        self.store.add(task)
        if fingerprint is not None:
            self.store.idempotency[(key, idempotency_key)] = (fingerprint, task.task_id)  # type: ignore[index]
        self.callbacks.track(task)
        return task

    def _new_task(self, key: str, model: Model, req: apixo.SubmitRequest, cost: float, now: int) -> Task:
        lo, hi = model.processing_ms
        task_id = self.dialect.new_task_id(self.rng)
        while task_id in self.store.tasks:
            task_id = self.dialect.new_task_id(self.rng)
        return Task(
            task_id=task_id,
            model=model.name,
            key=key,
            created_ms=now,
            pending_ms=model.pending_ms,
            processing_ms=self.rng.randint(lo, hi) if hi > lo else lo,
            outputs=model.outputs(req.input),  # type: ignore[arg-type]
            spec=model.output_spec(req.input),  # type: ignore[arg-type]
            seed=self.rng.getrandbits(32),
            cost=cost,
            request_type=req.request_type,
            callback_url=req.callback_url,
            provider=req.provider or ("official" if model.official_only else "auto"),
            progression=model.progression,
            pending_polls=model.pending_polls,
            processing_polls=model.processing_polls,
        )

    def _check_follow_up(self, key: str, model: Model, input: dict) -> None:
        """Follow-up modes (midjourney vary/upscale...) must name an earlier successful task of this key."""
        ref = model.follow_up(input)
        if ref is None:
            return
        ref_id, index = ref
        task = self.store.get(ref_id)
        if task is None or task.key != key:
            raise BadRequest("Invalid request", error=f"input.taskId: no task {ref_id!r} for this API key")
        if task.model != model.name:
            raise BadRequest(
                "Invalid request",
                error=f"input.taskId: task {ref_id!r} is a {task.model} task, not {model.name}",
            )
        state, _ = state_at(task, self.now())
        if state != t.SUCCESS:
            raise BadRequest(
                "Invalid request",
                error=f"input.taskId: task {ref_id!r} is {state}; follow-ups need a successful task",
            )
        if index is not None and not 0 <= index < task.outputs:
            raise BadRequest(
                "Invalid request",
                error=f"input.imageIndex: {index} is out of range for task {ref_id!r} "
                f"({task.outputs} images: 0..{task.outputs - 1})",
            )

    # -- status ----------------------------------------------------------------

    def find_task(self, key: str, model_name: str, task_id: str | None) -> Task:
        """The caller's task, asked for under its model's path, or 404 saying what is wrong."""
        if not task_id:
            raise BadRequest("Invalid request", error="Missing required query parameter: taskId")
        model = self.model(model_name)
        task = self.store.get(task_id)
        if task is None or task.key != key:
            raise NotFound(f"Task not found: {task_id}", error=f"No task '{task_id}' for this API key")
        if task.model != model.name:
            raise NotFound(
                f"Task not found: {task_id}",
                error=f"Task '{task_id}' belongs to model '{task.model}', not '{model.name}': "
                f"poll /api/v1/statusTask/{task.model}?taskId={task_id}",
            )
        return task

    def poll(self, task: Task) -> tuple[str, int | None]:
        """Record one status poll and return the state it sees."""
        now = self.now()
        ended_by_polls = task.poll_done_ms
        record_poll(task, now)
        if ended_by_polls is None and task.poll_done_ms is not None:
            self.callbacks.track(task)  # this poll ended a poll-driven task: its callback is due
        return state_at(task, now)

    def view(self, task: Task) -> tuple[str, int | None]:
        """The state now, without counting a poll (admin views)."""
        return state_at(task, self.now())

    def result_urls(self, task: Task, base_url: str) -> list[str]:
        base = self.settings.public_url or base_url
        ext = task.spec.ext
        return [f"{base}/files/{task.task_id}/{n}.{ext}" for n in range(task.outputs)]

    def status_data(self, task: Task, state: str, complete_ms: int | None, base_url: str) -> dict:
        urls = self.result_urls(task, base_url) if state == t.SUCCESS else None
        return self.dialect.status_data(task, state, complete_ms, urls)

    # -- balance and files -----------------------------------------------------

    def balance(self, key: str) -> float:
        self._settle(key, self.now())
        balance = self.accounts.balance(key)
        return UNLIMITED_BALANCE if balance is None else balance

    def result_file(self, task_id: str, filename: str) -> tuple[bytes, str]:
        """A result file's bytes and Content-Type, or 404 (unknown, unfinished, expired)."""
        task = self.store.get(task_id)
        if task is None:
            raise NotFound("File not found", error=f"No task '{task_id}'")
        parsed = self.dialect.parse_result_filename(filename)
        state, complete_ms = state_at(task, self.now())
        if state != t.SUCCESS:
            raise NotFound("File not found", error=f"Task '{task_id}' has no results: it is {state}")
        if parsed is None or parsed[1] != task.spec.ext or not 0 <= parsed[0] < task.outputs:
            names = ", ".join(f"{n}.{task.spec.ext}" for n in range(task.outputs))
            raise NotFound("File not found", error=f"Task '{task_id}' has no file '{filename}' (it has {names})")
        assert complete_ms is not None
        if self.now() >= complete_ms + self.settings.results_ttl_ms:
            raise NotFound("File expired", error=f"Result files of task '{task_id}' have expired")
        body = render(task.spec, task.seed + parsed[0])
        return body, content_type(task.spec.ext) or "application/octet-stream"

    # -- refunds ---------------------------------------------------------------

    def _settle(self, key: str, now: int) -> None:
        """Refund this key's tasks that have ended failed."""
        pending = self._unrefunded.get(key)
        if not pending:
            return
        keep = []
        for task in pending:
            state, _ = state_at(task, now)
            if state == t.FAILED and not task.refunded:
                task.refunded = True
                self.accounts.refund(task.key, task.cost)
            elif state not in t.TERMINAL:
                keep.append(task)
        self._unrefunded[key] = keep

    def plan_failure(self, task: Task, code: str, message: str | None = None, at: str = t.PROCESSING) -> None:
        """Make a task end failed with ``code`` (used by admin and scenario rules)."""
        task.fail_code = code
        task.fail_msg = message or self.dialect.FAIL_MESSAGES.get(code)
        task.fail_at = at
        self._unrefunded.setdefault(task.key, []).append(task)
        self.callbacks.track(task)

    # -- admin -----------------------------------------------------------------

    def force(self, task: Task, outcome: str, code: str | None = None, message: str | None = None) -> None:
        """End an unfinished task now, as success or failed."""
        now = self.now()
        state, _ = state_at(task, now)
        if state in t.TERMINAL:
            raise Conflict("Task already finished", error=f"Task '{task.task_id}' is already {state}")
        if outcome == t.FAILED:
            self.plan_failure(task, code or "GENERATION_FAILED", message)
        else:
            task.fail_code = None
            task.fail_msg = None
        task.forced_ms = now
        self._settle(task.key, now)
        self.callbacks.track(task)

    def callback_decision(self, task: Task, attempt: int) -> tuple[str, int] | None:
        return None  # scenario rules plug in here

    def unfinished(self, now: int | None = None) -> Iterable[Task]:
        now = self.now() if now is None else now
        return (task for task in self.store if state_at(task, now)[0] not in t.TERMINAL)

    def next_event(self) -> int | None:
        """The next virtual time at which some task changes state by time alone."""
        now = self.now()
        times = [e for e in (next_event_ms(task, now) for task in self.store) if e is not None]
        return min(times) if times else None

    def idle_time(self) -> int | None:
        """When every time-driven task will have ended (None if none is unfinished)."""
        now = self.now()
        ends = []
        for task in self.unfinished(now):
            end = task.end_ms if task.forced_ms is None else task.forced_ms
            if end is not None:
                ends.append(end)
        return max(ends) if ends else None

    def advance(self, ms: int) -> int:
        return self.clock.advance(ms)

    def advance_to(self, when: int) -> int:
        now = self.now()
        return self.clock.advance(max(0, when - now))

    def conformance_report(self, key: object = ALL_KEYS) -> dict:
        """The client conformance report for one key (None: requests without a key) or all keys."""
        j = self.journal
        journal = {"size": j.size, "kept": len(j), "dropped": j.dropped, "firstId": j.first_id}
        return self.conformance.report(self.now(), self.store.get, key, journal)

    def describe_task(self, task: Task) -> dict:
        now = self.now()
        state, complete_ms = state_at(task, now)
        info = {
            "taskId": task.task_id,
            "model": task.model,
            "key": task.key,
            "state": state,
            "createTime": task.created_ms,
            "pendingMs": task.pending_ms,
            "processingMs": task.processing_ms,
            "progression": task.progression,
            "polls": task.polls,
            "outputs": task.outputs,
            "cost": task.cost,
            "requestType": task.request_type,
            "callbackUrl": task.callback_url,
            "provider": task.provider,
        }
        if complete_ms is not None:
            info["completeTime"] = complete_ms
        if task.fail_code is not None:
            info["failCode"] = task.fail_code
        return info


def _fingerprint(model: str, body: object) -> str:
    try:
        text = json.dumps([model, body], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr((model, body))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _num(value: float) -> str:
    return f"{value:g}"
