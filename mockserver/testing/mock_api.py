"""Test helpers: a handle that drives one mock, in-process (no sockets) or over HTTP.

    from mockserver.testing import MockApi

    with MockApi.in_process() as mock:           # no sockets, no threads: the app runs in this thread
        client = mock.client()                   # an httpx.Client for the code under test
        ...
        mock.advance(to="idle")

The pytest plugin's ``mock_api`` fixture is the same handle on a live server in a thread.
A mock speaks every built-in dialect at once (APIXO's ``/api/v1/...`` and 123API's ``/v1/...``
on the same ``url``, with the same key); ``MockApi.in_process(dialects="123api")`` or the
plugin's ``--mockserver-dialect 123api`` restricts it, and ``dialects`` says which it speaks.
In-process, the admin operations a fuzz loop makes per example (load, reset, advance, clock,
tasks, journal) call the service directly (``core/control.py``, the code the HTTP handlers
run), and requests reach the app through ``testing/inprocess.py``. A handle on a server thread
of this process (``app=`` given, as the pytest plugin does) makes those same calls on the
server's event loop once it runs, with no HTTP round trip. Over HTTP, every client the handle
makes shares one connection pool, so no client builds its own SSL context.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import pathlib
import shlex
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from mockserver.core import control
from mockserver.core.words import DEFAULT_FAIL_CODE
from mockserver.testing.clients import MockAsyncClient, MockClient
from mockserver.testing.inprocess import PrivateLoop, memory_client, settler

__all__ = ["DEFAULT_KEY", "IN_PROCESS_URL", "MockApi", "curl_for"]

DEFAULT_KEY = "sk_test_mockserver"
IN_PROCESS_URL = "http://testserver"
_SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")
# Attempt outcomes that mean the callback was sent, or lost on purpose ("delayed" is neither yet).
_ATTEMPTED = ("delivered", "failed", "dropped")


class MockApi:
    """One mock: its base ``url``, an ``api_key`` it accepts, and its admin API as methods.

    Admin calls that the mock refuses raise AssertionError with its answer.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str = DEFAULT_KEY,
        admin_token: str | None = None,
        app: Any = None,
        default_scenario: Mapping[str, Any] | None = None,
        _admin: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.app = app  # the ASGI app when it runs in this process (in-process, or a thread)
        self.default_key = api_key
        self.api_key = api_key
        # What load(None) goes back to: the scenario the server was started with.
        self.default_scenario = dict(default_scenario) if default_scenario else {}
        self._loop: PrivateLoop | None = None  # in memory: the loop the app runs on
        self._service: Any = None  # set by in_process(): admin operations call it directly
        self._pool: httpx.BaseTransport | None = None  # over HTTP: the connections every client shares
        self._owns_admin = _admin is None
        if _admin is None:
            _admin = self._new_client(timeout=30)
        self._admin = _admin
        self._admin_headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}

    # -- construction --------------------------------------------------------------

    @classmethod
    def in_process(cls, **settings: Any) -> MockApi:
        """A fresh mock in this process, driven in the caller's thread (no sockets, no threads).

        ``settings`` are mockserver Settings fields (seed=, scenario=, api_keys=,
        dialects="123api"...); the clock is manual unless ``clock="real"`` (then the app's
        event loop gets a thread of its own, so callbacks fall due without calls). Close it (or
        use ``with``) when done.
        """
        from mockserver.http.app import create_app

        settings.setdefault("clock", "manual")
        app = create_app(**settings)
        loop = PrivateLoop(threaded=settings["clock"] == "real", settle=settler(app))
        loop.start_lifespan(app)  # the callback dispatcher starts, on the loop requests run on
        mock = app.state.mock
        keys = mock.scenario.accounts if mock.scenario.accounts is not None else mock.settings.api_keys
        handle = cls(
            IN_PROCESS_URL,
            api_key=next(iter(keys)) if keys else DEFAULT_KEY,
            admin_token=mock.settings.admin_token,
            app=app,
            default_scenario=mock.scenario.document,
            _admin=_memory_client(app, loop),
        )
        handle._loop = loop
        handle._service = mock
        handle._owns_admin = True
        return handle

    @property
    def dialects(self) -> list[str]:
        """The dialects the mock speaks (``["apixo", "123api"]`` unless restricted), the first its default."""
        if self._service is not None:
            return list(self._service.dialects)
        return list(self.health()["dialects"])

    @property
    def in_memory(self) -> bool:
        """True when requests reach the app through memory, not a socket."""
        return self.app is not None and self.url == IN_PROCESS_URL

    def client(self, **kw: Any) -> httpx.Client:
        """An httpx.Client for the code under test, pointed at this mock (``kw`` go to the client)."""
        if self.in_memory:
            return self._memory_client(**kw)
        kw.setdefault("timeout", 30)
        return self._new_client(**kw)

    def async_client(self, **kw: Any) -> httpx.AsyncClient:
        """An httpx.AsyncClient for the code under test (in-process: the app on the caller's loop)."""
        if self.in_memory:
            return MockAsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=self.url, **kw)
        kw.setdefault("timeout", 30)
        if not _TRANSPORT_OPTIONS & kw.keys():
            kw.setdefault("verify", _ssl_context())  # the CA bundle is read once, not per client
        return MockAsyncClient(base_url=self.url, **kw)

    def _memory_client(self, **kw: Any) -> httpx.Client:
        if self._loop is None:
            # A handle made around an app: no lifespan, as with a TestClient not entered.
            self._loop = PrivateLoop(settle=settler(self.app))
        return _memory_client(self.app, self._loop, **kw)

    def _new_client(self, **kw: Any) -> httpx.Client:
        """An httpx.Client on the server; unless ``kw`` configures its own transport, it uses
        the handle's connection pool: kept-alive connections, no SSL context per client."""
        if _TRANSPORT_OPTIONS & kw.keys() or _env_proxies():
            return MockClient(base_url=self.url, **kw)
        if self._pool is None:
            self._pool = httpx.HTTPTransport(verify=_ssl_context())
        return MockClient(base_url=self.url, transport=_Shared(self._pool), **kw)

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for ``api_key``."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def close(self) -> None:
        if not self._owns_admin:
            return
        self._owns_admin = False
        self._admin.close()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._loop is not None:
            self._loop.close()  # the lifespan ends: the dispatcher stops

    def __enter__(self) -> MockApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- admin API -------------------------------------------------------------------

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {**self._admin_headers, **kw.pop("headers", {})}
        r = self._admin.request(method, f"/__admin{path}", headers=headers, **kw)
        if r.status_code >= 400:
            try:
                detail = r.json()
            except ValueError:
                detail = r.text
            raise AssertionError(f"mockserver: {method} /__admin{path} answered {r.status_code}: {detail}")
        return r.json()

    def _target(self) -> Any:
        """The service admin operations may call directly, or None (they go over HTTP).

        In memory, the app's. On a server thread of this process (the pytest plugin's, given
        ``app=``), the same service, reached through the server's event loop while it runs, so
        an admin call costs no HTTP round trip; not from that loop's own thread (it would wait
        on itself), nor with an admin token the server would refuse.
        """
        if self._service is not None:
            return self._service
        mock = getattr(getattr(self.app, "state", None), "mock", None)
        loop = getattr(getattr(mock, "callbacks", None), "_loop", None)
        if mock is None or loop is None or not loop.is_running() or loop.is_closed():
            return None
        if getattr(mock.callbacks, "_loop_thread", None) == threading.get_ident():
            return None
        token = mock.settings.admin_token
        if token is not None and self._admin_headers.get("Authorization") != f"Bearer {token}":
            return None
        return mock

    def _direct(self, method: str, path: str, operation: Callable[[Any], Any], *, as_json: bool = True) -> Any:
        """``operation(service)`` in place of ``method /__admin{path}``, answered as over HTTP:
        the same JSON (round-tripped, so tuples are lists; ``as_json=False``: an operation whose
        answer is fresh JSON values already), the same AssertionError on refusal.
        An operation may return a coroutine (advance): it runs on the app's loop."""
        from mockserver.core.errors import ApiError
        from mockserver.http.provider import error_parts

        service = self._target()
        try:
            if self._service is not None:
                result = operation(service)
                if inspect.iscoroutine(result):
                    assert self._loop is not None
                    result = self._loop.run(result)
            else:
                on_loop = asyncio.run_coroutine_threadsafe(_awaited(operation, service), service.callbacks._loop)
                result = on_loop.result()
        except ApiError as exc:
            status, body, _ = error_parts(service, exc, {"path": f"/__admin{path}"})
            raise AssertionError(f"mockserver: {method} /__admin{path} answered {status}: {json.loads(body)}") from None
        return json.loads(_dumps(result)) if as_json else result

    def health(self) -> dict:
        if self._target() is not None:
            return self._direct("GET", "/health", control.health)
        return self._call("GET", "/health")

    def reset(self) -> None:
        """Back to the loaded scenario: no tasks, fresh accounts, empty journal, clock restarted."""
        if self._target() is not None:
            self._direct("POST", "/reset", control.reset)
            return
        self._call("POST", "/reset")

    def load(self, scenario: str | os.PathLike | Mapping[str, Any] | None) -> dict:
        """Load a scenario and reset everything; returns the scenario document.

        ``scenario``: a library name (``"flaky-5xx"``), a YAML/JSON file path, a dict, or
        None for the one the server started with. When it restricts the API keys,
        ``api_key`` becomes its first key.
        """
        target = self._target()
        if target is not None:
            doc = self._load_direct(scenario)
        elif scenario is None:
            doc = self._call("PUT", "/scenario", json=self.default_scenario)
        elif isinstance(scenario, Mapping):
            doc = self._call("PUT", "/scenario", json=dict(scenario))
        elif isinstance(scenario, os.PathLike) or (isinstance(scenario, str) and _looks_like_path(scenario)):
            path = pathlib.Path(scenario)
            kind = "application/json" if path.suffix == ".json" else "application/yaml"
            doc = self._call("PUT", "/scenario", content=path.read_bytes(), headers={"Content-Type": kind})
        elif isinstance(scenario, str):
            doc = self._call("PUT", "/scenario", params={"name": scenario})
        else:
            raise TypeError(f"a scenario is a library name, a path, a dict or None, not {type(scenario).__name__}")
        # The server shows keys masked (****1234): the real ones come from the scenario itself
        # (in memory, the one just loaded: no second parse).
        if target is not None:
            accounts = list(target.scenario.accounts or {})
        else:
            accounts = _account_keys(self.default_scenario if scenario is None else scenario)
        if not accounts:
            self.api_key = self.default_key
        elif self.api_key not in accounts:
            self.api_key = accounts[0]
        return doc

    def _load_direct(self, scenario: str | os.PathLike | Mapping[str, Any] | None) -> dict:
        """load() in memory: the bytes the HTTP call would send, read by the same code."""
        name, raw, yaml_body = None, b"", False
        if scenario is None or isinstance(scenario, Mapping):
            doc = self.default_scenario if scenario is None else dict(scenario)
            raw = _json_body(doc)
        elif isinstance(scenario, os.PathLike) or (isinstance(scenario, str) and _looks_like_path(scenario)):
            path = pathlib.Path(scenario)
            raw, yaml_body = path.read_bytes(), path.suffix != ".json"
        elif isinstance(scenario, str):
            name = scenario
        else:
            raise TypeError(f"a scenario is a library name, a path, a dict or None, not {type(scenario).__name__}")
        return self._direct(
            "PUT",
            "/scenario",
            lambda mock: control.load_scenario(mock, control.scenario_source(name, raw, yaml_body, mock)),
        )

    def scenario(self, *, resolved: bool = False) -> dict:
        """The running scenario; ``resolved``: with the server settings it relies on written in."""
        return self._call("GET", "/scenario", params={"resolved": "true"} if resolved else None)

    def add_rule(self, rule: Mapping[str, Any]) -> dict:
        """Append one rule to the running scenario (until the next load or reset)."""
        return self._call("POST", "/rules", json=dict(rule))

    def clock(self) -> dict:
        if self._target() is not None:
            return self._direct("GET", "/clock", control.clock)
        return self._call("GET", "/clock")

    def now(self) -> int:
        """The mock's virtual time, epoch ms."""
        return self.clock()["now"]

    def advance(self, ms: int | None = None, to: str | int | None = None, *, tasks: bool = False) -> dict:
        """Move the virtual clock by ``ms``, or ``to`` "next", "idle" or an epoch-ms time.

        Returns once every callback due by the new time was attempted, with the clock as it is
        then; ``tasks=True`` adds ``"tasks"``, what ``tasks()`` would list, in the same call.
        """
        if (ms is None) == (to is None):
            raise TypeError("advance() takes exactly one of ms= or to=")
        body: dict[str, Any] = {"ms": ms} if ms is not None else {"to": to}
        if tasks:
            body["tasks"] = True
        if self._target() is not None and (self._service is None or self._loop is not None):
            # Through JSON, as over HTTP: advance(ms=1.5) is refused the same way. Integers and
            # ASCII words come out of JSON as they went in, and the answer without tasks is JSON
            # values only: neither needs the round trip (a fuzz example advances several times).
            plain = all(type(v) in (int, bool) or (type(v) is str and v.isascii()) for v in body.values())
            sent = body if plain else json.loads(_json_body(body))
            return self._direct(
                "POST",
                "/clock/advance",
                lambda mock: control.advance(mock, sent, reveal=False),
                as_json=not (plain and not tasks),
            )
        return self._call("POST", "/clock/advance", json=body)

    def tasks(self, **filters: str) -> list[dict]:
        """Every task (admin view: state, polls, timings...); filters: state=, model=, key=, and
        dialect= (the one the task was created through: a model name such as sora-2 may be in both)."""
        dialect = filters.pop("dialect", None)
        if self._target() is not None:
            found = self._direct("GET", "/tasks", lambda mock: control.tasks(mock, filters, reveal=False))["tasks"]
        else:
            found = self._call("GET", "/tasks", params=filters)["tasks"]
        return found if dialect is None else [t for t in found if t.get("dialect") == dialect]

    def task(self, task_id: str) -> dict:
        return self._call("GET", f"/tasks/{task_id}")

    def complete(self, task_id: str) -> dict:
        """End an unfinished task now, successfully."""
        return self._call("POST", f"/tasks/{task_id}/complete")

    def fail(self, task_id: str, code: str = DEFAULT_FAIL_CODE, message: str | None = None) -> dict:
        """End an unfinished task now, failed with ``code``."""
        body = {"code": code} | ({"message": message} if message else {})
        return self._call("POST", f"/tasks/{task_id}/fail", json=body)

    def account(self, key: str | None = None) -> dict:
        return self._call("GET", f"/accounts/{key or self.api_key}")

    def set_balance(self, balance: float | None, key: str | None = None) -> dict:
        """Set a key's credits (None: unlimited)."""
        return self._call("PUT", f"/accounts/{key or self.api_key}", json={"balance": balance})

    def journal(self, since: int = 0) -> list[dict]:
        """Every client request since the last reset, oldest first (id > ``since``)."""
        if self._target() is not None:
            return self._direct("GET", "/journal", lambda mock: control.journal(mock, int(since), reveal=False))[
                "entries"
            ]
        return self._call("GET", "/journal", params={"since": since})["entries"]

    def callbacks(self, task_id: str | None = None) -> list[dict]:
        """Every callback delivery attempt (of one task, if given), oldest first."""
        return self._call("GET", "/callbacks", params={"taskId": task_id} if task_id else None)["attempts"]

    def wait_for_callback(self, task_id: str, timeout: float = 5.0) -> dict:
        """The first delivery attempt of ``task_id``'s callback (delivered, failed or dropped).

        On a manual clock this moves the clock from event to event until the attempt is
        made; on a real clock it waits. AssertionError after ``timeout`` real seconds.
        """
        from mockserver.core.clock import monotonic

        deadline = monotonic() + timeout
        pause = threading.Event()
        clock = None
        asked = False
        while True:
            for attempt in self.callbacks(task_id):
                if attempt["outcome"] in _ATTEMPTED:
                    return attempt
            if not asked:
                # A task with no callback URL never gets one (123API's never do): say so at once.
                task = self.task(task_id)
                if not task.get("callbackUrl"):
                    via = f" (created through {task['dialect']})" if task.get("dialect") else ""
                    raise AssertionError(f"{task_id} asked for no callback{via}: no attempt will come")
                asked = True
            if monotonic() >= deadline:
                raise AssertionError(f"no callback attempt for {task_id} within {timeout} s")
            # An advance answers the clock as it leaves it: no second call to read it.
            clock = clock or self.clock()
            if clock["mode"] == "manual" and clock["nextEvent"] is not None:
                clock = self.advance(to="next")
            else:
                clock = None
                # A real clock, or a task that ends only when polled: the attempt can still
                # come (a poll from another thread, the clock catching up), so look again soon.
                pause.wait(0.01)

    def report(self, key: str | None = None) -> dict:
        """The client conformance report (of one API key, if given)."""
        return self._call("GET", "/report", params={"key": key} if key is not None else None)

    def assert_conforming(self, allow: Iterable[str] = (), *, key: str | None = None, warnings: bool = False) -> None:
        """AssertionError listing the report's error findings (and warnings if asked), codes in ``allow`` aside."""
        from mockserver.report import assert_conforming

        assert_conforming(self.report(key), allow=allow, warnings=warnings)


