"""Tests of api123_client.Client against the mock's 123API dialect.

The happy path and a failed task run on a live server (the pytest plugin's `mock_api` fixture);
page 004's retry rules and the fuzz test run in-process (MockApi.in_process(): no socket, no
thread, the same handle), which keeps a fuzz run of many scenarios to about a second.

pytest examples/test_api123_client.py
"""

from __future__ import annotations

import pytest
from api123_client import ApiError, Client, TaskFailed
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.strategies import SURVIVABLE_FAULTS, TRANSIENT_STATUSES, fail_codes
from mockserver.testing import MockApi

PNG = b"\x89PNG\r\n\x1a\n"
VIDEO_MODELS = ("sora-2", "veo3.1-fast")
MODELS = ("gpt-4o-image", *VIDEO_MODELS)


@pytest.fixture(scope="module")
def mock():
    """An in-process mock for this module; each test loads its scenario, which also resets it."""
    with MockApi.in_process() as handle:
        yield handle


def on_the_mocks_clock(mock: MockApi) -> dict:
    """The client's sleep and clock on the mock's virtual clock: no test ever waits for real."""
    return {"sleep": lambda seconds: mock.advance(ms=round(seconds * 1000)), "clock": lambda: mock.now() / 1000}


def is_mp4(data: bytes) -> bool:
    return data[4:8] == b"ftyp"


def test_happy_path_downloads_a_real_image_and_video_and_follows_the_guidance(mock_api):
    with mock_api.client() as http:
        client = Client(http, mock_api.api_key, **on_the_mocks_clock(mock_api))
        image = client.generate_image("a red fox in the snow", size="1:1", n=2)
        video = client.generate_video("a paper boat on a river", model="veo3.1-fast", duration=8, aspect_ratio="16:9")
    assert len(image.files) == 2 and all(f.startswith(PNG) for f in image.files)
    assert len(video.files) == 1 and is_mp4(video.files[0])
    tasks = {t["taskId"]: t for t in mock_api.tasks()}
    assert tasks.keys() == {image.task_id, video.task_id}
    assert {t["state"] for t in tasks.values()} == {"success"}
    mock_api.assert_conforming(warnings=True)  # every 2 s, no retries, results downloaded: page 000's loop


def test_a_failed_task_raises_its_error(mock_api):
    mock_api.load("content-violation")
    with mock_api.client() as http:
        client = Client(http, mock_api.api_key, **on_the_mocks_clock(mock_api))
        with pytest.raises(TaskFailed) as failed:
            client.generate_image("graphic violence")
    assert failed.value.code == "CONTENT_VIOLATION" and str(failed.value) == "CONTENT_VIOLATION"
    mock_api.assert_conforming(warnings=True)


@pytest.mark.parametrize("status", [400, 401, 402, 404])
def test_page_004s_non_retryable_statuses_are_not_retried(mock, status):
    with mock.client() as http:
        mock.load({"rules": [{"when": {"endpoint": "submit"}, "respond": {"status": status}}]})
        client = Client(http, mock.api_key, **on_the_mocks_clock(mock))
        with pytest.raises(ApiError) as refused:
            client.generate_image("a red fox")
        assert refused.value.status == status
        assert len(mock.journal()) == 1  # asked once, never again
        mock.assert_conforming(allow=["INVALID_REQUEST", "MISSING_AUTH"], warnings=True)


def test_a_429_is_retried_no_sooner_than_its_retry_after(mock):
    with mock.client() as http:
        rate_limited = {"when": {"endpoint": "status"}, "times": 2, "respond": {"status": 429, "retry_after": 5}}
        mock.load({"rules": [rate_limited]})
        client = Client(http, mock.api_key, **on_the_mocks_clock(mock))
        assert client.generate_image("a red fox").files
        polls = [e for e in mock.journal() if e["path"].startswith("/v1/tasks/")]
        assert [e["status"] for e in polls[:3]] == [429, 429, 200]
        gaps = [polls[1]["time"] - polls[0]["time"], polls[2]["time"] - polls[1]["time"]]
        assert gaps == [5000, 10000]  # the retryAfter, then twice the last wait
        mock.assert_conforming(warnings=True)


def test_the_mocks_own_refusals_are_not_retried(mock):
    mock.load(None)
    with mock.client() as http:
        client = Client(http, mock.api_key, **on_the_mocks_clock(mock))
        with pytest.raises(ApiError) as unknown:
            client.generate_image("a red fox", model="gpt-5-image")
        with pytest.raises(ApiError) as callback:
            client.generate_image("a red fox", callback_url="https://example.com/hook")  # 123API has none
    assert (unknown.value.status, unknown.value.code) == (404, "not_found")
    assert (callback.value.status, callback.value.code) == (400, "invalid_request")
    assert [e["status"] for e in mock.journal()] == [404, 400]


