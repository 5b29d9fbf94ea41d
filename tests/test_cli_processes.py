"""The command line as a shell sees it: real processes, exit codes and exact first lines.

No test sleeps to wait for a server: each waits, with a deadline, for the line or the
url file that says the server answers.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mockserver._command import command
from mockserver.testing.replay import FORMAT

DEADLINE_S = 60.0  # generous: CI machines are busy; a healthy run waits milliseconds


def mockserver(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mockserver", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


class Running:
    """A live `mockserver` process whose output lines can be waited for."""

    def __init__(self, *argv: str) -> None:
        self.proc = mockserver(*argv)
        self.lines: dict[str, queue.Queue[str | None]] = {"out": queue.Queue(), "err": queue.Queue()}
        self.seen: dict[str, list[str]] = {"out": [], "err": []}
        for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._pump, args=(stream, self.lines[name]), daemon=True).start()

    @staticmethod
    def _pump(stream, lines: queue.Queue[str | None]) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def wait_for(self, pattern: str, stream: str = "out") -> re.Match[str]:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                line = self.lines[stream].get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no line matching {pattern!r} on std{stream}: {self.seen[stream]}")
            self.seen[stream].append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def stop(self, how: int = signal.SIGTERM) -> tuple[int, list[str], list[str]]:
        """Send ``how``; the exit code and every line each stream printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(how)
        code = self.proc.wait(timeout=DEADLINE_S)
        for name in ("out", "err"):
            while (line := self.lines[name].get(timeout=DEADLINE_S)) is not None:
                self.seen[name].append(line)
        return code, self.seen["out"], self.seen["err"]


def wait_for_file(path: Path) -> str:
    deadline = time.monotonic() + DEADLINE_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.01)
    return path.read_text(encoding="utf-8")


# ------------------------------------------------------------------------- bad input

HELP = "; see 'mockserver {}--help'"
BAD_INPUT = [
    (
        ["serve", "--prot", "9000"],
        "mockserver serve: error: unrecognized arguments: --prot 9000 (did you mean --port?)" + HELP.format("serve "),
    ),
    (
        ["serve", "--log-level", "loud"],
        "mockserver serve: error: argument --log-level: invalid choice: 'loud' "
        "(choose from 'critical', 'error', 'warning', 'info', 'debug', 'trace')" + HELP.format("serve "),
    ),
    (
        ["serve", "--public-url", "notaurl"],
        "mockserver serve: error: argument --public-url: 'notaurl' is not an absolute http(s) URL such as "
        "http://mock:8000" + HELP.format("serve "),
    ),
    (
        ["serve", "--public-url", "ftp://mock/x"],
        "mockserver serve: error: argument --public-url: 'ftp://mock/x' is not an absolute http(s) URL such as "
        "http://mock:8000" + HELP.format("serve "),
    ),
    (
        ["serve", "--port", "eighty"],
        "mockserver serve: error: argument --port: invalid int value: 'eighty'" + HELP.format("serve "),
    ),
    (
        ["serve", "--url-file", "/no/such/dir/url"],
        "mockserver serve: error: --url-file /no/such/dir/url: no such directory",
    ),
    (["serve", "--scenario", "no-such.yaml"], "mockserver serve: error: no such file: no-such.yaml"),
    (
        ["replay", "--port", "x", "bundle.json"],
        "mockserver replay: error: argument --port: invalid int value: 'x'" + HELP.format("replay "),
    ),
    (
        ["replay", "/no/such/bundle.json"],
        "mockserver replay: error: cannot read /no/such/bundle.json: No such file or directory",
    ),
    (
        ["contract", "--dialect", "openai"],
        "mockserver contract: error: argument --dialect: invalid choice: 'openai' (choose from 'apixo', '123api')"
        + HELP.format("contract "),
    ),
    (
        ["contract", "--base-url", "localhost:8000"],
        "mockserver contract: error: argument --base-url: 'localhost:8000' is not an absolute http(s) URL such as "
        "http://mock:8000" + HELP.format("contract "),
    ),
    (
        ["report", "--url", "mock:8000"],
        "mockserver report: error: argument --url: 'mock:8000' is not an absolute http(s) URL such as "
        "http://mock:8000" + HELP.format("report "),
    ),
    (
        ["validate", "--schema", "scenario"],
        "mockserver validate: error: the following arguments are required: FILE" + HELP.format("validate "),
    ),
    (
        ["frobnicate"],
        "mockserver: error: argument COMMAND: invalid choice: 'frobnicate' "
        "(choose from 'serve', 'report', 'tail', 'validate', 'scenarios', 'replay', 'contract')" + HELP.format(""),
    ),
]


