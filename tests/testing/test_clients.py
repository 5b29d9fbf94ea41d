"""mockserver.testing.clients: the clients MockApi hands out behave as httpx's own, minus repeated work."""

from __future__ import annotations

import asyncio
import gc
import weakref

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.testing import clients
from mockserver.testing.clients import MockAsyncClient, MockClient

# Relative and absolute URL texts, odd ones included: what a caller may pass as a request's URL.
PIECES = ["", "/", "a", "b/", "/api/v1/x", "?q=1", "#f", "..", "%2F", "é", " ", "//h", "http://other:81/p", ":", "@"]
urls = st.lists(st.sampled_from(PIECES), max_size=5).map("".join)
bases = st.sampled_from(["http://testserver", "http://127.0.0.1:8000/sub", "https://h/sub/", "http://h/a/b?x=1"])


def joined(client: httpx.Client, url: str) -> str | type[Exception]:
    try:
        return str(client.build_request("GET", url).url)
    except Exception as exc:  # the same refusal, where httpx refuses
        return type(exc)


@settings(max_examples=200, deadline=None)
@given(base=bases, texts=st.lists(urls, min_size=1, max_size=6))
def test_urls_join_as_httpx_joins_them_on_every_call(base, texts):
    with httpx.Client(base_url=base) as plain, MockClient(base_url=base) as ours:
        for text in texts + texts:  # the second time from the table
            assert joined(ours, text) == joined(plain, text), text


# What a caller may pass as params=: text (odd characters included), and other kinds httpx takes.
TEXTS = st.sampled_from(["", "taskId", "task_0123", "a b", "é", "&", "=", "?#", "%41", "x/y"])
params = st.one_of(
    st.none(),
    st.dictionaries(TEXTS, TEXTS, max_size=3),
    st.dictionaries(TEXTS, st.one_of(st.integers(-2, 2), st.booleans(), st.none(), st.lists(TEXTS, max_size=2))),
)


def with_query(client: httpx.Client, url: str, query: dict | None) -> str | type[Exception]:
    try:
        return str(client.build_request("GET", url, params=query).url)
    except Exception as exc:
        return type(exc)


@settings(max_examples=100, deadline=None)  # up to 12 calls each, every one against plain httpx
@given(base=bases, calls=st.lists(st.tuples(urls, params), min_size=1, max_size=6))
def test_params_go_into_the_url_as_httpx_puts_them_on_every_call(base, calls):
    with httpx.Client(base_url=base) as plain, MockClient(base_url=base) as ours:
        for url, query in calls + calls:  # the second time from the table, where text went in
            assert with_query(ours, url, query) == with_query(plain, url, query), (url, query)


def test_a_remembered_query_keeps_to_its_base_url_and_the_client_params():
    poll = ("GET", "/api/v1/statusTask/m")
    with MockClient(base_url="http://a/one") as ours:
        assert (
            str(ours.build_request(*poll, params={"taskId": "t1"}).url) == "http://a/one/api/v1/statusTask/m?taskId=t1"
        )
        assert (
            str(ours.build_request(*poll, params={"taskId": "t1"}).url) == "http://a/one/api/v1/statusTask/m?taskId=t1"
        )
        ours.base_url = "http://b"
        assert str(ours.build_request(*poll, params={"taskId": "t1"}).url) == "http://b/api/v1/statusTask/m?taskId=t1"
    with MockClient(base_url="http://b", params={"page": "2"}) as paged:  # the client's own params merge in
        assert str(paged.build_request(*poll, params={"taskId": "t1"}).url) == (
            "http://b/api/v1/statusTask/m?page=2&taskId=t1"
        )
    assert ("http://b", "/api/v1/statusTask/m", (("taskId", "t1"),)) in clients._WITH_QUERY


