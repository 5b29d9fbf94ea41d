"""contract_tests/ itself: it passes against the mock and fails against broken servers.

Each run is a real `pytest contract_tests` session, run in this process when a test first reads
it (each against its own server; the live ones against `mockserver serve` processes), and the
tests below read their results. In this process, not as 10 subprocesses: each subprocess paid
seconds of interpreter and import start-up for about a second of tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from mockserver.core.catalog import Catalog, load_catalog
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread

ROOT = Path(__file__).resolve().parent.parent.parent
KEY = "sk_contract_ci"


# ----------------------------------------------------------------- broken servers


def rewrite_json(app, path_part: str, change):
    """``app`` with its JSON answers on paths containing ``path_part`` passed through ``change``."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http" or path_part not in scope["path"]:
            await app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if body.strip():  # HEAD answers have none
                body = json.dumps(change(start["status"], json.loads(body))).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, capture)

    wrapped.state = app.state
    return wrapped


def without_cost_time(status: int, body: dict) -> dict:
    """A field missing: success answers lose costTime."""
    if status == 200 and body.get("data", {}).get("state") == "success":
        del body["data"]["costTime"]
    return body


def states_swapped(status: int, body: dict) -> dict:
    """A wrong state order: processing reported before pending (each answer alone is valid)."""
    data = body.get("data") or {}
    swap = {"pending": "processing", "processing": "pending"}
    if status == 200 and data.get("state") in swap:
        data["state"] = swap[data["state"]]
    return body


def error_without_code(status: int, body: dict) -> dict:
    """The other error style some providers document: {"error": ..., "message": ...}."""
    if status >= 400:
        return {
            "error": (body.get("data") or {}).get("error") or body["message"],
            "message": body["message"],
        }
    return body


def statuses_swapped_123api(status: int, body: dict) -> dict:
    """123API's words, the wrong order: processing reported before queued (each answer is valid)."""
    swap = {"queued": "processing", "processing": "queued"}
    if status == 200 and body.get("status") in swap:
        body["status"] = swap[body["status"]]
    return body


def without_admin(app):
    """A server with no /__admin: the suite cannot move its clock."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/__admin"):
            body = b'{"code":404,"message":"Not found","data":null}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    wrapped.state = app.state
    return wrapped


def poll_driven_catalog() -> Catalog:
    """Every model ends after a few polls: a suite that cannot move the clock need not wait."""
    return Catalog(
        {
            m.name: dataclasses.replace(m, progression="polls", pending_polls=1, processing_polls=1)
            for m in load_catalog()
        }
    )


# ------------------------------------------------------------------------ the runs


@dataclasses.dataclass
class Run:
    returncode: int
    report: Path
    out: str = ""

    def outcomes(self) -> dict[str, str]:
        """test name -> passed | failed | skipped | error, from the run's JUnit XML."""
        found = {}
        for case in ElementTree.parse(self.report).iter("testcase"):
            kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            found[case.get("name")] = {"failure": "failed"}.get(kinds[0], kinds[0]) if kinds else "passed"
        return found

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes().values() if o == outcome)


def _suite(report_dir: Path, name: str, *args: str) -> Run:
    """One `pytest contract_tests` session in this process, its terminal output kept."""
    report = report_dir / f"{name}.xml"
    argv = [
        str(ROOT / "contract_tests"), f"--rootdir={ROOT}", "-q", "-p", "no:cacheprovider", "-rfEs",
        f"--junitxml={report}",
        # Plugins the suite does not use.
        "-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio",
        *args,
    ]  # fmt: skip
    before = set(sys.modules)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = pytest.main(argv)
    finally:
        # The next session imports the suite afresh, as a new process would.
        for module in set(sys.modules) - before:
            if module == "contract_tests" or module.startswith("contract_tests."):
                del sys.modules[module]
    return Run(int(code), report, out.getvalue())


def _serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--api-key", KEY, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _url_of(serve: subprocess.Popen) -> str:
    banner = serve.stdout.readline()
    m = re.search(r"listening on (http://\S+)", banner)
    assert m, banner + serve.stderr.read()
    return m.group(1)


