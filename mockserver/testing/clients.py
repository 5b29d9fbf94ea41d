"""The httpx clients ``MockApi.client()`` and ``async_client()`` hand to the code under test.

They are httpx's own ``Client`` and ``AsyncClient``, minus costs that dominate a fuzz loop's
client side and that a test never needs to pay twice:

- Joining a relative URL to ``base_url`` parses both with httpx's pure-Python parser, twice per
  request (~50 us). The join is a function of the two texts alone, so it is remembered by them
  (one small bounded table for all clients: a fuzz loop makes a client per example).
- ``params=`` (a status poll's ``?taskId=``) parses the joined URL once more to put the query in
  (~50 us, a fifth of an in-process poll). With text names and values, the URL is a function of
  the URL text, the base and the params, so it is remembered by them too: a client polls the
  same task again and again.
- After every response httpx builds a urllib request and response around it so that the
  stdlib's cookie jar can look for ``Set-Cookie`` (~25 us). The jar finds nothing unless the
  response has a ``Set-Cookie`` or ``Set-Cookie2`` header, so it is asked only then.
- httpx binds each response's stream to the response (to time it), a reference cycle: every
  response a test reads waits for the cycle collector, whose runs a fuzz loop then pays for.
  Once a response is read in full (``send`` without ``stream=True``) the stream is spent; it is
  replaced by the bytes read, as in a response httpx builds from ``content=``, and the response
  is freed as soon as the caller drops it.

Everything else, and everything a caller can observe (URLs, cookies, redirects, events, errors),
is httpx's: ``tests/testing/test_clients.py`` compares both against plain httpx clients.
"""

from __future__ import annotations

from typing import Any

import httpx

from mockserver.core.memo import remember

__all__ = ["MockAsyncClient", "MockClient"]

MAX_REMEMBERED = 512  # joins remembered (a test's routes, ids in the path): then the table starts again
_COOKIE_HEADERS = (b"set-cookie", b"set-cookie2")


class _Cookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        for name, _ in response.headers.raw:
            if name.lower() in _COOKIE_HEADERS:
                super().extract_cookies(response)
                return


class _Cheap:
    """What the two clients share (httpx keeps both steps in the base class they share)."""

    _base_url: httpx.URL
    _cookies: httpx.Cookies
    _base: tuple[httpx.URL, str] | None = None  # base_url, and its text: the table's key

    def _remember(self) -> None:
        self._cookies = _Cookies(self._cookies)

    def _base_text(self) -> str:
        base = self._base
        if base is None or base[0] is not self._base_url:  # a new client, or base_url was set
            base = self._base = (self._base_url, str(self._base_url))
        return base[1]

    def _merge_url(self, url: httpx.URL | str) -> httpx.URL:
        if type(url) is not str:
            return super()._merge_url(url)  # type: ignore[misc]
        key = (self._base_text(), url)
        joined = _JOINED.get(key)
        if joined is None:
            joined = super()._merge_url(url)  # type: ignore[misc]
            remember(_JOINED, key, joined, MAX_REMEMBERED)
        return joined

    def build_request(self, method: str, url: httpx.URL | str, *, params: Any = None, **kw: Any) -> httpx.Request:
        if type(url) is not str or type(params) is not dict or not params or self.params:  # type: ignore[attr-defined]
            return super().build_request(method, url, params=params, **kw)  # type: ignore[misc]
        items = tuple(params.items())
        if not all(type(name) is str and type(value) is str for name, value in items):
            return super().build_request(method, url, params=params, **kw)  # type: ignore[misc]
        key = (self._base_text(), url, items)
        found = _WITH_QUERY.get(key)
        if found is not None:  # an absolute URL: httpx takes it as it is, and adds no query
            return super().build_request(method, found, **kw)  # type: ignore[misc]
        request: httpx.Request = super().build_request(method, url, params=params, **kw)  # type: ignore[misc]
        if request.url.is_absolute_url:
            remember(_WITH_QUERY, key, request.url, MAX_REMEMBERED)
        return request


def _spent(response: httpx.Response) -> httpx.Response:
    """``response``, read in full, without httpx's stream bound to it (the cycle to the response)."""
    response.stream = httpx.ByteStream(response.content)
    return response


# Joins by (base URL text, URL text), for every client: a fuzz loop makes a client per example
# and sends the same few URLs through each. URLs are immutable, so clients can share them.
_JOINED: dict[tuple[str, str], httpx.URL] = {}
# URLs with their query, by (base URL text, URL text, params' names and values), the same way.
_WITH_QUERY: dict[tuple[str, str, tuple[tuple[str, str], ...]], httpx.URL] = {}


class MockClient(_Cheap, httpx.Client):
    """An ``httpx.Client`` (see the module's docstring for what it does not repeat)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._remember()

    def send(self, request: httpx.Request, *, stream: bool = False, **kw: Any) -> httpx.Response:
        response = super().send(request, stream=stream, **kw)
        return response if stream else _spent(response)


class MockAsyncClient(_Cheap, httpx.AsyncClient):
    """An ``httpx.AsyncClient`` (see the module's docstring for what it does not repeat)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._remember()

    async def send(self, request: httpx.Request, *, stream: bool = False, **kw: Any) -> httpx.Response:
        response = await super().send(request, stream=stream, **kw)
        return response if stream else _spent(response)