async def _awaited(operation: Callable[[Any], Any], service: Any) -> Any:
    """``operation(service)``, awaited if it is a coroutine (on the server's loop)."""
    result = operation(service)
    return await result if inspect.isawaitable(result) else result


def _memory_client(app: Any, loop: PrivateLoop, **kw: Any) -> httpx.Client:
    """A client whose requests run ``app`` on ``loop``, in the calling thread."""
    return memory_client(app, loop, base_url=_MEMORY_BASE, **kw)


# IN_PROCESS_URL parsed once, with the slash httpx gives every base URL: a fuzz loop makes a
# client per example, and httpx parsed the text twice for each (~25 us).
_MEMORY_BASE = httpx.URL(IN_PROCESS_URL + "/")


# Client options that configure a transport of their own: such a client cannot share the pool.
_TRANSPORT_OPTIONS = frozenset(
    {"transport", "mounts", "verify", "cert", "trust_env", "http1", "http2", "proxy", "limits"}
)
# httpx's JSON body encoding, so a body read in memory is the one HTTP would have carried.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _json_body(obj: object) -> bytes:
    return _JSON.encode(obj).encode("utf-8")


def _dumps(obj: object) -> str:
    from mockserver.dialects.protocol import compact_json_text

    return compact_json_text(obj)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default context, made once: loading the CA bundle costs ~0.1 s per client."""
    return httpx.create_ssl_context()


def _env_proxies() -> bool:
    """Proxies in the environment: a client must build its own transport to honour them."""
    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


class _Shared(httpx.BaseTransport):
    """The handle's pool, lent to one client: closing the client leaves the pool open."""

    def __init__(self, pool: httpx.BaseTransport) -> None:
        self.pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.pool.handle_request(request)

    def close(self) -> None:
        pass


