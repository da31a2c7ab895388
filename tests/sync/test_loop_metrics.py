"""The loop's own counters and histograms expose what prometheus_client's would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from sync.loop_metrics import CountOf, LoopCounter, LoopCounters, LoopHistogram

BUCKETS = (0.001, 0.01, 0.1, 1.0)
# On a bound, between bounds, below the first and past the last.
VALUES = (0.0, 0.0005, 0.001, 0.002, 0.01, 0.5, 1.0, 7.5)


def exposition(*collectors: object) -> list[str]:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_histogram_matches_prometheus_client() -> None:
    ours = LoopHistogram("t_seconds", "Time", buckets=BUCKETS)
    theirs = Histogram("t_seconds", "Time", buckets=BUCKETS, registry=None)
    for value in VALUES:
        ours.observe(value)
        theirs.observe(value)
    assert exposition(ours) == exposition(theirs)
    assert 't_seconds_bucket{le="0.001"} 3.0' in exposition(ours)


def test_counters_match_prometheus_client() -> None:
    ours, ours_by = LoopCounter("t_total", "Ts"), LoopCounters("u_total", "Us", "path", ("a", "b"))
    theirs = Counter("t_total", "Ts", registry=None)
    theirs_by = Counter("u_total", "Us", ["path"], registry=None)
    for _ in range(3):
        ours.inc()
        theirs.inc()
    ours.inc(2.5)
    theirs.inc(2.5)
    ours_by.labels("b").inc()
    theirs_by.labels("a")
    theirs_by.labels("b").inc()
    assert exposition(ours, ours_by) == exposition(theirs, theirs_by)
    assert "t_total 5.5" in exposition(ours)


def test_a_count_of_a_histogram_exposes_a_counter_of_its_values() -> None:
    timed = LoopHistogram("t_seconds", "Time", buckets=BUCKETS)
    ours = CountOf("t_total", "Ts", timed)
    theirs = Counter("t_total", "Ts", registry=None)
    assert exposition(ours) == exposition(theirs)
    for value in VALUES:
        timed.observe(value)
        theirs.inc()
    assert exposition(ours) == exposition(theirs)
    assert ours.value == len(VALUES)
