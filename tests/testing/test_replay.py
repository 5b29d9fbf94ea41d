"""Replay bundles: written from a mock, checked when read, and served again with the same answers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver.cli import main
from mockserver.http.server import ServerThread
from mockserver.testing.mock_api import MockApi
from mockserver.testing.replay import FORMAT, BundleError, bundle_of, describe, load_bundle, replay_app, write_bundle
from tests.conftest import START_MS

# Time-driven tasks, a probabilistic 503 and a fault: what the answers depend on is the seed,
# the clock and the order of requests, all of which the bundle keeps.
SCENARIO = {
    "name": "replayable",
    "rules": [
        {"when": {"endpoint": "statusTask", "probability": 0.3}, "respond": {"status": 503}},
        {"when": {"endpoint": "generateTask", "nth": 3}, "fault": "empty_response"},
    ],
}
JOB = {"input": {"mode": "text-to-image", "prompt": "a fox"}}
AUTH = {"Authorization": "Bearer sk_test_replay"}


def session(http: httpx.Client, sleep) -> list:
    """A client's run: three submits, polls between sleeps, downloads. Returns what it saw."""
    seen: list = []
    tasks = []
    for _ in range(3):
        try:
            r = http.post("/api/v1/generateTask/nano-banana", json=JOB, headers=AUTH)
        except httpx.HTTPError as exc:
            seen.append(type(exc).__name__)
            continue
        seen.append((r.status_code, r.json()))
        tasks.append(r.json()["data"]["taskId"])
    for step in (2000, 8000, 16000, 1000):
        sleep(step)
        for task_id in tasks:
            r = http.get("/api/v1/statusTask/nano-banana", params={"taskId": task_id}, headers=AUTH)
            body = r.json()
            if "resultJson" in (body.get("data") or {}):
                for url in json.loads(body["data"]["resultJson"])["resultUrls"]:
                    path = httpx.URL(url).path
                    seen.append(("file", http.get(path).status_code))
                body["data"]["resultJson"] = re.sub(r"http://[^/]+", "BASE", body["data"]["resultJson"])
            seen.append((r.status_code, body))
    return seen


@pytest.fixture
def recorded(tmp_path):
    """A run against an in-process mock whose test slept by moving the clock, and its bundle."""
    with MockApi.in_process(seed=7, start_ms=START_MS) as mock, mock.client() as http:
        mock.load(SCENARIO)
        seen = session(http, lambda ms: mock.advance(ms=ms))
        bundle = bundle_of(mock, "tests/test_x.py::test_y[a-b]", "httpx.ReadError: boom")
    return seen, bundle


def test_a_bundle_holds_what_a_replay_needs(recorded, tmp_path):
    seen, bundle = recorded
    assert bundle["format"] == FORMAT and bundle["test"] == "tests/test_x.py::test_y[a-b]"
    assert bundle["error"] == "httpx.ReadError: boom" and bundle["seed"] == 7
    assert bundle["versions"]["mockserver"] and bundle["versions"]["python"] and bundle["versions"]["hypothesis"]
    assert bundle["scenario"]["name"] == "replayable" and bundle["scenario"]["seed"] == 7
    assert bundle["scenario"]["clock"] == {"mode": "manual", "start_ms": START_MS}
    assert bundle["clock"] == {"mode": "manual", "start": START_MS, "now": START_MS + 27000}
    assert len(bundle["journal"]) == len(seen) and bundle["callbacks"] == []
    assert bundle["lastRequest"] == f"curl -X GET http://testserver{bundle['journal'][-1]['path']}"
    assert bundle["journal"][-1]["path"].startswith("/files/task_")
    path = write_bundle(bundle, tmp_path / "failures")
    assert re.fullmatch(r"test_x-test_y-a-b-[0-9a-f]{8}\.json", path.name)
    assert write_bundle(bundle, tmp_path / "failures") == path  # the same failure: the same file
    assert load_bundle(path) == bundle


