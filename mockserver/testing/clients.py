"""The httpx clients ``MockApi.client()`` and ``async_client()`` hand to the code under test.

They are httpx's own ``Client`` and ``AsyncClient``, minus two costs that dominate a fuzz loop's
client side and that a test never needs to pay twice:

- Joining a relative URL to ``base_url`` parses both with httpx's pure-Python parser, twice per
  request (~50 us). The join is a function of the two texts alone, so it is remembered by them
  (one small bounded table for all clients: a fuzz loop makes a client per example).
- After every response httpx builds a urllib request and response around it so that the
  stdlib's cookie jar can look for ``Set-Cookie`` (~25 us). The jar finds nothing unless the
  response has a ``Set-Cookie`` or ``Set-Cookie2`` header, so it is asked only then.

Everything else, and everything a caller can observe (URLs, cookies, redirects, events, errors),
is httpx's: ``tests/testing/test_clients.py`` compares both against plain httpx clients.
"""

from __future__ import annotations

from typing import Any

import httpx

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

    def _merge_url(self, url: httpx.URL | str) -> httpx.URL:
        if type(url) is not str:
            return super()._merge_url(url)  # type: ignore[misc]
        base = self._base
        if base is None or base[0] is not self._base_url:  # a new client, or base_url was set
            base = self._base = (self._base_url, str(self._base_url))
        key = (base[1], url)
        joined = _JOINED.get(key)
        if joined is None:
            joined = super()._merge_url(url)  # type: ignore[misc]
            if len(_JOINED) >= MAX_REMEMBERED:
                _JOINED.clear()
            _JOINED[key] = joined
        return joined


# Joins by (base URL text, URL text), for every client: a fuzz loop makes a client per example
# and sends the same few URLs through each. URLs are immutable, so clients can share them.
_JOINED: dict[tuple[str, str], httpx.URL] = {}


class MockClient(_Cheap, httpx.Client):
    """An ``httpx.Client`` (see the module's docstring for what it does not repeat)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._remember()


class MockAsyncClient(_Cheap, httpx.AsyncClient):
    """An ``httpx.AsyncClient`` (see the module's docstring for what it does not repeat)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._remember()
