"""The dashboard in a real browser, against a live server: panels, timeline marks, live updates, findings."""

from __future__ import annotations

import httpx
import pytest

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from tests.conftest import START_MS, example_input

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says why (and fails instead under .ci/run)
    expect = None

KEY = "sk_dash_demo_5678"
H = {"Authorization": f"Bearer {KEY}"}
TIMEOUT_MS = 15_000  # a deadline for the page to catch up, not a sleep


@pytest.fixture
def server():
    srv = ServerThread(create_app(clock="manual", start_ms=START_MS)).start()
    yield srv
    srv.stop()


def submit(http: httpx.Client, model: str = "nano-banana") -> str:
    r = http.post(f"/api/v1/generateTask/{model}", json={"input": example_input(model)}, headers=H)
    assert r.status_code == 200, r.text
    return r.json()["data"]["taskId"]


def submit_until_accepted(http: httpx.Client) -> str:
    """Under flaky-5xx a submit may answer 5xx (seeded: the same ones every run): retry it."""
    for _ in range(20):
        r = http.post("/api/v1/generateTask/nano-banana", json={"input": example_input("nano-banana")}, headers=H)
        if r.status_code == 200:
            return r.json()["data"]["taskId"]
    raise AssertionError("20 submits refused")


def poll(http: httpx.Client, task_id: str, model: str = "nano-banana") -> httpx.Response:
    return http.get(f"/api/v1/statusTask/{model}", params={"taskId": task_id}, headers=H)


def test_a_browser_at_the_root_is_led_to_the_dashboard_and_every_panel_renders(server, page):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/", headers={"Accept": "application/json"}).status_code == 404  # API clients: as before
        http.put("/__admin/scenario", params={"name": "flaky-5xx"})
        tid = submit_until_accepted(http)
    page.goto(server.url + "/")
    assert page.url == server.url + "/__admin/ui/"
    expect(page.locator("#live")).to_have_text("live", timeout=TIMEOUT_MS)
    expect(page.locator("#tasks tbody tr")).to_have_count(1, timeout=TIMEOUT_MS)
    expect(page.locator("#tasks tbody tr")).to_contain_text(tid)
    expect(page.locator("#journal li", has_text="POST /api/v1/generateTask/nano-banana 200")).to_have_count(1)
    expect(page.locator("#scenario-yaml")).to_contain_text("name: flaky-5xx")
    expect(page.locator("#rules tbody tr")).to_have_count(4)
    expect(page.locator("#callbacks-count")).to_contain_text("0 attempts")
    expect(page.locator("#server-info")).to_contain_text("apixo, 123api")
    expect(page.locator("#clock-now")).to_contain_text("13:33:30.000 (manual)")


def test_the_timeline_has_a_mark_per_journal_entry_and_findings_show_their_evidence(server, page):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        tid = submit(http)
        for _ in range(3):  # far too early and too fast: the report finds both
            poll(http, tid)
        journal = http.get("/__admin/journal").json()["entries"]
    page.goto(server.url + "/__admin/ui/")
    page.locator(f"#tasks tr[data-task='{tid}']").click()
    svg = page.locator(f"#timeline svg[data-task='{tid}']")
    expect(svg).to_be_visible(timeout=TIMEOUT_MS)
    ours = [e for e in journal if e["taskId"] == tid]
    assert len(ours) == 4
    expect(svg.locator(".request-mark")).to_have_count(len(ours))
    expect(svg.locator(".band.pending")).to_have_count(1)
    expect(svg.locator(".guide.initial-wait")).to_have_count(1)
    pin = svg.locator(".finding-mark[data-code='POLL_TOO_FAST']")
    pin.hover()
    tooltip = page.locator("#tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text("POLL_TOO_FAST (error)")
    expect(tooltip).to_contain_text("#3 +0 s GET /api/v1/statusTask/nano-banana → 200 state=pending")
    expect(svg.locator(".request-mark.evidence")).to_have_count(2)  # the evidence lights up too


def test_advance_to_idle_turns_the_tasks_to_success_without_a_reload(server, page):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        ids = [submit(http), submit(http, "sora-2")]
    page.goto(server.url + "/__admin/ui/")
    states = page.locator("#tasks tbody .state")
    expect(states).to_have_text(["pending", "pending"], timeout=TIMEOUT_MS)
    page.evaluate("window.notReloaded = true")
    page.locator("#advance-idle").click()
    expect(states).to_have_text(["success", "success"], timeout=TIMEOUT_MS)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#clock-now")).to_contain_text("0 unfinished")
    # And new traffic arrives by the stream, not by reloading.
    with httpx.Client(base_url=server.url, timeout=10) as http:
        poll(http, ids[0])
    expect(page.locator("#journal li").first).to_contain_text("success")
    expect(page.locator("#tasks tbody tr").first.locator("td").nth(5)).to_have_text("1")


def test_with_an_admin_token_the_page_asks_for_it_and_never_puts_it_in_a_url(page):
    srv = ServerThread(create_app(clock="manual", start_ms=START_MS, admin_token="s3cret")).start()
    try:
        urls: list[str] = []
        page.on("request", lambda r: urls.append(r.url))
        page.goto(srv.url + "/__admin/ui/")
        expect(page.locator("#token-form")).to_be_visible(timeout=TIMEOUT_MS)
        page.locator("#token-input").fill("s3cret")
        page.locator("#token-form button").click()
        expect(page.locator("#live")).to_have_text("live", timeout=TIMEOUT_MS)
        expect(page.locator("#token-form")).to_be_hidden()
        assert not [u for u in urls if "s3cret" in u]
    finally:
        srv.stop()