def test_describe_shows_the_failure_and_the_tape(recorded):
    _, bundle = recorded
    text = describe(bundle)
    lines = text.splitlines()
    assert lines[0] == "Replay of tests/test_x.py::test_y[a-b]"
    assert lines[1] == "  failed with: httpx.ReadError: boom"
    assert lines[2] == "  scenario: replayable, seed 7, 2 rules"
    assert lines[3] == f"  clock: manual from {START_MS} (2026-01-09T13:33:30Z)"
    assert lines[4] == f"  journal: {len(bundle['journal'])} requests:"
    assert re.match(r"    #1\s+\+0\.000s POST /api/v1/generateTask/nano-banana -> 200  \(task_[0-9a-f]+\)$", lines[5])
    assert re.match(r"    #3\s+\+0\.000s POST .* -> no answer  \(rule 1, fault empty_response\)$", lines[7])
    assert re.search(r"\+2\.000s GET  /api/v1/statusTask/nano-banana\?taskId=\S+ -> (200  \(state pending\)|503)", text)
    assert lines[-1] == f"  last request: {bundle['lastRequest']}"
    against = describe(bundle, base_url="http://127.0.0.1:9")
    assert against.splitlines()[-1].startswith(
        "  last request, against the replay: curl -X GET http://127.0.0.1:9/files/"
    )


def test_a_replay_answers_the_same_requests_the_same_way_without_clock_moves(recorded):
    seen, bundle = recorded
    statuses = {x if isinstance(x, str) else x[0] for x in seen}
    assert {200, 503, "file", "RemoteProtocolError"} <= statuses  # the run met rules, faults and results
    app = replay_app(bundle)
    with TestClient(app, base_url="http://testserver") as http:
        # The client sleeps for real (here: not at all); the clock follows the journal instead.
        assert session(http, lambda ms: None) == seen
        # A reset starts the tape again.
        http.post("/__admin/reset")
        assert session(http, lambda ms: None) == seen
    with ServerThread(replay_app(bundle)) as server, httpx.Client(base_url=server.url) as http:
        assert session(http, lambda ms: None) == seen


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {path}: No such file or directory"),
        ("{not json", "{path} is not JSON: "),
        ('{"format": "other"}', '{path} is not a mockserver replay bundle (no "format": "mockserver-replay/1")'),
        (
            json.dumps({"format": FORMAT, "journal": [], "clock": {}}),
            "{path}: 'scenario' is missing or not a JSON object",
        ),
        (json.dumps({"format": FORMAT, "scenario": {}, "journal": {}, "clock": {}}), "{path}: 'journal' is missing or"),
        (
            json.dumps({"format": FORMAT, "scenario": {"rules": [{}]}, "journal": [], "clock": {}}),
            "{path}: invalid scenario: rules/0: a rule needs at least one action",
        ),
        (
            json.dumps({"format": FORMAT, "scenario": {}, "journal": [{"id": 1}], "clock": {}}),
            "{path}: journal/0 is not a journal entry",
        ),
    ],
)
def test_a_bad_bundle_is_one_line_saying_why(tmp_path, capsys, content, message):
    path = tmp_path / "bundle.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BundleError) as caught:
        load_bundle(path)
    assert str(caught.value).startswith(message.format(path=path)) and "\n" not in str(caught.value)
    assert main(["replay", str(path), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mockserver replay: error: {message.format(path=path)}") and err.count("\n") == 1


def test_replay_command_serves_the_bundle_and_stops_on_ctrl_c(recorded, tmp_path):
    seen, bundle = recorded
    path = write_bundle(bundle, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "replay", str(path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        printed = []
        while not (printed and printed[-1].startswith("Replaying on")):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            printed.append(line.rstrip("\n"))
        assert printed[:-1] == describe(bundle, base_url=printed[-1].split()[2]).splitlines()
        url = re.match(r"Replaying on (http://127\.0\.0\.1:\d+)  \(seed 7, clock manual, following", printed[-1])[1]
        with httpx.Client(base_url=url, timeout=10) as http:
            assert session(http, lambda ms: None) == seen
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and out.endswith("mockserver stopped\n")
