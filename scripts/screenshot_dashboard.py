"""Make docs/dashboard.png: the dashboard during a flaky-5xx run with a simple client.

    .venv/bin/pip install -e '.[ui-test]' && .venv/bin/python scripts/screenshot_dashboard.py [OUT.png]

Needs a system Chromium (Debian's `chromium`, or $MOCKSERVER_CHROMIUM); nothing is downloaded.
The run is seeded and on a manual clock, so the picture is the same each time.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread

OUT = Path(__file__).resolve().parent.parent / "docs" / "dashboard.png"
KEY = {"Authorization": "Bearer sk_demo_flaky_4242"}
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def client_run(url: str) -> str:
    """Three images: retry 5xx, poll every 2 s from the start (too early, too fast for the guidance)."""
    tasks: list[tuple[str, str]] = []
    with httpx.Client(base_url=url, timeout=10) as http:
        for model in ("nano-banana", "nano-banana", "gpt-image-1"):
            body = {"input": {"mode": "text-to-image" if model == "nano-banana" else model, "prompt": "a red fox"}}
            for _ in range(10):
                r = http.post(f"/api/v1/generateTask/{model}", json=body, headers=KEY)
                if r.status_code == 200:
                    tasks.append((model, r.json()["data"]["taskId"]))
                    break
        waiting = list(tasks)
        for _ in range(30):
            http.post("/__admin/clock/advance", json={"ms": 2000})
            for model, tid in list(waiting):
                r = http.get(f"/api/v1/statusTask/{model}", params={"taskId": tid}, headers=KEY)
                if r.status_code == 200 and r.json()["data"]["state"] in ("success", "failed"):
                    waiting.remove((model, tid))
            if not waiting:
                break
    return tasks[-1][1]


def main(out: Path = OUT) -> None:
    browser = os.environ.get("MOCKSERVER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("screenshot_dashboard: error: no Chromium (apt-get install chromium, or set MOCKSERVER_CHROMIUM)")
    app = create_app(clock="manual", start_ms=1_767_965_610_000, scenario="flaky-5xx")
    with ServerThread(app) as server, tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        shown = client_run(server.url)
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=browser, headless=True, args=FLAGS, viewport={"width": 1400, "height": 1050}
        )
        page = context.new_page()
        page.goto(server.url + "/")
        page.locator("#live", has_text="live").wait_for()
        page.locator(f"#tasks tr[data-task='{shown}']").click()
        page.locator(f"#timeline svg[data-task='{shown}']").wait_for()
        page.locator(f"#timeline svg[data-task='{shown}'] .finding-mark").first.hover()
        page.screenshot(path=str(out), full_page=False)
        context.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
