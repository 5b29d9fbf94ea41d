"""The httpx clients ``MockApi.client()`` and ``async_client()`` hand to the code under test.

They are httpx's own ``Client`` and ``AsyncClient``, minus two costs that dominate a fuzz loop's
client side and that a test never needs to pay twice:

- Joining a relative URL to ``base_url`` parses both with httpx's pure-Python parser, twice per
  request (~50 us). The join is a function of the two alone, so it is remembered per URL text
  (a small bounded table, forgotten if ``base_url`` changes).
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

MAX_REMEMBERED = 512  # URL texts a client remembers joined (a test's routes, ids in the path)
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
    _joined: dict[str, tuple[httpx.URL, httpx.URL]]

    def _remember(self) -> None:
        self._joined = {}
        self._cookies = _Cookies(self._cookies)

    def _merge_url(self, url: httpx.URL | str) -> httpx.URL:
        if type(url) is not str:
            return super()._merge_url(url)  # type: ignore[misc]
        hit = self._joined.get(url)
        base = self._base_url
        if hit is not None and hit[0] is base:
            return hit[1]
        joined: httpx.URL = super()._merge_url(url)  # type: ignore[misc]
        if len(self._joined) >= MAX_REMEMBERED:
            self._joined.clear()
        self._joined[url] = (base, joined)
        return joined


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
