"""create_app(): a bug inside the mock is kept for the test harness and answered with a 500 envelope."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread


def _break_balance(app) -> None:
    def boom(key):
        raise RuntimeError("the balance is on fire")

    app.state.mock.balance = boom


def _check_bug_was_kept_and_answered(app, response: httpx.Response) -> None:
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == 500 and "RuntimeError: the balance is on fire" in body["data"]["error"]
    assert [type(e).__name__ for e in app.state.errors] == ["RuntimeError"]
    (entry,) = app.state.mock.journal.entries()
    assert entry.status == 500 and "the balance is on fire" in entry.error


def test_a_bug_in_process_is_kept_answered_500_and_reraised():
    app = create_app(clock="manual")
    _break_balance(app)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/v1/apikeys/current-balance", headers={"Authorization": "Bearer k"})
    _check_bug_was_kept_and_answered(app, r)
    with TestClient(app) as client, pytest.raises(RuntimeError, match="on fire"):
        client.get("/api/v1/apikeys/current-balance", headers={"Authorization": "Bearer k"})


def test_a_bug_on_a_live_server_is_kept_and_answered_500():
    app = create_app(clock="manual")
    _break_balance(app)
    with ServerThread(app) as server:
        r = httpx.get(f"{server.url}/api/v1/apikeys/current-balance", headers={"Authorization": "Bearer k"})
    _check_bug_was_kept_and_answered(app, r)


def test_an_injected_fault_in_process_is_not_a_bug():
    app = create_app(clock="manual", scenario={"rules": [{"when": {"endpoint": "balance"}, "fault": "empty_response"}]})
    with TestClient(app) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/api/v1/apikeys/current-balance", headers={"Authorization": "Bearer k"})
    assert list(app.state.errors) == []
    (entry,) = app.state.mock.journal.entries()
    assert entry.status == 0 and entry.fault == "empty_response" and entry.error is None


def test_a_server_thread_makes_ast_parse_take_a_lock_where_cpython_needs_it():
    """Before 3.13, two threads in ast.parse at once can raise SystemError (gh-106905): a server
    thread formatting a traceback (3.11's carets parse) while pytest builds a failure report did,
    once, in CI. Starting a ServerThread serialises ast.parse there; the results are unchanged."""
    import ast
    import sys

    with ServerThread(create_app(clock="manual")):
        serialized = getattr(ast.parse, "_mockserver_serialized", False)
        assert serialized == (sys.version_info < (3, 13))
        assert ast.dump(ast.parse("x = (1 + 2) * y")) == ast.dump(
            compile("x = (1 + 2) * y", "<s>", "exec", ast.PyCF_ONLY_AST)
        )
