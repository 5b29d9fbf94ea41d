"""Webhook delivery for callback tasks: a heap of due deliveries on the virtual clock.

Nothing here runs per task: when a callback task's end (or a suno stage) becomes known,
one entry goes on a heap keyed by virtual time. Entries are attempted when they fall
due: by ``clock/advance`` (which awaits them, so a test can assert right after) and, in
a running server, by one background asyncio task that sleeps until the next due entry.
A failed attempt (non-200, or no answer within ``timeout_ms``) pushes its retry back on
the heap ``backoff_ms`` later, up to ``retries`` times.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from mockserver._version import __version__
from mockserver.callbacks.log import CallbackLog
from mockserver.callbacks.signing import sign, webhook_id
from mockserver.core import tasks as t
from mockserver.core.clock import monotonic, wall_ms
from mockserver.core.config import server_url

if TYPE_CHECKING:
    from mockserver.core.service import MockService
    from mockserver.core.tasks import Task

# A manual clock does not move while a receiver thinks, so its timeout is real time,
# capped so that an advance never hangs long on a receiver that never answers.
MANUAL_TIMEOUT_CAP_MS = 5_000
# A sped-up real clock divides the timeout by its scale, but never below this much real
# time (or timeout_ms itself if smaller): a fast clock must not make a healthy receiver
# look slow.
REAL_TIMEOUT_FLOOR_MS = 1_000
FAULT_ACTIONS = ("drop", "duplicate", "delay")

# -- the dispatcher -------------------------------------------------------------


@dataclass(slots=True)
class Delivery:
    """One callback (a task's end, or one suno stage): body fixed at its first attempt."""

    id: str
    task_id: str
    url: str
    stage: str | None
    body: bytes


@dataclass(slots=True)
class _Due:
    task_id: str
    stage: str | None
    gen: int = 0  # the task's plan generation (first attempts only: replanning voids them)
    delivery: Delivery | None = None  # set once the body is fixed (retries, delayed attempts)
    attempt: int = 1
    decided: bool = False  # the fault decision for this attempt was already taken (delay)


@dataclass(slots=True)
class _Sent:
    status: int | None
    error: str | None
    started: int
    duration_ms: float


class CallbackDispatcher:
    """Schedules, sends, retries and logs the callbacks of one MockService."""

    def __init__(self, mock: MockService) -> None:
        self.mock = mock
        self._heap: list[tuple[int, int, _Due]] = []
        self._seq = itertools.count()
        self._gen: dict[str, int] = {}
        self._started: dict[str, set[str | None]] = {}  # stages whose delivery has begun
        self._base_urls: dict[str, str] = {}
        self._inflight: set[asyncio.Task] = set()
        self._epoch = 0  # bumped by clear(): attempts of an older epoch record nothing
        self.log = CallbackLog(mock.settings.journal_size)
        # Set while a server's lifespan runs: one shared client and one background runner.
        self._client: httpx.AsyncClient | None = None
        self._runner: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake_event: asyncio.Event | None = None
        self._ssl: ssl.SSLContext | None = None

    # -- state -------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every scheduled delivery and the log (MockService.reset)."""
        self._epoch += 1
        self._heap.clear()
        self._gen.clear()
        self._started.clear()
        self._base_urls.clear()
        for task in list(self._inflight):
            self._call_in_loop(task.cancel)
        self._inflight.clear()
        self.log = CallbackLog(self.mock.settings.journal_size)
        self._wake()

    def remember_base_url(self, task: Task, base_url: str) -> None:
        """Result URLs in a callback use the address the task was submitted to."""
        if task.request_type == "callback":
            self._base_urls[task.task_id] = base_url

    def track(self, task: Task) -> None:
        """(Re)plan a callback task's deliveries after its end became known or changed."""
        if task.request_type != "callback" or not task.callback_url:
            return
        stages = self.mock.dialect_of(task).callback_stages(task.model)
        final = stages[-1] if stages else None
        started = self._started.setdefault(task.task_id, set())
        if final in started:
            return  # the final callback is on its way; nothing left to plan
        gen = self._gen.get(task.task_id, 0) + 1
        self._gen[task.task_id] = gen
        for stage, at in _plan(task, stages):
            if stage not in started:
                self._push(at, _Due(task.task_id, stage, gen))
        self._wake()

    def next_due(self) -> int | None:
        """The virtual time of the next live scheduled attempt."""
        while self._heap and self._stale(self._heap[0][2]):
            heapq.heappop(self._heap)  # dropping a voided entry changes nothing visible
        return self._heap[0][0] if self._heap else None

    def pending(self) -> list[dict]:
        """Scheduled attempts, soonest first."""
        out = []
        for due, _, entry in sorted(self._heap, key=lambda item: item[:2]):
            if self._stale(entry):
                continue
            task = self.mock.store.get(entry.task_id)
            out.append(
                {
                    "taskId": entry.task_id,
                    "stage": entry.stage,
                    "attempt": entry.attempt,
                    "due": due,
                    "url": entry.delivery.url if entry.delivery else (task.callback_url if task else None),
                }
            )
        return out

    def _push(self, at: int, entry: _Due) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), entry))

    def _stale(self, entry: _Due) -> bool:
        return entry.delivery is None and self._gen.get(entry.task_id) != entry.gen

    # -- running due deliveries ----------------------------------------------------

    async def run_due(self) -> None:
        """Attempt everything due by now and wait for every attempt in flight to finish."""
        loop = asyncio.get_running_loop()
        temporary: httpx.AsyncClient | None = None
        try:
            while True:
                due = self.next_due()
                if due is not None and due <= self.mock.now():
                    client = self._shared_client(loop)
                    if client is None:
                        # No lifespan here (a bare TestClient): a client for this call.
                        temporary = temporary or self._new_client()
                        client = temporary
                    self._start_due(client)
                waiting = [task for task in self._inflight if task.get_loop() is loop]
                if not waiting:
                    return
                await asyncio.gather(*waiting, return_exceptions=True)
        finally:
            if temporary is not None:
                await temporary.aclose()

    async def advance_to(self, target: int) -> None:
        """Move the clock to ``target``, stopping at each due delivery to attempt it."""
        await self.run_due()
        while (due := self.next_due()) is not None and due <= target:
            self.mock.advance_to(due)
            await self.run_due()
        self.mock.advance_to(target)
        await self.run_due()

    async def run_until_idle(self) -> None:
        """Advance through every task end and delivery (retries included) until none is left."""
        await self.run_due()
        while True:
            times = [x for x in (self.next_due(), self.mock.idle_time()) if x is not None]
            if not times:
                return
            self.mock.advance_to(min(times))
            await self.run_due()

    def _start_due(self, client: httpx.AsyncClient) -> None:
        now = self.mock.now()
        while (due := self.next_due()) is not None and due <= now:
            _, _, entry = heapq.heappop(self._heap)
            task = asyncio.get_running_loop().create_task(self._attempt(entry, client))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _shared_client(self, loop: asyncio.AbstractEventLoop) -> httpx.AsyncClient | None:
        """The lifespan's client, made on first use (most test apps never send a callback)."""
        if self._loop is None or loop is not self._loop:
            return None
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> httpx.AsyncClient:
        # Loading the CA bundle takes ~0.1 s: do it once, not for every client.
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        # No redirects: a 3xx is not a 200, so it is a failed delivery, as with the provider.
        return httpx.AsyncClient(verify=self._ssl, follow_redirects=False, trust_env=False)

    # -- one attempt -----------------------------------------------------------------

    async def _attempt(self, entry: _Due, client: httpx.AsyncClient) -> None:
        try:
            await self._deliver(entry, client)
        except Exception as exc:  # a bug (say in a callback rule) must not lose a delivery silently
            task = self.mock.store.get(entry.task_id)
            self.log.record(
                task_id=entry.task_id,
                url=entry.delivery.url if entry.delivery else getattr(task, "callback_url", None) or "",
                stage=entry.stage,
                webhook_id=webhook_id(entry.task_id, entry.stage),
                attempt=entry.attempt,
                time=self.mock.now(),
                outcome="failed",
                error=f"mockserver error: {type(exc).__name__}: {exc}",
            )

    async def _deliver(self, entry: _Due, client: httpx.AsyncClient) -> None:
        epoch = self._epoch
        mock = self.mock
        task = mock.store.get(entry.task_id)
        if task is None:
            return
        delivery = entry.delivery or self._open(entry, task)
        if delivery is None:
            return
        n = entry.attempt
        now = mock.now()
        base = {
            "task_id": delivery.task_id,
            "url": delivery.url,
            "stage": delivery.stage,
            "webhook_id": delivery.id,
        }
        decision = None if entry.decided else mock.callback_decision(task, n)
        action, delay_ms = decision if decision and decision[0] in FAULT_ACTIONS else (None, 0)
        if action == "drop":
            # Lost on the provider's side: nothing is sent and, the receiver not having
            # failed, nothing is retried.
            self.log.record(**base, attempt=n, time=now, outcome="dropped", error="dropped by a callback rule")
            return
        if action == "delay":
            delay_ms = max(0, int(delay_ms))
            at = now + delay_ms
            self.log.record(**base, attempt=n, time=now, outcome="delayed", delay_ms=delay_ms, next_attempt_at=at)
            self._push(
                at,
                _Due(delivery.task_id, delivery.stage, delivery=delivery, attempt=n, decided=True),
            )
            self._wake()
            return
        copies = 2 if action == "duplicate" else 1
        results = []
        for _ in range(copies):
            results.append(await self._post(client, delivery))
        if epoch != self._epoch:
            return  # a reset happened while the receiver was answering
        ok = any(r.status == 200 for r in results)
        next_at = None
        config = mock.callback_config
        if not ok and n <= config.retries:
            next_at = mock.now() + config.backoff(n)
            self._push(next_at, _Due(delivery.task_id, delivery.stage, delivery=delivery, attempt=n + 1))
            self._wake()
        for i, r in enumerate(results):
            self.log.record(
                **base,
                attempt=n,
                time=r.started,
                outcome="delivered" if r.status == 200 else "failed",
                status=r.status,
                error=r.error,
                duration_ms=round(r.duration_ms, 3),
                duplicate=i > 0,
                next_attempt_at=next_at if i == len(results) - 1 else None,
            )
            # The client report grades the receiver: unacknowledged deliveries, and
            # whether the task's result reached the client at all.
            mock.conformance.callback_attempt(
                delivery.task_id, task.key, n, r.started, r.status, r.error, final=next_at is None
            )

    def _open(self, entry: _Due, task: Task) -> Delivery | None:
        """Fix a delivery's body: the status envelope at this moment (None: nothing to send)."""
        mock = self.mock
        if self._stale(entry):
            return None
        state, complete_ms = mock.view(task)
        dialect = mock.dialect_of(task)
        stages = dialect.callback_stages(task.model)
        final = stages[-1] if stages else None
        if state not in t.TERMINAL and (entry.stage == final or state == t.PENDING):
            # Due too early: the task's timing changed after it was planned (a rule's
            # `timing`, say, without a track() call). Plan again from the task as it is.
            self.track(task)
            return None
        if entry.stage != final and state != t.PROCESSING:
            return None  # an intermediate stage overtaken by the task's end
        self._started.setdefault(task.task_id, set()).add(entry.stage)
        base_url = self._base_urls.get(task.task_id) or _default_base_url(mock)
        view = mock.task_view(task, state, complete_ms, base_url)
        body = dialect.dumps(dialect.callback_body(view, entry.stage))
        assert task.callback_url is not None
        return Delivery(
            webhook_id(task.task_id, entry.stage),
            task.task_id,
            task.callback_url,
            entry.stage,
            body,
        )

    async def _post(self, client: httpx.AsyncClient, delivery: Delivery) -> _Sent:
        mock = self.mock
        config = mock.callback_config
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"mockserver/{__version__}",
            "webhook-id": delivery.id,
        }
        # Wall-clock seconds: receivers (and the standardwebhooks library) reject
        # timestamps more than 5 minutes from their own clock, which a manual or
        # sped-up virtual clock would be. Virtual times are in the body and the log.
        timestamp = wall_ms() // 1000
        headers["webhook-timestamp"] = str(timestamp)
        if config.secret:
            headers["webhook-signature"] = sign(config.secret, delivery.id, timestamp, delivery.body)
        real_ms = real_timeout_ms(config.timeout_ms, mock.clock)
        timeout_s = real_ms / 1000
        started = mock.now()
        t0 = monotonic()
        status = error = None
        try:
            async with asyncio.timeout(timeout_s):
                async with client.stream(
                    "POST", delivery.url, content=delivery.body, headers=headers, timeout=timeout_s
                ) as response:
                    status = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            error = f"timeout: no answer within {config.timeout_ms} ms ({real_ms:g} ms of real time)"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except (OSError, ValueError) as exc:  # e.g. a URL httpx cannot use
            error = f"{type(exc).__name__}: {exc}"
        if status is not None and status != 200:
            error = f"HTTP {status}: only 200 counts as delivered"
        return _Sent(status, error, started, (monotonic() - t0) * 1000)

    # -- the background runner (a server's lifespan) ----------------------------------

    async def start(self) -> None:
        """Start the shared client and the runner on this event loop."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake_event = asyncio.Event()
        self._runner = self._loop.create_task(self._run(), name="mockserver-callbacks")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
        loop = asyncio.get_running_loop()
        mine = [task for task in self._inflight if task.get_loop() is loop]
        for task in mine:
            task.cancel()
        await asyncio.gather(*([runner] if runner else []), *mine, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        self._loop = self._loop_thread = self._wake_event = None

    async def _run(self) -> None:
        event = self._wake_event
        loop = asyncio.get_running_loop()
        assert event is not None
        while True:
            event.clear()
            due = self.next_due()
            if due is not None and due <= self.mock.now():
                client = self._shared_client(loop)
                assert client is not None
                self._start_due(client)
            try:
                await asyncio.wait_for(event.wait(), self._sleep_s())
            except TimeoutError:
                pass

    def _sleep_s(self) -> float | None:
        """Real seconds until the next due attempt (None: only a wake-up can change that)."""
        due = self.next_due()
        clock = self.mock.clock
        if due is None or clock.mode != "real":
            return None
        # Re-check at least every 5 s: an admin advance may have moved the clock.
        return min(5.0, max(0.0, (due - clock.now_ms()) / clock.scale / 1000))

    def _wake(self) -> None:
        event = self._wake_event
        if event is not None:
            self._call_in_loop(event.set)

    def _call_in_loop(self, fn) -> None:
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            fn()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(fn)


def real_timeout_ms(timeout_ms: int, clock) -> float:
    """How long, in real ms, a receiver may take: timeout_ms of virtual time, see the constants."""
    if clock.mode != "real":
        return float(min(timeout_ms, MANUAL_TIMEOUT_CAP_MS))
    return max(timeout_ms / clock.scale, float(min(timeout_ms, REAL_TIMEOUT_FLOOR_MS)))


def _plan(task: Task, stages: tuple[str, ...]) -> list[tuple[str | None, int]]:
    """(stage, virtual time) of each delivery a task will make, as far as is known now."""
    final = stages[-1] if stages else None
    if task.forced_ms is not None:
        return [(final, task.forced_ms)]
    if task.progression != "time":
        # Poll-driven: the end is known only once the terminal poll has happened.
        return [(final, task.poll_done_ms)] if task.poll_done_ms is not None else []
    end = task.end_ms
    assert end is not None
    plan: list[tuple[str | None, int]] = []
    if task.fail_code is None and len(stages) > 1:
        # Intermediate stages (suno: text, first) spread evenly through processing.
        start = task.created_ms + task.pending_ms
        parts = len(stages)
        for i, stage in enumerate(stages[:-1], start=1):
            plan.append((stage, start + task.processing_ms * i // parts))
    plan.append((final, end))
    return plan


def _default_base_url(mock: MockService) -> str:
    """Where the server listens, for a task whose submit address is unknown (made through the admin API)."""
    s = mock.settings
    return s.public_url or server_url(s.host, s.port)
