import pytest

from mockserver.journal import Journal


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
