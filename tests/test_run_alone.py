"""The lock that runs ``wall_clock`` tests alone under pytest-xdist (tests/conftest.py).

Each RunAlone opens the files afresh, so two of them in one process conflict as two workers would.
"""

from __future__ import annotations

import threading

from tests.conftest import RunAlone

WAIT_S = 10.0  # a deadline for what must happen; what must not happen is given 0.2 s to show


def holding(alone: RunAlone, exclusive: bool, release: threading.Event) -> threading.Event:
    """Take the lock in a thread until ``release``; the event returned is set once it is held."""
    held = threading.Event()

    def run() -> None:
        with alone.held(exclusive):
            held.set()
            release.wait(WAIT_S)

    threading.Thread(target=run, daemon=True).start()
    return held


def test_shared_holders_run_together_and_an_exclusive_one_waits_for_them(tmp_path):
    first_done, second_done, alone_done = threading.Event(), threading.Event(), threading.Event()
    first = holding(RunAlone(tmp_path), False, first_done)
    assert first.wait(WAIT_S)
    assert holding(RunAlone(tmp_path), False, second_done).wait(WAIT_S)  # two tests at once
    second_done.set()
    alone = holding(RunAlone(tmp_path), True, alone_done)
    assert not alone.wait(0.2)  # the first test still runs
    first_done.set()
    assert alone.wait(WAIT_S)
    alone_done.set()


def test_a_waiting_exclusive_holder_keeps_new_shared_ones_out(tmp_path):
    running_done, alone_done, next_done = threading.Event(), threading.Event(), threading.Event()
    assert holding(RunAlone(tmp_path), False, running_done).wait(WAIT_S)
    alone = holding(RunAlone(tmp_path), True, alone_done)
    assert not alone.wait(0.2)
    following = holding(RunAlone(tmp_path), False, next_done)
    assert not following.wait(0.2)  # not let in ahead of the test that waits to run alone
    running_done.set()
    assert alone.wait(WAIT_S) and not following.wait(0.2)
    alone_done.set()
    assert following.wait(WAIT_S)
    next_done.set()


def test_an_exclusive_holder_keeps_the_lock_until_it_releases_it(tmp_path):
    """Consecutive wall_clock tests keep the lock (tests/conftest.py): taking it again as held
    changes nothing, and others get in only once it is released."""
    alone = RunAlone(tmp_path)
    alone.take(exclusive=True)
    alone.take(exclusive=True)
    shared_done = threading.Event()
    shared = holding(RunAlone(tmp_path), False, shared_done)
    assert not shared.wait(0.2)
    alone.release()
    assert shared.wait(WAIT_S)
    assert alone.holding is None
    alone.take(exclusive=False)  # shared beside the other shared holder
    assert alone.holding is False
    alone.release()
    shared_done.set()


def test_an_exclusive_holder_that_shares_lets_shared_ones_in_but_no_exclusive_one(tmp_path):
    """``share`` (the wall_clock_done fixture): the tests waiting at the gate run beside the rest
    of the test, a test waiting to run alone still waits for it, and the change itself never waits."""
    alone = RunAlone(tmp_path)
    alone.take(exclusive=True)
    shared_done, other_done = threading.Event(), threading.Event()
    shared = holding(RunAlone(tmp_path), False, shared_done)
    assert not shared.wait(0.2)
    alone.share()
    assert alone.holding is False
    assert shared.wait(WAIT_S)  # beside the rest of the test
    shared_done.set()
    other = holding(RunAlone(tmp_path), True, other_done)
    assert not other.wait(0.2)  # the test that shared has not ended
    alone.share()  # held shared already: nothing changes
    assert alone.holding is False and not other.wait(0.2)
    alone.release()
    assert other.wait(WAIT_S)
    other_done.set()