# -- fuzzing: scenarios from neutral rules (submit, status, files) ---------------------------------
# mockserver.strategies.scenarios() names APIXO's models in its conditions and overrides, so the
# scenarios here are drawn from the same kinds of rules with 123API's models.

MAX_ERRORS = 3  # answers a scenario may replace with an error or a fault; the client retries 5 times
ACTIONS = st.sampled_from(["respond", "fault", "fail", "timing", "delay"])
QUIET_ACTIONS = st.sampled_from(["fail", "timing", "delay"])  # once the error budget is spent
GATES = st.one_of(
    st.just({}),
    st.builds(lambda n: {"nth": n}, st.integers(1, 4)),
    st.builds(lambda n: {"after": n}, st.integers(0, 3)),
    st.builds(lambda p: {"probability": p}, st.sampled_from([0.25, 0.5, 0.75])),
)
# Tasks end after a few polls, or a few polls' worth of the mock's time (the client polls every 2 s).
PROGRESSION = st.one_of(
    st.fixed_dictionaries(
        {"progression": st.just("polls"), "pending_polls": st.integers(0, 3), "processing_polls": st.integers(0, 3)}
    ),
    st.fixed_dictionaries(
        {
            "progression": st.just("time"),
            "pending_ms": st.integers(0, 4_000),
            "processing_ms": st.tuples(st.integers(0, 4_000), st.integers(4_000, 12_000)).map(list),
        }
    ),
)


@st.composite
def rule(draw: st.DrawFn, action: str, times: int) -> dict:
    when: dict = {"endpoint": draw(st.sampled_from(["submit", "status", "files"]))}
    if action == "respond":
        status = draw(st.sampled_from(TRANSIENT_STATUSES))
        respond: dict = {"status": status}
        if status == 429 or draw(st.booleans()):
            respond["retry_after"] = draw(st.sampled_from([0, 0.5, 1, 2, 5, 10]))
        body: dict = {"respond": respond, "times": times}
    elif action == "fault":
        kind = draw(st.sampled_from(SURVIVABLE_FAULTS))
        if kind in ("malformed_json", "slow_body") and when["endpoint"] == "files":
            when["endpoint"] = "status"  # JSON answers only, as mockserver.strategies does
        fault = {"slow_body": {"chunk_bytes": 64, "interval_ms": 1}} if kind == "slow_body" else kind
        body = {"fault": fault, "times": times}
    elif action == "fail":
        when["endpoint"] = draw(st.sampled_from(["submit", "status"]))
        body = {"fail": {"code": draw(fail_codes()), "at": draw(st.sampled_from(["pending", "processing"]))}}
    elif action == "timing":
        when["endpoint"] = "submit"
        body = {"timing": draw(PROGRESSION)}
    else:
        body = {"delay": {"ms": draw(st.integers(0, 10))}, "times": times}
    if draw(st.booleans()):
        when["model"] = draw(st.sampled_from(MODELS))
    if draw(st.booleans()):
        when["dialect"] = "123api"
    return {"when": {**when, **draw(GATES)}, **body}


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    """A scenario a robust 123API client gets through: at most MAX_ERRORS error answers in all."""
    doc: dict = {"name": "fuzz-123api", "seed": draw(st.integers(0, 2**31 - 1)), "models": {"*": draw(PROGRESSION)}}
    budget, rules = MAX_ERRORS, []
    for _ in range(draw(st.integers(0, 4))):
        action = draw(ACTIONS if budget else QUIET_ACTIONS)
        times = draw(st.integers(1, budget)) if action in ("respond", "fault") else draw(st.integers(1, 3))
        if action in ("respond", "fault"):
            budget -= times
        rules.append(draw(rule(action, times)))
    return {**doc, "rules": rules} if rules else doc


@settings(max_examples=50, deadline=None)
@given(scenario=scenarios(), video_model=st.sampled_from(VIDEO_MODELS))
def test_the_client_ends_every_task_correctly_in_every_scenario(mock, scenario, video_model):
    mock.load(scenario)  # and reset: each example starts from a clean mock
    fail_codes_named = {r["fail"]["code"] for r in scenario.get("rules", []) if "fail" in r}
    outcomes = {}
    with mock.client() as http:
        client = Client(http, mock.api_key, **on_the_mocks_clock(mock))
        for make, valid, kw in (
            (client.generate_image, lambda f: f.startswith(PNG), {"size": "1:1"}),
            (client.generate_video, is_mp4, {"model": video_model, "duration": 8}),
        ):
            try:
                result = make("a red fox in the snow", **kw)
            except TaskFailed as failed:
                assert failed.code in fail_codes_named  # a failure the scenario asked for, with its code
                outcomes[failed.task_id] = ("failed", failed.code)
            else:
                assert result.files and all(valid(f) for f in result.files)
                outcomes[result.task_id] = ("success", None)
    # What the client says of each task is what the mock did with it; no task was made twice.
    assert {t["taskId"]: (t["state"], t.get("failCode")) for t in mock.tasks()} == outcomes
    mock.assert_conforming(warnings=True)
