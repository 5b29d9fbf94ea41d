from mockserver.core.media import MediaSpec
from mockserver.core.tasks import (
    FAILED,
    PENDING,
    PROCESSING,
    SUCCESS,
    Task,
    next_event_ms,
    record_poll,
    state_at,
)


def make(**kw) -> Task:
    base = dict(
        task_id="task_1",
        model="m",
        dialect="apixo",
        key="k",
        created_ms=1000,
        pending_ms=100,
        processing_ms=500,
        outputs=1,
        spec=MediaSpec("png", 2, 2),
        seed=0,
    )
    base.update(kw)
    return Task(**base)


def test_time_progression_is_a_function_of_now():
    task = make()
    assert state_at(task, 1000) == (PENDING, None)
    assert state_at(task, 1099) == (PENDING, None)
    assert state_at(task, 1100) == (PROCESSING, None)
    assert state_at(task, 1599) == (PROCESSING, None)
    assert state_at(task, 1600) == (SUCCESS, 1600)
    assert state_at(task, 10**12) == (SUCCESS, 1600)


def test_reading_never_mutates():
    task = make()
    before = repr(task)
    for now in (1000, 1200, 5000):
        state_at(task, now)
        next_event_ms(task, now)
    assert repr(task) == before


def test_planned_failure_at_processing_and_at_pending():
    task = make(fail_code="CONTENT_VIOLATION")
    assert state_at(task, 1200) == (PROCESSING, None)
    assert state_at(task, 1600) == (FAILED, 1600)
    early = make(fail_code="NSFW_DETECTED", fail_at="pending")
    assert state_at(early, 1099) == (PENDING, None)
    assert state_at(early, 1100) == (FAILED, 1100)


def test_poll_progression_counts_polls_not_time():
    task = make(progression="polls", pending_polls=1, processing_polls=2)
    seen = []
    for i in range(5):
        now = 2000 + i * 10
        record_poll(task, now)
        seen.append(state_at(task, now))
    assert [s for s, _ in seen] == [PENDING, PROCESSING, PROCESSING, SUCCESS, SUCCESS]
    assert seen[3][1] == 2030 and seen[4][1] == 2030  # completeTime is the poll that ended it
    assert state_at(task, 10**12) == (SUCCESS, 2030)  # time alone changes nothing
    assert state_at(make(progression="polls"), 10**12) == (PENDING, None)


def test_forced_end_overrides_the_schedule():
    task = make(forced_ms=1050)
    assert state_at(task, 1049) == (PENDING, None)
    assert state_at(task, 1050) == (SUCCESS, 1050)


def test_next_event():
    task = make()
    assert next_event_ms(task, 1000) == 1100
    assert next_event_ms(task, 1100) == 1600
    assert next_event_ms(task, 1600) is None
    assert next_event_ms(make(progression="polls"), 1000) is None
