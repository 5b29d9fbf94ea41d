import pytest

from mockserver.core.clock import ManualClock, RealClock, make_clock


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(1000)
    assert clock.now_ms() == 1000
    assert clock.now_ms() == 1000
    assert clock.advance(250) == 1250
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_real_clock_scale_and_validation():
    clock = RealClock(scale=100, start_ms=0)
    assert 0 <= clock.now_ms() < 60_000
    assert clock.advance(5000) >= 5000
    with pytest.raises(ValueError):
        RealClock(scale=0)
    with pytest.raises(ValueError):
        make_clock("sundial")


def test_only_the_clock_module_reads_wall_time():
    import pathlib
    import re

    pkg = pathlib.Path(__file__).parent.parent.parent / "mockserver"
    offenders = []
    for path in pkg.rglob("*.py"):
        if path.name == "clock.py":
            continue
        text = path.read_text()
        if re.search(r"\btime\.(time|monotonic|perf_counter)(_ns)?\(|datetime\.now\(|\bimport time\b", text):
            offenders.append(path.name)
    assert offenders == []
