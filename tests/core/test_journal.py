import json

import pytest

from mockserver.core.journal import BODY_KEPT, Journal


def _rec(j: Journal, i: int):
    return j.record(time=i, method="GET", path="/p", query="", key="k", status=200)


def test_ring_buffer_keeps_the_newest_and_counts_dropped():
    j = Journal(3)
    for i in range(5):
        _rec(j, i)
    assert [e.id for e in j.entries()] == [3, 4, 5]
    assert j.dropped == 2
    assert [e.id for e in j.entries(since=3)] == [4, 5]
    assert [e.id for e in j.entries(limit=1)] == [5]
    with pytest.raises(ValueError):
        Journal(0)


def test_observer_sees_each_entry_with_the_arrivals_so_far():
    seen = []
    j = Journal(2, observer=lambda entry, horizon: seen.append((entry.id, entry.arrival, horizon)))
    a = j.arrive()
    b = j.arrive()  # arrived while a was in flight
    j.record(time=0, method="GET", path="/p", query="", key="k", status=200, arrival=a)
    j.record(time=0, method="GET", path="/p", query="", key="k", status=200, arrival=b)
    _rec(j, 3)
    assert seen == [(1, 1, 2), (2, 2, 2), (3, 0, 2)]
    assert j.first_id == 2 and j.dropped == 1  # the observer saw entry 1 even after it was dropped
    assert Journal(1).first_id is None


def test_request_bodies_are_kept_truncated(api):
    api.submit_ok("nano-banana", {"mode": "text-to-image", "prompt": "a fox"})
    raw = json.dumps({"input": {"mode": "text-to-image", "prompt": "é" * 3000}}, ensure_ascii=False).encode()
    api.client.post("/api/v1/generateTask/nano-banana", content=raw, headers=api.headers())
    api.client.get("/api/v1/apikeys/current-balance", headers=api.headers())
    small, large, balance = api.admin("GET", "/journal").json()["entries"]
    assert json.loads(small["body"]) == {"input": {"mode": "text-to-image", "prompt": "a fox"}}
    assert small["bodyTruncated"] is False
    # The first BODY_KEPT bytes; a character cut in two shows as U+FFFD.
    assert large["bodyTruncated"] is True and large["body"] == raw[:BODY_KEPT].decode("utf-8", "replace")
    assert balance["body"] is None and balance["bodyTruncated"] is False
