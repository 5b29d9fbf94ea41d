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