def test_bad_input_is_one_line_naming_it_and_exit_2():
    # All at once: each is a fresh interpreter, and none depends on another.
    procs = [(argv, line, mockserver(*argv)) for argv, line in BAD_INPUT]
    procs.append(
        (
            ["serve", "(MOCKSERVER_PUBLIC_URL=notaurl)"],
            "mockserver serve: error: public_url must be an absolute http(s) URL such as http://mock:8000, "
            "got 'notaurl'",
            mockserver("serve", "--port", "0", env={"MOCKSERVER_PUBLIC_URL": "notaurl"}),
        )
    )
    for argv, line, proc in procs:
        out, err = proc.communicate(timeout=DEADLINE_S)
        assert (proc.returncode, out, err) == (2, "", line + "\n"), argv


# ------------------------------------------------------------------ scenario problems

BAD_SCENARIO = """\
name: broken
seed: seven
rules:
  - when: {endpoint: submit}
    explode: 1
  - when: {model: nano-bananna}
    respond: {status: 500}
"""
PROBLEMS = [
    "seed: expected integer, got string 'seven'",
    "rules/0: unknown key 'explode'",
    "rules/1/when/model: no model matches 'nano-bananna' (did you mean 'nano-banana'?)",
]


def test_serve_validate_and_replay_list_every_scenario_problem_in_the_same_words(tmp_path):
    import yaml

    scenario = tmp_path / "broken.yaml"
    scenario.write_text(BAD_SCENARIO)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(
        json.dumps({"format": FORMAT, "scenario": yaml.safe_load(BAD_SCENARIO), "journal": [], "clock": {}})
    )
    serve = mockserver("serve", "--port", "0", "--scenario", str(scenario))
    validate = mockserver("validate", "--schema", "scenario", str(scenario))
    replay = mockserver("replay", "--port", "0", str(bundle))
    listed = [f"  {p}" for p in PROBLEMS]

    out, err = serve.communicate(timeout=DEADLINE_S)
    assert (serve.returncode, out) == (2, "")
    assert err.splitlines() == [f"mockserver serve: error: {scenario}: invalid scenario, 3 problems:", *listed]
    out, err = validate.communicate(timeout=DEADLINE_S)
    assert (validate.returncode, err) == (1, "")
    assert out.splitlines() == [f"{scenario}: 3 problems (scenario)", *listed]
    out, err = replay.communicate(timeout=DEADLINE_S)
    assert (replay.returncode, out) == (2, "")
    assert err.splitlines() == [f"mockserver replay: error: {bundle}: invalid scenario, 3 problems:", *listed]


# --------------------------------------------------------------- running and stopping


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_answers_the_request_in_flight_then_stops_with_exit_0(tmp_path, how):
    scenario = tmp_path / "slow.yaml"
    scenario.write_text("rules:\n  - when: {endpoint: balance}\n    delay: {ms: 300}\n")
    url_file = tmp_path / "url"
    server = Running(
        "serve", "--port", "0", "--scenario", str(scenario), "--url-file", str(url_file), "--log-level", "trace"
    )
    try:
        url = wait_for_file(url_file)
        assert url.endswith("\n") and url.count("\n") == 1
        url = url.strip()
        assert server.wait_for(r"listening on (\S+)")[1] == url
        answers: list[httpx.Response] = []
        asking = threading.Thread(
            target=lambda: answers.append(
                httpx.get(f"{url}/api/v1/apikeys/current-balance", headers={"Authorization": "Bearer k"}, timeout=30)
            )
        )
        asking.start()
        # uvicorn's trace log: the app has the request (the delay holds its answer back).
        server.wait_for(r"ASGI \[\d+\] Started scope=\{'type': 'http'.*current-balance", stream="err")
    finally:
        code, out, err = server.stop(how)
    asking.join(DEADLINE_S)
    assert [a.status_code for a in answers] == [200]
    assert code == 0, err
    assert out[-1] == "mockserver stopped"
    assert not any("Traceback" in line for line in err)
    assert not url_file.exists()  # a later script must not read a stopped server's URL


# What a server imports only once something needs it: each costs CPU at every start (jsonschema
# ~0.1 s; docs/performance.md). A start that loads no scenario, validates nothing and upgrades no
# connection imports none of them.
NOT_AT_START = ("jsonschema", "referencing", "regex", "h11", "websockets", "wsproto", "httpx")
REPORT_MODULES_AT_EXIT = f"""
import atexit, runpy, sys
atexit.register(lambda: print("imported:", sorted({{m.split(".")[0] for m in sys.modules}} & set({NOT_AT_START!r}))))
sys.argv[0] = "mockserver"
runpy.run_module("mockserver", run_name="__main__", alter_sys=True)
"""


