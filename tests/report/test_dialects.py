"""The report over more than one dialect: each request and task is judged, described and cited in
its own dialect's words, with its own provider's guidance.

``OTHER`` is a made-up second provider (routes, names and guidance only: all the tracker reads),
so these tests need no second wire format.
"""

from __future__ import annotations

from mockserver.core.tasks import Task
from mockserver.core.words import BALANCE, FILES, STATUS, SUBMIT
from mockserver.dialects.apixo import APIXO
from mockserver.dialects.protocol import Guidance, Route
from mockserver.report import CHECKS
from mockserver.report.checks import check_table
from tests.report.test_report import Feed


class Other:
    """A second provider as the report sees it: its routes, its names, its guidance."""

    name = "other"
    title = "Other"
    routes = (
        Route(SUBMIT, "POST", "/v2/jobs/{model}", "createJob"),
        Route(STATUS, "GET", "/v2/jobs/{model}/{job_id}", "getJob"),
        Route(BALANCE, "GET", "/v2/wallet", "wallet"),
        Route(FILES, "GET", "/v2/out/{job_id}/{filename}", "download"),
    )
    guidance = Guidance(
        intervals={"image-fast": (5_000, 3_000, 120_000)},
        retryable=frozenset({429, 503}),
        non_retryable=frozenset({400, 401, 402, 404, 500}),
        backoff_factor=2,
        backoff_cap_ms=60_000,
        pages={
            "errors": "Other error guide",
            "error_cases": "Other error guide, 401",
            "retries": "Other error guide, retries",
            "intervals": "Other polling guide",
            "backoff": "Other polling guide, backoff",
            "poll_loop": "Other polling guide, the loop",
            "downloads": "Other output guide",
        },
        citations={code: f"other-docs {code.lower()}" for code in CHECKS},
        words={
            FILES: "/v2/out/{job_id}/...",
            "task_id": "job_id",
            "result": "output",
            "result_url": "output.url",
            "fail_code": "error",
            "retry_after": "retry_after_s",
            "complete_time": "finished_at",
        },
    )


OTHER = Other()
WALLET = "/v2/wallet"


def both() -> Feed:
    return Feed(dialects=[APIXO, OTHER])


def test_checks_are_the_first_builtin_dialects_table():
    assert CHECKS == check_table(APIXO)


def test_check_table_speaks_the_dialects_words_and_numbers():
    t = check_table(OTHER)
    assert list(t) == list(CHECKS)
    assert all(t[code].severity == CHECKS[code].severity for code in CHECKS)
    assert t["MISSING_AUTH"].threshold == "any 401 on createJob, getJob or wallet"
    assert t["MISSING_AUTH"].source == "other-docs missing_auth"
    assert "a missing job_id," in t["INVALID_REQUEST"].flags
    assert t["RETRIED_NON_RETRYABLE"].flags.endswith("sent again after a 400, 401, 402, 404 or 500")
    assert t["NO_BACKOFF"].flags == "retries of the same request after 429/503 whose waits do not back off"
    assert "consecutive 429/5xx answers" in t["NO_BACKOFF"].threshold
    assert "reached 50 % of 1 min (the backoff cap)" in t["NO_BACKOFF"].threshold
    assert t["POLL_TOO_FAST"].threshold.endswith("`poll_interval_ms` (fast image 3 s)")
    assert t["RESULTS_NOT_DOWNLOADED"].threshold.startswith("no GET /v2/out/{job_id}/... answered 200")
    assert "(finished_at + results TTL" in t["RESULTS_NOT_DOWNLOADED"].threshold
    assert "after 429, 5xx or no answer" in t["SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY"].flags
    assert "retry_after_s" in t["IGNORED_RETRY_AFTER"].threshold


def test_paths_are_classified_over_every_dialects_routes():
    t = both().tracker
    assert t.endpoint("/v2/jobs/sora-2") == "createJob"
    assert t.endpoint("/v2/jobs/sora-2/job-1") == "getJob"
    assert t.endpoint(WALLET) == "wallet"
    assert t.endpoint("/v2/out/job-1/0.png") == "download"
    assert t.endpoint("/api/v1/statusTask/sora-2") == "statusTask"
    assert t.endpoint("/v2/wallet/x") is None
    # A dialect the server does not speak is not classified: its paths are no API calls.
    only = Feed(dialects=[OTHER])
    assert only.tracker.endpoint("/api/v1/statusTask/sora-2") is None
    only.send(0, "GET", "/api/v1/apikeys/current-balance", 401, key=None)
    only.send(1, "GET", WALLET, 401, key=None)
    [f] = only.report()["findings"]
    assert f["code"] == "MISSING_AUTH" and f["evidence"] == [2]
    assert "(GET /v2/wallet)" in f["message"] and "Other error guide, 401:" in f["message"]


