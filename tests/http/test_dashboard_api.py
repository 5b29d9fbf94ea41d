"""What the dashboard reads: its files, GET / for a browser, and each task's timeline."""

from __future__ import annotations

from starlette.testclient import TestClient

from mockserver.http.app import create_app
from tests.conftest import KEY, START_MS, example_input

H = {"Authorization": f"Bearer {KEY}"}


def client(**settings) -> TestClient:
    return TestClient(create_app(clock="manual", start_ms=START_MS, **settings))


def test_a_browser_at_the_root_goes_to_the_dashboard_an_api_client_gets_the_404():
    c = client()
    r = c.get("/", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/__admin/ui/"
    r = c.get("/", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json()["code"] == 404
    assert c.get("/__admin/ui", follow_redirects=False).headers["location"] == "/__admin/ui/"
    # The browser's visit is a person looking, not client traffic; the API client's 404 is journaled.
    journal = c.get("/__admin/journal").json()["entries"]
    assert [(e["method"], e["path"], e["status"]) for e in journal] == [("GET", "/", 404)]


def test_the_dashboard_files_are_served_without_the_token_and_with_a_strict_policy():
    c = client(admin_token="tok")
    for path, kind in (
        ("", "text/html"),
        ("app.js", "text/javascript"),
        ("timeline.js", "text/javascript"),
        ("app.css", "text/css"),
    ):
        r = c.get(f"/__admin/ui/{path}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), path
        assert "default-src 'self'" in r.headers["content-security-policy"]
    assert '<script src="app.js"' in c.get("/__admin/ui/").text
    assert "http" not in c.get("/__admin/ui/").text.replace("http-equiv", "")  # nothing from a CDN
    assert c.get("/__admin/ui/secrets.txt", headers={"Authorization": "Bearer tok"}).status_code == 404
    assert c.get("/__admin/tasks").status_code == 401  # the data still needs the token


def test_a_task_timeline_has_its_requests_bands_guidance_and_findings():
    c = client()
    tid = c.post("/api/v1/generateTask/nano-banana", json={"input": example_input("nano-banana")}, headers=H).json()[
        "data"
    ]["taskId"]
    c.get("/api/v1/apikeys/current-balance", headers=H)  # not about the task
    for _ in range(2):
        c.get("/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers=H)
    c.post("/__admin/clock/advance", json={"to": "idle"})
    t = c.get(f"/__admin/tasks/{tid}/timeline").json()
    assert [e["id"] for e in t["requests"]] == [1, 3, 4] and t["requests"][0]["key"] == "****_key"
    assert [b["state"] for b in t["bands"]] == ["pending", "processing", "success"]
    assert t["bands"][0]["from"] == START_MS and t["bands"][-1]["to"] == t["now"]
    assert t["guidance"]["initialWaitMs"] == 5000 and t["guidance"]["pollIntervalMs"] == 3000
    assert t["guidance"]["maxWaitMs"] > 0 and "Recommended Intervals" in t["guidance"]["source"]
    assert {f["code"] for f in t["findings"]} == {"POLL_TOO_FAST", "POLL_BEFORE_INITIAL_WAIT"}
    assert c.get("/__admin/tasks/task_nope/timeline").status_code == 404
    every = c.get("/__admin/timelines").json()
    assert [x["task"]["taskId"] for x in every["tasks"]] == [tid] and every["report"]["summary"]["errors"] == 1
