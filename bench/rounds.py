"""Figures over rounds: on a small shared machine one run's p99 swings several-fold from run to
run for any server, so each bench runs rounds of fresh servers, alternating which goes first,
and reports the median of the rounds next to every round's figure."""

from __future__ import annotations


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def row(label: str, ours: list[float], theirs: list[float], width: int = 44) -> None:
    """The median over rounds of each system, their ratio, the median of the rounds' own
    ratios, then every round's pair. The two ratios can disagree: the first compares each
    system's typical round, the second how the two did side by side in the same round."""
    a, b = median(ours), median(theirs)
    paired = median([x / y for x, y in zip(ours, theirs) if y]) if any(theirs) else None
    rounds = " ".join(f"{x:.1f}/{y:.1f}" for x, y in zip(ours, theirs))
    by_round = f"{paired:.2f}x" if paired is not None else "n/a"
    print(f"{label:{width}} {a:10.2f} {b:10.2f} {ratio(a, b):>7} {by_round:>7}   {rounds}")


def undelivered(runs: list[dict]) -> int:
    """Deliveries still outstanding when the load generator stopped, over all rounds."""
    return sum(run["expected_deliveries"] - run["measured_deliveries"] for run in runs)


def order(number: int, names: tuple[str, str]) -> tuple[str, str]:
    """Which system goes first in round ``number``: alternating, so drift falls on both."""
    return names if number % 2 == 0 else (names[1], names[0])
