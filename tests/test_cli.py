"""The command line: settings, and a real `mockserver serve` process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from mockserver.cli import banner, build_parser, main, settings_from_args
from mockserver.core.config import Settings, parse_api_key
from mockserver.core.words import STATUS, SUBMIT
from mockserver.dialects.protocol import Route


def test_flags_override_env_over_defaults():
    args = build_parser().parse_args(["serve", "--port", "0", "--api-key", "a:5", "--api-key", "b"])
    s = settings_from_args(args, {"MOCKSERVER_SEED": "9", "MOCKSERVER_PORT": "1234", "MOCKSERVER_CLOCK": "manual"})
    assert (s.host, s.port, s.seed, s.clock) == ("127.0.0.1", 0, 9, "manual")
    assert s.api_keys == {"a": 5.0, "b": None}
    s = settings_from_args(build_parser().parse_args(["serve"]), {"MOCKSERVER_API_KEYS": "x:1,y"})
    assert s.api_keys == {"x": 1.0, "y": None} and s.port == 8000


@pytest.mark.parametrize("spec", ["", ":5", "k:abc", "k:-1"])
def test_bad_api_key_specs(spec):
    with pytest.raises(ValueError):
        parse_api_key(spec)


def test_bad_env_value_is_a_clear_error(capsys):
    os.environ["MOCKSERVER_PORT"] = "eighty"
    try:
        assert main(["serve"]) == 2
    finally:
        del os.environ["MOCKSERVER_PORT"]
    assert "MOCKSERVER_PORT" in capsys.readouterr().err


def test_each_command_imports_only_what_it_uses():
    """The command line, and what `tail` and `report` import to print, import no validator, YAML
    parser, server or service: each is CPU at every run (docs/performance.md)."""
    code = """
import sys
heavy = ("jsonschema", "yaml", "regex", "starlette", "uvicorn", "httpx", "mockserver.core.service")
def loaded():
    return sorted(h for h in heavy if h in sys.modules)
import mockserver.cli
print(loaded())
import mockserver.http.events  # `tail`, besides httpx
print(loaded())
import mockserver.report  # `report`, besides httpx
print(loaded())
mockserver.cli._skip_httpx_cli()  # what report, tail and contract do before importing httpx
import httpx
print(sorted(m for m in ("rich", "click", "pygments") if m in sys.modules), callable(httpx.get))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "[]", "[]", "[] True"]


def test_report_and_tail_verify_tls_for_https_only():
    from mockserver.cli import _verify

    # verify=False where there is no TLS: plain http (an https proxy is still verified by httpcore).
    assert [_verify(u) for u in ("http://127.0.0.1:8000", "HTTP://mock", "https://mock", "HTTPS://m")] == [
        False,
        False,
        True,
        True,
    ]


def test_serve_prints_url_and_curl_then_stops_on_ctrl_c(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--clock", "manual", "--api-key", "sk_demo:50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert m, first
        url = m.group(1)
        rest = [proc.stdout.readline() for _ in range(3)]
        assert any("curl" in line and "sk_demo" in line for line in rest)
        r = httpx.post(
            f"{url}/api/v1/generateTask/nano-banana",
            json={"input": {"mode": "text-to-image", "prompt": "a fox"}},
            headers={"Authorization": "Bearer sk_demo"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert httpx.get(f"{url}/__admin/health", timeout=10).json()["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_the_banner_submits_on_each_dialects_submit_route():
    default = banner("http://h:1", Settings(api_keys={"sk it's": 5}))
    # The first built-in dialect is APIXO: its route and example body, the key shell-quoted.
    assert (
        "  curl -s -X POST http://h:1/api/v1/generateTask/nano-banana -H 'Authorization: Bearer sk it'\"'\"'s' "
        "-H 'Content-Type: application/json' "
        """-d '{"input": {"mode": "text-to-image", "prompt": "a red fox in the snow"}}'"""
    ) in default.splitlines()
    # Then one line per other enabled dialect: 123API's images route, the model in the body.
    assert (
        "  curl -s -X POST http://h:1/v1/images/generations -H 'Authorization: Bearer sk it'\"'\"'s' "
        "-H 'Content-Type: application/json' "
        """-d '{"model": "gpt-4o-image", "prompt": "a red fox in the snow", "size": "1:1", "n": 1}'"""
    ) in default.splitlines()

    class Other:
        name = "other"
        routes = (Route(STATUS, "GET", "/v2/jobs/{id}", "job"), Route(SUBMIT, "PUT", "/v2/{kind}/jobs", "make"))

        def submit_example(self):
            return {"kind": "images"}, {"model": "m1", "prompt": "a fox"}

    lines = banner("http://h:1", Settings(dialects=[Other()])).splitlines()
    assert lines[1:3] == [
        "Try:",
        "  curl -s -X PUT http://h:1/v2/images/jobs -H 'Authorization: Bearer sk_test' "
        """-H 'Content-Type: application/json' -d '{"model": "m1", "prompt": "a fox"}'""",
    ]


def test_port_in_use_is_a_clear_error(capsys):
    from mockserver.http.server import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    finally:
        sock.close()
    assert "cannot listen" in capsys.readouterr().err


def test_a_reader_that_stops_early_is_not_an_error():
    # `mockserver scenarios | head -1`, made certain: the reader is gone before a line is written.
    read, write = os.pipe()
    os.close(read)
    out = subprocess.run(
        [sys.executable, "-m", "mockserver", "scenarios"], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60
    )
    os.close(write)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "serve" in capsys.readouterr().err


def test_dialect_flag_and_environment_restrict_the_wire_formats(capsys, monkeypatch):
    from mockserver.http.app import create_app

    args = build_parser().parse_args(["serve", "--dialect", "apixo"])
    settings = settings_from_args(args, environ={})
    assert settings.dialects == "apixo"
    assert list(create_app(settings).state.mock.dialects) == ["apixo"]
    assert (
        settings_from_args(build_parser().parse_args(["serve"]), {"MOCKSERVER_DIALECTS": "apixo"}).dialects == "apixo"
    )
    assert main(["serve", "--dialect", "nope", "--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == "mockserver serve: error: unknown dialect 'nope' (known: apixo, 123api)"
    monkeypatch.setenv("MOCKSERVER_DIALECTS", "apixo,bogus")
    assert main(["serve", "--port", "0"]) == 2
    assert "unknown dialect 'bogus'" in capsys.readouterr().err


def test_serve_makes_full_collections_rarer_and_a_server_thread_does_not(monkeypatch):
    """``mockserver serve`` sets the collector's thresholds for a serving process; the
    ServerThread of a test run (same process as the tests) leaves them alone."""
    import gc
    import socket

    from mockserver import cli
    from mockserver.http import server
    from mockserver.http.app import create_app

    seen = []

    class FakeServer:
        def run(self, sockets):
            seen.append(gc.get_threshold())

    before = gc.get_threshold()
    monkeypatch.setattr(server, "make_server", lambda app, **kw: FakeServer())
    sock = socket.socket()
    try:
        assert cli._run(object(), sock, "http://x") == 0
    finally:
        gc.set_threshold(*before)
    assert seen == [server.SERVE_GC_THRESHOLDS] and server.SERVE_GC_THRESHOLDS != before
    monkeypatch.undo()
    with server.ServerThread(create_app(clock="manual")) as running:
        assert httpx.get(f"{running.url}/__admin/health").status_code == 200
        assert gc.get_threshold() == before
