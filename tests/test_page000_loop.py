"""123API's own polling loop (page 000, ``wait_for_completion``), pointed at a live mock on --time-scale 100.

tests/provider_examples/wait_for_completion.py is the page's loop as published; this test changes
only its base URL (https://123api.co becomes the mock's) and runs it as a user would, on the wall
clock: its ``time.sleep(2)`` is 2 real seconds, 200 s of the mock's time at x100, so each task ends
within a poll or two. The three cases run at once, in threads. ``requests`` is served by a shim, an
httpx ``get`` (requests is no dependency of ours, and the loop needs only
``requests.get(url, headers=...).json()``, which an httpx.Response has).
"""

from __future__ import annotations

import builtins
import itertools
import pathlib
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import httpx
import pytest

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from mockserver.testing import MockApi

LOOP = pathlib.Path(__file__).parent / "provider_examples" / "wait_for_completion.py"
PAGE_URL = "https://123api.co"
SCALE = 100
PNG = b"\x89PNG\r\n\x1a\n"
# Three tasks through the mock's 123API routes: the content-violation scenario fails the third.
CASES = {
    "image": ("/v1/images/generations", {"model": "gpt-4o-image", "prompt": "a red fox in the snow", "size": "1:1"}),
    "video": (
        "/v1/videos/generations",
        {"model": "sora-2", "prompt": "a paper boat on a river", "duration": 8, "aspect_ratio": "16:9"},
    ),
    "violation": ("/v1/images/generations", {"model": "gpt-4o-image", "prompt": "graphic violence"}),
}


def page_loop(base_url: str, http: httpx.Client):
    """Page 000's ``wait_for_completion``, its base URL changed to ``base_url``, on the shims."""
    source = LOOP.read_text()
    assert source.count(PAGE_URL) == 1, "the page's loop names its base URL once"
    shims = {"requests": SimpleNamespace(get=http.get)}

    def import_(name, *args, **kw):
        return shims[name] if name in shims else builtins.__import__(name, *args, **kw)

    namespace = {"__builtins__": {**vars(builtins), "__import__": import_}, "__name__": "wait_for_completion"}
    exec(compile(source.replace(PAGE_URL, base_url), str(LOOP), "exec"), namespace)
    return namespace["wait_for_completion"]


@pytest.fixture
def served():
    """What `mockserver serve --clock real --time-scale 100 --scenario content-violation` serves."""
    with ServerThread(create_app(clock="real", time_scale=SCALE, seed=3)) as server:
        mock = MockApi(server.url)
        mock.load("content-violation")
        yield mock
        mock.close()


# On the wall clock at x100: 100 ms of a late thread is 10 s of the mock's, and a task must still be
# unfinished at the loop's first poll. Under pytest-xdist it runs while no other worker runs a test,
# until each loop's first poll is answered.
@pytest.mark.wall_clock
def test_page_000s_loop_completes_an_image_and_a_video_and_raises_a_content_violation(served, wall_clock_done):
    mock = served
    polled: set[str] = set()  # the tasks whose first poll has been answered
    first_polls = threading.Event()
    record = threading.Lock()

    def answered(response: httpx.Response) -> None:
        if response.request.url.path.startswith("/v1/tasks/"):
            with record:
                polled.add(response.request.url.path)
                if len(polled) == len(CASES):
                    first_polls.set()

    with mock.client(event_hooks={"response": [answered]}) as http:
        wait_for_completion = page_loop(mock.url, http)
        ids = {}
        for name, (path, body) in CASES.items():
            submitted = http.post(path, json=body, headers=mock.headers)
            assert submitted.status_code == 200, submitted.text
            ids[name] = submitted.json()["task_id"]
        # Concurrently, as three callers would: each waits as long as its own task takes.
        with ThreadPoolExecutor(len(ids)) as pool:
            waits = {name: pool.submit(wait_for_completion, task_id, mock.api_key) for name, task_id in ids.items()}
            # What the wall clock decides is over once each loop's first poll is answered (a task
            # still running then polls again). The rest is the loop's 2 s sleep and its next polls,
            # whose spacing only grows on a loaded machine: other workers' tests may run meanwhile.
            first_polls.wait(30)
            wall_clock_done()
        with pytest.raises(RuntimeError) as failed:
            waits["violation"].result()
        assert type(failed.value) is RuntimeError and failed.value.args == ("CONTENT_VIOLATION",)
        done = {name: waits[name].result() for name in ("image", "video")}
        for name, kind, valid in (
            ("image", "image/png", lambda data: data.startswith(PNG)),
            ("video", "video/mp4", lambda data: data[4:8] == b"ftyp"),
        ):
            task = done[name]
            assert task["task_id"] == ids[name] and task["status"] == "completed"
            assert task["result"]["urls"] and task["result"]["url"] == task["result"]["urls"][0]
            # Around the loop, as page 000 advises ("cache generated links on your own storage").
            for url in task["result"]["urls"]:
                file = http.get(url)
                assert file.status_code == 200 and file.headers["content-type"] == kind and valid(file.content)
    states = {t["taskId"]: (t["state"], t.get("failCode")) for t in mock.tasks()}
    assert states == {
        ids["image"]: ("success", None),
        ids["video"]: ("success", None),
        ids["violation"]: ("failed", "CONTENT_VIOLATION"),
    }
    # The loop polled at once and then every 2 s (200 s of the mock's time), until each task ended.
    polls = [e for e in mock.journal() if e["path"].startswith("/v1/tasks/")]
    for task_id in ids.values():
        times = [e["time"] for e in polls if e["path"] == f"/v1/tasks/{task_id}"]
        assert len(times) >= 2 and all(b - a >= 2000 * SCALE * 0.9 for a, b in itertools.pairwise(times))
    # The mock's report, built from page 000 and 004, finds nothing to say about page 000's own loop.
    mock.assert_conforming(warnings=True)
