"""A small, realistic client of an APIXO-style generation API: submit, wait, poll, download.

It follows the provider's best practices: a first wait before the first poll, then
polls with backoff (x1.5, at most 30 s apart), Retry-After honoured, only 429, 5xx and
broken connections retried (a submit with an Idempotency-Key, so a retry never makes a
second task), results downloaded. It sleeps through an injectable function, so a test
moves the mock's clock instead of sleeping.

``NaiveClient`` is the same client written the quick way: ``raise_for_status()`` on
every answer and no retries. Its fuzz test (test_naive_client.py) fails on purpose.

    python examples/apixo_client.py --base-url http://127.0.0.1:8000 nano-banana "a red fox"
    python examples/apixo_client.py --naive --no-sleep --base-url URL nano-banana "a red fox"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

RETRYABLE = frozenset({429, 500, 502, 503, 504})
# The provider's recommended intervals (initial wait, first poll interval, give up after), seconds.
GUIDANCE = {
    "image-fast": (5.0, 3.0, 120.0),
    "image-quality": (10.0, 5.0, 180.0),
    "video": (60.0, 15.0, 600.0),
    "audio": (30.0, 10.0, 300.0),
}
KINDS = {
    "nano-banana": "image-fast",
    "nano-banana-2": "image-quality",
    "flux-2": "image-quality",
    "gpt-image-1": "image-quality",
    "midjourney": "image-quality",
    "sora-2": "video",
    "sora-2-pro": "video",
    "wan-2-5": "video",
    "suno": "audio",
}
BACKOFF = 1.5
MAX_INTERVAL = 30.0


class ApiError(Exception):
    """The API refused the request (an error that retrying will not fix, or retries ran out)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class TaskFailed(Exception):
    """The task ended failed: the provider's fail code and message."""

    def __init__(self, task_id: str, code: str, message: str) -> None:
        super().__init__(f"task {task_id} failed: {code}: {message}")
        self.task_id = task_id
        self.code = code


class GaveUp(Exception):
    """The task did not end within the model's maximum wait."""


@dataclass
class Generation:
    task_id: str
    urls: list[str]
    files: list[bytes]


class Client:
    """Generates with one API key through an httpx.Client whose base_url is the API."""

    def __init__(
        self,
        http: httpx.Client,
        api_key: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 5,
    ) -> None:
        self.http = http
        self.auth = {"Authorization": f"Bearer {api_key}"}
        self.sleep = sleep
        self.max_retries = max_retries

    def generate(self, model: str, input: dict) -> Generation:
        """Submit, wait for the task to end, download its results; TaskFailed if it failed."""
        task_id = self.submit(model, input)
        urls = self.wait(model, task_id)
        return Generation(task_id, urls, [self.download(url) for url in urls])

    def submit(self, model: str, input: dict) -> str:
        headers = {**self.auth, "Idempotency-Key": str(uuid.uuid4())}
        body = self.request("POST", f"/api/v1/generateTask/{model}", json={"input": input}, headers=headers)
        return body["data"]["taskId"]

    def wait(self, model: str, task_id: str) -> list[str]:
        """Poll until the task ends: its result URLs, or TaskFailed."""
        initial, interval, max_wait = GUIDANCE[KINDS.get(model, "image-quality")]
        self.sleep(initial)
        waited = initial
        while True:
            body = self.request("GET", f"/api/v1/statusTask/{model}", params={"taskId": task_id}, headers=self.auth)
            data = body["data"]
            if data["state"] == "success":
                return json.loads(data["resultJson"])["resultUrls"]
            if data["state"] == "failed":
                raise TaskFailed(task_id, data["failCode"], data["failMsg"])
            if waited >= max_wait:
                raise GaveUp(f"task {task_id} still {data['state']} after {waited:g} s")
            self.sleep(interval)
            waited += interval
            interval = min(interval * BACKOFF, MAX_INTERVAL)

    def download(self, url: str) -> bytes:
        return self.request("GET", url, raw=True)

    def request(self, method: str, url: str, *, raw: bool = False, **kw) -> dict | bytes:
        """One API call, retried on 429, 5xx, broken connections and unreadable bodies."""
        delay = 1.0
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                response = self.http.request(method, url, **kw)
                outcome = _outcome(response, raw)
            except (httpx.TransportError, ValueError) as exc:  # no answer, a cut one, or not JSON
                problem: Exception = exc
            else:
                status, result, retry_after = outcome
                if status == 200:
                    return result
                problem = ApiError(status, result)
                if status not in RETRYABLE:
                    raise problem
            if attempt == self.max_retries:
                raise problem
            self.sleep(retry_after if retry_after is not None else delay)
            delay = min(delay * 2, MAX_INTERVAL)
        raise AssertionError("unreachable")


def _outcome(response: httpx.Response, raw: bool) -> tuple[int, object, float | None]:
    """(status, result or error message, Retry-After seconds): an error envelope's code wins
    over HTTP 200, since the API may carry errors in a 200."""
    if raw and response.status_code == 200 and "json" not in response.headers.get("content-type", ""):
        return 200, response.content, None  # a file; a JSON answer here is an error envelope
    body = response.json()
    code = body.get("code") if isinstance(body, dict) else None
    status = code if isinstance(code, int) and response.status_code == 200 else response.status_code
    if status == 200:
        return 200, body, None
    header = response.headers.get("retry-after")
    retry_after = float(header) if header and header.replace(".", "", 1).isdigit() else None
    if retry_after is None and isinstance(body, dict) and isinstance(body.get("retryAfter"), int | float):
        retry_after = float(body["retryAfter"])
    message = body.get("message", "") if isinstance(body, dict) else ""
    return status, message, retry_after


class NaiveClient(Client):
    """The quick way: raise_for_status() on every answer, no retries, no error envelope check."""

    def request(self, method: str, url: str, *, raw: bool = False, **kw) -> dict | bytes:
        response = self.http.request(method, url, **kw)
        response.raise_for_status()
        return response.content if raw else response.json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate with an APIXO-style API and save the results.")
    parser.add_argument("model")
    parser.add_argument("prompt")
    parser.add_argument("--mode", default="text-to-image", help="input.mode (default text-to-image)")
    parser.add_argument("--base-url", default=os.environ.get("APIXO_BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--api-key", default=os.environ.get("APIXO_API_KEY", "sk_test_example"))
    parser.add_argument("--naive", action="store_true", help="use NaiveClient")
    parser.add_argument(
        "--no-sleep", action="store_true", help="do not sleep (a replay's clock follows its journal by itself)"
    )
    parser.add_argument("--out", default=".", help="folder for the result files")
    args = parser.parse_args(argv)
    cls = NaiveClient if args.naive else Client
    sleep = (lambda seconds: None) if args.no_sleep else time.sleep
    with httpx.Client(base_url=args.base_url, timeout=30) as http:
        result = cls(http, args.api_key, sleep=sleep).generate(args.model, {"mode": args.mode, "prompt": args.prompt})
    for n, (url, data) in enumerate(zip(result.urls, result.files, strict=True)):
        path = os.path.join(args.out, f"{result.task_id}-{n}{os.path.splitext(url)[1]}")
        with open(path, "wb") as f:
            f.write(data)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
