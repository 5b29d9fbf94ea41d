"""The sender on its own: what goes on the wire (h11 frames it) and how each kind of answer,
well-formed or not, becomes a status or an error string. Receivers here are raw loopback
servers that answer with fixed bytes, so a malformed answer is exactly what they send."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from mockserver.callbacks.sender import MAX_HEAD_BYTES, Sender, SendResult


async def post_once(
    handle, path: str = "/", body: bytes = b"", headers: dict[str, str] | None = None, timeout_s: float = 2.0
) -> SendResult:
    """One attempt, by a fresh Sender, at a loopback server that runs ``handle`` per connection."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = Sender()
    try:
        return await sender.post(f"http://127.0.0.1:{port}{path}", body, headers or {}, timeout_s)
    finally:
        sender.close()
        server.close()


def post_to(answer: bytes | None, *, headers: dict[str, str] | None = None, timeout_s: float = 2.0):
    """POST once to a loopback server that reads the request, writes ``answer`` (None: closes
    without a word) and closes. (the result, the raw request the server got)."""
    got: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(v for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")) if k == b"Content-Length"))
        got.append(head + await reader.readexactly(length))
        if answer is not None:
            writer.write(answer)
            await writer.drain()
        writer.close()

    async def run() -> SendResult:
        return await post_once(handle, "/hook?x=1", b'{"a": 1}', headers or {"webhook-id": "w1"}, timeout_s)

    return asyncio.run(run()), got


def test_the_request_is_one_http_1_1_post_with_connection_close():
    result, [raw] = post_to(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert (result.status, result.error) == (200, None)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /hook?x=1 HTTP/1.1"
    port = lines[1].rpartition(b":")[2]
    assert set(lines[1:]) == {b"Host: 127.0.0.1:" + port, b"Content-Length: 8", b"Connection: close", b"webhook-id: w1"}
    assert body == b'{"a": 1}'


@pytest.mark.parametrize(
    "answer, status",
    [
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", 500),
        (b"HTTP/1.0 204 No Content\r\n\r\n", 204),
        # 1xx interim answers are skipped: the real answer follows
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 200),
        # only the head is needed: a body that never ends does not matter
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial", 200),
    ],
)
def test_the_status_of_the_answer_is_read_from_its_head(answer, status):
    result, _ = post_to(answer)
    assert (result.status, result.error, result.timed_out) == (status, None, None)


@pytest.mark.parametrize(
    "answer",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 abc Nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",  # nothing asked for a switch
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 2 * MAX_HEAD_BYTES + b"\r\n\r\n",  # h11 bounds an incomplete head
    ],
)
def test_a_malformed_answer_is_an_invalid_http_answer(answer):
    result, _ = post_to(answer)
    assert result.status is None and result.timed_out is None
    assert result.error is not None and result.error.startswith("invalid HTTP answer: "), result.error


@pytest.mark.parametrize("answer", [None, b"HTTP/1.1 200 O"])
def test_a_receiver_that_closes_before_its_head_ends(answer):
    result, _ = post_to(answer)
    assert (result.status, result.error) == (None, "connection closed waiting for the answer")


def test_a_header_h11_will_not_send_is_refused_before_anything_is_sent():
    async def run() -> SendResult:
        # The connection opens first, so a server listens; no header injection reaches it.
        return await post_once(lambda r, w: w.close(), headers={"x-evil": "a\r\nInjected: 1"})

    result = asyncio.run(run())
    assert result.status is None and result.error is not None and result.error.startswith("invalid request: ")


def test_a_receiver_that_never_ends_its_head_times_out():
    async def run() -> SendResult:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"HTTP/1.1 200 OK\r\n")  # and never the blank line
            await asyncio.sleep(5)

        return await post_once(handle, "/", b"", timeout_s=0.2)

    result = asyncio.run(run())
    assert (result.status, result.error, result.timed_out) == (
        None,
        "timeout waiting for the answer",
        "waiting for the answer",
    )


