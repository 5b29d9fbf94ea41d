"""Shared fixtures: one app in-process and one live uvicorn server per session, reset per test.

The ``api`` fixture runs each test twice: through an in-process transport and
through a real server on a loopback port 0 (moto's TEST_SERVER_MODE idea).
Every answer an ``api`` or ``make_api`` client receives is checked against the published
contract (mockserver.contract): a response that breaks a schema fails the test.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
from pathlib import Path

import httpcore  # noqa: F401 (imported before any inner pytest run: see below)
import httpx
import pytest

from mockserver import contract
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from mockserver.testing.clients import MockClient
from mockserver.testing.inprocess import in_process_client
from tests.receivers import dead_url, receiver, receiver_server  # noqa: F401 (fixtures for every test module)

# The pytest plugin's tests run inner pytest sessions (tests/testing/test_pytest_plugin.py,
# test_examples.py). pytester runs them in this process and afterwards drops every module an inner
# run imported. httpx imports httpcore lazily and maps httpcore's exceptions by class, in a table it
# builds once: were httpcore first imported inside an inner run, the table would keep that run's
# classes and a later, fresh httpcore's RemoteProtocolError would escape httpx unwrapped, in
# whichever test comes next (so the failures depended on test order). Imported here, before any inner
# run, httpcore is one module for the whole session.
pytest_plugins = ["pytester"]


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, whose inner runs leave out Schemathesis's and anyio's plugins as this suite does
    (pyproject.toml).

    An inner run reads no pyproject of ours, so it loaded the plugins by their entry points; and
    pytester drops the modules a run imported, so each run imported Schemathesis afresh: about a
    second of CPU per run, for a plugin no inner test uses.
    """
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:schemathesis -p no:anyio")
    return pytester


KEY = "sk_test_key"
START_MS = 1_767_965_610_000  # a fixed manual-clock start keeps times readable and stable


class Api:
    """A client for one mock, with shortcuts for the admin API."""

    def __init__(self, client: httpx.Client, app, mode: str, checked: bool = True) -> None:
        self.client = client
        self.app = app
        self.mode = mode
        self.key = KEY
        self.checked = 0  # answers checked against the contract
        self.checking = checked
        check_contract(client, self)

    @contextlib.contextmanager
    def unchecked(self):
        """Answers inside this block are not checked (a test that breaks them on purpose)."""
        before, self.checking = self.checking, False
        try:
            yield self
        finally:
            self.checking = before

    @property
    def mock(self):
        return self.app.state.mock

    def headers(self, key: str | None = KEY) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key is not None else {}

    def submit(self, model: str = "nano-banana", input: dict | None = None, key: str | None = KEY, **body):
        payload = {"input": input if input is not None else example_input(model), **body}
        return self.client.post(f"/api/v1/generateTask/{model}", json=payload, headers=self.headers(key))

    def submit_ok(self, model: str = "nano-banana", input: dict | None = None, **kw) -> str:
        r = self.submit(model, input, **kw)
        assert r.status_code == 200, r.text
        return r.json()["data"]["taskId"]

    def status(self, model: str, task_id: str, key: str | None = KEY):
        return self.client.get(f"/api/v1/statusTask/{model}", params={"taskId": task_id}, headers=self.headers(key))

    def advance(self, ms: int | None = None, to: str | None = None) -> dict:
        body = {"ms": ms} if ms is not None else {"to": to}
        r = self.client.post("/__admin/clock/advance", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    def admin(self, method: str, path: str, **kw) -> httpx.Response:
        return self.client.request(method, f"/__admin{path}", **kw)


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "unchecked_responses: do not check this test's answers against the published schemas "
        "(for tests that break them on purpose, e.g. fault injection)",
    )
    config.addinivalue_line(
        "markers",
        "wall_clock: asserts how long something takes in real time; under pytest-xdist it runs "
        "while no other worker runs a test (until it calls the wall_clock_done fixture's function)",
    )


