"""`mockserver report --html FILE`: the report and every task's timeline in one self-contained file."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from mockserver.cli import main
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from mockserver.report.html import render_html
from tests.conftest import START_MS, example_input

KEY = "sk_html_report_9876"
H = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def server():
    srv = ServerThread(create_app(clock="manual", start_ms=START_MS, admin_token="tok")).start()
    yield srv
    srv.stop()


def embedded(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert found
    return json.loads(found.group(1))


def test_report_html_writes_one_self_contained_file(server, tmp_path, capsys):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        r = http.post("/api/v1/generateTask/nano-banana", json={"input": example_input("nano-banana")}, headers=H)
        tid = r.json()["data"]["taskId"]
        for _ in range(2):
            http.get("/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers=H)
    out = tmp_path / "report.html"
    code = main(["report", "--url", server.url, "--admin-token", "tok", "--html", str(out)])
    assert code == 1  # an error finding, as without --html
    assert "POLL_TOO_FAST" in capsys.readouterr().out  # the table is still printed
    page = out.read_text(encoding="utf-8")
    # Self-contained: no file or script from elsewhere, the timeline code and styles inline.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "const Timeline" in page and "svg .band.pending" in page
    data = embedded(page)
    assert [t["task"]["taskId"] for t in data["tasks"]] == [tid]
    assert len(data["tasks"][0]["requests"]) == 3
    assert KEY not in page and "****9876" in page  # keys masked
    assert "POLL_TOO_FAST" in page.split('<script type="application/json"')[0]  # the findings table


def test_report_html_refuses_a_file_it_cannot_write(server, tmp_path, capsys):
    code = main(["report", "--url", server.url, "--admin-token", "tok", "--html", str(tmp_path / "no" / "r.html")])
    assert code == 2
    assert capsys.readouterr().err.startswith(f"mockserver: error: cannot write {tmp_path / 'no' / 'r.html'}: ")


def test_data_cannot_end_the_script_element_early():
    data = {
        "server": {"version": "x", "dialects": ["apixo"]},
        "report": {"findings": [], "summary": {"errors": 0, "warnings": 0}},
        "tasks": [],
        "now": 0,
        "note": "</script><script>alert(1)</script>",
    }
    page = render_html(data)
    assert "</script><script>alert(1)" not in page
    assert embedded(page)["note"] == data["note"]
