"""Where the provider's pages disagree, a finding that rests on the disputed number is a warning
naming both pages, not an error (Guidance.disputed).

APIXO's page 001 polls every 3 s in its own pollWithBackoff but its table says 5 s for quality
images; result URLs last 24 h on page 001 and 15 days on page 002.
"""

from __future__ import annotations

import json

from mockserver.dialects.apixo.guidance import GUIDANCE
from mockserver.report import CHECKS
from tests.conftest import data_of
from tests.http.test_provider import fetch
from tests.report.test_report import codes, findings, report

DAY = 86_400_000


def poll_every(api, model: str, tid: str, interval_ms: int, *, download_after_ms: int | None = 0) -> dict:
    """Wait the model's initial wait, poll at a fixed interval until done, then fetch the results
    ``download_after_ms`` later (None: never)."""
    api.advance(api.mock.models[model].initial_wait_ms)
    while True:
        d = data_of(api.status(model, tid))
        if d["state"] in ("success", "failed"):
            break
        api.advance(interval_ms)
    if download_after_ms is not None and d["state"] == "success":
        if download_after_ms:
            api.advance(download_after_ms)
        for url in json.loads(d["resultJson"])["resultUrls"]:
            assert fetch(api, url).status_code == 200
    return d


def test_quality_image_polls_between_3_and_5_s_are_a_warning_citing_both_pages(api):
    tid = api.submit_ok("flux-2")
    poll_every(api, "flux-2", tid, 4_000)
    rep = report(api)
    [f] = rep["findings"]
    assert (f["code"], f["severity"]) == ("POLL_TOO_FAST", "warning")
    assert rep["summary"]["conforming"] is True and rep["summary"]["warnings"] == 1
    m = f["message"]
    assert "came less than 5 s after the previous answered poll, though at least 3 s" in m
    assert '"Recommended Intervals" (Image (quality): every 5 s) says every 5 s' in m
    assert "pollWithBackoff (starts at 3 s) polls every 3 s" in m
    assert "A warning, not an error" in m


def test_quality_image_polls_under_3_s_are_an_error(api):
    tid = api.submit_ok("flux-2")
    poll_every(api, "flux-2", tid, 2_000)
    [f] = findings(api, "POLL_TOO_FAST")
    assert f["severity"] == "error" and "disagree" not in f["message"]


def test_an_error_and_a_warning_of_one_task_are_separate_findings(api):
    tid = api.submit_ok("flux-2")
    api.advance(10_000)
    for gap in (2_000, 4_000, 5_000):
        api.status("flux-2", tid)
        api.advance(gap)
    api.status("flux-2", tid)
    by_severity = {f["severity"]: f for f in findings(api, "POLL_TOO_FAST")}
    assert set(by_severity) == {"error", "warning"}
    assert by_severity["error"]["count"] == 1 and by_severity["warning"]["count"] == 1


def test_undisputed_intervals_stay_errors(api):
    # gpt-image-1's own page says every 3 s (no dispute); fast images are 3 s on both readings
    for model in ("gpt-image-1", "nano-banana"):
        tid = api.submit_ok(model)
        poll_every(api, model, tid, 2_500)
    found = findings(api, "POLL_TOO_FAST")
    assert len(found) == 2 and {f["severity"] for f in found} == {"error"}


def test_polling_at_the_strict_interval_is_fine(api):
    tid = api.submit_ok("flux-2")
    poll_every(api, "flux-2", tid, 5_000)
    assert codes(api) == []


def test_results_fetched_after_24_h_are_a_warning_citing_both_pages(api):
    tid = api.submit_ok("nano-banana")
    poll_every(api, "nano-banana", tid, 3_000, download_after_ms=2 * DAY)
    rep = report(api)
    [f] = rep["findings"]
    assert (f["code"], f["severity"]) == ("RESULTS_NOT_DOWNLOADED", "warning")
    assert rep["summary"]["conforming"] is True
    m = f["message"]
    assert "its results were first fetched 48 h after it completed" in m
    assert 'Download Results Promptly" (URLs expire after 24 hours)' in m and "says 1 day" in m
    assert "gpt-image-1 page (002) (result URLs are valid for 15 days) says 15 days" in m


def test_results_fetched_within_24_h_are_fine_and_never_fetched_is_an_error(api):
    tid = api.submit_ok("nano-banana")
    poll_every(api, "nano-banana", tid, 3_000, download_after_ms=DAY - 60_000)
    assert codes(api) == []
    other = api.submit_ok("nano-banana")
    poll_every(api, "nano-banana", other, 3_000, download_after_ms=None)
    api.advance(2 * DAY)
    [f] = findings(api, "RESULTS_NOT_DOWNLOADED")
    assert f["severity"] == "error" and f["taskId"] == other


def test_the_disputes_are_apixos_and_the_table_says_so():
    assert set(GUIDANCE.disputed) == {"poll_interval/image-quality", "result_lifetime"}
    assert "quality image: a gap of 3 to 5 s is a warning citing both pages" in CHECKS["POLL_TOO_FAST"].threshold
    assert "later than 1 day after completion: a warning" in CHECKS["RESULTS_NOT_DOWNLOADED"].threshold
