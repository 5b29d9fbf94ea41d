"""Load on the mock: many submits at many connections, and the API's latency during a webhook storm.

    python bench/bench_load.py submits [--n 100000] [--connections 256]
    python bench/bench_load.py storm [--n 1000] [--receiver hang|ok|refuse|500]
    python bench/bench_load.py memory [--n 1000000]
    python bench/bench_load.py keys [--n 200000]

``submits``: N submits through HTTP at C concurrent keep-alive connections against
``mockserver serve`` in its own process (pinned to one core when taskset is there; the load
generator runs on the other): submits/s, p50/p99/max latency, lost or duplicated task ids, and
the server's RSS growth per task.
``storm``: N callback tasks ending at the same virtual moment, to one receiver (in this process,
on its own thread); one ``clock/advance`` makes them all due while this script polls a task's
status without pause: how long the advance took, poll latency p50/p99/max meanwhile, and how
many requests reached the receiver. Then one more delivery to a healthy receiver must arrive.
``memory``: bytes per task, N tasks through the in-process app (no sockets), measured by RSS.
``keys``: N distinct API keys, each submitting a task, polling it to its end and fetching its
file; the clock then moves past the task's eviction. RSS every ``--every`` keys: flat when
nothing is kept per key or task once the task is evicted.
Numbers go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.bench_status import pin, rss_kib, start  # noqa: E402
from mockserver.testing.receivers import RawReceiver, refusing_url  # noqa: E402

KEY = "sk_bench"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"input": {"mode": "text-to-image", "prompt": "bench"}}
SUBMIT_PATH = "/api/v1/generateTask/nano-banana"


def serve(scenario: str, *extra: str) -> tuple[subprocess.Popen, str]:
    cmd = [*pin(0), sys.executable, "-m", "mockserver", "serve", "--port", "0", "--scenario", scenario, *extra]
    return start(cmd, r"listening on (http://\S+)")


def stop(proc: subprocess.Popen) -> float:
    """SIGINT, as Ctrl-C; the seconds it took to exit."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return time.monotonic() - t0


def scenario_file(text: str) -> str:
    path = os.path.join(tempfile.mkdtemp(), "bench.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else float("nan")


# -- submits -------------------------------------------------------------------------


async def _submits(url: str, n: int, connections: int, cold: bool = False) -> tuple[list[float], list[str], int]:
    """N submits over C keep-alive connections, each a raw HTTP/1.1 exchange.

    Not httpx: its connection pool does work per request that grows with the connections open
    (at 256 connections it cost ~12 ms of CPU a submit, ~8 times the server's), so the load
    generator, not the server, set the rate and the tail. Here a submit costs the client a
    write, a read of the head and of Content-Length bytes, and the task id's JSON."""
    m = re.match(r"http://([^:/]+):(\d+)", url)
    assert m, url
    host, port = m.group(1), int(m.group(2))
    body = json.dumps(BODY).encode()
    raw = (
        f"POST {SUBMIT_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {AUTH['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    ids: list[str] = []
    errors = 0
    remaining = n

    # Every connection is open, and accepted by the server, before the first timed submit (unless
    # --cold): libuv (uvloop, hence uvicorn) accepts one connection per turn of its loop (libuv PR
    # #3696), and a turn under this load serves every connection already accepted, so 256 connects
    # made at once into a saturated server wait up to seconds each in the accept queue. That is a
    # cost of opening connections, not of submits; --cold measures it.
    streams = await asyncio.gather(*(asyncio.open_connection(host, port) for _ in range(connections)))
    if not cold:
        probe = f"GET /__admin/health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(probe)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"content-length: *(\d+)", head, re.I)
            await reader.readexactly(int(length.group(1)) if length else 0)

        await asyncio.gather(*(accepted(r, w) for r, w in streams))

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors, remaining
        try:
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"content-length: *(\d+)", head, re.I)
                answer = await reader.readexactly(int(length.group(1)) if length else 0)
                latencies.append(time.perf_counter() - t0)
                if head.startswith(b"HTTP/1.1 200 "):
                    ids.append(json.loads(answer)["data"]["taskId"])
                else:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(r, w) for r, w in streams))
    return latencies, ids, errors


