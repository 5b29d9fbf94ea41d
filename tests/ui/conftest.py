"""Headless Chromium (Debian's package, never a downloaded one) driven by Playwright, for the dashboard.

These tests are marked ``ui`` (`-m 'not ui'` leaves them out). They are skipped only when no
browser can be found, with the reason; `.ci/run` installs one, so CI runs them.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

BROWSER_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine's network is closed: without these Chromium keeps trying Google's hosts.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_browser() -> str | None:
    """A system Chromium: $MOCKSERVER_CHROMIUM, else chromium / chromium-browser / google-chrome on PATH."""
    named = os.environ.get("MOCKSERVER_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/ui/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.ui)


@pytest.fixture(scope="session")
def browser():
    required = bool(os.environ.get("MOCKSERVER_REQUIRE_BROWSER"))  # .ci/run: a missing browser is a failure
    try:
        from playwright import sync_api
    except ImportError:
        if required:
            pytest.fail("playwright is missing: pip install -e '.[ui-test]'")
        pytest.skip("playwright is missing: pip install -e '.[ui-test]'")
    executable = find_browser()
    if executable is None:
        reason = "no Chromium found (apt-get install chromium, or set MOCKSERVER_CHROMIUM); .ci/run installs it"
        if required:
            pytest.fail(reason)
        pytest.skip(reason)
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as pw:
        # A persistent context is the only way to give Chromium its own empty --user-data-dir.
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=BROWSER_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    page.close()
    assert not [e for e in errors if "401" not in e], errors  # a script error fails the test