# What each run checks: the server it runs against (none: the suite starts the mock itself; a
# broken app: served in a thread; "serve": a `mockserver serve` process), and the suite's options.
NO_ADMIN = ("--api-key", KEY, "--poll-interval", "0")
API123 = ("--dialect", "123api")
RUNS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "default": (None, ()),
    "no-admin-spend": ("no-admin", (*NO_ADMIN, "--allow-spend")),
    "missing-field": ("missing-field", ()),
    "wrong-order": ("wrong-order", ()),
    # Narrower runs, enough for what their tests look at.
    "no-admin": ("no-admin", (*NO_ADMIN, "-k", "lifecycle_only_moves_forward or unknown_task_is_404")),
    "error-envelope": ("error-envelope", ("-k", "test_errors or balance_is")),
    "123api-default": (None, API123),
    "123api-wrong-order": ("123api-wrong-order", (*API123, "-k", "lifecycle_only_moves_forward or models_list")),
    "live": ("serve", ("--api-key", KEY)),
    "123api-live": ("serve 123api", (*API123, "--api-key", KEY)),
}


def broken_app(name: str):
    """The app a broken-server run checks."""
    if name == "missing-field":
        return rewrite_json(create_app(clock="manual"), "/statusTask/", without_cost_time)
    if name == "wrong-order":
        return rewrite_json(create_app(clock="manual"), "/statusTask/", states_swapped)
    if name == "123api-wrong-order":
        return rewrite_json(create_app(clock="manual", dialects="123api"), "/v1/tasks/", statuses_swapped_123api)
    if name == "error-envelope":
        return rewrite_json(create_app(clock="manual"), "/api/", error_without_code)
    assert name == "no-admin", name
    # Like a real endpoint: no /__admin, real credits on one key, tasks end by themselves.
    return without_admin(create_app(clock="manual", api_keys={KEY: 10_000}, catalog=poll_driven_catalog()))


class Runs:
    """The contract-suite runs, each made the first time a test reads it, then kept.

    Per process, not per module: under pytest-xdist this module's tests may be spread over workers
    (and over more than one stretch on one worker), and each worker makes only the runs its tests read.
    """

    def __init__(self, reports: Path) -> None:
        self.reports = reports
        self.done: dict[str, Run] = {}
        self.urls: dict[str, str] = {}
        self.servers: list[ServerThread] = []
        self.processes: list[subprocess.Popen] = []

    def __getitem__(self, name: str) -> Run:
        if name not in self.done:
            server, args = RUNS[name]
            base = () if server is None else ("--base-url", self.url(server))
            self.done[name] = _suite(self.reports, name, *base, *args)
        return self.done[name]

    def url(self, server: str) -> str:
        if server not in self.urls:
            if server.startswith("serve"):
                # APIXO's `mockserver serve` (the default, both dialects on) or a 123API-only one.
                process = _serve(*(["--dialect", "123api"] if server == "serve 123api" else []))
                self.processes.append(process)
                self.urls[server] = _url_of(process)
            else:
                thread = ServerThread(broken_app(server)).start()
                self.servers.append(thread)
                self.urls[server] = thread.url
        return self.urls[server]

    def close(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=20)
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Every contract-suite run this module's tests read, made on first use."""
    made = Runs(tmp_path_factory.mktemp("contract-runs"))
    try:
        yield made
    finally:
        made.close()


def test_the_suite_has_at_least_15_tests_and_all_pass_against_a_live_mockserver_serve(runs):
    run = runs["live"]
    assert run.returncode == 0, run.out
    assert run.count("passed") >= 15 and run.count("skipped") == 0 and run.count("failed") == 0, run.out


def test_by_default_it_starts_the_mock_itself_and_passes(runs):
    run = runs["default"]
    assert run.returncode == 0, run.out
    assert run.count("passed") >= 15 and run.count("skipped") == 0, run.out


def test_it_fails_when_a_field_is_missing(runs):
    run = runs["missing-field"]
    assert run.returncode == 1, run.out
    outcomes = run.outcomes()
    # The response hook catches it on the first success answer, whatever the test was about...
    assert "$.data.costTime: missing required field" in run.out
    # ...and the suite's own checks say so too.
    assert outcomes["test_each_state_has_exactly_its_fields"] in ("failed", "error")
    # Answers that do not involve a finished task still pass.
    assert outcomes["test_unknown_task_is_404"] == "passed"


