"""Progress lines: percent, rate and ETA from a controlled clock, at most one per interval."""

from sec_assets.core.progress import Progress, duration


def test_lines_carry_percent_rate_and_eta_at_most_once_per_interval():
    now = [100.0]
    lines: list[str] = []
    p = Progress(
        "dog: segmented", total=40, unit="files", emit=lines.append, interval_s=10, clock=lambda: now[0]
    )
    now[0] = 105.0
    assert not p.update(5)  # 5 s since the start: not yet
    now[0] = 110.0
    assert p.update(10, "120 segments")
    assert lines == ["dog: segmented 10/40 files (25 %), 1.0 files/s, ETA 30 s, elapsed 10 s; 120 segments"]
    now[0] = 115.0
    assert not p.update(15)
    now[0] = 140.0
    assert p.update(40)  # the last one always
    assert lines[-1] == "dog: segmented 40/40 files (100 %), 1.0 files/s, elapsed 40 s"
    now[0] = 141.0
    assert p.update(40)  # at the total: every call reports (the step is finishing)


def test_without_a_total_and_durations():
    lines: list[str] = []
    now = [0.0]
    p = Progress(
        "embedded", total=None, unit="segments", emit=lines.append, interval_s=0, clock=lambda: now[0]
    )
    now[0] = 4.0
    p.update(100)
    assert lines == ["embedded 100 segments, 25.0 segments/s, elapsed 4 s"]
    assert [duration(s) for s in (0, 59.4, 61, 3599, 3600, 7625)] == [
        "0 s",
        "59 s",
        "1 m 01 s",
        "59 m 59 s",
        "1 h 00 m",
        "2 h 07 m",
    ]
