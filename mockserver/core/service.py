"""The mock's state and rules: submit, status, balance, files, and the admin operations.

Plain Python with no HTTP imports (moto's ``models.py``): the HTTP layer reads a request
through its dialect, calls one method here in the core's words, and the dialect spells out
what comes back. Callback delivery (asyncio, httpx) is attached from outside: the service only
tells ``callbacks`` when a task's end becomes known.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import random
import secrets
import sys
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from mockserver import dialects as _dialects
from mockserver.callbacks.config import CallbackConfig
from mockserver.callbacks.targets import CallbackTargetRefused, check_callback_target
from mockserver.core import tasks as t
from mockserver.core.billing import UNLIMITED_BALANCE, Accounts
from mockserver.core.catalog import Catalog, InputInvalid, Model
from mockserver.core.clock import ManualClock, RealClock, make_clock
from mockserver.core.config import Settings
from mockserver.core.errors import BadRequest, Conflict, NotFound, PaymentRequired, RateLimited, Unauthorized
from mockserver.core.images import image_url_failure, image_urls
from mockserver.core.journal import Journal
from mockserver.core.keys import unset_variable
from mockserver.core.limits import DEFAULT_CONCURRENT_TASKS, DEFAULT_REQUESTS_PER_MINUTE, Limits
from mockserver.core.media import content_type, render
from mockserver.core.tasks import Task, TaskStore, next_event_ms, record_poll, state_at
from mockserver.core.words import CALLBACK, DEFAULT_FAIL_CODE, FAIL_MESSAGES, STATUS, SubmitRequest, TaskView, camel
from mockserver.dialects.protocol import Dialect
from mockserver.report import ALL_KEYS, ConformanceTracker
from mockserver.scenarios import loading as scenarios
from mockserver.scenarios import rules


class Callbacks(Protocol):
    """Told when a callback task's end (or a stage of it) becomes known or changes."""

    def track(self, task: Task) -> None: ...

    def remember_base_url(self, task: Task, base_url: str) -> None: ...

    def clear(self) -> None: ...

    def forget(self, task_id: str) -> None: ...


class NoCallbacks:
    """The service on its own (no server): callbacks are planned by nobody."""

    def track(self, task: Task) -> None:
        pass

    def remember_base_url(self, task: Task, base_url: str) -> None:
        pass

    def clear(self) -> None:
        pass

    def forget(self, task_id: str) -> None:
        pass


# Submits sweep evicted tasks at most this often (virtual ms): amortised, and at most one journal
# note per sweep. A clock advance and the admin task views sweep every time.
SWEEP_EVERY_MS = 1000
# Distinct immutable values shared between tasks (MockService._shared).
SHARED_VALUES = 16_384
T = TypeVar("T")
# Evicted ids named in the journal note of one sweep (the rest are counted).
EVICTED_NAMED = 10


def draw_seed() -> int:
    """A run seed nobody can guess: 63 bits, so no one can search the seeds for the one that
    gives an id they have seen (2**32 would take minutes); within the schema's seed bound."""
    return secrets.randbits(63)


