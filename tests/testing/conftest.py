"""Fixtures shared by the toolkit's tests: one MockApi handle, in memory and on a live server."""

from __future__ import annotations

import pytest

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from mockserver.testing.mock_api import MockApi
from tests.conftest import START_MS


@pytest.fixture(scope="module")
def handle_server():
    with ServerThread(create_app(clock="manual", seed=1, start_ms=START_MS)) as server:
        yield server
    if server.error is not None:
        raise server.error


@pytest.fixture(params=["inprocess", "live"])
def mock(request):
    """The same handle API on an in-memory app and on a live server (reset to no scenario)."""
    if request.param == "inprocess":
        handle = MockApi.in_process(seed=1, start_ms=START_MS)
    else:
        server = request.getfixturevalue("handle_server")
        handle = MockApi(server.url, app=server.app)
    with handle:
        handle.load(None)
        yield handle
