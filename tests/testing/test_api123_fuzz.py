"""Fuzzing a small 123API client over drawn scenarios, in-process and over the plugin's live server.

The client submits with an Idempotency-Key, polls ``GET /v1/tasks/{task_id}`` every 2 s (page
000's loop) by moving the mock's clock, honours Retry-After the same way, retries 429, 5xx and
broken answers, and downloads ``result.urls``. Over every drawn scenario: each task the mock
accepted is one the client knows and saw end (nothing accepted is lost, nothing made twice),
and every answer it could read keeps 123API's published schemas.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver import contract
from mockserver.strategies import TRANSIENT_STATUSES, scenarios
from mockserver.testing import MockApi

MODELS = {"gpt-4o-image": "/v1/images/generations", "sora-2": "/v1/videos/generations"}
BODIES = {
    "gpt-4o-image": {"model": "gpt-4o-image", "prompt": "a red fox", "size": "1:1", "n": 2},
    "sora-2": {"model": "sora-2", "prompt": "a wave", "duration": 4},
}
MAX_ERRORS = 3
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SCENARIOS = scenarios(models=list(MODELS), clock_control=True, max_errors=MAX_ERRORS, dialect="123api")


@dataclass
class Client:
    """A small 123API client; ``sleep`` moves the mock's clock instead of the wall clock."""

    http: httpx.Client
    mock: MockApi
    checked: int = 0
    broken: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, **kw) -> httpx.Response:
        headers = {**self.mock.headers, **kw.pop("headers", {})}
        for _ in range(MAX_ERRORS + 2):
            try:
                r = self.http.request(method, path, headers=headers, **kw)
                if r.headers.get("content-type", "").startswith("application/json"):
                    r.json()  # a body cut or mangled by a fault: retry it
            except (httpx.TransportError, ValueError):
                continue
            self.check(r)
            if r.status_code == 200:
                return r
            assert r.status_code in TRANSIENT_STATUSES, (method, path, r.status_code, r.text)
            self.sleep(1000 * float(r.headers.get("retry-after", 1)))
        raise AssertionError(f"more than {MAX_ERRORS} broken answers on {method} {path}")

    def check(self, r: httpx.Response) -> None:
        problems = contract.check_httpx_response(r)
        self.checked += 1
        if problems:
            self.broken.append(contract.describe(problems, r))

    def sleep(self, ms: float) -> None:
        self.mock.advance(ms=int(ms))

    def generate(self, model: str) -> tuple[str, dict]:
        key = str(uuid.uuid4())  # a submit retried after a lost answer is the same task
        task_id = self.call("POST", MODELS[model], json=BODIES[model], headers={"Idempotency-Key": key}).json()[
            "task_id"
        ]
        for _ in range(200):
            body = self.call("GET", f"/v1/tasks/{task_id}").json()
            assert body["task_id"] == task_id and body["model"] == model
            if body["status"] in ("completed", "failed"):
                break
            self.sleep(2000)
        else:
            raise AssertionError(f"{task_id} never ended")
        for url in (body.get("result") or {}).get("urls", []):
            assert self.call("GET", httpx.URL(url).path).content
        return task_id, body


def run_client(mock: MockApi, scenario: dict, models: list[str]) -> None:
    mock.load(scenario)  # and reset: each example starts from a clean mock
    with mock.client(timeout=10) as http:
        client = Client(http, mock)
        ended = dict(client.generate(model) for model in models)
    assert client.broken == [], "\n".join(client.broken)
    assert client.checked >= 2 * len(models)
    # Nothing accepted is lost, nothing made twice: the mock's tasks are those the client saw end.
    tasks = {t["taskId"]: t for t in mock.tasks(dialect="123api")}
    assert tasks.keys() == ended.keys()
    for task_id, body in ended.items():
        state = {"completed": "success", "failed": "failed"}[body["status"]]
        assert tasks[task_id]["state"] == state
        if state == "failed":
            assert body["error"] == tasks[task_id]["failCode"]
    # The rules the scenario drew met a 123API client (the journal says which acted).
    assert all(e["path"].startswith("/v1/") for e in mock.journal())


def test_the_rules_drawn_for_123api_act_on_a_123api_client():
    """Not a vacuous fuzz: a drawn rule that answers in place of the mock does act on this client."""
    doc = {
        "name": "fuzz",
        "seed": 1,
        "rules": [{"when": {"endpoint": "tasks", "nth": 1, "dialect": "123api"}, "respond": {"status": 503}}],
    }
    with MockApi.in_process(seed=1) as mock:
        run_client(mock, doc, ["gpt-4o-image"])
        assert [e["status"] for e in mock.journal()][:3] == [200, 503, 200]


@pytest.fixture(scope="module")
def in_process_mock():
    with MockApi.in_process(seed=1) as mock:
        yield mock


@FUZZ
@given(scenario=SCENARIOS, models=st.lists(st.sampled_from(list(MODELS)), min_size=1, max_size=2))
def test_the_client_gets_through_every_scenario_in_process(in_process_mock, scenario, models):
    run_client(in_process_mock, scenario, models)


@FUZZ
@given(scenario=SCENARIOS, models=st.lists(st.sampled_from(list(MODELS)), min_size=1, max_size=2))
def test_the_client_gets_through_every_scenario_over_the_plugin_server(mock_api, scenario, models):
    run_client(mock_api, scenario, models)
