"""A real webhook receiver on a loopback port 0, for the callback tests (fixtures in conftest)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver.contract import validate
from mockserver.http.server import ServerThread

WAIT_S = 10.0  # deadline for events that should arrive at once; never a sleep


# -- a real receiver ----------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """A webhook receiver on loopback port 0: records every POST and answers per a script.

    ``script[path]`` lists the answers to that path's requests in order (an HTTP status,
    or ``"hang"``: answer 200 only once ``release`` is set); then 200. Arrivals are
    signalled through a Condition, so tests wait with a deadline instead of sleeping.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.problems: list[str] = []
        self.script: dict[str, list[int | str]] = {}
        self.release = threading.Event()
        self._cond = threading.Condition()
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        self.server = ServerThread(app)

    def url(self, path: str = "hook") -> str:
        return f"{self.server.url}/{path}"

    def reset(self, **script: list[int | str]) -> None:
        self.release.set()  # let a hung request of an earlier test finish
        with self._cond:
            self.requests = []
            self.problems = []
            self.script = {path: list(answers) for path, answers in script.items()}
            self.release = threading.Event()

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.path_params["path"]
        with self._cond:
            seen = sum(1 for r in self.requests if r.path == path)
            self.requests.append(Received(path, dict(request.headers), body))
            # Every body the mock sends must follow the published callback schema.
            try:
                problems = validate("callback", json.loads(body))
            except ValueError as exc:
                problems = [f"not JSON: {exc}"]
            self.problems.extend(f"{path}: {p}" for p in problems)
            answers = self.script.get(path, [])
            answer = answers[seen] if seen < len(answers) else 200
            release = self.release
            self._cond.notify_all()
        if answer == "hang":
            await asyncio.to_thread(release.wait, 30)
            answer = 200
        return Response(b"ok", status_code=int(answer))

    def on(self, path: str = "hook") -> list[Received]:
        with self._cond:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, n: int, path: str = "hook", timeout: float = WAIT_S) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len([r for r in self.requests if r.path == path]) >= n, timeout)


@pytest.fixture(scope="session")
def receiver_server():
    receiver = Receiver()
    with receiver.server:
        yield receiver
        receiver.release.set()
    if receiver.server.error is not None:
        raise receiver.server.error


@pytest.fixture
def receiver(receiver_server):
    receiver_server.reset()
    yield receiver_server
    receiver_server.release.set()
    assert receiver_server.problems == [], "callback bodies broke schemas/callback.json"


@pytest.fixture(scope="session")
def dead_url():
    """A loopback port that refuses connections: bound, never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    sock.close()
