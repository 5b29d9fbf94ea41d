"""The contract suite: checks a server (the mock by default, or any URL) against the contract.

    pytest contract_tests                                   # starts the mock itself
    pytest contract_tests --base-url URL --api-key KEY      # any server
    pytest contract_tests --base-url URL --api-key KEY --allow-spend   # a real, paid endpoint
    pytest contract_tests --dialect 123api [--base-url URL --api-key KEY]  # a 123API server

``--dialect`` says which wire format the server speaks: each test module carries a
``dialect(NAME)`` marker, and only that dialect's tests are selected (APIXO's are the ones in this
folder, 123API's those in ``api123/``).

Every answer the server gives is checked against the published schemas (mockserver.contract)
by a response hook, so a test fails on the first answer that breaks them, whatever it was
testing. Tests that create tasks cost credits on a real endpoint: they carry the
``spends_credits`` marker and are skipped unless ``--allow-spend`` is given or the server is a
mockserver (it answers ``GET /__admin/health``; its credits are not real). Tests that need to
move the clock or force outcomes (``needs_admin``) skip on servers without ``/__admin``; on a
mock started with ``--admin-token`` they skip asking for ``--admin-token``.

Installed, the suite ships as ``mockserver/_contract_tests``: ``mockserver contract`` runs it.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from dataclasses import dataclass, field

import httpx
import pytest

from mockserver import contract
from mockserver.core.words import BALANCE, MODELS
from mockserver.dialects import builtin

TERMINAL = ("success", "failed")
ADMIN_TOKEN_REQUIRED = "Admin token required"  # a mock's answer on /__admin without its token
ORDER = {"pending": 0, "processing": 1, "success": 2, "failed": 2}
# The model the lifecycle tests use when --model is not given, per dialect.
DEFAULT_MODELS = {"apixo": "nano-banana", "123api": "gpt-4o-image"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("contract", "contract suite (contract_tests/)")
    group.addoption("--base-url", help="server to check (default: start the mock in this process)")
    group.addoption("--api-key", help="bearer key for --base-url (default sk_contract_test)")
    group.addoption(
        "--allow-spend",
        action="store_true",
        help="run tests that create tasks on a server that is not a mockserver (real credits)",
    )
    dialects = list(builtin())
    group.addoption(
        "--dialect",
        default=dialects[0],
        choices=dialects,
        help=f"the wire format the server speaks; only its tests run (default {dialects[0]})",
    )
    models = ", ".join(f"{m} for {d}" for d, m in DEFAULT_MODELS.items())
    group.addoption("--model", help=f"model the lifecycle tests use (default {models})")
    group.addoption("--admin-token", help="token for the server's /__admin, if it has one")
    group.addoption(
        "--poll-interval",
        type=float,
        default=3.0,
        help="seconds between status polls on a server whose clock the suite cannot move",
    )
    group.addoption("--max-wait", type=float, default=600.0, help="give up on a task after this many seconds")


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "spends_credits: creates tasks; skipped on a paid endpoint unless --allow-spend",
        "needs_admin: moves the clock or forces outcomes through /__admin; skipped without it",
        "extension: behaviour mockserver promises beyond the provider's documentation "
        "(deselect with -m 'not extension' against a real provider)",
        "dialect(name): the wire format a test speaks; selected only with --dialect NAME",
    ):
        config.addinivalue_line("markers", line)


def pytest_sessionstart(session: pytest.Session) -> None:
    """A server named by --base-url that cannot be reached, or refuses the key, stops the run at
    once with one line (before collection: nothing else is worth doing)."""
    opt = session.config.getoption
    if opt("--base-url"):
        _check_key(opt("--base-url").rstrip("/"), opt("--api-key") or "sk_contract_test", opt("--dialect"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Only the tests of the --dialect the server speaks (a test with no dialect marker runs on all)."""
    dialect = config.getoption("--dialect")
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("dialect")
        (keep if marker is None or dialect in marker.args else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass
class Target:
    """The server under test and what it lets the suite do."""

    url: str
    key: str
    model: str
    dialect: str
    admin: bool  # /__admin answers: the suite can move the clock and force outcomes
    free: bool  # a mockserver: its credits are not real
    locked: bool = False  # a mockserver whose /__admin wants a token the suite was not given
    admin_headers: dict = field(default_factory=dict)
    poll_interval: float = 3.0
    max_wait: float = 600.0
    checked: int = 0  # answers checked against the contract

    def example_input(self) -> dict:
        """The model's first documented example: APIXO's ``input``, 123API's whole body."""
        return json.loads(json.dumps(self.model_schema()["examples"][0]))

    def model_schema(self) -> dict:
        prefix = "" if self.dialect == "apixo" else f"{self.dialect}/"
        return contract.load_schemas().get(f"{prefix}models/{self.model}")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default certificate checks, made once for every client of the run: each new
    context reads the CA bundle again, ~50 ms of CPU per client (most of a test against a mock)."""
    return httpx.create_ssl_context()


def _probe_admin(url: str, headers: dict) -> tuple[bool, bool]:
    """(its /__admin answers us, it is a mockserver): a mock started with --admin-token refuses
    a missing or wrong token with its own 401, and its credits are no more real for that."""
    try:
        r = httpx.get(f"{url}/__admin/health", headers=headers, timeout=10, verify=tls_context())
        body = r.json()
    except (httpx.HTTPError, ValueError):
        return False, False
    if not isinstance(body, dict):
        return False, False
    if r.status_code == 200 and body.get("status") == "ok":
        return True, True
    return False, r.status_code == 401 and body.get("message") == ADMIN_TOKEN_REQUIRED


def _check_key(url: str, key: str, dialect: str) -> None:
    """Stop at once, with one clear line, when the server refuses the key (asked on the dialect's
    balance or models route: a read that creates nothing)."""
    path = next(r.path for r in builtin()[dialect].routes if r.kind in (BALANCE, MODELS) and r.method == "GET")
    try:
        r = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30, verify=tls_context())
    except httpx.HTTPError as exc:
        pytest.exit(f"cannot reach {url}: {exc}", returncode=4)
    if r.status_code == 401:
        pytest.exit(f"{url} refuses the API key (401): pass a valid one with --api-key", returncode=4)


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config):
    opt = pytestconfig.getoption
    dialect = opt("--dialect")
    catalog = builtin()[dialect].catalog()
    model = opt("--model") or DEFAULT_MODELS.get(dialect) or catalog.names()[0]
    if catalog.get(model) is None:
        raise pytest.UsageError(
            f"--model {model!r}: no {dialect} model by that name (known: {', '.join(catalog.names())})"
        )
    token = opt("--admin-token")
    admin_headers = {"Authorization": f"Bearer {token}"} if token else {}
    base_url = opt("--base-url")
    common = {
        "model": model,
        "dialect": dialect,
        "admin_headers": admin_headers,
        "poll_interval": opt("--poll-interval"),
        "max_wait": opt("--max-wait"),
    }
    if base_url:
        url = base_url.rstrip("/")
        admin, mock = _probe_admin(url, admin_headers)
        key = opt("--api-key") or "sk_contract_test"
        yield Target(url=url, key=key, admin=admin, free=mock, locked=mock and not admin, **common)
        return
    # No server named: the mock itself, speaking only that dialect (as `mockserver serve --dialect`
    # does), on a loopback port, with a manual clock.
    from mockserver.app import create_app
    from mockserver.http.server import ServerThread

    with ServerThread(create_app(clock="manual", seed=7, dialects=dialect)) as server:
        yield Target(
            url=server.url,
            key=opt("--api-key") or "sk_contract_test",
            admin=True,
            free=True,
            **common,
        )
    if server.error is not None:
        raise server.error


@pytest.fixture(autouse=True)
def _gates(request: pytest.FixtureRequest, target: Target) -> None:
    if request.node.get_closest_marker("spends_credits"):
        if not (target.free or request.config.getoption("--allow-spend")):
            pytest.skip("creates tasks, which costs credits on this server: pass --allow-spend")
    if request.node.get_closest_marker("needs_admin") and not target.admin:
        if target.locked:
            pytest.skip(f"needs {target.url}/__admin (clock control), which wants a token: pass --admin-token")
        pytest.skip(f"needs {target.url}/__admin (clock control), which this server does not answer")


@pytest.fixture(scope="session")
def client(target: Target):
    """An httpx client with the key; every answer it receives must keep the contract."""

    def check(response: httpx.Response) -> None:
        if response.request.url.path.startswith("/__admin"):
            return
        response.read()
        target.checked += 1
        problems = contract.check_httpx_response(response)
        if problems:
            raise AssertionError("answer breaks the contract:\n" + contract.describe(problems, response))

    headers = {"Authorization": f"Bearer {target.key}"}
    hooks = {"response": [check]}
    with httpx.Client(base_url=target.url, headers=headers, timeout=30, event_hooks=hooks, verify=tls_context()) as c:
        yield c


class Driver:
    """Submits tasks and follows them to the end: by the admin clock if it can, else by polling.

    APIXO's words; ``api123/conftest.py`` has 123API's (``STATE`` and ``TERMINAL`` say which field
    holds a task's state and which states end it).
    """

    STATE = "state"
    TERMINAL: tuple[str, ...] = TERMINAL

    def __init__(self, target: Target, client: httpx.Client, admin_client: httpx.Client | None = None) -> None:
        self.target = target
        self.client = client
        self.admin_client = admin_client

    @property
    def model(self) -> str:
        return self.target.model

    def submit(self, body: dict | None = None, model: str | None = None, **kw) -> httpx.Response:
        body = body if body is not None else {"input": self.target.example_input()}
        return self.client.post(f"/api/v1/generateTask/{model or self.model}", json=body, **kw)

    def submit_ok(self, body: dict | None = None, **kw) -> str:
        r = self.submit(body, **kw)
        assert r.status_code == 200, r.text
        return r.json()["data"]["taskId"]

    def status(self, task_id: str, model: str | None = None, headers: dict | None = None) -> httpx.Response:
        return self.client.get(f"/api/v1/statusTask/{model or self.model}", params={"taskId": task_id}, headers=headers)

    def data(self, task_id: str, headers: dict | None = None) -> dict:
        r = self.status(task_id, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def admin(self, method: str, path: str, **kw) -> httpx.Response:
        # One client for the session; without it (a module fixture's Driver), still the run's one
        # SSL context: httpx.request would build a context, reading the CA bundle, on every call.
        if self.admin_client is not None:
            request = self.admin_client.request
        else:
            request = functools.partial(httpx.request, verify=tls_context())
        r = request(
            method,
            f"{self.target.url}/__admin{path}",
            headers=self.target.admin_headers,
            timeout=30,
            **kw,
        )
        assert r.status_code == 200, r.text
        return r

    def advance(self) -> None:
        """The server's clock to its next task event (admin only)."""
        self.admin("POST", "/clock/advance", json={"to": "next"})

    def follow(self, task_id: str) -> list[dict]:
        """Every status seen until the task ends (the last one is terminal)."""
        seen = [self.data(task_id)]
        deadline = time.monotonic() + self.target.max_wait
        while seen[-1][self.STATE] not in self.TERMINAL:
            if self.target.admin:
                if len(seen) > 200:
                    raise AssertionError(f"task {task_id} did not end after 200 polls: {seen[-3:]}")
                self.advance()
            else:
                if time.monotonic() > deadline:
                    raise AssertionError(f"task {task_id} did not end within {self.target.max_wait} s")
                time.sleep(self.target.poll_interval)  # a real server: only real time moves it
            seen.append(self.data(task_id))
        return seen

    def balance(self, headers: dict | None = None) -> float:
        r = self.client.get("/api/v1/apikeys/current-balance", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["data"]["balance"]


@pytest.fixture(scope="session")
def admin_client():
    """The session's client for /__admin (its answers are not the contract's, so no hook)."""
    with httpx.Client(verify=tls_context()) as c:
        yield c


@pytest.fixture
def driver(target: Target, client: httpx.Client, admin_client: httpx.Client) -> Driver:
    return Driver(target, client, admin_client)


def error_of(response: httpx.Response, status: int) -> dict:
    """The error envelope of an answer that must have this status (the hook checked its schema)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert body["code"] == status
    return body
