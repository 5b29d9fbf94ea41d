"""Error answers: status = code, the error envelope, and a detail that names what was wrong.

None of these create a task, so they cost nothing on any server.
"""

from __future__ import annotations

import httpx
import pytest

from .conftest import Driver, error_of, tls_context

STATUS = "/api/v1/statusTask/{model}"
GENERATE = "/api/v1/generateTask/{model}"
BALANCE = "/api/v1/apikeys/current-balance"

pytestmark = pytest.mark.dialect("apixo")


@pytest.mark.parametrize(
    "auth",
    [None, "", "Bearer", "Basic c2tfdGVzdDp4"],
    ids=["absent", "empty", "bearer-no-key", "basic"],
)
def test_no_usable_key_is_401_everywhere(driver: Driver, auth: str | None):
    headers = {"Authorization": auth} if auth is not None else {}
    client = driver.client
    model = driver.model
    answers = []
    bare = httpx.Client(base_url=str(client.base_url), event_hooks=client.event_hooks, timeout=30, verify=tls_context())
    with bare:
        if auth is not None:
            bare.headers.update(headers)
        answers.append(bare.post(GENERATE.format(model=model), json={"input": driver.target.example_input()}))
        answers.append(bare.get(STATUS.format(model=model), params={"taskId": "task_unknown"}))
        answers.append(bare.get(BALANCE))
    for r in answers:
        error_of(r, 401)


def test_unknown_model_is_404(driver: Driver):
    body = error_of(driver.submit(model="no-such-model-xyz"), 404)
    assert body["message"]
    error_of(driver.status("task_unknown", model="no-such-model-xyz"), 404)


def test_unknown_task_is_404(driver: Driver):
    error_of(driver.status("task_does_not_exist_0000"), 404)


def test_missing_task_id_is_400(driver: Driver):
    r = driver.client.get(STATUS.format(model=driver.model))
    body = error_of(r, 400)
    assert "taskId" in (body["data"] or {}).get("error", body["message"])


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[1, 2]", b'"a string"'],
    ids=["malformed", "empty", "array", "string"],
)
def test_a_body_that_is_not_a_json_object_is_400(driver: Driver, raw: bytes):
    r = driver.client.post(
        GENERATE.format(model=driver.model),
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    error_of(r, 400)


def test_missing_input_is_400_naming_it(driver: Driver):
    body = error_of(driver.submit({"request_type": "async"}), 400)
    assert "input" in body["data"]["error"]


def test_missing_required_input_field_names_its_json_path(driver: Driver):
    inp = driver.target.example_input()
    required = [f for f in _required_fields(driver.model) if f != "mode" and f in inp]
    if not required:
        pytest.skip(f"{driver.model} has no required field besides mode")
    del inp[required[0]]
    body = error_of(driver.submit({"input": inp}), 400)
    assert f"input.{required[0]}" in body["data"]["error"]


def test_input_out_of_its_limits_is_400(driver: Driver):
    inp = driver.target.example_input()
    inp["no_such_parameter_xyz"] = 1
    body = error_of(driver.submit({"input": inp}), 400)
    assert "no_such_parameter_xyz" in body["data"]["error"]


def test_callback_without_callback_url_is_400(driver: Driver):
    body = error_of(driver.submit({"request_type": "callback", "input": driver.target.example_input()}), 400)
    assert "callback_url" in body["data"]["error"]


@pytest.mark.extension  # the provider documents no answer for unknown routes
def test_unknown_route_is_a_404_envelope(driver: Driver):
    error_of(driver.client.get("/api/v1/statusTasks/" + driver.model, params={"taskId": "x"}), 404)


def _required_fields(model: str) -> list[str]:
    from mockserver import contract

    return list(contract.load_schemas().get(f"models/{model}").get("required", []))
