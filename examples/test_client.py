"""Tests of apixo_client.Client against the mock (the `mock_api` fixture of mockserver's pytest plugin).

pytest examples/test_client.py
"""

from __future__ import annotations

from apixo_client import Client, TaskFailed
from hypothesis import HealthCheck, given, settings

from mockserver.strategies import scenarios

JOB = ("nano-banana", {"mode": "text-to-image", "prompt": "a red fox in the snow"})


def clock_sleep(mock_api):
    """Sleep by moving the mock's virtual clock: no test ever waits for real."""
    return lambda seconds: mock_api.advance(ms=round(seconds * 1000))


def test_happy_path_downloads_real_pngs_and_follows_the_guidance(mock_api):
    with mock_api.client() as http:
        result = Client(http, mock_api.api_key, sleep=clock_sleep(mock_api)).generate(*JOB)
    assert result.files and all(f.startswith(b"\x89PNG") for f in result.files)
    (task,) = mock_api.tasks()
    assert task["taskId"] == result.task_id and task["state"] == "success"
    mock_api.assert_conforming(warnings=True)  # initial wait, intervals, downloads: as the provider asks


def test_a_failed_task_raises_its_fail_code(mock_api):
    mock_api.load("content-violation")
    with mock_api.client() as http:
        client = Client(http, mock_api.api_key, sleep=clock_sleep(mock_api))
        try:
            client.generate("nano-banana", {"mode": "text-to-image", "prompt": "graphic violence"})
        except TaskFailed as failed:
            assert failed.code == "CONTENT_VIOLATION"
        else:
            raise AssertionError("the task should have failed")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios(models=["nano-banana"]))
def test_the_client_gets_through_every_scenario(mock_api, scenario):
    mock_api.load(scenario)  # and reset: each example starts from a clean mock
    with mock_api.client() as http:
        client = Client(http, mock_api.api_key, sleep=clock_sleep(mock_api))
        try:
            result = client.generate(*JOB)
        except TaskFailed as failed:
            assert failed.code  # a task the scenario failed: reported with its code, not a crash
        else:
            assert result.files and all(f.startswith(b"\x89PNG") for f in result.files)