def test_it_fails_when_states_come_in_the_wrong_order(runs):
    run = runs["wrong-order"]
    assert run.returncode == 1, run.out
    outcomes = run.outcomes()
    assert outcomes["test_lifecycle_only_moves_forward"] == "failed", run.out
    assert outcomes["test_each_state_is_seen_in_order_when_the_clock_moves"] == "failed", run.out
    assert "states went backwards: ['processing', 'pending'" in run.out
    assert outcomes["test_balance_is_a_non_negative_number"] == "passed"


def test_it_fails_on_another_error_envelope(runs):
    run = runs["error-envelope"]
    assert run.returncode == 1, run.out
    outcomes = run.outcomes()
    assert outcomes["test_unknown_task_is_404"] == "failed"
    assert outcomes["test_missing_input_is_400_naming_it"] == "failed"
    assert "$.code: missing required field" in run.out
    assert outcomes["test_balance_is_a_non_negative_number"] == "passed"


def test_without_admin_spending_and_clock_tests_are_skipped(runs):
    run = runs["no-admin"]
    assert run.returncode == 0, run.out
    outcomes = run.outcomes()
    assert outcomes["test_lifecycle_only_moves_forward"] == "skipped"
    assert outcomes["test_unknown_task_is_404"] == "passed"
    assert "pass --allow-spend" in run.out


def test_allow_spend_runs_them_by_polling_and_only_clock_tests_skip(runs):
    run = runs["no-admin-spend"]
    assert run.returncode == 0, run.out
    outcomes = run.outcomes()
    assert outcomes["test_lifecycle_only_moves_forward"] == "passed"
    assert outcomes["test_result_json_parses_and_every_url_downloads"] == "passed"
    skipped = sorted(t for t, outcome in outcomes.items() if outcome == "skipped")
    assert skipped == [
        "test_a_failed_task_has_the_failed_fields",
        "test_a_failed_task_is_refunded",
        "test_a_task_the_balance_cannot_pay_is_402_and_no_task",
        "test_each_state_is_seen_in_order_when_the_clock_moves",
    ], run.out
    assert "/__admin (clock control)" in run.out


# ---------------------------------------------------------------------- --dialect 123api


def test_dialect_123api_runs_only_its_tests_and_passes_started_and_live(runs):
    for name in ("123api-default", "123api-live"):
        run = runs[name]
        assert run.returncode == 0, run.out
        outcomes = run.outcomes()
        assert run.count("passed") >= 25 and run.count("skipped") == 0 and run.count("failed") == 0, run.out
        # Only 123API's tests: APIXO's are deselected, not skipped.
        assert "test_a_failed_task_carries_its_error_and_message" in outcomes
        assert "test_a_rate_limit_is_429_with_retry_after_in_body_and_header" in outcomes
        assert "test_missing_input_is_400_naming_it" not in outcomes
        assert re.search(r"\d+ deselected", run.out), run.out
    # ...and the APIXO runs have none of 123API's.
    assert "test_models_list_names_the_model_in_use" not in runs["default"].outcomes()


def test_dialect_123api_fails_when_states_come_in_the_wrong_order(runs):
    run = runs["123api-wrong-order"]
    assert run.returncode == 1, run.out
    outcomes = run.outcomes()
    assert outcomes["test_lifecycle_only_moves_forward"] == "failed", run.out
    assert "states went backwards: ['processing', 'queued'" in run.out
    assert outcomes["test_models_list_names_the_model_in_use"] == "passed"


def test_mockserver_contract_passes_dialect_to_the_suite(monkeypatch):
    from mockserver.cli import main
    from mockserver.contract import suite

    seen: dict = {}
    monkeypatch.setattr(suite, "run_suite", lambda **options: seen.update(options) or 0)
    assert main(["contract", "--dialect", "123api", "--base-url", "http://127.0.0.1:9"]) == 0
    assert seen["dialect"] == "123api"
    args = suite.suite_args(**seen)
    assert args[args.index("--dialect") + 1] == "123api"
    assert "--dialect" not in suite.suite_args()  # the suite's own default: the first built-in dialect