def run_loop(coro):
    """Run the load generator on the core the server is not pinned to, on uvloop when installed
    (uvicorn[standard] brings it), so that it keeps ahead of the server."""
    if pin(1) and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def cmd_submits(args: argparse.Namespace) -> None:
    sc = scenario_file("name: bench\nlimits: {requests_per_minute: 1000000000, concurrent_tasks: 1000000000}\n")
    proc, url = serve(sc, "--clock", "manual")
    try:
        httpx.post(f"{url}/api/v1/generateTask/nano-banana", json=BODY, headers=AUTH)  # warm-up
        rss0 = rss_kib(proc.pid)
        cpu0, own0 = cpu_s(proc.pid), time.process_time()
        t0 = time.perf_counter()
        latencies, ids, errors = run_loop(_submits(url, args.n, args.connections, args.cold))
        took = time.perf_counter() - t0
        cpu1, own1 = cpu_s(proc.pid), time.process_time()
        rss1 = rss_kib(proc.pid)
        tasks = httpx.get(f"{url}/__admin/health").json()["tasks"]
    finally:
        stop(proc)
    ms = [x * 1000 for x in latencies]
    kind = "new" if args.cold else "open"
    print(f"{args.n} submits at {args.connections} {kind} connections in {took:.1f} s: {args.n / took:,.0f} submits/s")
    if os.environ.get("BENCH_WORST"):
        worst = sorted(range(len(ms)), key=ms.__getitem__)[-40:]
        print("worst (completion index, ms):", [(i, round(ms[i])) for i in sorted(worst)])
    print(f"latency ms: p50 {pct(ms, 0.5):.1f}  p99 {pct(ms, 0.99):.1f}  max {max(ms):.1f}")
    print(f"errors {errors}, ids {len(ids)}, distinct {len(set(ids))}, tasks on the server {tasks - 1}")
    print(
        f"CPU: server {cpu1 - cpu0:.1f} s ({(cpu1 - cpu0) / args.n * 1e6:.0f} us a submit), "
        f"load generator {own1 - own0:.1f} s ({(own1 - own0) / args.n * 1e6:.0f} us a submit)"
    )
    print(f"server RSS {rss0} -> {rss1} KiB: {(rss1 - rss0) * 1024 / max(1, len(ids)):.0f} bytes per task")


# -- storm ---------------------------------------------------------------------------


