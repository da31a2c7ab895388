"""Counters and histograms for the per-update path, kept in plain numbers by the event loop's
thread and read out at scrape time.

prometheus_client's Counter and Histogram take a lock on every change, for threads this path
does not have: an update's bookkeeping (three histograms, three counters) took nine of them,
about a tenth of the time a relayed update costs in Python (cProfile, 50 documents). Only the
event loop's thread may change these; the exposition is the same as prometheus_client's."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString


class LoopCounter:
    def __init__(self, name: str, documentation: str) -> None:
        self._name = name.removesuffix("_total")
        self._documentation = documentation
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._documentation, value=self.value)


class CountOf:
    """A counter of the values a histogram was given: for events that are timed anyway, so
    counting them costs nothing more."""

    def __init__(self, name: str, documentation: str, histogram: LoopHistogram) -> None:
        self._name = name.removesuffix("_total")
        self._documentation = documentation
        self._histogram = histogram

    @property
    def value(self) -> int:
        return self._histogram.count

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._documentation, value=self.value)


class LoopCounters:
    """One counter per value of one label, each value known up front."""

    def __init__(self, name: str, documentation: str, label: str, values: Iterable[str]) -> None:
        self._name = name.removesuffix("_total")
        self._documentation = documentation
        self._label = label
        self._children = {value: LoopCounter(name, documentation) for value in values}

    def labels(self, value: str) -> LoopCounter:
        return self._children[value]

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for value, child in self._children.items():
            family.add_metric([value], child.value)
        yield family


class LoopHistogram:
    def __init__(self, name: str, documentation: str, buckets: Iterable[float]) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(sorted(buckets))
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf's
        self._sum = 0.0

    def observe(self, value: float) -> None:
        # A bucket counts values up to and including its bound ("le").
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def collect(self) -> Iterator[Metric]:
        buckets, total = [], 0
        for bound, count in zip((*self._bounds, float("inf")), self._counts, strict=True):
            total += count
            buckets.append((floatToGoString(bound), total))
        yield HistogramMetricFamily(
            self._name, self._documentation, buckets=buckets, sum_value=self._sum
        )


class ByKind:
    """Messages and bytes by protocol message type: the fan-out counts every frame it writes
    for every peer."""

    def __init__(self, name: str, direction: str, kinds: Iterable[str]) -> None:
        self._name = name
        self._direction = direction
        self._counts = {kind: [0, 0] for kind in kinds}

    def count(self, kind: str, nbytes: int, messages: int = 1) -> None:
        """``messages`` messages of ``nbytes`` bytes each."""
        pair = self._counts[kind]
        pair[0] += messages
        pair[1] += nbytes * messages

    def collect(self) -> Iterator[Metric]:
        messages = CounterMetricFamily(
            f"tandem_messages_{self._name}", f"Protocol messages {self._direction}", labels=["type"]
        )
        size = CounterMetricFamily(
            f"tandem_bytes_{self._name}", f"Protocol bytes {self._direction}", labels=["type"]
        )
        for kind, (count, nbytes) in self._counts.items():
            messages.add_metric([kind], count)
            size.add_metric([kind], nbytes)
        yield messages
        yield size