class MockService:
    """One mock provider: its clock, models, accounts, tasks and journal, spoken by its dialects."""

    def __init__(
        self,
        settings: Settings | None = None,
        catalog: Catalog | None = None,
        dialects: Sequence[Dialect | str] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        chosen = _dialects.resolve(dialects if dialects is not None else self.settings.dialects)
        self.dialects: dict[str, Dialect] = {d.name: d for d in chosen}
        # Each dialect serves its own models (the same name may mean another input in another
        # dialect); ``catalog`` replaces the first dialect's.
        self.catalogs: dict[str, Catalog] = {
            d.name: catalog if catalog is not None and i == 0 else d.catalog() for i, d in enumerate(chosen)
        }
        self.callbacks: Callbacks = NoCallbacks()
        self._start_ms: int | None = self.settings.start_ms
        # The scenario reset() returns to: the settings' one until PUT /__admin/scenario.
        self.scenario = scenarios.load(self.settings.scenario, self.model_names())
        self.reset()

    @property
    def catalog(self) -> Catalog:
        """The first dialect's catalog."""
        return next(iter(self.catalogs.values()))

    @property
    def models(self) -> dict[str, Model]:
        """The first dialect's models, with the scenario's overrides (``dialect_models`` has each dialect's)."""
        return next(iter(self.dialect_models.values()))

    def model_names(self) -> list[str]:
        """Every model some enabled dialect serves (scenario files may name any of them)."""
        return sorted({name for catalog in self.catalogs.values() for name in catalog.names()})

    # -- lifecycle -------------------------------------------------------------

    def reset(self) -> None:
        """Back to the starting state of the loaded scenario: no tasks, fresh accounts, empty
        journal, clock restarted, rules with fresh counts (rules added at run time are gone)."""
        s = self.settings
        sc = self.scenario
        mode = sc.clock_mode or s.clock
        start = sc.start_ms if sc.start_ms is not None else self._start_ms
        self.clock: RealClock | ManualClock = make_clock(mode, sc.clock_scale or s.time_scale, start)
        if start is None and mode == "manual":
            # Remember where a manual clock started so a reset replays the same times.
            self._start_ms = self.clock.now_ms()
        self.clock_start_ms = self.clock.now_ms()  # where this run's clock began (replay bundles)
        self.dialect_models: dict[str, dict[str, Model]] = {
            name: _own_models(catalog, sc) for name, catalog in self.catalogs.items()
        }
        balances = sc.accounts if sc.accounts is not None else s.api_keys
        self.accounts = Accounts(dict(balances) if balances is not None else None, s.claim_masked_keys)
        self.store = TaskStore()
        self.seed = sc.seed if sc.seed is not None else s.seed if s.seed is not None else draw_seed()
        self.rng = random.Random(self.seed)
        self.rules = rules.RuleSet(sc.rules, self.seed)
        self._added_rules: list[dict] = []
        self.limits = Limits(
            sc.requests_per_minute or DEFAULT_REQUESTS_PER_MINUTE, sc.concurrent_tasks or DEFAULT_CONCURRENT_TASKS
        )
        self.errors_as_200 = sc.errors_as_200
        self.retry_hint = sc.retry_hint
        self.insufficient_credits = sc.insufficient_credits
        self.public_url = sc.base_url or s.public_url
        self.results_ttl_ms = sc.ttl_ms if sc.ttl_ms is not None else s.results_ttl_ms
        # The conformance tracker grades each request as the journal records it; it looks
        # models and the TTL up when it needs them, so scenario overrides apply.
        self.conformance = ConformanceTracker(
            lambda dialect, name: self.dialect_models[dialect].get(name),
            lambda: self.results_ttl_ms,
            dialects=list(self.dialects.values()),
            time_scale=self.clock.scale,  # 0 on a manual clock: its times are exact
            task_of=lambda task_id: self.store.get(task_id),
            has_tasks=lambda key: key in self.store.per_key,
        )
        self.journal = Journal(s.journal_size, observer=self.conformance.observe)
        # Tasks that will end failed and are not refunded yet, per key (refunds are
        # settled lazily: the task's state is a function of time, nothing fires).
        self._unrefunded: dict[str, list[Task]] = {}
        self._next_sweep_ms = self.clock.now_ms()
        self._values: dict[tuple[type, object], object] = {}
        # The scenario's callbacks key wins over the settings; a null secret keeps --webhook-secret.
        raw = sc.document["callbacks"] if "callbacks" in sc.document else s.callbacks
        self.callback_config = CallbackConfig.from_dict(raw, secret=s.webhook_secret)
        self.callbacks.clear()

    def now(self) -> int:
        return self.clock.now_ms()

    # -- auth ------------------------------------------------------------------

    def authenticate(self, key: str | None) -> str:
        """The account key for a bearer key, or 401.

        A key shaped like an unset variable (``undefined``, ``${API_KEY}``, ``YOUR_API_KEY``...) is
        refused with a 401 that says so, even when any key is accepted: the classic bug of a missing
        environment variable. Only the presented key's shape is looked at; real keys are still
        compared in constant time (``Accounts.find``)."""
        if not key:
            raise Unauthorized("Missing API key: send 'Authorization: Bearer YOUR_API_KEY'")
        unset = unset_variable(key)
        if unset is not None:
            raise Unauthorized("Invalid API key", error=unset)
        found = self.accounts.find(key)
        if found is None:
            raise Unauthorized("Invalid API key")
        return found

    # -- models ----------------------------------------------------------------

    def model(self, name: str, dialect: Dialect | None = None) -> Model:
        """A model the dialect serves (default: the first dialect), or 404 listing the known ones."""
        models = self.dialect_models[dialect.name] if dialect is not None else self.models
        model = models.get(name)
        if model is None:
            raise NotFound(
                f"Model not found: {name}",
                error=f"Unknown model '{name}'. Known models: {', '.join(sorted(models))}",
            )
        return model

    def model_of(self, task: Task) -> Model | None:
        return self.dialect_models[task.dialect].get(task.model)

    # -- submit ----------------------------------------------------------------

    def submit(
        self,
        key: str,
        dialect: Dialect,
        body: object,
        model_name: str | None = None,
        idempotency_key: str | None = None,
        decision: rules.Decision | None = None,
        origins: Iterable[tuple[str, int]] = (),
        route: str | None = None,
    ) -> Task:
        """Create a task from a submit body in ``dialect`` (or return the one an Idempotency-Key
        already made). ``model_name``: the model the path names (None: the body names it).

        ``decision``: a scenario rule's fail/timing for the new task. ``origins``: (host, port)
        pairs the mock was reached at, so a callback_url naming the mock itself is refused. ``route``:
        the submit route's path template, for a dialect with more than one."""
        if model_name is not None:
            self.model(model_name, dialect)
        if self.clock.now_ms() >= self._next_sweep_ms:
            self.sweep()
        fingerprint = None
        if idempotency_key is not None:
            _check_idempotency_key(idempotency_key)
            fingerprint = _fingerprint(model_name, body)
            # Per dialect too: two providers are two systems, and a key reused across them is no retry.
            seen = self.store.idempotency.get((key, dialect.name, idempotency_key))
            if seen is not None:
                if seen[0] != fingerprint:
                    raise Conflict(
                        "Idempotency-Key reused with a different request",
                        error=f"Idempotency-Key '{idempotency_key}' was first used with another body or model",
                    )
                task = self.store.get(seen[1])
                if task is not None:
                    return task
        req = dialect.parse_submit(body, model_name, route)
        if req.callback_url is not None:
            self._check_callback_url(req.callback_url, origins)
        model = self.model(req.model, dialect)
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
        self._check_slot(key, now)
        self._settle(key, now)
        unpaid = not self.accounts.charge(key, cost)
        if unpaid:
            self._refuse_unpaid(key, dialect, cost)  # or, in the failed-task form, make the task
        task = self._new_task(key, dialect, model, req, 0 if unpaid else cost, now)
        image = image_url_failure(image_urls(req.input))
        if image is not None:
            # The provider accepts the task, fetches the images, then fails it (refunded).
            self.plan_failure(task, image[0], image[1], t.PENDING)
        if decision is not None:
            self._apply_decision(task, decision)
        if unpaid:
            # insufficient_credits: failed_task (page 001): accepted, charged nothing, then failed.
            self.plan_failure(task, "INSUFFICIENT_CREDITS", None, t.PENDING)
        self.store.add(task)
        self.limits.track(task)
        if fingerprint is not None:
            self.store.remember_idempotency((key, dialect.name, idempotency_key), fingerprint, task)  # type: ignore[arg-type]
        self.callbacks.track(task)
        return task

    def _refuse_unpaid(self, key: str, dialect: Dialect, cost: float) -> None:
        """Refuse a submit the balance cannot pay in the scenario's form, unless that form is a
        failed task. A form the dialect's pages do not give (code_400 under 123API) is a 402."""
        form = self.insufficient_credits if self.insufficient_credits in dialect.credit_refusals else "http_402"
        if form == "failed_task":
            return
        if form == "code_400":
            raise BadRequest("Insufficient credits")  # page 002's example, data null
        balance = self.accounts.balance(key)
        raise PaymentRequired(
            "Insufficient credits",
            error=f"This task costs {_num(cost)} credits; the key's balance is {_num(balance or 0)}",
        )

    def _check_callback_url(self, url: str, origins: Iterable[tuple[str, int]]) -> None:
        own = list(origins)
        if self.public_url:
            parts = urlsplit(self.public_url)
            with contextlib.suppress(ValueError):
                if parts.hostname:
                    own.append((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)))
        try:
            check_callback_target(url, own, allow_any=self.settings.unsafe_callback_urls)
        except CallbackTargetRefused as exc:
            raise BadRequest("Invalid request", error=f"Invalid callback_url: it {exc}") from None

    def _new_task(self, key: str, dialect: Dialect, model: Model, req: SubmitRequest, cost: float, now: int) -> Task:
        lo, hi = model.processing_ms
        task_id = dialect.new_task_id(self.rng)
        while task_id in self.store.tasks:
            task_id = dialect.new_task_id(self.rng)
        prompt = _prompt(req.input)
        return Task(
            task_id=task_id,
            model=model.name,
            dialect=dialect.name,
            key=sys.intern(key),  # one string per key, not one per task (and the report's the same)
            created_ms=now,
            pending_ms=model.pending_ms,
            processing_ms=self._shared(self.rng.randint(lo, hi)) if hi > lo else lo,
            outputs=model.outputs(req.input),  # type: ignore[arg-type]
            spec=self._shared(model.output_spec(req.input)),  # type: ignore[arg-type]
            seed=self.rng.getrandbits(32),
            cost=self._shared(cost),
            request_type=req.request_type,
            callback_url=req.callback_url,
            provider=req.provider or ("official" if model.official_only else "auto"),
            prompt=sys.intern(prompt) if prompt is not None else None,
            progression=model.progression,
            pending_polls=model.pending_polls,
            processing_polls=model.processing_polls,
        )

    def _shared(self, value: T) -> T:
        """One object for equal immutable values of many tasks (media specs, costs, durations):
        a million tasks hold a few thousand of them, not a million. Bounded: emptied when full."""
        shared = self._values
        if len(shared) >= SHARED_VALUES:
            shared.clear()
        return shared.setdefault((type(value), value), value)  # type: ignore[return-value]

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

    def find_task(self, key: str, dialect: Dialect, model_name: str | None, task_id: str | None) -> Task:
        """The caller's task, asked for through its dialect (and its model's path, where the path
        names one), or 404 saying what is wrong."""
        task_id = dialect.require_task_id(task_id)
        model = self.model(model_name, dialect) if model_name is not None else None
        task = self.store.get(task_id)
        if task is None or task.key != key:
            gone = self.store.evicted.get(task_id) if task is None else None
            if gone is not None and gone.key == key:
                raise NotFound(f"Task not found: {task_id}", error=self.evicted_message(task_id))
            raise NotFound(f"Task not found: {task_id}", error=f"No task '{task_id}' for this API key")
        owner = self.dialects.get(task.dialect, dialect)
        if owner is not dialect:
            raise NotFound(
                f"Task not found: {task_id}",
                error=f"Task '{task_id}' was created through {owner.title}, not {dialect.title}: "
                f"{owner.status_hint(task.model, task_id)}",
            )
        if model is not None and task.model != model.name:
            raise NotFound(
                f"Task not found: {task_id}",
                error=f"Task '{task_id}' belongs to model '{task.model}', not '{model.name}': "
                f"{dialect.status_hint(task.model, task_id)}",
            )
        return task

    def poll(self, task: Task) -> tuple[str, int | None]:
        """Record one status poll and return the state it sees."""
        now = self.now()
        done = task.poll_done_ms
        record_poll(task, now)
        if task.poll_done_ms != done:
            # This poll ended a poll-driven task: its slot is free and its callback is due.
            self.limits.update(task)
            self.callbacks.track(task)
        return state_at(task, now)

    def view(self, task: Task) -> tuple[str, int | None]:
        """The state now, without counting a poll (admin views)."""
        return state_at(task, self.now())

    def dialect_of(self, task: Task) -> Dialect:
        return self.dialects[task.dialect]

    def result_urls(self, task: Task, base_url: str) -> tuple[str, ...]:
        base = self.public_url or base_url
        path = self.dialect_of(task).result_path
        ext = task.spec.ext
        return tuple(base + path(task.task_id, n, ext) for n in range(task.outputs))

    def task_view(self, task: Task, state: str, complete_ms: int | None, base_url: str) -> TaskView:
        """The task as an answer shows it in ``state`` (result URLs on ``base_url`` unless --public-url)."""
        if state == t.SUCCESS:
            return TaskView(
                task.task_id, task.model, state, task.created_ms, complete_ms, self.result_urls(task, base_url)
            )
        if state == t.FAILED:
            return TaskView(
                task.task_id, task.model, state, task.created_ms, complete_ms, (), task.fail_code, task.fail_msg
            )
        return TaskView(task.task_id, task.model, state, task.created_ms)

    # -- balance and files -----------------------------------------------------

    def balance(self, key: str) -> float:
        self._settle(key, self.now())
        balance = self.accounts.balance(key)
        return UNLIMITED_BALANCE if balance is None else balance

    def result_file(self, task_id: str, filename: str) -> tuple[bytes, str]:
        """A result file's bytes and Content-Type, or 404 (unknown, unfinished, expired)."""
        task = self.store.get(task_id)
        if task is None:
            if task_id in self.store.evicted:  # it was kept past its files' lifetime: they expired
                raise NotFound("File expired", error=f"Result files of task '{task_id}' have expired")
            raise NotFound("File not found", error=f"No task '{task_id}'")
        dialect = self.dialect_of(task)
        parsed = dialect.parse_result_filename(filename)
        state, complete_ms = state_at(task, self.now())
        if state != t.SUCCESS:
            raise NotFound("File not found", error=f"Task '{task_id}' has no results: it is {state}")
        if parsed is None or parsed[1] != task.spec.ext or not 0 <= parsed[0] < task.outputs:
            names = ", ".join(
                dialect.result_path(task_id, n, task.spec.ext).rsplit("/", 1)[-1] for n in range(task.outputs)
            )
            raise NotFound("File not found", error=f"Task '{task_id}' has no file '{filename}' (it has {names})")
        assert complete_ms is not None
        if self.now() >= complete_ms + self.results_ttl_ms:
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
        if keep:
            self._unrefunded[key] = keep
        else:
            del self._unrefunded[key]  # a key that stopped sending keeps nothing here

    def plan_failure(self, task: Task, code: str, message: str | None = None, at: str = t.PROCESSING) -> None:
        """Make a task end failed with ``code`` (used by admin and scenario rules)."""
        task.fail_code = code
        task.fail_msg = message or FAIL_MESSAGES.get(code)
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
            self.plan_failure(task, code or DEFAULT_FAIL_CODE, message)
        else:
            task.fail_code = None
            task.fail_msg = None
        task.forced_ms = now
        self.limits.update(task)
        self._settle(task.key, now)
        self.callbacks.track(task)

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
        now = self.clock.advance(ms)
        self.sweep()
        return now

    def advance_to(self, when: int) -> int:
        now = self.now()
        return self.advance(max(0, when - now))

    # -- eviction --------------------------------------------------------------

    def keep_ms(self) -> int | None:
        """How long after its end a task is kept: the results' lifetime plus --evict-after (None: forever)."""
        margin = self.settings.evict_after_ms
        return None if margin is None else self.results_ttl_ms + margin

    def sweep(self) -> int:
        """Evict every task kept past its results' lifetime plus --evict-after; how many went.

        Everything kept for a task goes with it (its idempotency record, rate-limit slot, refund
        bookkeeping, report state, callback plan), and what is kept per key once its last task
        went; the journal gets one note per sweep, and the ids are remembered (bounded) so that
        a late poll hears "evicted", not "never existed"."""
        now = self.now()
        self._next_sweep_ms = now + SWEEP_EVERY_MS
        keep_ms = self.keep_ms()
        if keep_ms is None:
            return 0
        due = self.store.pop_due(now, keep_ms)
        if not due:
            return 0
        for task in due:
            if task.key in self._unrefunded:  # a failed task's credits come back before it is forgotten
                self._settle(task.key, now)
            self.limits.forget(task)
            self.callbacks.forget(task.task_id)
            self.conformance.forget_task(task, now)
            if task.key not in self.store.per_key:  # its last task
                self._unrefunded.pop(task.key, None)
                self.accounts.forget(task.key)
                self.limits.forget_key(task.key, now)
                self.conformance.forget_key(task.key)
        named = ", ".join(task.task_id for task in due[:EVICTED_NAMED])
        more = f" and {len(due) - EVICTED_NAMED} more" if len(due) > EVICTED_NAMED else ""
        self.journal.record(
            time=now,
            method="EVICT",
            path=f"/__admin/tasks/{due[0].task_id}" if len(due) == 1 else "/__admin/tasks",
            query="",
            key=None,
            status=410,
            task_id=due[0].task_id if len(due) == 1 else None,
            error=f"Evicted {len(due)} task{'s' if len(due) > 1 else ''} kept {self.settings.evict_after_ms} ms "
            f"past the expiry of their result files: {named}{more}",
            observe=False,
        )
        return len(due)

    def evicted_message(self, task_id: str) -> str:
        """What a request for an evicted task hears."""
        gone = self.store.evicted[task_id]
        return (
            f"Task '{task_id}' has expired: it was evicted at {gone.evicted_ms}, "
            f"{self.settings.evict_after_ms} ms after its result files expired (mockserver --evict-after)"
        )

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
            "dialect": task.dialect,
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
            info[camel("fail_code")] = task.fail_code
        return info

    # -- scenario --------------------------------------------------------------

    def load_scenario(self, source: object) -> None:
        """Replace the scenario (name, path, mapping; ScenarioError if invalid) and reset."""
        loaded = scenarios.load(source, self.model_names())
        previous, self.scenario = self.scenario, loaded
        try:
            self.reset()
        except ValueError as exc:
            # The loader checks what reset() relies on; should they ever disagree, a refused
            # scenario must not stay behind (every later reset would fail on it).
            self.scenario = previous
            self.reset()
            raise scenarios.ScenarioError("", str(exc)) from None

    def scenario_document(self, *, copied: bool = True) -> dict:
        """The running scenario as a document: the loaded one plus rules added since.

        ``copied=False``: the loaded document itself when no rule was added, for a caller that
        only serializes it (a load answers with it: no copy per fuzz example)."""
        if not copied and not self._added_rules and isinstance(self.scenario.document, dict):
            return self.scenario.document
        doc = copy.deepcopy(dict(self.scenario.document))
        if self._added_rules:
            doc["rules"] = [*doc.get("rules", []), *copy.deepcopy(self._added_rules)]
        return doc

    def resolved_scenario(self) -> dict:
        """The running scenario with the server settings it relies on written in (seed, clock,
        start time, restricted keys): loaded into any mock, it behaves like this one."""
        doc = scenarios.with_overrides(
            self.scenario_document(),
            seed=self.seed,
            clock=self.clock.mode,
            scale=self.clock.scale if self.clock.mode == "real" else None,
            accounts=self.settings.api_keys if self.scenario.accounts is None else None,
        )
        doc["clock"]["start_ms"] = self.clock_start_ms
        # Never the secret itself: null keeps the replaying server's own --webhook-secret.
        doc["callbacks"] = {**self.callback_config.to_dict(), "secret": None}
        doc["results"] = {**doc.get("results", {}), "ttl_ms": self.results_ttl_ms}
        return doc

    def add_rule(self, doc: object) -> int:
        """Append one rule to the running scenario (until the next reset); its index."""
        if len(self.rules) >= scenarios.MAX_RULES:
            raise scenarios.ScenarioError("rules", f"at most {scenarios.MAX_RULES} rules (the scenario schema's bound)")
        rule = scenarios.parse_rule(doc, len(self.rules), self.model_names())
        self.rules.add(rule)
        self._added_rules.append(dict(rule.doc))
        return rule.index

    def decide(self, facts: rules.Facts) -> rules.Decision | None:
        """What the scenario's rules do with this request (None: nothing)."""
        return self.rules.decide(facts) if self.rules else None

    def task_facts(self, endpoint: str, task: Task | None, **extra: object) -> rules.Facts:
        """Facts about a request that concerns ``task`` (None: unknown task)."""
        if task is None:
            return rules.Facts(endpoint, **extra)  # type: ignore[arg-type]
        facts = rules.Facts(
            endpoint,
            model=task.model,
            key=task.key,
            prompt=task.prompt,
            provider=task.provider,
            request_type=task.request_type,
            task_state=self.next_poll_state(task) if endpoint == STATUS else self.view(task)[0],
            dialect=task.dialect,
        )
        for name, value in extra.items():
            setattr(facts, name, value)
        return facts

    def next_poll_state(self, task: Task) -> str:
        """The state the next status poll of ``task`` will see (without recording it)."""
        now = self.now()
        state, _ = state_at(task, now)
        if state in t.TERMINAL or task.progression != "polls" or task.poll_done_ms is not None:
            return state
        if task.polls + 1 > task.terminal_polls:
            return task.outcome()
        return state_at(task, now, task.polls + 1)[0]

    def callback_decision(self, task: Task, attempt: int) -> tuple[str, int] | None:
        """For the callback dispatcher: ("drop" | "duplicate" | "delay", virtual ms) or None.

        Called once per delivery attempt (1 = first); each call is one match of the
        rules with ``when: {endpoint: callback}``. drop: this attempt is not sent and not
        retried (the callback is lost); duplicate: sent twice, back to back;
        delay: sent ms later than due.
        """
        if not self.rules or not self.rules.acts_on(CALLBACK, task.key):
            return None  # decide() would say None: no facts to build (every attempt of a storm asks)
        decision = self.decide(self.task_facts(CALLBACK, task, attempt=attempt))
        if decision is None or decision.callback is None:
            return None
        return decision.callback.action, decision.callback.ms

    def apply_status_decision(self, task: Task, decision: rules.Decision) -> None:
        """A status rule's ``fail``: an unfinished task ends failed at this poll."""
        if decision.fail is None:
            return
        if state_at(task, self.now())[0] in t.TERMINAL:
            return
        self.force(task, t.FAILED, decision.fail.code, decision.fail.message)

    def _apply_decision(self, task: Task, decision: rules.Decision) -> None:
        timing = decision.timing
        if timing is not None:
            if timing.pending_ms is not None:
                task.pending_ms = timing.pending_ms
            if timing.processing_ms is not None:
                task.processing_ms = timing.processing_ms[0]
            if timing.progression is not None:
                task.progression = timing.progression
            if timing.pending_polls is not None:
                task.pending_polls = timing.pending_polls
            if timing.processing_polls is not None:
                task.processing_polls = timing.processing_polls
        if decision.fail is not None:
            self.plan_failure(task, decision.fail.code, decision.fail.message, decision.fail.at)

    # -- rate limits -----------------------------------------------------------

    def admit(self, key: str) -> None:
        """Count one API request of ``key`` against requests_per_minute, or 429."""
        wait = self.limits.admit(key, self.now())
        if wait is not None:
            raise RateLimited(
                "Rate limit exceeded",
                error=f"More than {self.limits.requests_per_minute} requests per minute for this API key; "
                f"a slot frees in {wait / 1000:g} s",
                retry_after=wait / 1000,
            )

    def _check_slot(self, key: str, now: int) -> None:
        wait = self.limits.slot_wait(key, now)
        if wait is None:
            return
        limit = self.limits.concurrent_tasks
        when = (
            f"a slot frees in {wait / 1000:g} s" if wait >= 0 else "a slot frees when one of them is polled to its end"
        )
        raise RateLimited(
            "Too many concurrent tasks",
            error=f"This API key has {limit} unfinished tasks, the most it may have; {when}",
            retry_after=wait / 1000 if wait >= 0 else 1,
        )


