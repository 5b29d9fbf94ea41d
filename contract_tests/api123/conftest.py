"""123API's words for the contract suite: its routes, its task body, its error body (page 004).

Selected with ``--dialect 123api``; the root conftest starts (or finds) the server, checks every
answer against the published schemas and gates spending and admin-only tests.
"""

from __future__ import annotations

import json

import httpx
import pytest

from mockserver import contract
from mockserver.dialects import builtin

from ..conftest import Driver, Target

IMAGES = "/v1/images/generations"
VIDEOS = "/v1/videos/generations"
TASK = "/v1/tasks/{task_id}"
MODELS = "/v1/models"
# 123api-notes.md "Statuses": queued, processing, then completed or failed.
ORDER = {"queued": 0, "processing": 1, "completed": 2, "failed": 2}
TERMINAL = ("completed", "failed")


def example_body(model: str) -> dict:
    """The first documented example body of a 123API model (its schema is the whole body)."""
    return json.loads(json.dumps(contract.load_schemas().get(f"123api/models/{model}")["examples"][0]))


def route_of(model: str) -> str:
    """The submit route of a model's media (images for an unknown model)."""
    found = builtin()["123api"].catalog().get(model)
    return VIDEOS if found is not None and found.media == "video" else IMAGES


class Driver123(Driver):
    """The root Driver in 123API's words: a task is ``{"task_id", "status", "model", ...}``."""

    STATE = "status"
    TERMINAL = TERMINAL

    def submit(self, body: dict | None = None, model: str | None = None, **kw) -> httpx.Response:
        if body is None:
            body = example_body(model) if model else self.target.example_input()
        name = model or body.get("model")
        return self.client.post(route_of(name if isinstance(name, str) else self.model), json=body, **kw)

    def submit_ok(self, body: dict | None = None, **kw) -> str:
        r = self.submit(body, **kw)
        assert r.status_code == 200, r.text
        return r.json()["task_id"]

    def status(
        self, task_id: str, model: str | None = None, headers: dict | None = None, params: dict | None = None
    ) -> httpx.Response:
        return self.client.get(TASK.format(task_id=task_id), headers=headers, params=params)

    def data(self, task_id: str, headers: dict | None = None) -> dict:
        r = self.status(task_id, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    def balance(self, headers: dict | None = None) -> float:
        """123API has no balance route: the mock's own account, through /__admin (admin only)."""
        key = (headers or {}).get("Authorization", f"Bearer {self.target.key}").removeprefix("Bearer ")
        return self.admin("GET", f"/accounts/{key}").json()["balance"]


@pytest.fixture
def driver(target: Target, client: httpx.Client, admin_client: httpx.Client) -> Driver123:
    return Driver123(target, client, admin_client)


def error_of(response: httpx.Response, status: int) -> dict:
    """Page 004's body of an answer that must have this status (the hook checked its schema)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return body
