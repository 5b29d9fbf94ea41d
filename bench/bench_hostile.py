"""How long the heaviest hostile requests under 1 MiB hold the server (issue 17: at most 100 ms).

Each request is sent to a live server (its own process) while another thread polls /__admin/health back to back;
the longest health answer during the request is how long the event loop was blocked. Run on a
quiet machine: ``python bench/bench_hostile.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time

import httpx

KEY = {"Authorization": "Bearer sk_bench_hostile"}
SUBMIT = "/api/v1/generateTask/nano-banana"
ROUNDS = 5


def cases() -> dict[str, tuple[str, str, dict, bytes]]:
    json_h = {**KEY, "Content-Type": "application/json"}
    yaml_h = {"Content-Type": "application/yaml"}
    urls = ",".join(["1"] * 300_000)
    return {
        "submit image_urls 300,000 ints (600 KB)": (
            "POST",
            SUBMIT,
            json_h,
            f'{{"input": {{"mode": "text-to-image", "prompt": "x", "image_urls": [{urls}]}}}}'.encode(),
        ),
        "submit image_urls 60,000 urls (720 KB)": (
            "POST",
            SUBMIT,
            json_h,
            json.dumps(
                {"input": {"mode": "text-to-image", "prompt": "x", "image_urls": ["http://a/b"] * 60_000}}
            ).encode(),
        ),
        "submit prompt 1,000,000 chars": (
            "POST",
            SUBMIT,
            json_h,
            json.dumps({"input": {"mode": "text-to-image", "prompt": "a" * 1_000_000}}).encode(),
        ),
        "submit 50,000 input keys": (
            "POST",
            SUBMIT,
            json_h,
            json.dumps({"input": {f"k{i}": 1 for i in range(50_000)}}).encode(),
        ),
        "submit [[],[],...] 300,000 arrays": ("POST", SUBMIT, json_h, b"[" + b"[]," * 300_000 + b"[]]"),
        "submit nested 968 + Idempotency-Key": (
            "POST",
            "/api/v1/generateTask/midjourney",
            {**json_h, "Idempotency-Key": "a"},
            b'{"input": {"mode": "imagine", "prompt": "x", "mask": ' + b"[" * 968 + b"]" * 968 + b"}}",
        ),
        "PUT scenario YAML, 900 KB of rules": (
            "PUT",
            "/__admin/scenario",
            yaml_h,
            b"rules:\n" + b"  - {when: {endpoint: balance}, respond: {status: 503}}\n" * 16_000,
        ),
        "PUT scenario YAML, 63 KB (the YAML bound)": (
            "PUT",
            "/__admin/scenario",
            yaml_h,
            b"rules:\n" + b"  - {when: {endpoint: balance}, respond: {status: 503}}\n" * 1_000,
        ),
        "PUT scenario JSON, 900 KB of rules": (
            "PUT",
            "/__admin/scenario",
            {"Content-Type": "application/json"},
            json.dumps({"rules": [{"when": {"endpoint": "balance"}, "respond": {"status": 503}}] * 18_000}).encode(),
        ),
        "rule .*.*x, then a 900 KB prompt": (
            "RULE",
            SUBMIT,
            json_h,
            json.dumps({"input": {"prompt": "a" * 900_000}}).encode(),
        ),
    }


def measure(
    url: str, client: httpx.Client, method: str, path: str, headers: dict, body: bytes
) -> tuple[float, float, int]:
    if method == "RULE":
        client.put("/__admin/scenario", json={"rules": [{"when": {"prompt": ".*.*x"}, "respond": {"status": 500}}]})
        method = "POST"
    worst = [0.0]
    done = threading.Event()
    polling = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=url) as probe:
            probe.get("/__admin/health")
            polling.set()
            while not done.is_set():
                started = time.perf_counter()
                probe.get("/__admin/health")
                worst[0] = max(worst[0], time.perf_counter() - started)

    poller = threading.Thread(target=poll)
    poller.start()
    polling.wait(10)
    started = time.perf_counter()
    r = client.request(method, path, headers=headers, content=body)
    took = time.perf_counter() - started
    done.set()
    poller.join()
    client.put("/__admin/scenario", json={})
    return took, worst[0], r.status_code


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    # The server in its own process, as in use: no GIL shared with this client.
    server = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--clock", "manual", "--seed", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", server.stdout.readline()).group(0)  # type: ignore[union-attr]
        with httpx.Client(base_url=url, timeout=120) as client:
            client.get("/__admin/health")
            before = rss_mb(server.pid)
            # Each case 5 times: the least is what the request costs, the most what a busy box adds.
            print(f"{'request':45} {'status':>6} {'took (min/max)':>16} {'worst health (min/max)':>23}")
            for name, (method, path, headers, body) in cases().items():
                runs = [measure(url, client, method, path, headers, body) for _ in range(ROUNDS)]
                took = sorted(r[0] * 1000 for r in runs)
                worst = sorted(r[1] * 1000 for r in runs)
                print(
                    f"{name:45} {runs[0][2]:>6} {took[0]:>7.0f}/{took[-1]:<6.0f}ms "
                    f"{worst[0]:>11.0f}/{worst[-1]:<6.0f}ms"
                )
            print(f"server RSS: {before:.0f} MB before, {rss_mb(server.pid):.0f} MB after")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
