"""Which restore points to keep: every timed point of the last day, one an hour for the week
before, one a day after that; points someone made on purpose (manual, before a restore) stay
until they are too old. Nothing is older than ``retention_s``, and at most ``keep`` remain
(the oldest timed points go first)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY


def to_prune(
    points: Iterable[dict[str, Any]], *, now: float, keep: int, retention_s: float
) -> list[str]:
    newest_first = sorted(points, key=lambda p: float(p["at"]), reverse=True)
    kept: list[dict[str, Any]] = []
    dropped: list[str] = []
    buckets: set[tuple[str, int]] = set()
    for point in newest_first:
        age = now - float(point["at"])
        if age > retention_s:
            dropped.append(point["id"])
            continue
        if point.get("reason") == "timed" and age >= DAY:
            bucket = (
                ("h", int(float(point["at"]) // HOUR))
                if age < WEEK
                else (
                    "d",
                    int(float(point["at"]) // DAY),
                )
            )
            if bucket in buckets:
                dropped.append(point["id"])
                continue
            buckets.add(bucket)
        kept.append(point)
    excess = len(kept) - keep
    if excess > 0:
        timed = [p for p in reversed(kept) if p.get("reason") == "timed"]
        others = [p for p in reversed(kept) if p.get("reason") != "timed"]
        dropped += [p["id"] for p in (timed + others)[:excess]]
    return dropped
