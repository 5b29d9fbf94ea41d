"""Fuzzing speed: Hypothesis examples per second, with a sturdy client, three ways; and how fast a failure shrinks.

    python bench/bench_fuzz.py [--examples 200] [--runs 5] [--min-seconds 2] [--only in-process,http,draw,shrink]

The flow is the one users run: ``scenarios(models=["nano-banana"])`` drawn by Hypothesis
(generate phase only, no database), and for each example the mock loaded with it and
``examples/apixo_client.py``'s Client (submit with an Idempotency-Key, poll with backoff,
download; retries 429, 5xx and broken connections; honours Retry-After) sleeping by
``mock.advance``. Paths:

- in-process: ``MockApi.in_process()``, the app driven in this thread, no sockets;
- http: the pytest plugin's setup, a uvicorn server in a thread on loopback port 0;
- draw: drawing the scenarios alone, no mock (the ceiling the other two approach);
- shrink: how long a failure takes to shrink, in-process and over HTTP. The client is
  ``NaiveClient`` (the docs' failing example: ``raise_for_status()`` on every answer, no
  retries); one test per seed (1 to ``--runs``), each a fresh Hypothesis run to the minimal
  failing scenario, with the phases generate and shrink, then with explain as well (on by
  default in Hypothesis: it traces the shrink's examples to say which lines only failing
  ones ran). Printed: examples until the first failure, shrink steps (examples run after it),
  seconds from the first failure to the end, and the rules left in the minimal scenario
  (medians over the seeds).

Each path is warmed up (20 examples, untimed: imports, first draws), then runs ``--runs``
times. A run repeats the ``--examples``-example test until ``--min-seconds`` have passed (the
draw path takes ~0.3 s for 200, too short to time on a shared machine) and counts the
examples of all its repeats; each repeat is what a user's test of that many examples does.
The median examples/s is printed with every run, the requests per example, and the machine.
Beside wall time, examples per CPU-second of this process (the server thread included): on a
busy machine the wall clock measures the other processes too, while CPU time is what the run
itself cost. Numbers go in docs/performance.md.

This VM's speed swings by up to half within an hour, so the script times a fixed pure-Python loop
(best of 5) before the first path and after the last: runs whose loops differ were made at
different speeds, and only runs made at the same speed compare.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "examples")]

from apixo_client import Client, NaiveClient, TaskFailed  # type: ignore[import-not-found]  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from mockserver.strategies import scenarios  # noqa: E402
from mockserver.testing import MockApi  # noqa: E402

JOB = ("nano-banana", {"mode": "text-to-image", "prompt": "a red fox in the snow"})
PATHS = ("in-process", "http", "draw", "shrink")


def _settings(examples: int, phases: tuple[Phase, ...] = (Phase.generate,)) -> settings:
    return settings(
        max_examples=examples,
        phases=phases,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )


def example(mock: MockApi, scenario: dict, client_class: type[Client] = Client) -> None:
    """One example of the flow: ``mock`` loaded with ``scenario``, the job through ``client_class``,
    which sleeps by ``mock.advance``; a failed task must carry its code, a finished one its files."""
    mock.load(scenario)  # and reset: each example starts from a clean mock
    with mock.client() as http:
        client = client_class(http, mock.api_key, sleep=lambda seconds: mock.advance(ms=round(seconds * 1000)))
        try:
            result = client.generate(*JOB)
        except TaskFailed as failed:
            assert failed.code
        else:
            assert result.files


def fuzz(mock: MockApi, examples: int) -> tuple[float, float, int]:
    """Wall and CPU seconds for ``examples`` examples of the client against ``mock``, and requests made."""
    counts = {"requests": 0}

    @_settings(examples)
    @given(scenario=scenarios(models=["nano-banana"]))
    def run(scenario: dict) -> None:
        example(mock, scenario)
        counts["requests"] += len(mock.app.state.mock.journal)  # read in memory: no extra request

    started, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - started, time.process_time() - cpu, counts["requests"]


def draw_only(examples: int) -> tuple[float, float, int]:
    @_settings(examples)
    @given(scenario=scenarios(models=["nano-banana"]))
    def run(scenario: dict) -> None:
        assert scenario["name"] == "fuzz"

    started, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - started, time.process_time() - cpu, 0


def repeated(
    runner: Callable[[int], tuple[float, float, int]], examples: int, min_seconds: float
) -> tuple[int, float, float, int]:
    """Examples, wall and CPU seconds, requests: ``runner`` again and again until ``min_seconds`` of wall time."""
    done, wall, cpu, requests = 0, 0.0, 0.0, 0
    while done == 0 or wall < min_seconds:
        w, c, r = runner(examples)
        done, wall, cpu, requests = done + examples, wall + w, cpu + c, requests + r
    return done, wall, cpu, requests


def shrink(mock: MockApi, examples: int, at_seed: int, phases: tuple[Phase, ...]) -> tuple[int, int, float, int]:
    """NaiveClient against ``mock`` from Hypothesis seed ``at_seed`` to its minimal failure: examples
    until the first failure, shrink steps after it, seconds from its end to the report, rules left."""
    runs: list[tuple[float, bool, int]] = []  # (end, failed, rules) of each example

    @seed(at_seed)
    @_settings(examples, phases)
    @given(scenario=scenarios(models=["nano-banana"]))
    def run(scenario: dict) -> None:
        failed = True
        try:
            example(mock, scenario, NaiveClient)
            failed = False
        finally:
            runs.append((time.perf_counter(), failed, len(scenario.get("rules", []))))

    try:
        run()
    except Exception:  # the minimal failure, as pytest would report it
        reported = time.perf_counter()
    else:
        raise AssertionError(f"NaiveClient passed {examples} examples from seed {at_seed}")
    first = next(i for i, (_, failed, _) in enumerate(runs) if failed)
    minimal = [rules for _, failed, rules in runs if failed][-1]
    return first + 1, len(runs) - first - 1, reported - runs[first][0], minimal


def in_process(examples: int) -> tuple[float, float, int]:
    with MockApi.in_process() as mock:
        return fuzz(mock, examples)


@contextlib.contextmanager
def served() -> Iterator[MockApi]:
    """As the pytest plugin runs it: one server thread on loopback, a handle on it."""
    from mockserver.http.app import create_app
    from mockserver.http.server import ServerThread

    app = create_app(clock="manual", host="127.0.0.1", port=0)
    with ServerThread(app) as server, MockApi(server.url, app=app) as mock:
        yield mock
    if server.error is not None:
        raise server.error


def over_http(examples: int) -> tuple[float, float, int]:
    with served() as mock:
        return fuzz(mock, examples)


def shrinks(runs: int, examples: int) -> None:
    """Print the shrink figures, in-process and over HTTP, seeds 1 to ``runs`` (seed 0 warms up)."""
    for phases in ((Phase.generate, Phase.shrink), (Phase.generate, Phase.shrink, Phase.explain)):
        print(f"shrink, phases {', '.join(p.name for p in phases)}:")
        for path, open_mock in (("in-process", MockApi.in_process), ("http", served)):
            with open_mock() as mock:
                shrink(mock, examples, 0, phases)
                measured = [shrink(mock, examples, s, phases) for s in range(1, runs + 1)]
            found, steps, seconds, rules = (statistics.median(m[i] for m in measured) for i in range(4))
            each = ", ".join(f"{m[2]:.2f}" for m in measured)
            print(
                f"  {path:11} {seconds:6.3f} s to shrink, {steps:.0f} steps, after {found:.0f} examples to fail;"
                f" {rules:.0f} rule left  (seconds per seed: {each})"
            )


def _reference_work() -> int:
    counts: dict[int, int] = {}
    for i in range(200_000):
        counts[i & 1023] = counts.get(i & 1023, 0) + i
    return len(counts)


def reference_ms() -> float:
    """The best of 5 timings of a fixed pure-Python loop, in ms: the machine's speed right now."""
    return min(timeit.repeat(_reference_work, number=1, repeat=5)) * 1000


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; load average {load}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--min-seconds", type=float, default=2.0, help="repeat each run's test until this much wall time"
    )
    parser.add_argument("--only", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    args = parser.parse_args()
    chosen = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PATHS]
    if unknown:
        parser.error(f"unknown path {unknown[0]!r}; known: {', '.join(PATHS)}")
    runners: dict[str, Callable[[int], tuple[float, float, int]]] = {
        "in-process": in_process,
        "http": over_http,
        "draw": draw_only,
    }
    print(f"machine: {machine()}")
    before = reference_ms()
    print(f"reference loop: {before:.1f} ms (best of 5; lower is a faster machine)")
    if set(chosen) - {"shrink"}:
        print(
            f"{args.examples} examples of scenarios(models=['nano-banana']), generate phase, repeated to"
            f" {args.min_seconds:g} s a run, median of {args.runs} runs"
        )
    for path in chosen:
        if path == "shrink":
            print(f"NaiveClient until it fails (at most {args.examples} examples), then shrunk; seeds 1 to {args.runs}")
            shrinks(args.runs, args.examples)
            continue
        runners[path](min(20, args.examples))  # warm-up: imports, strategies' first draws
        rates, cpu_rates, per_example = [], [], []
        for _ in range(args.runs):
            done, elapsed, cpu, requests = repeated(runners[path], args.examples, args.min_seconds)
            rates.append(done / elapsed)
            cpu_rates.append(done / cpu)
            per_example.append(requests / done)
        runs = ", ".join(f"{r:.0f}" for r in rates)
        extra = f", {statistics.median(per_example):.1f} client requests per example" if requests else ""
        print(
            f"{path:11} {statistics.median(rates):7.1f} examples/s, {statistics.median(cpu_rates):7.1f} per CPU-s"
            f"  (runs: {runs}{extra})"
        )
    after = reference_ms()
    changed = " - the machine's speed changed during the run" if abs(after - before) > 0.15 * before else ""
    print(f"reference loop after: {after:.1f} ms{changed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