def cmd_storm(args: argparse.Namespace) -> None:
    sc = scenario_file(
        "name: storm\n"
        "limits: {requests_per_minute: 1000000000, concurrent_tasks: 1000000000}\n"
        "models: {nano-banana: {pending_ms: 0, processing_ms: 10000}}\n"
        f"callbacks: {{retries: {args.retries}, backoff_ms: [1000], timeout_ms: {args.timeout_ms}}}\n"
    )
    refusing = None
    if args.receiver == "refuse":
        target, refusing = refusing_url()
        receiver = None
    else:
        receiver = RawReceiver({"ok": "ok", "hang": "hang"}.get(args.receiver) or int(args.receiver)).start()
        target = receiver.url
    healthy = RawReceiver("ok").start()
    proc, url = serve(sc, "--clock", "manual")
    client = httpx.Client(base_url=url, headers=AUTH, timeout=300)
    try:
        cb = {**BODY, "request_type": "callback", "callback_url": target}
        for _ in range(args.n):
            assert client.post("/api/v1/generateTask/nano-banana", json=cb).status_code == 200
        probe = client.post("/api/v1/generateTask/nano-banana", json=BODY).json()
        probe_url = f"/api/v1/statusTask/nano-banana?taskId={probe['data']['taskId']}"
        done = threading.Event()
        took: list[float] = []

        def advance() -> None:
            t0 = time.perf_counter()
            # One advance past every attempt and retry: (retries + 1) x the backoff.
            with httpx.Client(base_url=url, timeout=600) as admin:
                admin.post("/__admin/clock/advance", json={"ms": 10_000 + 1_000 * args.retries})
            took.append(time.perf_counter() - t0)
            done.set()

        latencies = []
        worst = 0.0
        spy = None
        if args.profile:
            spy = subprocess.Popen(
                ["py-spy", "record", "-r", "500", "-f", "raw", "-o", args.profile, "--pid", str(proc.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        threading.Thread(target=advance, daemon=True).start()
        while not done.is_set():
            t0 = time.perf_counter()
            r = client.get(probe_url)
            dt = time.perf_counter() - t0
            assert r.status_code == 200, r.text
            latencies.append(dt * 1000)
            worst = max(worst, dt)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        attempts = client.get("/__admin/callbacks").json()
        outcomes: dict[str, int] = {}
        for a in attempts["attempts"]:
            # The error with its numbers blanked: a sender's deadline and the dispatcher's guard differ.
            what = a["outcome"] + (f" ({re.sub(r'[0-9.]+', 'N', a['error'])})" if a["error"] else "")
            outcomes[what] = outcomes.get(what, 0) + 1
        # After the storm: one delivery to a healthy receiver.
        ok = {**BODY, "request_type": "callback", "callback_url": healthy.url}
        client.post("/api/v1/generateTask/nano-banana", json=ok)
        client.post("/__admin/clock/advance", json={"ms": 10_000})
        after = healthy.wait_for(1, 10)
        exit_s = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        client.close()
        if receiver:
            receiver.stop()
        healthy.stop()
        if refusing:
            refusing.close()
    got = receiver.count if receiver else 0
    print(f"{args.n} deliveries ({args.retries} retries each) to a '{args.receiver}' receiver:")
    print(f"  advance took {took[0]:.2f} s; the receiver got {got} requests; outcomes {outcomes}")
    print(
        f"  status polls meanwhile: {len(latencies)}, p50 {pct(latencies, 0.5):.1f} ms, "
        f"p99 {pct(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms"
    )
    print(f"  next delivery to a healthy receiver: {'arrived' if after else 'NOT delivered'}")
    print(f"  SIGINT to exit: {exit_s:.2f} s")


# -- memory --------------------------------------------------------------------------


# Drives the app as the server would, one ASGI call per request, without sockets or a test client
# (a TestClient costs ~6 ms a request here: a million submits would take hours).
_DRIVER = """
import asyncio, gc, json, sys
sys.path.insert(0, ROOT)
from mockserver.http.app import create_app

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

async def call(app, method, path, key, body=b"", query=b""):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
             "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", b"Bearer " + key.encode()),
                         (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()
    out = []
    async def send(message):
        out.append(message)
    await app(scope, receive, send)
    return out[0]["status"], b"".join(m.get("body", b"") for m in out[1:])
"""


def cmd_memory(args: argparse.Namespace) -> None:
    """Bytes per task through the in-process app: RSS before and after N submits."""
    code = (
        f"ROOT = {ROOT!r}\n"
        + _DRIVER
        + f"""
BODY = json.dumps({BODY!r}).encode()
app = create_app(clock="manual", scenario={{"limits": {{"requests_per_minute": 10**9, "concurrent_tasks": 10**9}}}})
mock = app.state.mock

async def main():
    for i in range({args.n} + 20_000):
        if i == 20_000:  # warm: the journal (10,000 entries) full, caches made
            gc.collect(); before = rss()
        status, _ = await call(app, "POST", "/api/v1/generateTask/nano-banana", {KEY!r}, BODY)
        assert status == 200, status
        if i % 256 == 0:
            await asyncio.sleep(0)  # let the loop clean up, as a server's would
    gc.collect(); after = rss()
    print(json.dumps({{"n": {args.n}, "bytes_per_task": (after - before) / {args.n}, "tasks": len(mock.store)}}))

asyncio.run(main())
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{result['n']} tasks through the app: {result['bytes_per_task']:.0f} bytes per task (RSS)")


def cmd_keys(args: argparse.Namespace) -> None:
    """RSS across many distinct keys, each a well-behaved client whose task ends and is evicted."""
    code = (
        f"ROOT = {ROOT!r}\n"
        + _DRIVER
        + f"""
BODY = json.dumps({BODY!r}).encode()
TTL, MARGIN = 120_000, 1_000
app = create_app(clock="manual", evict_after_ms=MARGIN, scenario={{"results": {{"ttl_ms": TTL}}}})
mock = app.state.mock

async def advance(ms):
    status, _ = await call(app, "POST", "/__admin/clock/advance", "", json.dumps({{"ms": ms}}).encode())
    assert status == 200, status

async def main():
    n, batch, done = {args.n}, 1_000, 0
    rows = []
    while done < n:
        ids = []
        for i in range(done, done + batch):
            key = f"sk_client_{{i:07d}}"
            status, body = await call(app, "POST", "/api/v1/generateTask/nano-banana", key, BODY)
            assert status == 200, (status, body)
            ids.append((key, json.loads(body)["data"]["taskId"]))
        await advance(30_000)  # every task ends (nano-banana: within 30 s)
        for key, tid in ids:
            path = "/api/v1/statusTask/nano-banana"
            status, body = await call(app, "GET", path, key, query=f"taskId={{tid}}".encode())
            data = json.loads(body)["data"]
            assert status == 200 and data["state"] == "success", (status, body)
            url = json.loads(data["resultJson"])["resultUrls"][0]
            status, _ = await call(app, "GET", url.split("8000", 1)[1], key)
            assert status == 200, status
        await advance(TTL + MARGIN)  # and is evicted
        await asyncio.sleep(0)
        done += batch
        if done % {args.every} == 0:
            gc.collect()
            rows.append({{"keys": done, "rss": rss(), "tasks": len(mock.store), "evicted": mock.store.evicted_total}})
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({{"rows": rows}}))

asyncio.run(main())
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr)
    rows = json.loads(out.stdout.strip().splitlines()[-1])["rows"]
    first = rows[0]
    print(f"{'keys':>9} {'RSS KiB':>9} {'vs first':>9} {'tasks kept':>11} {'evicted':>9}")
    for row in rows:
        print(
            f"{row['keys']:>9,} {row['rss'] // 1024:>9,} {(row['rss'] - first['rss']) // 1024:>+9,}"
            f" {row['tasks']:>11,} {row['evicted']:>9,}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("submits")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--cold", action="store_true", help="time submits from the moment the connections are opened")
    p = sub.add_parser("storm")
    p.add_argument("--n", type=int, default=1_000)
    p.add_argument("--receiver", default="hang", help="hang | ok | refuse | an HTTP status")
    p.add_argument("--retries", type=int, default=0)
    p.add_argument("--timeout-ms", type=int, default=5_000)
    p.add_argument("--profile", help="py-spy the server during the storm into this file (collapsed stacks)")
    p = sub.add_parser("memory")
    p.add_argument("--n", type=int, default=100_000)
    p = sub.add_parser("keys")
    p.add_argument("--n", type=int, default=200_000, help="distinct keys, one task each")
    p.add_argument("--every", type=int, default=20_000, help="keys between RSS readings")
    args = parser.parse_args()
    {"submits": cmd_submits, "storm": cmd_storm, "memory": cmd_memory, "keys": cmd_keys}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
