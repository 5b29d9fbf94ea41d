"""Strict mode: requests are held to the published request schema, and the 400 names the rule."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver.cli import build_parser, main, settings_from_args
from mockserver.core.catalog import Catalog, load_catalog
from mockserver.core.config import env_settings
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from tests.conftest import Api, data_of, example_input, ssl_context

GENERATE = "/api/v1/generateTask/{}"


@pytest.fixture(params=["inprocess", "live"])
def strict_api(request, make_api):
    """A strict mock, in-process and behind a live uvicorn server."""
    if request.param == "inprocess":
        yield make_api(strict=True)
        return
    app = create_app(clock="manual", strict=True)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10, verify=ssl_context()) as client:
        yield Api(client, app, "live")


def journal(api) -> list[dict]:
    return api.admin("GET", "/journal").json()["entries"]


def test_a_valid_request_passes(strict_api):
    tid = strict_api.submit_ok("sora-2")
    assert data_of(strict_api.status("sora-2", tid))["state"] == "pending"


def test_content_type_must_be_json(strict_api, make_api):
    body = b'{"input": {"mode": "text-to-image", "prompt": "a fox"}}'
    headers = {**strict_api.headers(), "Content-Type": "text/plain"}
    r = strict_api.client.post(GENERATE.format("nano-banana"), content=body, headers=headers)
    assert r.status_code == 400
    assert r.json()["data"]["error"] == "Strict mode: Content-Type must be application/json, got 'text/plain'"
    # Normal mode lets it slide.
    lenient = make_api()
    assert lenient.client.post(GENERATE.format("nano-banana"), content=body, headers=headers).status_code == 200


def test_a_schema_break_is_a_400_naming_path_and_rule_and_is_journaled(strict_api):
    inp = {**example_input("gpt-image-1"), "num_images": 3}
    r = strict_api.submit("gpt-image-1", inp)
    assert r.status_code == 400
    error = r.json()["data"]["error"]
    assert error.startswith("Strict mode: request breaks the schema at $.input.num_images: 3 is not one of [1, 2, 4]")
    assert "[schema models/gpt-image-1.json#/properties/num_images/enum]" in error
    entry = journal(strict_api)[-1]
    assert (entry["status"], entry["error"]) == (400, error)
    assert len(strict_api.mock.store) == 0


def test_top_level_rules_and_the_count_of_further_problems(strict_api):
    r = strict_api.submit("sora-2", provider="auto", request_type="callback")
    error = r.json()["data"]["error"]
    assert r.status_code == 400
    assert "at $.callback_url: missing required field [schema generate-request.json#/then/required]" in error
    assert error.endswith("(and 1 more)")


def test_a_model_with_no_published_schema_is_held_to_the_top_level_only():
    # A custom catalog's model has no /schemas/models/ file: strict mode checks what is published.
    house = dataclasses.replace(load_catalog().get("nano-banana"), name="house-model")
    app = create_app(clock="manual", strict=True, catalog=Catalog({"house-model": house}))
    with TestClient(app) as client:
        api = Api(client, app, "inprocess")
        api.submit_ok("house-model", example_input("nano-banana"))
        r = api.submit("house-model", example_input("nano-banana"), request_type="callback")
    assert r.status_code == 400
    error = r.json()["data"]["error"]
    assert error == (
        "Strict mode: request breaks the schema at $.callback_url: missing required field "
        "[schema generate-request.json#/then/required]"
    )


def test_status_takes_only_task_id(strict_api):
    tid = strict_api.submit_ok()
    r = strict_api.client.get(
        "/api/v1/statusTask/nano-banana",
        params={"taskId": tid, "task_id": tid},
        headers=strict_api.headers(),
    )
    assert r.status_code == 400
    assert r.json()["data"]["error"] == "Strict mode: unknown query parameter 'task_id' (statusTask takes only taskId)"
    assert data_of(strict_api.status("nano-banana", tid))["taskId"] == tid


def test_auth_and_unknown_model_come_first(strict_api):
    r = strict_api.client.post(GENERATE.format("nano-banana"), content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 401
    r = strict_api.client.post(GENERATE.format("nope"), json={}, headers=strict_api.headers())
    assert r.status_code == 404


def test_strict_from_cli_and_env(capsys):
    assert settings_from_args(build_parser().parse_args(["serve", "--strict"]), {}).strict is True
    assert settings_from_args(build_parser().parse_args(["serve"]), {}).strict is False
    assert env_settings({"MOCKSERVER_STRICT": "yes"}) == {"strict": True}
    assert env_settings({"MOCKSERVER_STRICT": "0"}) == {"strict": False}
    import os

    os.environ["MOCKSERVER_STRICT"] = "maybe"
    try:
        assert main(["serve", "--port", "0"]) == 2
    finally:
        del os.environ["MOCKSERVER_STRICT"]
    assert "MOCKSERVER_STRICT='maybe' is not a boolean" in capsys.readouterr().err
