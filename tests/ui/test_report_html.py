"""The HTML report opened from disk in the browser: no server, every task's timeline drawn."""

from __future__ import annotations

import httpx

from mockserver.cli import main
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from tests.conftest import START_MS, example_input

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails under .ci/run) with the reason
    expect = None

H = {"Authorization": "Bearer sk_html_in_browser_1111"}


def test_the_html_report_draws_each_timeline_offline(page, tmp_path):
    out = tmp_path / "report.html"
    with ServerThread(create_app(clock="manual", start_ms=START_MS)) as server:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            ids = []
            for model in ("nano-banana", "sora-2"):
                r = http.post(f"/api/v1/generateTask/{model}", json={"input": example_input(model)}, headers=H)
                ids.append(r.json()["data"]["taskId"])
            for _ in range(2):  # too early and too fast: findings to pin
                http.get("/api/v1/statusTask/nano-banana", params={"taskId": ids[0]}, headers=H)
        assert main(["report", "--url", server.url, "--html", str(out)]) == 1
    # The server is gone: the page needs nothing but itself.
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_())
    page.goto(out.as_uri())
    for tid in ids:
        expect(page.locator(f"svg[data-task='{tid}']")).to_be_visible()
    expect(page.locator(f"svg[data-task='{ids[0]}'] .request-mark")).to_have_count(3)
    pin = page.locator(f"svg[data-task='{ids[0]}'] .finding-mark").first
    pin.hover()
    expect(page.locator("#tooltip")).to_contain_text("evidence:")
