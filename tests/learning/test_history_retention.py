"""Which restore points are kept as they age."""

from __future__ import annotations

from typing import Any

from server.history.retention import DAY, HOUR, to_prune

NOW = 1_000 * DAY


def point(pid: str, age_s: float, reason: str = "timed") -> dict[str, Any]:
    return {"id": pid, "at": NOW - age_s, "reason": reason}


def test_recent_points_stay_older_ones_thin_out_by_hour_then_day() -> None:
    points = [point(f"recent{i}", i * 600) for i in range(6)]  # the last hour, every 10 min
    # Six within one clock hour on day 2, five within one calendar day in week 2.
    points += [point(f"day2-{i}", DAY + HOUR + 600 + i * 300) for i in range(6)]
    points += [point(f"week2-{i}", 9 * DAY + HOUR + i * HOUR) for i in range(5)]
    dropped = set(to_prune(points, now=NOW, keep=100, retention_s=90 * DAY))
    assert not any(p.startswith("recent") for p in dropped)
    assert {f"day2-{i}" for i in range(6)} - dropped == {"day2-0"}  # the newest of its hour
    assert {f"week2-{i}" for i in range(5)} - dropped == {"week2-0"}


def test_points_made_on_purpose_stay_until_too_old() -> None:
    points = [
        point("manual", 3 * DAY, "manual"),
        point("undo", 3 * DAY + 60, "before_restore"),
        point("ancient", 91 * DAY, "manual"),
    ]
    assert to_prune(points, now=NOW, keep=100, retention_s=90 * DAY) == ["ancient"]


def test_the_cap_drops_the_oldest_timed_points_first() -> None:
    points = [point(f"t{i}", i * 60) for i in range(5)] + [point("m", 10 * 60, "manual")]
    assert to_prune(points, now=NOW, keep=3, retention_s=90 * DAY) == ["t4", "t3", "t2"]