def test_a_new_base_url_is_honoured_and_the_table_stays_bounded(monkeypatch):
    monkeypatch.setattr(clients, "MAX_REMEMBERED", 4)
    with MockClient(base_url="http://a/one/") as ours:
        assert str(ours.build_request("GET", "x").url) == "http://a/one/x"
        ours.base_url = "http://b/two"
        assert str(ours.build_request("GET", "x").url) == "http://b/two/x"
        for i in range(10):
            assert str(ours.build_request("GET", f"p{i}").url) == f"http://b/two/p{i}"
            assert len(clients._JOINED) <= 4
    with MockClient(base_url="http://b/three") as other:  # shares the table, not the base
        assert str(other.build_request("GET", "p9").url) == "http://b/three/p9"


def answer(request: httpx.Request) -> httpx.Response:
    headers = [("content-type", "text/plain")]
    if request.url.path.endswith("/set"):
        headers += [("Set-Cookie", "a=1; Path=/"), ("set-cookie", "b=2; Path=/")]
    if request.url.path.endswith("/set2"):
        headers.append(("SET-COOKIE", "c=3"))
    return httpx.Response(200, headers=headers, text=request.headers.get("cookie", ""))


@pytest.mark.parametrize("path", ["/none", "/set", "/set2"])
def test_cookies_are_kept_as_httpx_keeps_them(path):
    results = []
    for cls in (httpx.Client, MockClient):
        with cls(base_url="http://testserver", transport=httpx.MockTransport(answer)) as client:
            client.get(path)
            results.append((dict(client.cookies), client.get("/echo").text))
    assert results[0] == results[1]
    assert results[1][0] == {"/none": {}, "/set": {"a": "1", "b": "2"}, "/set2": {"c": "3"}}[path]


def test_the_async_client_joins_and_keeps_cookies_too():
    async def main() -> tuple[str, dict, str]:
        transport = httpx.MockTransport(answer)
        async with MockAsyncClient(base_url="http://testserver/sub", transport=transport) as client:
            url = str(client.build_request("GET", "set").url)
            await client.get("set")
            return url, dict(client.cookies), (await client.get("echo")).text

    assert asyncio.run(main()) == ("http://testserver/sub/set", {"a": "1", "b": "2"}, "a=1; b=2")


def streamed(request: httpx.Request) -> httpx.Response:
    """``answer``'s response with its body as a stream, as a real transport gives it (httpx reads a
    ``content=`` body at once, so it never times one)."""
    built = answer(request)
    return httpx.Response(built.status_code, headers=built.headers, stream=httpx.ByteStream(built.content))


def test_a_read_response_is_freed_without_the_cycle_collector_and_a_streamed_one_still_streams():
    gc.collect()
    gc.disable()  # a response kept alive by a reference cycle would stay alive until enabled
    try:
        with MockClient(base_url="http://testserver", transport=httpx.MockTransport(streamed)) as client:
            response = client.get("/set", headers={"Cookie": "z=9"})
            gone = weakref.ref(response)
            assert response.text == "z=9" and response.elapsed.total_seconds() >= 0
            assert response.read() == b"z=9" and b"".join(response.iter_bytes()) == b"z=9"
            del response
            assert gone() is None
            with client.stream("GET", "/echo") as live:  # stream=True: httpx's own stream, unread
                assert not live.is_stream_consumed
                assert b"".join(live.iter_bytes()) == b"a=1; b=2"
            assert live.is_closed and live.elapsed.total_seconds() >= 0

        async def main() -> bool:
            transport = httpx.MockTransport(streamed)
            async with MockAsyncClient(base_url="http://testserver", transport=transport) as client:
                response = await client.get("/echo")
                assert response.text == "" and response.elapsed.total_seconds() >= 0
                gone = weakref.ref(response)
                del response
                return gone() is None

        assert asyncio.run(main())
    finally:
        gc.enable()


def test_mock_api_hands_them_out(mock):
    with mock.client() as http:
        assert type(http) is MockClient and isinstance(http, httpx.Client)
        r = http.get("/__admin/health")
        assert r.status_code == 200 and str(r.url) == f"{mock.url}/__admin/health"
        assert http.get("/__admin/health").json() == r.json()  # the remembered join
    client = mock.async_client()
    assert type(client) is MockAsyncClient and isinstance(client, httpx.AsyncClient)
    asyncio.run(client.aclose())