def test_each_request_is_judged_by_its_own_dialects_retry_guidance():
    feed = both()
    for t in range(0, 8000, 1000):  # APIXO: 500 is retryable, and these gaps do not grow
        feed.send(t, "GET", "/api/v1/apikeys/current-balance", 500, key="a")
    for t in (0, 1000, 2000):  # Other: 500 is not to be retried at all
        feed.send(t, "GET", WALLET, 500, key="o")
    by_key = {f["key"]: f for f in feed.report()["findings"]}
    apixo, other = by_key["a"], by_key["o"]
    assert (apixo["code"], apixo["count"]) == ("NO_BACKOFF", 1)
    assert "APIXO errors page: retry 429, 500, 502, 503 with exponential backoff" in apixo["message"]
    assert "multiply the wait by 1.5 up to 30 s" in apixo["message"]
    assert (other["code"], other["count"]) == ("RETRIED_NON_RETRYABLE", 2)
    assert (
        "Other error guide, retries: do not retry 400, 401, 402, 404, 500 without fixing the request "
        "or account; retry only 429, 503." in other["message"]
    )


def test_backoff_cap_and_names_come_from_the_dialect():
    feed = both()
    # 20 s waits are over half APIXO's 30 s cap (backed off enough) but under half of Other's 60 s:
    # constant 20 s retries are no backoff there
    for t in range(0, 160_000, 20_000):
        feed.send(t, "GET", WALLET, 503, key="o")
    for t in range(0, 160_000, 20_000):
        feed.send(t, "GET", "/api/v1/apikeys/current-balance", 503, key="a")
    [f] = feed.report()["findings"]
    assert (f["code"], f["key"]) == ("NO_BACKOFF", "o")
    assert "using retry_after_s when present; Other polling guide, backoff:" in f["message"]
    assert "multiply the wait by 2 up to 1 min (jitter is fine)." in f["message"]


def test_a_task_is_judged_and_cited_by_the_dialect_it_was_submitted_through():
    feed = both()
    feed.send(0, "POST", "/v2/jobs/nano-banana", 200, task_id="job-1", model="nano-banana", body_hash="x")
    poll = "/v2/jobs/nano-banana/job-1"
    feed.send(1000, "GET", poll, 200, task_id="job-1", state="success")
    feed.send(6000, "GET", poll, 200, task_id="job-1", state="success")
    task = Task("job-1", "nano-banana", "other", "k", 0, 0, 500, outputs=1, spec=None, seed=0)  # type: ignore[arg-type]
    rep = feed.report(now=10_000, task_of={"job-1": task}.get)
    by_code = {f["code"]: f for f in rep["findings"]}
    assert set(by_code) == {"POLL_BEFORE_INITIAL_WAIT", "POLLED_AFTER_TERMINAL", "RESULTS_NOT_DOWNLOADED"}
    assert "Other polling guide, Image (fast): wait 5 s" in by_code["POLL_BEFORE_INITIAL_WAIT"]["message"]
    assert (
        "Other polling guide, the loop: stop polling once state is success (read output) or failed (read error)."
        in by_code["POLLED_AFTER_TERMINAL"]["message"]
    )
    downloads = by_code["RESULTS_NOT_DOWNLOADED"]["message"]
    assert "answered success with 1 result file in output," in downloads
    assert "Other output guide: fetch every output.url right away" in downloads
    assert "result URLs expire (this server: 15 days)." in downloads  # Other's pages say nothing


def test_a_page_the_dialect_does_not_name_is_cited_as_its_documentation():
    feed = both()
    feed.send(0, "GET", WALLET, 429, key="o", retry_after=5)
    feed.send(0, "GET", WALLET, 200, key="o")
    feed.send(100, "GET", WALLET, 200, key="o")
    [f] = feed.report()["findings"]
    assert f["code"] == "IGNORED_RETRY_AFTER"
    assert "Other error guide, 401: on 429 back off and use retry_after_s;" in f["message"]
    feed.send(200, "POST", "/v2/jobs/nano-banana", 503, key="s", body_hash="b")
    feed.send(300, "POST", "/v2/jobs/nano-banana", 503, key="s", body_hash="b")
    [f] = [f for f in feed.report()["findings"] if f["code"] == "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY"]
    assert "Other documentation: use idempotency keys" in f["message"]


# Names only a provider's own dialect may spell (docstrings and comments aside).
PROVIDER_NAMES = ("generateTask", "statusTask", "resultJson", "failCode", "failMsg", "costTime", "current-balance")