class RunAlone:
    """A readers-writer lock across pytest-xdist workers (flock on two files of the run's temp dir).

    Every test holds it shared; a ``wall_clock`` test holds it exclusively, so its deadlines are
    measured on a machine its own suite does not load. The gate gives the exclusive holder
    precedence: a test that waits for it keeps the next shared holders out. An exclusive holder
    whose timed part is over may hold it shared for the rest of its test (``share``).
    """

    def __init__(self, folder: Path) -> None:
        self.gate = open(folder / "wall-clock.gate", "a+b")  # held for the session
        self.lock = open(folder / "wall-clock.lock", "a+b")
        self.holding: bool | None = None  # what this holder has: None nothing, True exclusive, False shared

    def take(self, exclusive: bool) -> None:
        """Hold the lock exclusively or shared; a holder that already has it so keeps it."""
        if self.holding is exclusive:
            return
        self.release()
        if exclusive:
            fcntl.flock(self.gate, fcntl.LOCK_EX)
            fcntl.flock(self.lock, fcntl.LOCK_EX)
        else:
            fcntl.flock(self.gate, fcntl.LOCK_SH)
            fcntl.flock(self.lock, fcntl.LOCK_SH)
            fcntl.flock(self.gate, fcntl.LOCK_UN)
        self.holding = exclusive

    def share(self) -> None:
        """An exclusive holder holds it shared from now on, and lets the others in; no one gets
        ahead of it in between: while it holds the gate no one else waits for the lock file, so
        the conversion does not wait, and the gate goes last."""
        if not self.holding:
            return
        fcntl.flock(self.lock, fcntl.LOCK_SH)
        fcntl.flock(self.gate, fcntl.LOCK_UN)
        self.holding = False

    def release(self) -> None:
        if self.holding is None:
            return
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        if self.holding:
            fcntl.flock(self.gate, fcntl.LOCK_UN)
        self.holding = None

    @contextlib.contextmanager
    def held(self, exclusive: bool):
        self.take(exclusive)
        try:
            yield
        finally:
            self.release()


def runs_alone(item) -> bool:
    return item.get_closest_marker("wall_clock") is not None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    workers = getattr(item.config, "workerinput", None)  # set in a pytest-xdist worker only
    if workers is None:
        yield
        return
    alone = item.config.stash.get(RUN_ALONE, None)
    if alone is None:
        # Each worker's basetemp is <the run's temp dir>/popen-gwN: the parent is this run's alone.
        alone = item.config.stash[RUN_ALONE] = RunAlone(Path(item.config.option.basetemp).parent)
    exclusive = runs_alone(item)
    alone.take(exclusive)
    try:
        yield
    finally:
        # A wall_clock test followed by another keeps the lock: handed back between them, the
        # other workers ran one test each in between, one at a time (each hand-over waits for the
        # test running then), so the whole run of them cost the other workers' tests their overlap.
        if not (exclusive and nextitem is not None and runs_alone(nextitem)):
            alone.release()


RUN_ALONE = pytest.StashKey[RunAlone]()


@pytest.fixture
def wall_clock_done(request):
    """For a ``wall_clock`` test that ends by waiting on something it does not time (a sleep in
    the code under test, a delay it waits out): call what this gives once everything the test
    times is over, and the other workers' tests run beside the rest of it (the lock held shared,
    as any test holds it). Without pytest-xdist, or in a test not run alone, it does nothing."""

    def done() -> None:
        alone = request.config.stash.get(RUN_ALONE, None)
        if alone is not None:
            alone.share()

    return done


_VERDICTS: dict[tuple, tuple[contract.Problem, ...]] = {}
_VERDICTS_KEPT = 4096  # answers of at most _VERDICT_BODY bytes: at most ~70 MB, usually a few
_VERDICT_BODY = 16 * 1024


def contract_problems(response: httpx.Response, retry_hint: str) -> list[contract.Problem]:
    """contract.check_httpx_response for an answer of the mock, reached by check_contract.

    The verdict is a function of the request line, the status, the headers, the body and the
    scenario's retry_hint alone: an answer identical in all of them to one checked before (three
    in four are: the same reset, balance, error and admin answers in test after test) gets that
    one's verdict without validating its body against the schemas again.
    """
    if len(response.content) > _VERDICT_BODY:
        return contract.check_httpx_response(response, errors_as_200=True, retry_hint=retry_hint)
    request = response.request
    key = (
        request.method,
        str(request.url),
        response.status_code,
        tuple(response.headers.multi_items()),
        response.content,
        retry_hint,
    )
    found = _VERDICTS.get(key)
    if found is None:
        found = tuple(contract.check_httpx_response(response, errors_as_200=True, retry_hint=retry_hint))
        if len(_VERDICTS) >= _VERDICTS_KEPT:
            _VERDICTS.clear()
        _VERDICTS[key] = found
    return list(found)


