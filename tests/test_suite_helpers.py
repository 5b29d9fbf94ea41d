"""The suite's own helpers in tests/conftest.py that are not about the mock: one SSL context."""

from __future__ import annotations

import ssl

import certifi
import httpx

from tests.conftest import ssl_context


def _context(client: httpx.Client) -> ssl.SSLContext:
    return client._transport._pool._ssl_context  # type: ignore[attr-defined]


def test_clients_with_the_default_checks_share_one_context_and_others_get_their_own(monkeypatch):
    with httpx.Client() as a, httpx.Client(base_url="http://127.0.0.1:9") as b:
        assert _context(a) is _context(b)
        assert _context(a).verify_mode == ssl.CERT_REQUIRED and _context(a).check_hostname
    with httpx.Client(verify=False) as unverified:
        assert _context(unverified) is not _context(a) and _context(unverified).verify_mode == ssl.CERT_NONE
    mine = ssl.create_default_context()
    with httpx.Client(verify=mine) as own:
        assert _context(own) is mine
    # Another CA bundle named in the environment: another context, then shared in its turn.
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    monkeypatch.setenv("SSL_CERT_DIR", "")
    with httpx.Client() as c, httpx.Client() as d:
        assert _context(c) is _context(d) is not _context(a)
    assert ssl_context().verify_mode == ssl.CERT_REQUIRED