# What the OpenAPI documents publish for the Idempotency-Key header (dialects/*/openapi.py).
IDEMPOTENCY_KEY_LENGTH = (1, 255)


def _check_idempotency_key(value: str) -> None:
    """The published 1-255 characters: an empty key is no key to dedupe on, and a client sending
    one (an unset variable) should hear so rather than have its distinct submits collide."""
    low, high = IDEMPOTENCY_KEY_LENGTH
    if not low <= len(value) <= high:
        raise BadRequest(
            "Invalid request",
            error=f"Invalid header Idempotency-Key: {len(value)} characters, expected {low} to {high}",
        )


def _fingerprint(model: str | None, body: object) -> str:
    try:
        text = json.dumps([model, body], sort_keys=True, separators=(",", ":"))
    except RecursionError:
        raise BadRequest("Invalid request", error="Request body is nested too deeply") from None
    except (TypeError, ValueError):
        text = repr((model, body))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _num(value: float) -> str:
    return f"{value:g}"


def _prompt(input: object) -> str | None:
    """input.prompt, for scenario rules that match on it."""
    prompt = input.get("prompt") if isinstance(input, dict) else None
    return prompt if isinstance(prompt, str) else None


def _own_models(catalog: Iterable[Model], sc: scenarios.Scenario) -> dict[str, Model]:
    """This mock's copy of every model of ``catalog``, by name, with the scenario's overrides."""
    if not sc.models:  # most scenarios override nothing: no glob to match per model
        return {model.name: model.clone() for model in catalog}
    return {model.name: _overridden(model, sc.model_overrides(model.name)) for model in catalog}


def _overridden(model: Model, overrides: dict[str, Any]) -> Model:
    """This mock's copy of ``model``, with a scenario's overrides (a test may change its own)."""
    return dataclasses.replace(model, **overrides) if overrides else model.clone()
