"""123API's error answers: page 004's body, a status from its table, and a message that names
what was wrong. None of these create a task, so they cost nothing on any server.
"""

from __future__ import annotations

import httpx
import pytest

from ..conftest import tls_context
from .conftest import IMAGES, MODELS, TASK, VIDEOS, Driver123, error_of, example_body

pytestmark = pytest.mark.dialect("123api")


@pytest.mark.parametrize(
    "auth",
    [None, "", "Bearer", "Basic c2tfdGVzdDp4"],
    ids=["absent", "empty", "bearer-no-key", "basic"],
)
def test_no_usable_key_is_401_everywhere(driver: Driver123, auth: str | None):
    client = driver.client
    bare = httpx.Client(base_url=str(client.base_url), event_hooks=client.event_hooks, timeout=30, verify=tls_context())
    with bare:
        if auth is not None:
            bare.headers["Authorization"] = auth
        answers = [
            bare.post(IMAGES, json=driver.target.example_input()),
            bare.get(TASK.format(task_id="task-unknown-0")),
            bare.get(MODELS),
        ]
    for r in answers:
        error_of(r, 401)


def test_unknown_model_is_404_naming_it(driver: Driver123):
    body = error_of(driver.submit({**driver.target.example_input(), "model": "no-such-model-xyz"}), 404)
    assert "no-such-model-xyz" in body["message"]


def test_unknown_task_is_404(driver: Driver123):
    error_of(driver.status("task-does-not-exist-0000"), 404)


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[1, 2]", b'"a string"'],
    ids=["malformed", "empty", "array", "string"],
)
def test_a_body_that_is_not_a_json_object_is_400(driver: Driver123, raw: bytes):
    error_of(driver.client.post(IMAGES, content=raw, headers={"Content-Type": "application/json"}), 400)


def test_missing_model_is_400_naming_it(driver: Driver123):
    body = driver.target.example_input()
    del body["model"]
    assert "model" in error_of(driver.submit(body), 400)["message"]


def test_missing_required_field_is_400_naming_it(driver: Driver123):
    required = [f for f in driver.target.model_schema().get("required", []) if f != "model"]
    if not required:
        pytest.skip(f"{driver.model} requires nothing but model")
    body = driver.target.example_input()
    del body[required[0]]
    assert required[0] in error_of(driver.submit(body), 400)["message"]


def test_a_field_of_the_wrong_type_is_400_naming_it(driver: Driver123):
    body = {**driver.target.example_input(), "prompt": 12}
    assert "prompt" in error_of(driver.submit(body), 400)["message"]


@pytest.mark.extension  # the limits are the mock's choices (docs/123api.md)
def test_an_unknown_field_is_400_naming_it(driver: Driver123):
    body = {**driver.target.example_input(), "no_such_parameter_xyz": 1}
    assert "no_such_parameter_xyz" in error_of(driver.submit(body), 400)["message"]


@pytest.mark.extension  # 123API documents no callbacks; the mock refuses the fields that ask for one
def test_a_callback_field_is_400_naming_it(driver: Driver123):
    body = {**driver.target.example_input(), "callback_url": "https://example.com/hook"}
    assert "callback_url" in error_of(driver.submit(body), 400)["message"]


@pytest.mark.extension
def test_a_model_on_the_other_medias_route_is_400_naming_the_right_one(driver: Driver123):
    image = example_body("gpt-4o-image")
    message = error_of(driver.client.post(VIDEOS, json=image), 400)["message"]
    assert IMAGES in message


@pytest.mark.extension  # the provider documents no answer for unknown routes
def test_unknown_route_is_a_404_in_page_004s_body(driver: Driver123):
    body = error_of(driver.client.get("/v1/taskz/task-x"), 404)
    assert TASK in body["message"]
