"""Drive a client's requests through Prism, as a validating proxy (`prism proxy --errors`), in
front of a running mock: every answer the mock gives, rule-injected errors included, must keep the
dialect's OpenAPI document, or Prism replaces it with its own error.

    python scripts/prism_check.py MOCK_URL APIXO_PROXY_URL 123API_PROXY_URL

.ci/run starts the mock (manual clock) and one Prism proxy per document. Exits 1 naming each
answer Prism refused or flagged.
"""

from __future__ import annotations

import json
import sys

import httpx

KEY = {"Authorization": "Bearer sk_ci_prism"}
# What scenario rules can make each endpoint answer (docs/scenarios.md), with a Retry-After.
INJECTED = (403, 429, 500, 502, 503)


def flagged(r: httpx.Response) -> str | None:
    """Why Prism did not pass the mock's answer through unchanged (None: it did)."""
    if r.headers.get("sl-violations"):
        return f"violations {r.headers['sl-violations']}"
    if r.headers.get("content-type", "").startswith("application/problem+json"):
        return f"prism error {r.text[:300]}"
    return None


def check(mock: str, proxy: str, dialect: str) -> list[str]:
    problems: list[str] = []
    admin = httpx.Client(base_url=mock, timeout=30)
    http = httpx.Client(base_url=proxy, timeout=30)
    admin.post("/__admin/reset")

    def expect(r: httpx.Response, status: int, what: str) -> None:
        why = flagged(r)
        if why is not None or r.status_code != status:
            problems.append(f"{dialect} {what}: {r.status_code} (expected {status}) {why or r.text[:200]}")

    if dialect == "apixo":
        submit = ("POST", "/api/v1/generateTask/nano-banana", {"input": {"mode": "text-to-image", "prompt": "a fox"}})
        r = http.request(submit[0], submit[1], json=submit[2], headers=KEY)
        expect(r, 200, "submit")
        task_id = r.json()["data"]["taskId"]
        status = ("GET", f"/api/v1/statusTask/nano-banana?taskId={task_id}")
        files = ("GET", f"/files/{task_id}/0.png")
        others = {"balance": ("GET", "/api/v1/apikeys/current-balance")}
    else:
        submit = ("POST", "/v1/images/generations", {"model": "gpt-4o-image", "prompt": "a fox", "size": "1:1"})
        r = http.request(submit[0], submit[1], json=submit[2], headers=KEY)
        expect(r, 200, "submit")
        task_id = r.json()["task_id"]
        status = ("GET", f"/v1/tasks/{task_id}")
        files = ("GET", f"/v1/files/{task_id}/0.png")
        others = {"models": ("GET", "/v1/models")}
    expect(http.request(*status, headers=KEY), 200, "status (pending)")
    admin.post("/__admin/clock/advance", json={"to": "idle"})
    expect(http.request(*status, headers=KEY), 200, "status (success)")
    expect(http.request(*files), 200, "result file")
    for kind, (method, path) in others.items():
        expect(http.request(method, path, headers=KEY), 200, kind)
    unknown = status[1].replace(task_id, "task-nope" if dialect == "123api" else "nope")
    expect(http.get(unknown, headers=KEY), 404, "unknown task")
    # Every error a rule can make each endpoint answer.
    endpoints = {"submit": submit, "status": status, "files": files, **others}
    for kind, (method, path, *body) in endpoints.items():
        for code in INJECTED:
            rule = {"when": {"endpoint": kind}, "times": 1, "respond": {"status": code, "retry_after": 2}}
            assert admin.post("/__admin/rules", json=rule).status_code == 200
            r = http.request(method, path, json=body[0] if body else None, headers=KEY)
            expect(r, code, f"{kind} with a rule's {code}")
    return problems


def main(argv: list[str]) -> int:
    mock, apixo_proxy, api123_proxy = argv
    problems = check(mock, apixo_proxy, "apixo") + check(mock, api123_proxy, "123api")
    for problem in problems:
        print(f"prism: {problem}")
    print(json.dumps({"prism": "clean" if not problems else f"{len(problems)} problems"}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
