"""A dialect is all a provider needs: a throwaway one, written here and nowhere else, is served
by the same core (clock, tasks, credits, rules, journal, files) with its own paths, ids and states.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import ServerThread, create_app
from mockserver.core.billing import UNLIMITED_BALANCE
from mockserver.core.catalog import Catalog, load_catalog
from mockserver.core.errors import ApiError, BadRequest, error_for_status
from mockserver.core.words import BALANCE, FAILED, FILES, STATUS, SUBMIT, SUCCESS, SubmitRequest, TaskView
from mockserver.dialects import resolve
from mockserver.dialects.apixo import APIXO
from mockserver.dialects.protocol import Dialect, Guidance, Route, compact_json
from tests.conftest import START_MS, example_input

KEY = "sk_tiny"
# The tiny provider's words for the core's states.
STATE_NAMES = {"pending": "WAITING", "processing": "BUSY", SUCCESS: "DONE", FAILED: "BROKEN"}


class Tiny:
    """A made-up provider: /t/jobs, ids like JOB-00000001, states in capitals, flat bodies."""

    name = "tiny"
    title = "Tiny"
    routes = (
        Route(SUBMIT, "POST", "/t/jobs", "create"),
        Route(STATUS, "GET", "/t/jobs/{job}", "job"),
        Route(BALANCE, "GET", "/t/credits", "credits"),
        Route(FILES, "GET", "/t/out/{job}/{name}", "output"),
    )
    status_query = frozenset()
    credit_refusals = frozenset({"http_402"})
    guidance = Guidance(intervals={}, retryable=frozenset({429}), non_retryable=frozenset({400}))

    def catalog(self) -> Catalog:
        """Its own models: one, "sketch" (APIXO's nano-banana under another name)."""
        return Catalog({"sketch": dataclasses.replace(load_catalog().get("nano-banana"), name="sketch")})

    def path_model(self, params: Mapping[str, str]) -> str | None:
        return None  # the body names the model

    def parse_submit(self, body: object, model: str | None, route: str | None = None) -> SubmitRequest:
        if not isinstance(body, dict) or not isinstance(body.get("what"), str):
            raise BadRequest("bad", error="what: required, a model name")
        return SubmitRequest(body["what"], body.get("params", {}))

    def submit_facts(self, body: object, model: str | None) -> dict[str, Any]:
        what = body.get("what") if isinstance(body, dict) else None
        return {"model": what, "prompt": None, "provider": None, "request_type": "async"}

    def task_ref(self, params: Mapping[str, str], query: Callable[[str], str | None]) -> tuple[str | None, str | None]:
        return None, params.get("job")

    def require_task_id(self, task_id: str | None) -> str:
        if not task_id:
            raise BadRequest("bad", error="job id missing")
        return task_id

    def status_hint(self, model: str, task_id: str) -> str:
        return f"GET /t/jobs/{task_id}"

    def file_ref(self, params: Mapping[str, str]) -> tuple[str, str]:
        return params["job"], params["name"]

    def parse_result_filename(self, name: str) -> tuple[int, str] | None:
        stem, _, ext = name.partition(".")
        return (int(stem[4:]), ext) if stem.startswith("file") and stem[4:].isdigit() else None

    dumps = staticmethod(compact_json)

    def new_task_id(self, rng: random.Random) -> str:
        return f"JOB-{rng.randrange(10**8):08d}"

    def result_path(self, task_id: str, index: int, ext: str) -> str:
        return f"/t/out/{task_id}/file{index}.{ext}"

    def submit_body(self, task_id: str, model: str) -> dict:
        return {"job": task_id}

    def status_body(self, view: TaskView) -> dict:
        body: dict = {"job": view.task_id, "is": STATE_NAMES[view.state]}
        if view.state == SUCCESS:
            body["files"] = list(view.result_urls)
        if view.state == FAILED:
            body["why"] = view.fail_code
        return body

    def balance_body(self, balance: float) -> dict:
        return {"credits": balance}

    def models_body(self, names: list[str]) -> dict:
        return {"models": names}

    def error_body(self, err: ApiError) -> dict:
        return {"oops": err.status, "detail": err.error or err.message}

    def error_headers(self, err: ApiError) -> dict[str, str]:
        return dict(err.headers)

    def rule_answer(self, status: int, message: str, retry_after: float | None, body: object = None):
        return self.error_body(error_for_status(status, message)), {}

    def callback_stages(self, model: str) -> tuple[str, ...]:
        return ()

    def callback_body(self, view: TaskView, stage: str | None) -> dict:
        return self.status_body(view)

    # Not published: this provider has no schemas, OpenAPI document or strategies.
    request_schema = None

    def response_schema(self, kind, status, doc=None, errors_as_200=False):
        return None

    def document_problems(self, schema, doc, schemas=None):
        return []

    def answer_problems(self, schema, doc, status, headers, *, retry_hint="both"):
        return []

    def request_problems(self, model, body, schemas=None):
        return []

    def openapi(self, catalog, schemas):
        raise NotImplementedError

    def status_envelopes(self, model=None, *, state=None):
        raise NotImplementedError

    def submit_bodies(self, model, inputs, *, valid=True, invalid_inputs=None):
        raise NotImplementedError

    def submit_example(self) -> tuple[dict[str, str], dict]:
        return {}, {"what": "sketch", "params": example_input("nano-banana")}


def test_the_throwaway_dialect_keeps_the_protocol():
    assert isinstance(Tiny(), Dialect) and isinstance(APIXO, Dialect)
    assert [d.name for d in resolve([Tiny(), "apixo"])] == ["tiny", "apixo"]
    with pytest.raises(ValueError, match="unknown dialect 'nope'"):
        resolve("nope")


def drive(http, base: str) -> None:
    """Submit, poll through the states, download: all in the tiny provider's words."""
    headers = {"Authorization": f"Bearer {KEY}"}
    r = http.post("/t/jobs", json={"what": "sketch", "params": example_input("nano-banana")}, headers=headers)
    assert r.status_code == 200, r.text
    job = r.json()["job"]
    assert job.startswith("JOB-") and len(job) == 12
    assert http.get(f"/t/jobs/{job}", headers=headers).json() == {"job": job, "is": "WAITING"}
    http.post("/__admin/clock/advance", json={"to": "idle"})
    done = http.get(f"/t/jobs/{job}", headers=headers).json()
    assert done["is"] == "DONE" and done["files"] == [f"{base}/t/out/{job}/file0.png"]
    f = http.get(done["files"][0].removeprefix(base))
    assert f.status_code == 200 and f.headers["content-type"] == "image/png" and f.content[:4] == b"\x89PNG"
    # The core's errors in the tiny envelope; a task of this dialect is not found through APIXO.
    assert http.get("/t/jobs/JOB-nope", headers=headers).json()["oops"] == 404
    assert http.get("/t/jobs/x").json() == {
        "oops": 401,
        "detail": "Missing API key: send 'Authorization: Bearer YOUR_API_KEY'",
    }
    assert http.post("/t/jobs", json={"what": 1}, headers=headers).json() == {
        "oops": 400,
        "detail": "what: required, a model name",
    }
    assert http.get("/t/credits", headers=headers).json() == {"credits": UNLIMITED_BALANCE}
    # The journal and the admin API speak the core's words for it.
    entries = http.get("/__admin/journal").json()["entries"]
    assert [e["state"] for e in entries if e["path"] == f"/t/jobs/{job}"] == ["pending", "success"]
    assert http.get(f"/__admin/tasks/{job}").json()["dialect"] == "tiny"
    # Its models are its own: APIXO's names are unknown to it.
    r = http.post("/t/jobs", json={"what": "nano-banana", "params": example_input("nano-banana")}, headers=headers)
    assert r.status_code == 404 and "Known models: sketch" in r.json()["detail"]


def test_a_throwaway_dialect_drives_a_task_through_submit_status_and_files_in_process():
    with TestClient(create_app(clock="manual", start_ms=START_MS, dialects=[Tiny()])) as http:
        drive(http, "http://testserver")
        # Only the tiny dialect is spoken: APIXO's paths are unknown routes, answered in Tiny's envelope.
        r = http.post("/api/v1/generateTask/nano-banana", json={}, headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 404 and r.json()["oops"] == 404


def test_a_throwaway_dialect_beside_apixo_on_a_live_server():
    server = ServerThread(create_app(clock="manual", start_ms=START_MS, dialects=[Tiny(), APIXO])).start()
    try:
        import httpx

        with httpx.Client(base_url=server.url) as http:
            drive(http, server.url)
            # Both are served, each task through its own dialect only.
            headers = {"Authorization": f"Bearer {KEY}"}
            tid = http.post(
                "/api/v1/generateTask/nano-banana", json={"input": example_input("nano-banana")}, headers=headers
            ).json()["data"]["taskId"]
            r = http.get(f"/t/jobs/{tid}", headers=headers)
            assert r.status_code == 404 and "created through APIXO, not Tiny" in r.json()["detail"]
    finally:
        server.stop()