def _account_keys(scenario: object) -> list[str]:
    """The API keys a scenario (name, path or mapping) restricts the mock to, in order."""
    from mockserver.dialects import default_dialects
    from mockserver.scenarios.loading import ScenarioError, load

    # Rules may name any dialect's models (gpt-4o-image): the loader's default knows APIXO's alone.
    models = {name for d in default_dialects() for name in d.catalog().names()}
    if isinstance(scenario, Mapping):
        # The server took it, so it is valid: its keys in order, without parsing it again.
        entries = scenario.get("accounts") or []
        return [e["key"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("key"), str)]
    try:
        return list(load(scenario, models).accounts or {})
    except (ScenarioError, TypeError):
        return []


def _looks_like_path(text: str) -> bool:
    return text.endswith(_SCENARIO_SUFFIXES) or "/" in text or os.sep in text


def curl_for(entry: Mapping[str, Any], base_url: str) -> str:
    """A curl command repeating a journal entry; the API key is read from $MOCKSERVER_API_KEY."""
    query = f"?{entry['query']}" if entry.get("query") else ""
    parts = ["curl", "-X", entry["method"], f"{base_url.rstrip('/')}{entry['path']}{query}"]
    if entry.get("key"):
        parts += ["-H", "Authorization: Bearer $MOCKSERVER_API_KEY"]
    if entry.get("idempotencyKey"):
        parts += ["-H", f"Idempotency-Key: {entry['idempotencyKey']}"]
    body = entry.get("body")
    if body is not None:
        parts += ["-H", "Content-Type: application/json", "--data-raw", body]
    line = " ".join(f'"{p}"' if "$MOCKSERVER_API_KEY" in p else shlex.quote(p) for p in parts)
    if entry.get("bodyTruncated"):
        line += "  # body cut to its first 2 KB"
    return line