def test_many_attempts_at_once_each_get_their_own_answer():
    """Attempts cross to the sender thread in batches and come back in slices: none is lost
    or crossed with another's."""

    async def run() -> list[SendResult]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1].rpartition(b"/")[2]  # POST /<status> HTTP/1.1
            writer.write(b"HTTP/1.1 " + status + b" X\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        sender = Sender()
        try:
            return await asyncio.gather(
                *(sender.post(f"http://127.0.0.1:{port}/{200 + i}", b"", {}, 10.0) for i in range(300))
            )
        finally:
            sender.close()
            server.close()

    results = asyncio.run(run())
    assert [r.status for r in results] == [200 + i for i in range(300)]


def test_cancelling_the_caller_cancels_the_attempt():
    async def run() -> bool:
        closed = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await reader.read()  # until the sender hangs up
            closed.set()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sender = Sender()
        try:
            attempt = asyncio.create_task(sender.post(f"http://127.0.0.1:{port}/", b"", {}, 30.0))
            await asyncio.sleep(0.2)
            attempt.cancel()
            await asyncio.wait_for(closed.wait(), 5)  # long before the attempt's own 30 s
            return attempt.cancelled()
        finally:
            sender.close()
            server.close()

    assert asyncio.run(run())


def test_a_receiver_that_resets_the_connection_is_its_error():
    """A reset (not a close) before the answer: the connection's own error, as the reader got it."""

    async def run() -> SendResult:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # linger 0: an RST instead of a FIN

        return await post_once(handle, "/", b"{}", timeout_s=5.0)

    result = asyncio.run(run())
    assert result.status is None and result.timed_out is None
    assert result.error is not None and result.error.startswith("ConnectionResetError: "), result.error


def test_an_answer_arriving_in_pieces_after_large_interim_answers():
    """The head is read as it comes, however it is cut; what precedes it (1xx answers with ~60 KiB
    of headers each) is read through."""
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(60))
    interim = b"HTTP/1.1 100 Continue\r\n" + pad + b"\r\n"
    final = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"

    async def run() -> SendResult:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(interim * 3)
            for i in range(0, len(final), 7):
                await writer.drain()
                await asyncio.sleep(0.01)
                writer.write(final[i : i + 7])
            writer.close()

        return await post_once(handle, "/", b"{}", timeout_s=5.0)

    result = asyncio.run(run())
    assert (result.status, result.error) == (202, None)


class FakeTransport:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def get_extra_info(self, name: str, default=None):
        return default


@pytest.mark.parametrize(
    "events",
    [
        [b"abc", b"defgh", "eof"],
        [b"x" * 70_000, b"y" * 70_000, b"z" * 5, "eof"],  # past 128 KiB: reading pauses, then resumes
        [b"head", OSError(104, "Connection reset by peer")],  # the error comes first, data or not
        [ConnectionResetError(104, "Connection reset by peer")],
        ["eof"],
        ["lost"],  # connection_lost(None): the end
    ],
)
def test_the_reader_reads_as_asyncio_s_stream_reader(events):
    """``_Reader`` stands in for the StreamReader ``asyncio.open_connection`` built, read 16 KiB at
    a time: the same bytes in the same pieces, the same end, the same error, the same pauses."""
    from mockserver.callbacks.sender import READ_CHUNK, _Reader

    async def script(feed, reader) -> tuple[list, list[str]]:
        transport = FakeTransport()
        feed(transport, None)
        for event in events:
            feed(transport, event)
        got: list = []
        while True:
            try:
                data = await reader.read(READ_CHUNK)
            except OSError as exc:
                got.append(repr(exc))
                break
            got.append(data)
            if not data:
                break
        return got, transport.calls

    def feeder(protocol: asyncio.Protocol):
        """Each scripted event, as the event loop would deliver it to ``protocol``."""

        def feed(transport, event) -> None:
            if event is None:
                protocol.connection_made(transport)
            elif event == "eof":
                transport.calls.append(f"eof: keep open {protocol.eof_received()}")
            elif event == "lost":
                protocol.connection_lost(None)
            elif isinstance(event, BaseException):
                protocol.connection_lost(event)
            else:
                protocol.data_received(event)

        return feed

    async def ours() -> tuple[list, list[str]]:
        reader = _Reader()
        return await script(feeder(reader), reader)

    async def asyncio_s() -> tuple[list, list[str]]:
        reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES)
        return await script(feeder(asyncio.StreamReaderProtocol(reader)), reader)

    mine, theirs = asyncio.run(ours()), asyncio.run(asyncio_s())
    assert mine == theirs
    if len(events) == 4 and events[0] == b"x" * 70_000:
        assert theirs[1] == ["pause", "eof: keep open True", "resume"]
