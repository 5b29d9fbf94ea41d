"""App time per request, in-process: a raw ASGI exchange with the app, no client, no sockets.

    python bench/bench_ops.py [--n 2000] [--rounds 5]

Each operation runs N times per round; the figure is the best round's CPU time (process time)
per operation, in microseconds, which includes the private event loop's turn per request (a few
microseconds). ``submit`` sends the same input each time (the load test's case), ``submit
(new input)`` a new prompt each time (a fuzzer's case); ``file`` downloads the same result file
again, ``file (new task)`` the first download of a new task's file, which renders it.
Numbers go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mockserver.http.app import create_app  # noqa: E402

SUBMIT_PATH = "/api/v1/generateTask/nano-banana"
STATUS_PATH = "/api/v1/statusTask/nano-banana"


def _scope(method: str, path: str, query: bytes = b"", headers: tuple = ()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", b"Bearer sk_bench"), *headers],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": {},
    }


class Driver:
    """Requests to one app on a private event loop."""

    def __init__(self) -> None:
        limits = {"requests_per_minute": 10**9, "concurrent_tasks": 10**9}
        self.app = create_app(clock="manual", scenario={"limits": limits})
        self.mock = self.app.state.mock
        self.loop = asyncio.new_event_loop()

    def call(self, scope: dict, body: bytes = b"") -> tuple[int, bytes]:
        out: list = [0, b""]
        sent = False

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # never: nothing here disconnects
            raise AssertionError

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                out[0] = message["status"]
            else:
                out[1] += message.get("body", b"")

        self.loop.run_until_complete(self.app(scope, receive, send))
        return out[0], out[1]

    def submit(self, prompt: str = "bench", idempotency_key: str | None = None) -> str:
        body = json.dumps({"input": {"mode": "text-to-image", "prompt": prompt}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if idempotency_key is not None:
            headers.append((b"idempotency-key", idempotency_key.encode()))
        status, answer = self.call(_scope("POST", SUBMIT_PATH, headers=tuple(headers)), body)
        assert status == 200, answer
        return json.loads(answer)["data"]["taskId"]

    def status(self, task_id: str) -> bytes:
        status, answer = self.call(_scope("GET", STATUS_PATH, b"taskId=" + task_id.encode()))
        assert status == 200, answer
        return answer

    def file_path(self, task_id: str) -> str:
        """The path of a finished task's first result file."""
        answer = self.status(task_id).decode()
        found = re.search(r"http://testserver(/files/[^\\\"]+)", answer)
        assert found, answer
        return found.group(1)

    def file(self, path: str) -> None:
        status, _ = self.call(_scope("GET", path))
        assert status == 200, path


def best_us(fn: Callable[[], object], n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    d = Driver()
    task_id = d.submit()
    d.mock.clock.advance(10**7)  # every task so far has finished
    path = d.file_path(task_id)
    counter = itertools.count()
    # Tasks made now and finished by one advance, for first downloads (each renders its file).
    fresh = [d.submit(f"fresh {i}") for i in range(args.n * args.rounds)]
    d.mock.clock.advance(10**7)
    fresh_paths = iter([d.file_path(t) for t in fresh])
    ops: list[tuple[str, Callable[[], object]]] = [
        ("submit", d.submit),
        ("submit (new input)", lambda: d.submit(f"prompt {next(counter)}")),
        ("submit with Idempotency-Key", lambda: d.submit(idempotency_key=f"k{next(counter)}")),
        ("status", lambda: d.status(task_id)),
        ("file", lambda: d.file(path)),
        ("file (new task)", lambda: d.file(next(fresh_paths))),
    ]
    for name, fn in ops:
        print(f"{name:30s} {best_us(fn, args.n, args.rounds):8.1f} us", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
