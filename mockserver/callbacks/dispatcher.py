"""Webhook delivery for callback tasks: a heap of due deliveries on the virtual clock.

Nothing here runs per task: when a callback task's end (or a suno stage) becomes known,
one entry goes on a heap keyed by virtual time. Entries are attempted when they fall
due: by ``clock/advance`` (which awaits them, so a test can assert right after) and, in
a running server, by one background asyncio task that sleeps until the next due entry.
A failed attempt (non-200, or no answer within ``timeout_ms``) pushes its retry back on
the heap ``backoff_ms`` later, up to ``retries`` times.

What keeps a storm of deliveries from hurting the API: at most ``max_in_flight`` attempts run
at once (the rest wait, due, on the heap), each is bounded by its timeout, and the network
work happens on the sender's own thread (``sender.py``), one short-lived connection per
attempt. Only the bookkeeping of an attempt (fixing its body, logging its outcome) runs on the
server's loop. ``abort()`` (Ctrl-C) and ``clear()`` (reset) cancel every attempt in flight.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import resource
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mockserver._version import __version__
from mockserver.callbacks.log import CallbackLog
from mockserver.callbacks.sender import Sender
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
# Deliveries scheduled at once (first attempts); beyond this a new one is refused and logged,
# so a flood of callback tasks cannot grow the heap without bound.
MAX_SCHEDULED = 100_000
# Attempts started per turn of the event loop: a storm is let in in slices, with the API's
# requests served in between, instead of a thousand bodies being built in one go.
START_BATCH = 16
# Grace on top of an attempt's own deadline before the dispatcher stops waiting for the sender.
SENDER_GRACE_S = 1.0


def default_max_in_flight() -> int:
    """Attempts sent at once: 1,024, or a quarter of the open-file limit when that is lower
    (each attempt holds a socket, and the API's clients need theirs)."""
    try:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):  # pragma: no cover - no such limit on this platform
        soft = 4096
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(8, min(1024, soft // 4))


# -- the dispatcher -------------------------------------------------------------


@dataclass(slots=True)
class Delivery:
    """One callback (a task's end, or one suno stage): body fixed at its first attempt."""

    id: str
    task_id: str
    url: str
    stage: str | None
    body: bytes
    final: bool = True  # the task's last callback (what is kept for the task goes once it is settled)


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

    def __init__(
        self, mock: MockService, *, max_in_flight: int | None = None, max_scheduled: int = MAX_SCHEDULED
    ) -> None:
        self.mock = mock
        self.max_in_flight = max_in_flight or default_max_in_flight()
        self.max_scheduled = max_scheduled
        self._heap: list[tuple[int, int, _Due]] = []
        self._seq = itertools.count()
        self._gen: dict[str, int] = {}
        self._started: dict[str, set[str | None]] = {}  # stages whose delivery has begun
        self._base_urls: dict[str, str] = {}
        # Attempts in flight, per event loop (in practice one: the server's).
        self._inflight: dict[asyncio.AbstractEventLoop, set[asyncio.Task]] = {}
        self._slot_freed: dict[asyncio.AbstractEventLoop, set[asyncio.Event]] = {}
        self._epoch = 0  # bumped by clear(): attempts of an older epoch record nothing
        self._aborted = False  # set by abort(): the server is going away, nothing more is sent
        self.log = CallbackLog(mock.settings.journal_size)
        # Set while a server's lifespan runs: one sender thread and one background runner.
        self._sender: Sender | None = None
        self._runner: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake_event: asyncio.Event | None = None

    # -- state -------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every scheduled delivery, cancel those in flight, empty the log (MockService.reset)."""
        self._epoch += 1
        self._heap.clear()
        self._gen.clear()
        self._started.clear()
        self._base_urls.clear()
        self._cancel_in_flight()
        self.log = CallbackLog(self.mock.settings.journal_size)
        # A runner on a real clock may sleep until a delivery just forgotten: it sets its next
        # wake-up again. On a manual clock it sleeps until woken anyway, so no wake (which would
        # cost an in-process mock a turn of its loop on the next request of every fuzz example).
        if getattr(getattr(self.mock, "clock", None), "mode", "real") == "real":
            self._wake()

    def in_flight(self) -> int:
        """Attempts being sent right now."""
        return sum(len(tasks) for tasks in self._inflight.values())

    def scheduled(self) -> int:
        """Entries on the heap (voided ones included until they surface)."""
        return len(self._heap)

    def forget(self, task_id: str) -> None:
        """Drop what is kept for a task that is gone (evicted): its plan and stages."""
        self._gen.pop(task_id, None)
        self._started.pop(task_id, None)
        self._base_urls.pop(task_id, None)

    def _cancel_in_flight(self) -> None:
        for tasks in list(self._inflight.values()):
            for task in list(tasks):
                self._call_in_loop(task.cancel, task.get_loop())

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
            if stage in started:
                continue
            if len(self._heap) >= self.max_scheduled:
                self.log.record(
                    task_id=task.task_id,
                    url=task.callback_url,
                    stage=stage,
                    webhook_id=webhook_id(task.task_id, stage),
                    attempt=1,
                    time=self.mock.now(),
                    outcome="dropped",
                    error=f"not scheduled: {self.max_scheduled} deliveries are already waiting",
                )
                continue
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
        """Attempt everything due by now and wait for every attempt in flight to finish.

        At most ``max_in_flight`` attempts run at once; the others start as slots free, so
        this returns after about (due attempts / max_in_flight) x the timeout at worst.
        """
        loop = asyncio.get_running_loop()
        if (self._aborted or not self._due_now()) and not self._inflight.get(loop):
            return  # the common case, after most requests: nothing due, nothing in flight
        temporary: Sender | None = None
        freed = asyncio.Event()
        self._slot_freed.setdefault(loop, set()).add(freed)
        try:
            while True:
                freed.clear()
                if not self._aborted and self._due_now():
                    sender = self._shared_sender(loop)
                    if sender is None:
                        # No lifespan here (a bare TestClient): a sender for this call.
                        temporary = temporary or Sender()
                        sender = temporary
                    if self._start_due(sender, loop) == START_BATCH:
                        await asyncio.sleep(0)  # let the API in before the next slice
                        continue
                if not self._inflight.get(loop):
                    return
                await freed.wait()
        finally:
            self._slot_freed[loop].discard(freed)
            if not self._slot_freed[loop]:
                del self._slot_freed[loop]
            if temporary is not None:
                temporary.close()

    async def advance_to(self, target: int) -> None:
        """Move the clock to ``target``, stopping at each due delivery to attempt it."""
        await self.run_due()
        while not self._aborted and (due := self.next_due()) is not None and due <= target:
            self.mock.advance_to(due)
            await self.run_due()
        self.mock.advance_to(target)
        await self.run_due()

    async def run_until_idle(self) -> None:
        """Advance through every task end and delivery (retries included) until none is left."""
        await self.run_due()
        while not self._aborted:
            times = [x for x in (self.next_due(), self.mock.idle_time()) if x is not None]
            if not times:
                return
            self.mock.advance_to(min(times))
            await self.run_due()

    def _due_now(self) -> bool:
        due = self.next_due()
        return due is not None and due <= self.mock.now()

    def _start_due(self, sender: Sender, loop: asyncio.AbstractEventLoop) -> int:
        """Start up to START_BATCH due attempts, while slots are free; how many were started."""
        now = self.mock.now()
        running = self._inflight.setdefault(loop, set())
        started = 0
        while (
            started < START_BATCH
            and self.in_flight() < self.max_in_flight
            and (due := self.next_due()) is not None
            and due <= now
        ):
            _, _, entry = heapq.heappop(self._heap)
            task = loop.create_task(self._attempt(entry, sender))
            running.add(task)
            task.add_done_callback(self._finished)
            started += 1
        if not running:
            del self._inflight[loop]
        return started

    def _finished(self, task: asyncio.Task) -> None:
        """An attempt ended (done callback, on its loop): free its slot, let waiters start more."""
        loop = task.get_loop()
        running = self._inflight.get(loop)
        if running is not None:
            running.discard(task)
            if not running:
                del self._inflight[loop]
        for event in self._slot_freed.get(loop, ()):
            event.set()
        self._wake()

    def _shared_sender(self, loop: asyncio.AbstractEventLoop) -> Sender | None:
        """The lifespan's sender (its thread starts on first use: most apps never send a callback)."""
        if self._loop is None or loop is not self._loop:
            return None
        if self._sender is None:
            self._sender = Sender()
        return self._sender

    # -- one attempt -----------------------------------------------------------------

    async def _attempt(self, entry: _Due, sender: Sender) -> None:
        try:
            await self._deliver(entry, sender)
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

    async def _deliver(self, entry: _Due, sender: Sender) -> None:
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
            if delivery.final:
                self.forget(delivery.task_id)
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
            results.append(await self._post(sender, delivery))
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
        if next_at is None and delivery.final:
            self.forget(delivery.task_id)  # settled: nothing more will be planned for it

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
        is_final = entry.stage == final
        base_url = (self._base_urls.get(task.task_id) if not is_final else self._base_urls.pop(task.task_id, None)) or (
            _default_base_url(mock)
        )
        view = mock.task_view(task, state, complete_ms, base_url)
        body = dialect.dumps(dialect.callback_body(view, entry.stage))
        assert task.callback_url is not None
        return Delivery(
            webhook_id(task.task_id, entry.stage),
            task.task_id,
            task.callback_url,
            entry.stage,
            body,
            is_final,
        )

    async def _post(self, sender: Sender, delivery: Delivery) -> _Sent:
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
        started = mock.now()
        t0 = monotonic()
        try:
            # The sender enforces the deadline; this one only guards against a wedged sender.
            async with asyncio.timeout(real_ms / 1000 + SENDER_GRACE_S):
                sent = await sender.post(delivery.url, delivery.body, headers, real_ms / 1000)
        except TimeoutError:
            return _Sent(None, _timeout_error(config.timeout_ms, real_ms), started, (monotonic() - t0) * 1000)
        status, error = sent.status, sent.error
        if sent.timed_out:
            error = f"{_timeout_error(config.timeout_ms, real_ms)}, {sent.timed_out}"
        elif status is not None and status != 200:
            error = f"HTTP {status}: only 200 counts as delivered"
        return _Sent(status, error, started, sent.duration_ms)

    # -- the background runner (a server's lifespan) ----------------------------------

    async def start(self) -> None:
        """Start the background runner on this event loop (the sender thread starts on first use)."""
        self._aborted = False
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake_event = asyncio.Event()
        self._runner = self._loop.create_task(self._run(), name="mockserver-callbacks")

    def abort(self) -> None:
        """Stop sending at once: cancel every attempt in flight; an advance waiting on them returns.

        Safe from any thread and from a signal handler (the server calls it on SIGINT/SIGTERM,
        before it waits for open requests, so a pending storm never holds up the exit).
        """
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread and not loop.is_closed():
            loop.call_soon_threadsafe(self._abort_now)
        else:
            self._abort_now()

    def _abort_now(self) -> None:
        self._aborted = True
        self._cancel_in_flight()
        sender = self._sender
        if sender is not None:
            sender.cancel_all()  # closed by stop(), once the attempts awaiting it are gone
        for events in self._slot_freed.values():
            for event in events:
                event.set()

    async def stop(self) -> None:
        """Stop the runner, cancel attempts in flight and the sender thread (the lifespan's end)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
        loop = asyncio.get_running_loop()
        mine = list(self._inflight.get(loop, ()))
        for task in mine:
            task.cancel()
        await asyncio.gather(*([runner] if runner else []), *mine, return_exceptions=True)
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()
        self._loop = self._loop_thread = self._wake_event = None

    async def _run(self) -> None:
        event = self._wake_event
        loop = asyncio.get_running_loop()
        assert event is not None
        while True:
            event.clear()
            if not self._aborted and self._due_now():
                sender = self._shared_sender(loop)
                assert sender is not None
                if self._start_due(sender, loop) == START_BATCH:
                    await asyncio.sleep(0)  # let the API in before the next slice
                    continue
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

    def _call_in_loop(self, fn, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Run ``fn`` on ``loop`` (default: the lifespan's), at once when already there."""
        loop = loop or self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or loop is running:
            fn()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(fn)


def _timeout_error(timeout_ms: int, real_ms: float) -> str:
    return f"timeout: no answer within {timeout_ms} ms ({real_ms:g} ms of real time)"


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
