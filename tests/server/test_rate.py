"""The inbound rate limit's two buckets, on a clock the test moves."""

from __future__ import annotations

from server.rate import InboundRate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_a_seconds_messages_passes_and_the_next_waits_for_refill() -> None:
    clock = Clock()
    rate = InboundRate(8, 1_000_000, burst_bytes=1_000_000, clock=clock)
    assert all(rate.take(1) for _ in range(8))
    assert not rate.take(1)
    clock.now += 0.125  # one message's worth
    assert rate.take(1)
    assert not rate.take(1)


def test_bytes_are_limited_apart_from_messages_and_a_refusal_spends_nothing() -> None:
    clock = Clock()
    rate = InboundRate(1000, 100, burst_bytes=300, clock=clock)
    assert rate.take(250)
    assert not rate.take(100)  # 50 bytes left
    assert rate.take(50)  # the refusal spent neither a message nor bytes
    clock.now += 1.0
    assert rate.take(100)
    assert not rate.take(1)


def test_idle_time_refills_no_more_than_the_burst() -> None:
    clock = Clock()
    rate = InboundRate(5, 1_000_000, burst_bytes=1_000_000, clock=clock)
    clock.now += 3600
    assert sum(rate.take(1) for _ in range(20)) == 5