def test_a_server_imports_no_validator_pattern_engine_or_websocket_library_until_used(tmp_path):
    url_file = tmp_path / "url"
    proc = subprocess.Popen(
        [sys.executable, "-c", REPORT_MODULES_AT_EXIT, "serve", "--port", "0", "--url-file", str(url_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = wait_for_file(url_file).strip()
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/__admin/health").status_code == 200
            poll = client.get("/api/v1/statusTask/nano-banana?taskId=nope", headers={"Authorization": "Bearer k"})
            assert poll.status_code == 404 and poll.json()["message"] == "Task not found: nope", poll.text
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, err
    assert out.splitlines()[-2:] == ["mockserver stopped", "imported: []"], out + err


def test_access_log_alone_prints_access_lines_and_the_banners_curl_line_runs_as_printed():
    server = Running("serve", "--port", "0", "--access-log")
    try:
        url = server.wait_for(r"listening on (\S+)")[1]
        assert server.wait_for(r"^Try:$")
        curl = server.wait_for(r"^  (curl .*)$")[1]
        curl_123 = server.wait_for(r"^  (curl .*/v1/images/generations .*)$")[1]
        assert httpx.get(f"{url}/__admin/health", timeout=30).status_code == 200
        server.wait_for(r'"GET /__admin/health HTTP/1\.1" 200')
        if shutil.which("curl"):
            done = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=DEADLINE_S)
            assert done.returncode == 0 and json.loads(done.stdout)["code"] == 200, done
            server.wait_for(r'"POST /api/v1/generateTask/\S+ HTTP/1\.1" 200')
            done = subprocess.run(["bash", "-c", curl_123], capture_output=True, text=True, timeout=DEADLINE_S)
            assert done.returncode == 0 and json.loads(done.stdout)["status"] == "queued", done
    finally:
        code, out, err = server.stop(signal.SIGTERM)
    assert code == 0, err


def test_printed_commands_run_without_an_activated_venv(tmp_path):
    # What the plugin prints before `replay PATH`: runnable from a shell whose PATH has no venv.
    env = {**os.environ, "PATH": os.defpath}
    done = subprocess.run(
        [*shlex.split(command()), "--version"], capture_output=True, text=True, env=env, timeout=DEADLINE_S
    )
    assert done.returncode == 0 and done.stdout.startswith("mockserver "), done


# ------------------------------------------------------------------------ contract


def test_contract_against_a_mock_with_an_admin_token_names_the_token_not_the_credits(tmp_path):
    def contract(url: str, *options: str) -> subprocess.Popen:
        return mockserver("contract", "--base-url", url, *options, "--", "-q", "-rs", "--poll-interval", "0.02")

    def finished(run: subprocess.Popen) -> subprocess.CompletedProcess:
        out, err = run.communicate(timeout=300)
        return subprocess.CompletedProcess(run.args, run.returncode, out, err)

    token = ["--admin-token", "t0ken"]
    # Without the token the suite cannot move the clock: it polls a fast real one. With it, a manual one.
    fast = Running("serve", "--port", "0", "--time-scale", "1000", *token, "--url-file", str(tmp_path / "fast"))
    manual = Running("serve", "--port", "0", "--clock", "manual", *token, "--url-file", str(tmp_path / "manual"))
    runs: list[subprocess.Popen] = []
    try:
        # Both runs at once (each against its own server): most of each is interpreter start-up.
        runs.append(contract(wait_for_file(tmp_path / "fast").strip()))
        runs.append(contract(wait_for_file(tmp_path / "manual").strip(), *token))
        locked, opened = [finished(run) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.communicate()
        stopped = [server.stop(signal.SIGTERM) for server in (fast, manual)]
    assert [code for code, _, _ in stopped] == [0, 0], stopped
    assert locked.returncode == 0, locked.stdout + locked.stderr
    skips = [line for line in locked.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skips and all("which wants a token: pass --admin-token" in line for line in skips), skips
    assert "--allow-spend" not in locked.stdout
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert "skipped" not in opened.stdout and " passed" in opened.stdout


def test_contract_on_an_unreachable_server_is_exit_2():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: the port is ours and refuses connections
        port = sock.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "mockserver", "contract", "--base-url", f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )
    assert done.returncode == 2 and f"cannot reach http://127.0.0.1:{port}" in done.stdout + done.stderr
