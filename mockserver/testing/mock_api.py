"""Test helpers: a handle that drives one mock, in-process (no sockets) or over HTTP.

    from mockserver.testing import MockApi

    with MockApi.in_process() as mock:           # no sockets: an in-memory transport
        client = mock.client()                   # an httpx.Client for the code under test
        ...
        mock.advance(to="idle")

The pytest plugin's ``mock_api`` fixture is the same handle on a live server in a thread.
"""

from __future__ import annotations

import os
import pathlib
import shlex
import threading
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from mockserver.core.words import DEFAULT_FAIL_CODE

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
        self._owns_admin = _admin is None
        self._admin = _admin if _admin is not None else httpx.Client(base_url=self.url, timeout=30)
        self._admin_headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}

    # -- construction --------------------------------------------------------------

    @classmethod
    def in_process(cls, **settings: Any) -> MockApi:
        """A fresh mock in this process, reached through an in-memory transport (no sockets).

        ``settings`` are mockserver Settings fields (seed=, scenario=, api_keys=...); the
        clock is manual unless ``clock="real"``. Close it (or use ``with``) when done.
        """
        from mockserver.http.app import create_app

        TestClient = _test_client_class()
        settings.setdefault("clock", "manual")
        app = create_app(**settings)
        admin = TestClient(app, base_url=IN_PROCESS_URL)
        admin.__enter__()  # runs the lifespan: the callback dispatcher starts
        mock = app.state.mock
        keys = mock.scenario.accounts if mock.scenario.accounts is not None else mock.settings.api_keys
        handle = cls(
            IN_PROCESS_URL,
            api_key=next(iter(keys)) if keys else DEFAULT_KEY,
            admin_token=mock.settings.admin_token,
            app=app,
            default_scenario=mock.scenario.document,
            _admin=admin,
        )
        handle._owns_admin = True
        return handle

    @property
    def in_memory(self) -> bool:
        """True when requests reach the app through memory, not a socket."""
        return self.app is not None and self.url == IN_PROCESS_URL

    def client(self, **kw: Any) -> httpx.Client:
        """An httpx.Client for the code under test, pointed at this mock (``kw`` go to the client)."""
        if self.in_memory:
            return _in_memory_client_class()(self.app, base_url=self.url, **kw)
        kw.setdefault("timeout", 30)
        return httpx.Client(base_url=self.url, **kw)

    def async_client(self, **kw: Any) -> httpx.AsyncClient:
        """An httpx.AsyncClient for the code under test (an ASGI transport when in-process)."""
        if self.in_memory:
            return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=self.url, **kw)
        kw.setdefault("timeout", 30)
        return httpx.AsyncClient(base_url=self.url, **kw)

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for ``api_key``."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def close(self) -> None:
        if not self._owns_admin:
            return
        self._owns_admin = False
        if self.in_memory:
            self._admin.__exit__(None, None, None)  # the lifespan ends: the dispatcher stops
        else:
            self._admin.close()

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

    def health(self) -> dict:
        return self._call("GET", "/health")

    def reset(self) -> None:
        """Back to the loaded scenario: no tasks, fresh accounts, empty journal, clock restarted."""
        self._call("POST", "/reset")

    def load(self, scenario: str | os.PathLike | Mapping[str, Any] | None) -> dict:
        """Load a scenario and reset everything; returns the scenario document.

        ``scenario``: a library name (``"flaky-5xx"``), a YAML/JSON file path, a dict, or
        None for the one the server started with. When it restricts the API keys,
        ``api_key`` becomes its first key.
        """
        if scenario is None:
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
        # The server shows keys masked (****1234): the real ones come from the scenario itself.
        accounts = _account_keys(self.default_scenario if scenario is None else scenario)
        if not accounts:
            self.api_key = self.default_key
        elif self.api_key not in accounts:
            self.api_key = accounts[0]
        return doc

    def scenario(self, *, resolved: bool = False) -> dict:
        """The running scenario; ``resolved``: with the server settings it relies on written in."""
        return self._call("GET", "/scenario", params={"resolved": "true"} if resolved else None)

    def add_rule(self, rule: Mapping[str, Any]) -> dict:
        """Append one rule to the running scenario (until the next load or reset)."""
        return self._call("POST", "/rules", json=dict(rule))

    def clock(self) -> dict:
        return self._call("GET", "/clock")

    def now(self) -> int:
        """The mock's virtual time, epoch ms."""
        return self.clock()["now"]

    def advance(self, ms: int | None = None, to: str | int | None = None) -> dict:
        """Move the virtual clock by ``ms``, or ``to`` "next", "idle" or an epoch-ms time.

        Returns once every callback due by the new time was attempted.
        """
        if (ms is None) == (to is None):
            raise TypeError("advance() takes exactly one of ms= or to=")
        return self._call("POST", "/clock/advance", json={"ms": ms} if ms is not None else {"to": to})

    def tasks(self, **filters: str) -> list[dict]:
        """Every task (admin view: state, polls, timings...); filters: state=, model=, key=."""
        return self._call("GET", "/tasks", params=filters)["tasks"]

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
        while True:
            for attempt in self.callbacks(task_id):
                if attempt["outcome"] in _ATTEMPTED:
                    return attempt
            if monotonic() >= deadline:
                raise AssertionError(f"no callback attempt for {task_id} within {timeout} s")
            clock = self.clock()
            if clock["mode"] == "manual" and clock["nextEvent"] is not None:
                self.advance(to="next")
            else:
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


def _test_client_class() -> type:
    """Starlette's TestClient: an httpx client whose transport calls the app in memory."""
    with warnings.catch_warnings():
        # Starlette 1.x would rather its TestClient ran on httpx2; httpx is our dependency and works.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient
    return TestClient


def _in_memory_client_class() -> type:
    """A TestClient that leaves the app's lifespan alone: the handle runs it, once per app
    (a second lifespan would start a second callback dispatcher on another event loop)."""
    test_client = _test_client_class()

    class InMemoryClient(test_client):  # type: ignore[misc, valid-type]
        def __enter__(self) -> InMemoryClient:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    return InMemoryClient


def _account_keys(scenario: object) -> list[str]:
    """The API keys a scenario (name, path or mapping) restricts the mock to, in order."""
    from mockserver.scenarios.loading import ScenarioError, load

    try:
        return list(load(scenario).accounts or {})
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
