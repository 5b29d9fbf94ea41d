"""A small client of 123API's image and video generation, written from its own pages.

Page 000 (development guide): submit a task, then poll ``GET /v1/tasks/{task_id}`` at a steady
interval (its loop sleeps 2 s between polls and gives up after 300 s), return the task when it is
completed, raise with its ``error`` when it failed; keep the generated files on your own storage.
Page 004 (errors): retry only 429, 500, 502 and 503, with exponential backoff and the 429's
``retryAfter``; never retry 400, 401, 402 or 404 unchanged. Its submits carry an Idempotency-Key
(004, best practices 4), so a retried submit never makes a second task where the API honours one.

It sleeps and reads the time through injectable functions, so a test runs it on the mock's
manual clock instead of waiting (see test_api123_client.py).

    python examples/api123_client.py --base-url http://127.0.0.1:8000 gpt-4o-image "a red fox"
    python examples/api123_client.py --base-url http://127.0.0.1:8000 --video sora-2 "a paper boat"
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

IMAGES = "/v1/images/generations"
VIDEOS = "/v1/videos/generations"
# Page 004, best practices 3: the only statuses worth retrying unchanged.
RETRYABLE = frozenset({429, 500, 502, 503})
POLL_INTERVAL = 2.0  # page 000's time.sleep(2)
MAX_WAIT = 300.0  # page 000's max_wait=300
# Page 000 asks for exponential backoff and names no numbers: 1 s, doubling, at most 30 s.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0


class ApiError(Exception):
    """The API refused the request: a status page 004 says not to retry, or retries ran out."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(f"{status} {code}" + (f": {message}" if message else ""))
        self.status = status
        self.code = code


class TaskFailed(RuntimeError):
    """The task ended failed; ``code`` is its ``error`` (page 000's loop raises RuntimeError(error))."""

    def __init__(self, task_id: str, code: str, message: str = "") -> None:
        super().__init__(code)
        self.task_id = task_id
        self.code = code
        self.message = message


class GaveUp(TimeoutError):
    """The task did not end within the maximum wait (page 000: TimeoutError("task timeout"))."""


@dataclass
class Generation:
    task_id: str
    urls: list[str]
    files: list[bytes]


class Client:
    """Generates with one API key through an httpx.Client whose base_url is the API.

    ``sleep`` and ``clock`` (seconds, any origin) are time.sleep and time.monotonic unless given:
    a test passes ones that move and read the mock's virtual clock.
    """

    def __init__(
        self,
        http: httpx.Client,
        api_key: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_retries: int = 5,
        poll_interval: float = POLL_INTERVAL,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.http = http
        self.auth = {"Authorization": f"Bearer {api_key}"}
        self.sleep = sleep
        self.clock = clock
        self.max_retries = max_retries
        self.poll_interval = poll_interval
        self.max_wait = max_wait

    def generate_image(self, prompt: str, *, model: str = "gpt-4o-image", **fields: object) -> Generation:
        """An image task (``size``, ``n``, ``image_urls``...), waited for and downloaded."""
        return self.generate(IMAGES, {"model": model, "prompt": prompt, **fields})

    def generate_video(self, prompt: str, *, model: str = "sora-2", **fields: object) -> Generation:
        """A video task (``duration``, ``aspect_ratio``, ``image_urls``...), waited for and downloaded."""
        return self.generate(VIDEOS, {"model": model, "prompt": prompt, **fields})

    def generate(self, path: str, body: dict) -> Generation:
        """Submit, wait for the task to end, download every result; TaskFailed if it failed."""
        task_id = self.submit(path, body)
        task = self.wait(task_id)
        urls = list(task["result"].get("urls") or [task["result"]["url"]])
        return Generation(task_id, urls, [self.download(url) for url in urls])

    def submit(self, path: str, body: dict) -> str:
        headers = {**self.auth, "Idempotency-Key": str(uuid.uuid4())}  # the same key on every retry
        return self.request("POST", path, json=body, headers=headers)["task_id"]

    def wait(self, task_id: str) -> dict:
        """Page 000's loop: poll at once, then every 2 s; the completed task, TaskFailed or GaveUp."""
        start = self.clock()
        while self.clock() - start < self.max_wait:
            task = self.request("GET", f"/v1/tasks/{task_id}", headers=self.auth)
            if task.get("status") == "completed":
                return task
            if task.get("status") == "failed":
                raise TaskFailed(task_id, task.get("error") or "task failed", task.get("message") or "")
            self.sleep(self.poll_interval)
        raise GaveUp(f"task {task_id} did not end within {self.max_wait:g} s")

    def download(self, url: str) -> bytes:
        """One result file (page 000: cache it on your own storage, its link may not last)."""
        return self.request("GET", url, raw=True)

    def request(self, method: str, url: str, *, raw: bool = False, **kw) -> dict | bytes:
        """One API call, retried on 429/500/502/503 (page 004) and on a broken or unreadable answer."""
        delay = FIRST_BACKOFF
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                response = self.http.request(method, url, **kw)
                if response.status_code == 200:
                    return response.content if raw else _json_object(response)
                code, message, retry_after = _error(response)
            # No answer, a cut one, or a body that is not JSON: page 004 names statuses only, but
            # nothing was refused; the submit's Idempotency-Key makes its retry safe.
            except (httpx.TransportError, httpx.DecodingError, ValueError) as exc:
                problem: Exception = exc
            else:
                problem = ApiError(response.status_code, code, message)
                if response.status_code not in RETRYABLE:
                    raise problem  # 400, 401, 402, 404...: retrying unchanged cannot help
            if attempt == self.max_retries:
                raise problem
            # Exponential backoff, never sooner than the server's retryAfter; the next wait doubles
            # the one just made, so the waits grow even when retryAfter set this one.
            waited = max(delay, retry_after or 0.0)
            self.sleep(waited)
            delay = min(waited * 2, MAX_BACKOFF)
        raise AssertionError("unreachable")


def _json_object(response: httpx.Response) -> dict:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _error(response: httpx.Response) -> tuple[str, str, float | None]:
    """(error, message, seconds to wait) of page 004's body ``{"error", "message", "retryAfter"}``.

    The Retry-After header and the body's retryAfter both count; the longer wins.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    waits = [_seconds(response.headers.get("retry-after")), _seconds(body.get("retryAfter"))]
    known = [w for w in waits if w is not None]
    return str(body.get("error") or response.reason_phrase), str(body.get("message") or ""), max(known, default=None)


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None  # absent, or an HTTP date: the backoff alone decides
    return seconds if 0 <= seconds < 86400 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate with 123API (or the mock) and save the results.")
    parser.add_argument("model", help="gpt-4o-image, or with --video sora-2 or veo3.1-fast")
    parser.add_argument("prompt")
    parser.add_argument("--video", action="store_true", help="a video task (POST /v1/videos/generations)")
    parser.add_argument("--base-url", default=os.environ.get("API123_BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--api-key", default=os.environ.get("API123_API_KEY", "sk_test_example"))
    parser.add_argument("--out", default=".", help="folder for the result files")
    args = parser.parse_args(argv)
    with httpx.Client(base_url=args.base_url, timeout=60) as http:
        client = Client(http, args.api_key)
        make = client.generate_video if args.video else client.generate_image
        result = make(args.prompt, model=args.model)
    for n, (url, data) in enumerate(zip(result.urls, result.files, strict=True)):
        path = os.path.join(args.out, f"{result.task_id}-{n}{os.path.splitext(url)[1]}")
        with open(path, "wb") as f:
            f.write(data)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
