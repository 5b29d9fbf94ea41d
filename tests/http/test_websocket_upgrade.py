"""A websocket upgrade gets the answer uvicorn's own ``ws="auto"`` protocol gives (the mock has no
websocket route: 403), though ``make_server`` imports that protocol only when an upgrade comes."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread, make_server

UPGRADE = (
    "GET {path} HTTP/1.1\r\nHost: mock\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
PATHS = ["/", "/__admin/events", "/api/v1/jobs/recordInfo?taskId=x", "/v1/tasks/x"]


def answer(server: ServerThread, path: str) -> bytes:
    """The bytes the server sends for an upgrade request to ``path``, up to its close."""
    with socket.create_connection(server.sock.getsockname()[:2], timeout=10) as sock:
        sock.sendall(UPGRADE.format(path=path).encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return re.sub(rb"date: [^\r]*\r\n", b"", data, flags=re.IGNORECASE)


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_an_upgrade_is_answered_as_by_uvicorns_own_websocket_protocol(http):
    app = create_app(clock="manual")
    with ServerThread(app, http=http) as ours, ServerThread(app, http=http, ws=AutoWebSocketsProtocol) as uvicorns:
        for path in PATHS:
            got = answer(ours, path)
            assert got == answer(uvicorns, path), path
            assert got.startswith(b"HTTP/1.1 403 "), got


def test_the_websocket_protocol_is_made_at_the_first_upgrade_unless_one_is_given():
    from uvicorn.server import ServerState

    config = make_server(create_app(clock="manual")).config
    config.load()
    assert config.ws_protocol_class is not AutoWebSocketsProtocol

    async def made() -> object:  # as uvicorn makes it: on the server's loop
        return config.ws_protocol_class(config=config, server_state=ServerState(), app_state={})

    assert type(asyncio.run(made())) is AutoWebSocketsProtocol
    for ws, expected in (("none", None), (AutoWebSocketsProtocol, AutoWebSocketsProtocol)):
        config = make_server(create_app(clock="manual"), ws=ws).config
        config.load()
        assert config.ws_protocol_class is expected
