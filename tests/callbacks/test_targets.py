"""Callback URLs the mock refuses by default, and the ones CI needs that it keeps calling."""

from __future__ import annotations

import pytest

from mockserver.callbacks.targets import CallbackTargetRefused, check_callback_target

OWN = [("127.0.0.1", 8000), ("localhost", 8000)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/__admin/reset", "admin API"),
        ("http://receiver:9000/__admin/reset", "admin API"),
        ("http://127.0.0.1:8000/api/v1/generateTask/nano-banana", "this mock itself"),
        ("http://localhost:8000/hook", "this mock itself"),
        ("http://[::1]:8000/hook", "this mock itself"),
        ("http://0.0.0.0:8000/hook", "this mock itself"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://0.0.0.0:9000/hook", "unspecified"),
        ("http://[::]:9000/hook", "unspecified"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://2130706433:9000/hook", "non-standard form"),
        ("http://0x7f000001:9000/hook", "non-standard form"),
        ("http://0177.0.0.1:9000/hook", "non-standard form"),
        ("http://127.1:9000/hook", "non-standard form"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://255.255.255.255/hook", "reserved"),
        ("http://host/a b", "spaces"),
        ("http://host/a\tb", "spaces or control"),
    ],
)
def test_refused_by_default(url, reason):
    with pytest.raises(CallbackTargetRefused, match=reason):
        check_callback_target(url, OWN)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",  # a receiver beside the mock in CI
        "http://localhost:9001/apixo",
        "http://[::1]:9000/hook",
        "http://10.0.0.5:8080/hook",  # containers of one compose network
        "http://172.18.0.3/hook",
        "http://192.168.1.20/hook",
        "http://receiver:8000/hook",  # another container on the mock's port
        "https://example.com/hook",
        "https://8.8.8.8/hook",
    ],
)
def test_allowed_by_default(url):
    check_callback_target(url, OWN)


def test_allow_any_lifts_the_address_rules_but_not_self_or_admin():
    check_callback_target("http://169.254.169.254/", OWN, allow_any=True)
    check_callback_target("http://2130706433/", OWN, allow_any=True)
    with pytest.raises(CallbackTargetRefused, match="admin"):
        check_callback_target("http://elsewhere/__admin/reset", OWN, allow_any=True)
    with pytest.raises(CallbackTargetRefused, match="itself"):
        check_callback_target("http://127.0.0.1:8000/x", OWN, allow_any=True)


def test_the_api_refuses_a_callback_to_the_mock_itself(api, receiver):
    base = str(api.client.base_url).rstrip("/")
    if api.mode == "inprocess":
        base = "http://testserver"
    for url in (f"{base}/__admin/reset", f"{base}/api/v1/apikeys/current-balance", "http://169.254.169.254/x"):
        r = api.submit("nano-banana", request_type="callback", callback_url=url)
        assert r.status_code == 400, url
        assert r.json()["data"]["error"].startswith("Invalid callback_url: it "), r.text
    r = api.submit("nano-banana", request_type="callback", callback_url=receiver.url())
    assert r.status_code == 200, r.text