def check_contract(client: httpx.Client, owner) -> httpx.Client:
    """Fail the request (and so the test) when an answer breaks the published contract.

    ``owner.checking`` switches the check; ``owner.checked`` counts checked answers.
    """

    def on_response(response: httpx.Response) -> None:
        if not owner.checking:
            return
        response.read()
        # The running scenario's retry_hint says where a 429's hint must be (header, body, both, none).
        problems = contract_problems(response, retry_hint=owner.mock.retry_hint)
        owner.checked += 1
        if problems:
            raise AssertionError("the mock's answer breaks the contract:\n" + contract.describe(problems, response))

    hooks = client.event_hooks
    client.event_hooks = {**hooks, "response": [*hooks.get("response", []), on_response]}
    return client


def _settings(**kw):
    return {"clock": "manual", "seed": 1, "start_ms": START_MS, **kw}


@pytest.fixture(scope="session")
def inprocess_app():
    return create_app(**_settings())


@pytest.fixture(scope="session")
def live_server():
    app = create_app(**_settings())
    with ServerThread(app) as server:
        yield server
    if server.error is not None:
        raise server.error


@functools.cache
def ssl_context():
    """httpx's default SSL context, made once: each new one reads the CA bundle (~50 ms of CPU)."""
    return httpx.create_ssl_context()


def _one_default_ssl_context() -> None:
    """Every httpx client this process makes with the default certificate checks shares one SSL
    context (one per CA bundle the environment names).

    httpx builds a context for each new client, even one that only ever speaks plain http to a
    loopback port, and each reads the CA bundle again: ~50 ms of CPU, once for every
    ``httpx.get(...)``. The suite makes hundreds (tests, pytester's inner runs, the receivers'
    helpers): about a tenth of its CPU. A shared context checks certificates exactly as a fresh
    one would: it is made by the same call, from the same SSL_CERT_FILE and SSL_CERT_DIR
    (trust_env), and kept per pair of them. Anything else (a context of the caller's,
    verify=False, a client certificate) is made as before.
    """
    from httpx._transports import default as transports

    make = getattr(transports, "create_ssl_context", None)
    if make is None:  # another httpx than 0.28's: leave it as it is
        return
    made: dict[tuple[bool, str | None, str | None], object] = {}

    def create_ssl_context(verify=True, cert=None, trust_env=True):
        if verify is not True or cert is not None:
            return make(verify=verify, cert=cert, trust_env=trust_env)
        env = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) if trust_env else (None, None)
        key = (bool(trust_env), *env)
        if key not in made:
            made[key] = make(verify=True, cert=None, trust_env=trust_env)
        return made[key]

    transports.create_ssl_context = create_ssl_context


_one_default_ssl_context()


@pytest.fixture(params=["inprocess", "live"])
def api(request):
    """The same test, in-process (the app in this thread: mockserver.testing.inprocess) and
    against a live uvicorn server on port 0."""
    if request.param == "inprocess":
        app = request.getfixturevalue("inprocess_app")
        client = in_process_client(app)
    else:
        server = request.getfixturevalue("live_server")
        app = server.app
        # The client MockApi.client() hands out (httpx's, minus repeated URL joins and cookie
        # scans: tests/testing/test_clients.py), as in_process_client gives in-process.
        client = MockClient(base_url=server.url, timeout=10, verify=ssl_context())
    with client as client:
        # Back to no scenario (a test may have loaded one), which also resets everything.
        r = client.put("/__admin/scenario", json={})
        assert r.status_code == 200, r.text
        yield Api(client, app, request.param, checked=not request.node.get_closest_marker("unchecked_responses"))


@pytest.fixture
def make_api(request):
    """An Api over a fresh in-process app built with these settings (for settings-specific tests)."""
    checked = not request.node.get_closest_marker("unchecked_responses")
    with contextlib.ExitStack() as clients:

        def make(**kw) -> Api:
            app = create_app(**_settings(**kw))
            # No lifespan, as the TestClient this replaced (not used as a context manager).
            client = clients.enter_context(in_process_client(app, lifespan=False))
            return Api(client, app, "inprocess", checked=checked)

        yield make


def data_of(response: httpx.Response) -> dict:
    body = response.json()
    assert body["code"] == response.status_code, body
    return body["data"]


def example_input(model: str) -> dict:
    """The first documented example input of a model's schema."""
    from mockserver.core.catalog import load_catalog

    return json.loads(json.dumps(load_catalog().get(model).schema["examples"][0]))


def in_process(app, starlette: bool = False) -> contextlib.AbstractContextManager[httpx.Client]:
    """A client on ``app`` in this process: the thread-free one (mockserver.testing), or with
    ``starlette`` Starlette's TestClient, as a user may drive the app (tests compare the two)."""
    if starlette:
        from starlette.testclient import TestClient

        return TestClient(app)
    return in_process_client(app)
